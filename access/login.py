"""Sign-in without Streamlit: local accounts with a throttle, OpenID Connect claims to roles, session expiry.

The UI (``ui/gate.py``) calls these and keeps only the resulting Principal and two timestamps in the session. Every
refusal of a password says the same thing whether the user name or the password was wrong.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
from collections.abc import Mapping
from typing import Any

from access import audit
from access.accounts import Accounts
from access.roles import ROLES, Principal, Role
from medcore.config import AuthSettings, Settings
from medcore.errors import MedEmbedError
from store import Store

logger = logging.getLogger(__name__)

WRONG_CREDENTIALS = "Sign-in failed: the user name or password is not correct."
UNKNOWN_ACTOR = "(unknown user name)"


class LoginRefused(MedEmbedError):
    """A refused sign-in; ``retry_after`` is how many seconds the next try must wait (0: it may try at once)."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def throttle_keys(username: str, client: str | None) -> list[str]:
    """The throttle's keys for one try: the user name on this client, the client address, and the user name alone
    (the name hashed: a password typed into the name box stays out of the database). The first two get the full
    backoff; the last one only up to ``auth.user_backoff_max_s`` (see :func:`login_local`)."""
    digest = hashlib.sha256(username.strip().lower().encode("utf-8")).hexdigest()[:32]
    where = client or "local"
    return [f"pair:{digest}|{where}", f"client:{where}", f"user:{digest}"]


#: Refused tries of one (user name, client) within this many seconds share one ``login_throttled`` audit row.
THROTTLED_AUDIT_WINDOW_S = 60.0


def _wait_text(seconds: float) -> str:
    return f"Wait {math.ceil(seconds)} s before the next try."


def login_local(store: Store, settings: Settings, username: str, password: str, client: str | None,
                accounts: Accounts | None = None) -> Principal:
    """Check a local sign-in; returns the Principal or raises LoginRefused (audited either way).

    A user name on one client, or a client, that failed ``auth.backoff_after`` times in a row must wait
    ``backoff_base_s``, doubling with each further failure; during the wait no password is checked at all. The user
    name alone (failures from any client) waits at most ``auth.user_backoff_max_s``: guesses spread over many
    addresses are slowed, but a stranger's wrong guesses cannot lock the real user out for long. Each try is
    counted as a failure before its password is checked (and the count cleared when it was right), so parallel
    guesses cannot slip through one backoff window. Refused tries are audited merged (one row a minute).
    """
    accounts = accounts or Accounts(store)
    cfg, keys = settings.auth, throttle_keys(username, client)
    known = accounts.get(username) is not None
    actor = username.strip().lower() if known else UNKNOWN_ACTOR
    blocked, wait = accounts.begin_attempt(keys, cfg.backoff_after, cfg.backoff_base_s, cfg.backoff_max_s,
                                           soft={keys[2]: cfg.user_backoff_max_s})
    if blocked > 0:
        audit.record_merged(store, actor, "login_throttled", client or "localhost", THROTTLED_AUDIT_WINDOW_S,
                            wait_s=math.ceil(blocked))
        raise LoginRefused(f"Too many failed sign-ins from this user name or computer. {_wait_text(blocked)}",
                           blocked)
    account = accounts.verify(username, password)
    if account is None:
        audit.record(store, actor, "login_failed", client or "localhost", ok=False)
        raise LoginRefused(WRONG_CREDENTIALS + (f" {_wait_text(wait)}" if wait else ""), wait)
    accounts.clear_failures(keys)
    principal = account.principal()
    audit.record(store, principal, "login", client or "localhost", via="local")
    return principal


# -- OpenID Connect ---------------------------------------------------------------------------------------------------
def oidc_enabled(settings: Settings) -> bool:
    return bool(settings.auth.oidc_client_id)


def _emails(csv: str) -> set[str]:
    return {e.strip().lower() for e in csv.split(",") if e.strip()}


def _claim_roles(value: Any, prefix: str) -> set[Role]:
    values = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
    found: set[Role] = set()
    for item in values:
        if isinstance(item, str) and item.startswith(prefix) and item[len(prefix):].lower() in ROLES:
            found.add(item[len(prefix):].lower())  # type: ignore[arg-type]
    return found


