"""Managing local accounts as an admin: each change checks the actor's role and goes to the audit log.

Used by ``medembed users`` (the actor is ``cli:<os user>``, who has shell access to the server) and by the admin's
Users page. Passwords pass straight to the hasher; they are never logged or audited.
"""

from __future__ import annotations

import getpass
import logging

from access import audit
from access.accounts import Account, Accounts
from access.roles import Principal, require
from store import Store

logger = logging.getLogger(__name__)


def cli_principal() -> Principal:
    """Whoever runs the CLI on the server: an admin (they can read the database file anyway), named for the log."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Principal(f"cli:{who}", "admin", "cli")


NO_ADMIN = ("This library has no admin, so nobody can manage accounts or the library: on the server, run "
            "`medembed users set-role NAME admin` (or `medembed users add NAME --role admin`).")


def default_role(store: Store) -> str:
    """The role of an account added without one: admin for the library's first account (once it exists sign-in is
    required, and without an admin nobody could manage accounts), else reader."""
    return "admin" if Accounts(store).count() == 0 else "reader"


def add_user(store: Store, actor: Principal, username: str, role: str | None, password: str) -> Account:
    """Add an account; ``role=None`` gives :func:`default_role` (an explicit role is kept: the CLI and the Users
    page then say that the library has no admin, and how to make one)."""
    require(actor, "admin", "add users")
    account = Accounts(store).add(username, role or default_role(store), password)
    audit.record(store, actor, "user_add", account.username, role=account.role)
    return account


def set_role(store: Store, actor: Principal, username: str, role: str) -> Account:
    require(actor, "admin", "change roles")
    account = Accounts(store).set_role(username, role)
    audit.record(store, actor, "user_set_role", account.username, role=account.role)
    return account


def set_password(store: Store, actor: Principal, username: str, password: str) -> Account:
    require(actor, "admin", "set passwords")
    account = Accounts(store).set_password(username, password)
    audit.record(store, actor, "user_passwd", account.username)
    return account


def remove_user(store: Store, actor: Principal, username: str) -> None:
    require(actor, "admin", "remove users")
    Accounts(store).remove(username)
    audit.record(store, actor, "user_remove", username.strip().lower())


def list_users(store: Store, actor: Principal) -> list[Account]:
    require(actor, "admin", "list users")
    return Accounts(store).users()
