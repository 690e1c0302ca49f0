"""``medembed reading-list`` and ``medembed recent``: the Saved page from the command line.

The CLI acts as an admin (``cli:<os user>``) on one user's list: the open-mode list ("localhost") unless ``--user``
names an account. Changes go to the audit log like the app's.
"""

from __future__ import annotations

import json

import click

from medcore.errors import MedEmbedError

OPEN_OWNER = "localhost"  # the one list of open mode (ui/gate.py's OPEN_USER)
_USER = click.option("--user", "owner", default=OPEN_OWNER, show_default=True,
                     help="Whose list: an account name, or 'localhost' for the open-mode list.")


def _store(ctx: click.Context):  # noqa: ANN202 - an indexer.store.Store
    from indexer.store import Store

    return Store.from_settings(ctx.find_root().obj["settings"])


def _errors(func):  # noqa: ANN001, ANN201 - click callback decorator
    from functools import wraps

    @wraps(func)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return func(*args, **kwargs)
        except MedEmbedError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group(name="reading-list")
def reading_list() -> None:
    """A user's reading list: add, remove, note, show, export."""


@reading_list.command(name="add")
@click.argument("doc_ids", nargs=-1, required=True, type=int)
@_USER
@click.pass_context
@_errors
def add_cmd(ctx: click.Context, doc_ids: tuple[int, ...], owner: str) -> None:
    """Add papers by document id (the `doc_id` of `medembed search --json`)."""
    from search_app import reading
    from search_app.user_admin import cli_principal

    store = _store(ctx)
    for doc_id in doc_ids:
        added = reading.add(store, cli_principal(), doc_id, owner)
        click.echo(f"{'Added' if added else 'Already listed'}: {doc_id}")


@reading_list.command(name="remove")
@click.argument("doc_ids", nargs=-1, required=True, type=int)
@_USER
@click.pass_context
@_errors
def remove_cmd(ctx: click.Context, doc_ids: tuple[int, ...], owner: str) -> None:
    """Remove papers by document id."""
    from search_app import reading
    from search_app.user_admin import cli_principal

    store = _store(ctx)
    for doc_id in doc_ids:
        click.echo(f"{'Removed' if reading.remove(store, cli_principal(), doc_id, owner) else 'Not listed'}: {doc_id}")


@reading_list.command(name="note")
@click.argument("doc_id", type=int)
@click.argument("text")
@_USER
@click.pass_context
@_errors
def note_cmd(ctx: click.Context, doc_id: int, text: str, owner: str) -> None:
    """Set the note of a listed paper."""
    from search_app import reading
    from search_app.user_admin import cli_principal

    if not reading.note(_store(ctx), cli_principal(), doc_id, text, owner):
        raise click.ClickException(f"Document {doc_id} is not on {owner}'s reading list; add it first.")


@reading_list.command(name="show")
@_USER
@click.option("--export", "export_format", type=click.Choice(["ris", "bibtex", "csv", "vancouver", "json"]),
              default=None, help="Print the list in this format instead of a table.")
@click.pass_context
@_errors
def show_cmd(ctx: click.Context, owner: str, export_format: str | None) -> None:
    """Print the list (newest first), or export it."""
    from search_app import citations, reading
    from search_app.user_admin import cli_principal

    listed = reading.items(_store(ctx), cli_principal(), owner)
    docs, notes = [i.document for i in listed], {i.document.id: i.note for i in listed if i.note}
    if export_format in ("ris", "bibtex", "csv"):
        click.echo(citations.export(docs, export_format, notes), nl=False)  # type: ignore[arg-type]
    elif export_format == "vancouver":
        for number, reference in enumerate(citations.vancouver(docs), start=1):
            click.echo(f"{number}. {reference}")
    elif export_format == "json":
        for item in listed:
            click.echo(json.dumps({"doc_id": item.document.id, "title": item.document.title, "note": item.note,
                                   "pmcid": item.document.pmcid, "study_type": item.document.study_type,
                                   "added_at": item.added_at.isoformat()}, ensure_ascii=False))
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
@_errors
def recent(ctx: click.Context, owner: str, limit: int) -> None:
    """A user's recent searches with their settings, newest first (one JSON object per line)."""
    from search_app import reading
    from search_app.user_admin import cli_principal

    for search in reading.recent(_store(ctx), cli_principal(), limit, owner):
        click.echo(json.dumps({"at": search.at.isoformat(), "query": search.query, **search.options},
                              ensure_ascii=False))