def role_from_claims(claims: Mapping[str, Any], cfg: AuthSettings) -> Role | None:
    """The highest role the ID-token claims earn: a verified e-mail in ``admin_emails``/``curator_emails``, or a
    ``role_claim`` value ``<role_claim_prefix><role>``; else ``default_role`` (None when that is "none").

    An e-mail counts only with ``email_verified`` the JSON boolean true: a provider that leaves the claim out, or
    sends the string "false" (or even "true"), may let anyone type any address. ``default_role`` admits every
    account the provider signs in.

    Example: ``{"email": "ann@h.org", "groups": ["medembed-curator"]}`` with role_claim "groups" and prefix
    "medembed-" gives "curator".
    """
    roles: set[Role] = set()
    email = str(claims.get("email") or "").strip().lower()
    if email and claims.get("email_verified") is True:
        if email in _emails(cfg.admin_emails):
            roles.add("admin")
        if email in _emails(cfg.curator_emails):
            roles.add("curator")
    if cfg.role_claim:
        roles |= _claim_roles(claims.get(cfg.role_claim), cfg.role_claim_prefix)
    if roles:
        return max(roles, key=ROLES.index)
    return None if cfg.default_role == "none" else cfg.default_role


def oidc_key(claims: Mapping[str, Any], cfg: AuthSettings) -> str | None:
    """The key an OIDC user's things are stored under: ``oidc:<issuer>|<sub>``. The subject is the provider's own
    stable id for the account; an e-mail (verified or not) or a ``preferred_username`` is chosen by the user on many
    providers and would let them read and write another user's list. None without a subject."""
    sub = str(claims.get("sub") or "").strip()
    if not sub:
        return None
    issuer = str(claims.get("iss") or cfg.oidc_server_metadata_url or "").strip()
    return f"oidc:{issuer}|{sub}"[:256]


def principal_from_claims(claims: Mapping[str, Any], cfg: AuthSettings) -> Principal | None:
    """The Principal of an OIDC user (keyed by :func:`oidc_key`, shown by verified e-mail, else preferred_username),
    or None if refused."""
    role = role_from_claims(claims, cfg)
    key = oidc_key(claims, cfg)
    if role is None or key is None:
        return None
    email = str(claims.get("email") or "").strip().lower() if claims.get("email_verified") is True else ""
    shown = email or str(claims.get("preferred_username") or "").strip()
    display = f"{shown} (unverified)" if shown and not email else shown
    return Principal(key, role, "oidc", display[:256])


# -- sessions ---------------------------------------------------------------------------------------------------------
def session_expired(started: float, last_seen: float, now: float, cfg: AuthSettings) -> str | None:
    """Why a session started at ``started`` and last used at ``last_seen`` (epoch seconds) is over, or None."""
    if now - started > cfg.session_minutes * 60:
        return f"Your sign-in is older than {cfg.session_minutes} minutes; sign in again."
    if now - last_seen > cfg.idle_minutes * 60:
        return f"Signed out after {cfg.idle_minutes} minutes without activity; sign in again."
    return None


@functools.lru_cache(maxsize=8)
def _networks(csv: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in csv.split(",") if e.strip())


def is_trusted_proxy(address: str | None, cfg: AuthSettings) -> bool:
    """Whether ``address`` is one of ``auth.trusted_proxies`` (an address that is not an IP never is)."""
    try:
        ip = ipaddress.ip_address((address or "").strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in net for net in _networks(cfg.trusted_proxies))


def client_address(peer: str | None, headers: Mapping[str, str], cfg: AuthSettings) -> str | None:
    """The client's address for the throttle and the audit log: the socket peer's, unless the peer is a trusted proxy
    (``auth.trusted_proxies``); then the right-most X-Forwarded-For hop that is not a trusted proxy. A client can put
    anything at the left of that header; only the hops our own proxies appended are believed.

    Example: peer 10.0.0.2 (trusted), ``X-Forwarded-For: 1.2.3.4, 203.0.113.9`` gives 203.0.113.9.
    """
    if not is_trusted_proxy(peer, cfg):
        return peer
    forwarded = ",".join(v for k, v in headers.items() if k.lower() == "x-forwarded-for")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted_proxy(hop, cfg):
            return hop[:64]
    return peer
