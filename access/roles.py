"""Roles and the one guard every server-side action calls: ``require(user, "curator", "delete documents")``.

Roles are ordered: a reader searches, compares, scores and asks; a curator also uploads, deletes and reindexes; an
admin also runs training and query generation and manages settings, users and the audit log. Pure and leaf-level,
so the library functions (``library.manage``), the CLI and the UI share the same check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from medcore.errors import PermissionDenied

logger = logging.getLogger(__name__)

Role = Literal["reader", "curator", "admin"]
ROLES: tuple[Role, ...] = ("reader", "curator", "admin")
#: How a principal got in: a local account, the OpenID Connect provider, the open localhost mode, or the CLI run by
#: someone with shell access to the server (who can read the database anyway).
Via = Literal["local", "oidc", "open", "cli"]


@dataclass(frozen=True)
class Principal:
    """Who is acting. ``name`` is the key everything of theirs is stored under: the user name (local; letters,
    digits and ``. _ @ -`` only), ``oidc:<issuer>|<subject>`` (OIDC: the provider's stable id, never an e-mail or a
    chosen name, which anyone may claim), ``localhost`` (open) or ``cli:<os user>``; the colon keeps the kinds apart.
    ``display`` is what a person reads (an OIDC user's verified e-mail); empty means ``name``."""

    name: str
    role: Role
    via: Via = "local"
    display: str = ""

    @property
    def label(self) -> str:
        return self.display or self.name

    def can(self, role: Role) -> bool:
        return has_role(self.role, role)

    def __str__(self) -> str:
        return f"{self.label} ({self.role})"


def parse_role(value: str) -> Role:
    """``value`` as a Role, or a ValueError naming the valid roles."""
    role = value.strip().lower()
    if role not in ROLES:
        raise ValueError(f"unknown role {value!r}; use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def has_role(actual: str, needed: Role) -> bool:
    """Whether ``actual`` is ``needed`` or above it (reader < curator < admin); an unknown role has no rights."""
    return actual in ROLES and ROLES.index(actual) >= ROLES.index(needed)  # type: ignore[arg-type]


def require(user: Principal | None, role: Role, action: str) -> Principal:
    """Return ``user`` when its role allows ``action``; raise PermissionDenied otherwise (also for no user).

    Example: ``require(Principal("ann", "reader"), "curator", "delete documents")`` raises with a message that says
    which role is needed and who grants it.
    """
    if user is None:
        raise PermissionDenied(f"Sign in to {action}.")
    if not user.can(role):
        logger.warning("Refused: %s tried to %s (needs %s)", user, action, role)
        raise PermissionDenied(
            f"{user.name} is a {user.role} and may not {action}: that needs the {role} role. Ask an admin "
            f"(`medembed users set-role {user.name} {role}` for a local account).")
    return user
