"""Adding an account as the app and the CLI do: the first account of a library that ran open takes over what was
saved in open mode.

In open mode (no accounts, localhost only) everything is saved under the one open-mode owner. Once an account
exists, sign-in is required and nobody is that owner any more, so the reading list, notes and recent searches made
before would be out of reach: the first account, the person who set the library up, gets them.
"""

from __future__ import annotations

import logging

from access import admin, audit
from access.accounts import Account, Accounts
from access.roles import Principal
from access.serving import OPEN_USER
from library.reading_list import SavedItems
from store import Store

logger = logging.getLogger(__name__)


def add_account(store: Store, actor: Principal, username: str, role: str | None, password: str) -> Account:
    """:func:`access.admin.add_user` (``role=None``: admin for the first account), and the open-mode saved
    items handed to the account when it is the library's first."""
    first = Accounts(store).count() == 0
    account = admin.add_user(store, actor, username, role, password)
    if first:
        moved = SavedItems(store).move_owner(OPEN_USER.name, account.username)
        if any(moved.values()):
            audit.record(store, actor, "saved-items hand over", account.username, **moved)
            logger.info("Open-mode saved items now belong to %s: %s", account.username, moved)
    return account
