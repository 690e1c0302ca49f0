"""``medembed reading-list`` and ``medembed recent``: the Saved page from the command line.

The CLI acts as an admin (``cli:<os user>``) on one user's list: the open-mode list ("localhost") unless ``--user``
names an account. Changes go to the audit log like the app's.
"""

from __future__ import annotations

import json

import click

from cli.common import export_formats, handle_errors, open_store

OPEN_OWNER = "localhost"  # the one list of open mode (ui/gate.py's OPEN_USER)
_USER = click.option("--user", "owner", default=OPEN_OWNER, show_default=True,
                     help="Whose list: an account name, or 'localhost' for the open-mode list.")


@click.group(name="reading-list")
def reading_list() -> None:
    """A user's reading list: add, remove, note, show, export."""


@reading_list.command(name="add")
@click.argument("doc_ids", nargs=-1, required=True, type=int)
@_USER
@click.pass_context
@handle_errors
def add_cmd(ctx: click.Context, doc_ids: tuple[int, ...], owner: str) -> None:
    """Add papers by document id (the `doc_id` of `medembed search --json`)."""
    from access.admin import cli_principal
    from library import reading_list

    store = open_store(ctx)
    for doc_id in doc_ids:
        added = reading_list.add(store, cli_principal(), doc_id, owner)
        click.echo(f"{'Added' if added else 'Already listed'}: {doc_id}")


@reading_list.command(name="remove")
@click.argument("doc_ids", nargs=-1, required=True, type=int)
@_USER
@click.pass_context
@handle_errors
def remove_cmd(ctx: click.Context, doc_ids: tuple[int, ...], owner: str) -> None:
    """Remove papers by document id."""
    from access.admin import cli_principal
    from library import reading_list

    store = open_store(ctx)
    for doc_id in doc_ids:
        removed = reading_list.remove(store, cli_principal(), doc_id, owner)
        click.echo(f"{'Removed' if removed else 'Not listed'}: {doc_id}")


@reading_list.command(name="note")
@click.argument("doc_id", type=int)
@click.argument("text")
@_USER
@click.pass_context
@handle_errors
def note_cmd(ctx: click.Context, doc_id: int, text: str, owner: str) -> None:
    """Set the note of a listed paper."""
    from access.admin import cli_principal
    from library import reading_list

    if not reading_list.note(open_store(ctx), cli_principal(), doc_id, text, owner):
        raise click.ClickException(f"Document {doc_id} is not on {owner}'s reading list; add it first.")


@reading_list.command(name="show")
@_USER
@click.option("--export", "export_format", type=export_formats("json"),
              default=None, help="Print the list in this format instead of a table.")
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, owner: str, export_format: str | None) -> None:
    """Print the list (newest first), or export it."""
    from access.admin import cli_principal
    from library import reading_list
    from search_app import exporters

    listed = reading_list.items(open_store(ctx), cli_principal(), owner)
    docs, notes = [i.document for i in listed], {i.document.id: i.note for i in listed if i.note}
    if export_format == "json":
        for item in listed:
            click.echo(json.dumps({"doc_id": item.document.id, "title": item.document.title, "note": item.note,
                                   "pmcid": item.document.pmcid, "study_type": item.document.study_type,
                                   "added_at": item.added_at.isoformat()}, ensure_ascii=False))
    elif export_format:
        click.echo(exporters.export(docs, export_format, notes), nl=False)
    else:
        for item in listed:
            click.echo(f"{item.document.id:>6}  {item.document.title or '(untitled)'}"
                       + (f"\n        note: {item.note}" if item.note else ""))
        if not listed:
            click.echo(f"{owner}'s reading list is empty.")


@click.command(name="recent")
@_USER
@click.option("-n", "limit", default=20, show_default=True, type=click.IntRange(1, 200))
@click.pass_context
@handle_errors
def recent(ctx: click.Context, owner: str, limit: int) -> None:
    """A user's recent searches with their settings, newest first (one JSON object per line)."""
    from access.admin import cli_principal
    from library import reading_list

    for search in reading_list.recent(open_store(ctx), cli_principal(), limit, owner):
        click.echo(json.dumps({"at": search.at.isoformat(), "query": search.query, **search.options},
                              ensure_ascii=False))
