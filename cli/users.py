"""``medembed users add|list|set-role|passwd|remove``: local accounts in the store (see docs/deploy.md).

Passwords come from a hidden prompt (typed twice) or, with ``--password-stdin``, from the first line of standard
input (for scripts: ``printf '%s\\n' "$PW" | medembed users add ann --role curator --password-stdin``); never from
the command line, where ``ps`` and shell history would show them.
"""

from __future__ import annotations

import json
import sys

import click

from access.roles import ROLES
from cli.common import handle_errors, open_store


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.ClickException("--password-stdin: standard input held no password line.")
        return line
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


password_stdin = click.option("--password-stdin", is_flag=True,
                              help="Read the password from the first line of stdin instead of a hidden prompt.")


@click.group()
def users() -> None:
    """Local accounts: reader (search, compare, score, ask) < curator (+ upload, delete, reindex) < admin (+ users,
    settings, audit log, training)."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default=None,
              help="Default: admin for the library's first account, else reader.")
@password_stdin
@click.pass_context
@handle_errors
def add(ctx: click.Context, username: str, role: str | None, password_stdin: bool) -> None:
    """Create an account (the password is asked for, hidden). The first account is an admin unless --role says
    otherwise, and takes over the reading list and recent searches saved in open mode."""
    from access import admin
    from access.accounts import Accounts
    from library.accounts import add_account

    password = _password(password_stdin)
    store = open_store(ctx)
    account = add_account(store, admin.cli_principal(), username, role, password)
    click.echo(f"Added {account.username} ({account.role}).")
    if not Accounts(store).admin_count():
        click.echo(admin.NO_ADMIN, err=True)


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per account.")
@click.pass_context
@handle_errors
def list_(ctx: click.Context, as_json: bool) -> None:
    """List accounts with their roles and last sign-in."""
    from access import admin

    accounts = admin.list_users(open_store(ctx), admin.cli_principal())
    for a in accounts:
        last = a.last_login_at.isoformat(timespec="seconds") if a.last_login_at else "never"
        if as_json:
            click.echo(json.dumps({"username": a.username, "role": a.role, "last_login": last}))
        else:
            click.echo(f"{a.username:32} {a.role:8} last sign-in {last}")
    if not accounts and not as_json:
        click.echo("No accounts: the app runs open on localhost only. Add one with `medembed users add NAME` (the "
                   "first account is an admin).")
    elif accounts and not any(a.role == "admin" for a in accounts):
        click.echo(admin.NO_ADMIN, err=True)


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_context
@handle_errors
def set_role(ctx: click.Context, username: str, role: str) -> None:
    """Change an account's role (takes effect at the user's next click)."""
    from access import admin

    account = admin.set_role(open_store(ctx), admin.cli_principal(), username, role)
    click.echo(f"{account.username} is now {account.role}.")


@users.command("passwd")
@click.argument("username")
@password_stdin
@click.pass_context
@handle_errors
def passwd(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a new password (signs the user out of open sessions)."""
    from access import admin

    password = _password(password_stdin)
    account = admin.set_password(open_store(ctx), admin.cli_principal(), username, password)
    click.echo(f"Password of {account.username} changed.")


@users.command("remove")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@handle_errors
def remove(ctx: click.Context, username: str, yes: bool) -> None:
    """Delete an account with its reading list and recent searches (its sessions end at their next click)."""
    from access import admin

    if not yes:
        click.confirm(f"Remove {username} and their reading list?", abort=True)
    admin.remove_user(open_store(ctx), admin.cli_principal(), username)
    click.echo(f"Removed {username}.")
