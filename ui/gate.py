"""Who may use the app: the sign-in landing page, the open-mode banner, and the role check of each page.

Every page calls :func:`page_user` first (``ui/main.py`` also does, to build the menu): the check runs on the server
for each run of the page, not by hiding a menu entry. The actions themselves check again (``library.manage``).
Local accounts sign in on ``/medembed/login`` (``ui/login_route.py``), which sets an HttpOnly session cookie that
is looked up in the store on every run (expiry, removed account, changed password); OpenID Connect users sign in
through Streamlit's ``st.login``.
"""

from __future__ import annotations

import html
import logging
import time
from urllib.parse import quote, urlparse

import streamlit as st

from access import admin, audit, login, serving
from access.accounts import Accounts
from access.roles import Principal, Role
from medcore.config import Settings
from medcore.errors import AuthError
from ui import common
from ui.login_route import LOGIN_PATH, LOGOUT_PATH, session_principal, session_token

logger = logging.getLogger(__name__)

OPEN_USER = serving.OPEN_USER
OPEN_BANNER = ("**Open mode** — no accounts are configured, so anyone using this computer has full access; it is "
               "served on localhost only. Add an account on the **Users** page (or `medembed users add NAME`) to "
               "require sign-in: the first account is an admin and keeps what you saved here.")
OIDC_SESSION = "medembed_oidc"


def page_user(role: Role, page: str, *, chrome: bool = False) -> Principal:
    """The signed-in user when its role opens ``page``; otherwise the sign-in page or a refusal, and the run stops.

    ``chrome`` (set by ``ui/main.py`` once per run) also draws the open-mode banner and the sidebar's account box.
    """
    settings = common.settings()
    user = signed_in(settings, chrome=chrome)
    if not user.can(role):
        no_admin = Accounts(common.store(settings)).admin_count() == 0
        st.error(f"**Not allowed.** {page} needs the {role} role; you are signed in as {user}. "
                 + (admin.NO_ADMIN if no_admin else "Ask an admin to change your role."), icon=":material/block:")
        logger.warning("Refused page %s to %s", page, user)
        st.stop()
    return user


def signed_in(settings: Settings, *, chrome: bool) -> Principal:
    store = common.store(settings)
    try:
        mode = serving.check_can_serve(settings, st.get_option("server.address"), Accounts(store).count())
    except AuthError as exc:
        st.error(str(exc), icon=":material/lock:")
        st.stop()
    if mode == "open":
        if reason := serving.open_request_refusal(settings, st.context.ip_address or "127.0.0.1",
                                                  dict(st.context.headers)):
            st.error(f"Refused: the open mode (no accounts) serves only this computer, and {reason}. "
                     "Open the app at http://localhost:PORT, or add an account: `medembed users add NAME --role "
                     "admin`.", icon=":material/lock:")
            st.stop()
        if chrome:
            st.warning(OPEN_BANNER, icon=":material/lock_open:")
        return OPEN_USER
    token = session_token(st.context.cookies, settings)
    user, why = session_principal(store, settings, token) if "local" in mode else (None, "")
    user = user or _oidc_user(settings)
    if user is None:
        _sign_in_page(settings, mode, why)
        st.stop()
    if chrome:
        _account_box(user)
    return user


def _oidc_user(settings: Settings) -> Principal | None:
    """The OpenID Connect user (Streamlit's signed cookie), mapped to a role; None when not signed in that way.
    The sign-in lasts ``auth.session_minutes`` from the ID token's ``iat``; idle time counts per browser session."""
    if not login.oidc_enabled(settings) or not st.user.is_logged_in:
        return None
    claims = st.user.to_dict()
    user = login.principal_from_claims(claims, settings.auth)
    if user is None:
        st.error("Your account has no role in MedEmbed. Ask an admin to add you (auth.curator_emails, "
                 "auth.admin_emails or your identity provider's groups).", icon=":material/block:")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    now = time.time()
    session = st.session_state.setdefault(OIDC_SESSION, {"started": float(claims.get("iat") or now), "seen": now})
    if reason := login.session_expired(session["started"], session["seen"], now, settings.auth):
        st.session_state.pop(OIDC_SESSION, None)
        logger.info("OIDC session of %s ended: %s", user.label, reason)
        st.logout()
        st.stop()
    if not session.get("audited"):
        client = login.client_address(st.context.ip_address, dict(st.context.headers), settings.auth)
        audit.record(common.store(settings), user, "login", client or "localhost", via="oidc")
        session["audited"] = True
    session["seen"] = now
    return user


def _here() -> str:
    url = st.context.url or "/"
    path = urlparse(url).path or "/"
    return path if path.startswith("/") else "/"


def _sign_in_page(settings: Settings, mode: str, why: str) -> None:
    st.title("MedEmbed: please sign in")
    if why:
        st.info(why, icon=":material/logout:")
    if "local" in mode:
        sign_in_link("Sign in with your MedEmbed account", _here())
    if "oidc" in mode:
        st.button(f"Sign in with {settings.auth.oidc_provider_name}", type="primary", on_click=st.login,
                  icon=":material/badge:")


def sign_in_link(label: str, next_path: str) -> None:
    """A link to the sign-in form that opens in this tab: Streamlit opens markdown links in a new tab, which left
    this one on "please sign in" after signing in there. ``target`` is honoured for HTML links only."""
    href = html.escape(f"{LOGIN_PATH}?next={quote(next_path)}", quote=True)
    st.markdown(f'<a href="{href}" target="_self">{html.escape(label)}</a>', unsafe_allow_html=True)


def _oidc_sign_out(user: Principal) -> None:
    audit.record(common.store(common.settings()), user, "logout")
    st.session_state.pop(OIDC_SESSION, None)
    st.logout()


def _account_box(user: Principal) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{user.label}** · {user.role}")
        if user.via == "oidc":
            st.button("Sign out", key="gate_sign_out", on_click=_oidc_sign_out, args=(user,),
                      icon=":material/logout:")
        else:
            st.link_button("Sign out", LOGOUT_PATH, icon=":material/logout:")
