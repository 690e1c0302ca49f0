"""``/medembed/login`` and ``/medembed/logout``: the sign-in form of local accounts, served outside Streamlit.

Signing out is a POST from this site too (a GET of ``/medembed/logout`` only shows the button), so a link or image
elsewhere cannot sign anyone out, and the sign-in page shows only its own notes, never text from the address.

A plain HTML form posts to the server, which checks the password (``access.login.login_local``: one message for
any wrong part, a growing wait after repeated failures), stores a session and sets an HttpOnly, SameSite=Lax cookie
holding a random token (Secure when the request came over HTTPS, through a trusted proxy, or in a deployment). The
pages read the cookie on every run (``ui/gate.py``), so a sign-in survives reloads and new tabs until it expires.
Cross-site posts are refused by an Origin check; passwords and tokens are never logged.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import parse_qsl

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from access import audit, login, serving
from access.accounts import Accounts
from access.roles import Principal
from medcore.config import Settings
from medcore.errors import AuthError
from store import Store

logger = logging.getLogger(__name__)

LOGIN_PATH = "/medembed/login"
LOGOUT_PATH = "/medembed/logout"
COOKIE = "medembed_session"
#: The cookie's name when it is Secure: a ``__Host-`` cookie is bound to this host and path "/" by the browser, so
#: no sibling sub-domain or plain-http page can set one in its place (session fixation).
SECURE_COOKIE = "__Host-" + COOKIE
MAX_BODY = 8192
MAX_FIELDS = 5

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · MedEmbed</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="same-origin">
<style>body{{font-family:system-ui,sans-serif;background:#f5f7f9;display:flex;justify-content:center;margin:0}}
main{{background:#fff;margin-top:10vh;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 4px #0002;width:22rem}}
h1{{font-size:1.4rem;margin-top:0}}label{{display:block;margin:.8rem 0 .2rem}}
input{{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}}
button{{margin-top:1.2rem;width:100%;padding:.6rem;background:#0b6e99;color:#fff;border:0;border-radius:4px;
font-size:1rem;cursor:pointer}}p.error{{color:#a4000f;background:#fde8e8;padding:.6rem;border-radius:4px}}
p.note{{color:#333;background:#eef5fb;padding:.6rem;border-radius:4px}}</style></head>
<body><main><h1>{heading}</h1>{message}
{form}</main></body></html>"""
SIGN_IN_FORM = """<form method="post" action="{action}"><input type="hidden" name="next" value="{next}">
<label for="username">User name</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>"""
SIGN_OUT_FORM = """<form method="post" action="{action}"><button type="submit">Sign out</button></form>"""
#: The only notes the sign-in page shows, by name: a note taken from the address would let any link put words there.
NOTES = {"signed-out": "Signed out."}
_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Content-Security-Policy":
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"}


@functools.lru_cache(maxsize=4)
def _store(url: str) -> Store:
    return Store(url)


def safe_next(value: str | None) -> str:
    """Only a path on this site (``/library``), never another site (``//evil``, ``https://...``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def page(next_path: str = "/", error: str = "", note: str = "", status: int = 200) -> HTMLResponse:
    message = (f'<p class="error" role="alert">{html.escape(error)}</p>' if error else
               f'<p class="note">{html.escape(note)}</p>' if note else "")
    form = SIGN_IN_FORM.format(action=LOGIN_PATH, next=html.escape(safe_next(next_path), quote=True))
    return HTMLResponse(PAGE.format(heading="Sign in to MedEmbed", message=message, form=form), status_code=status,
                        headers=_HEADERS)


def sign_out_page(error: str = "", status: int = 200) -> HTMLResponse:
    """A button that posts the sign-out: a GET changes nothing, so no link or image on another site can sign
    anyone out."""
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    form = SIGN_OUT_FORM.format(action=LOGOUT_PATH)
    return HTMLResponse(PAGE.format(heading="Sign out of MedEmbed", message=message, form=form), status_code=status,
                        headers=_HEADERS)


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def _secure(request: Request, settings: Settings) -> bool:
    trusted = login.is_trusted_proxy(_peer(request), settings.auth)
    proto = request.headers.get("x-forwarded-proto", "") if trusted else ""
    return request.url.scheme == "https" or proto.lower() == "https" or settings.auth.deployment


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    if not origin or origin == "null":
        return not request.headers.get("sec-fetch-site") or request.headers["sec-fetch-site"] == "same-origin"
    host = origin.split("://", 1)[-1].split("/", 1)[0]
    return host == request.headers.get("host", "")


def _client(request: Request, settings: Settings) -> str | None:
    client = login.client_address(_peer(request), request.headers, settings.auth)
    return None if client in ("127.0.0.1", "::1") else client  # as Streamlit reports localhost


def login_form(request: Request) -> Response:
    settings = Settings.load()
    next_path = safe_next(request.query_params.get("next"))
    if Accounts(_store(settings.paths.store_url)).count() == 0:
        return RedirectResponse(next_path, status_code=303)  # no local accounts: nothing to sign in to here
    return page(next_path, note=NOTES.get(request.query_params.get("note", ""), ""))


class _BadForm(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded fields of a small form, read at most ``MAX_BODY`` bytes into the stream: a bigger body is
    refused (413) without reading the rest, as is one with more than ``MAX_FIELDS`` fields (400)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _BadForm(413, "This sign-in form is too large.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _BadForm(413, "This sign-in form is too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), max_num_fields=MAX_FIELDS)
    except ValueError:
        raise _BadForm(400, "This sign-in form has unexpected fields; reload the page and try again.") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


async def login_submit(request: Request) -> Response:
    settings = Settings.load()
    try:
        fields = await read_form(request)
    except _BadForm as exc:
        return page(error=str(exc), status=exc.status)
    next_path = safe_next(fields.get("next"))
    if not _same_origin(request):
        logger.warning("Refused a cross-site sign-in post (origin %s)", request.headers.get("origin"))
        return page(next_path, error="This sign-in came from another site and was refused.", status=403)
    store = _store(settings.paths.store_url)
    try:
        user = await run_in_threadpool(login.login_local, store, settings, fields.get("username", ""),
                                       fields.get("password", ""), _client(request, settings))
    except login.LoginRefused as exc:
        return page(next_path, error=str(exc), status=401)
    token = await run_in_threadpool(Accounts(store).start_session, user.name)
    response = RedirectResponse(next_path, status_code=303)
    secure = _secure(request, settings)
    response.set_cookie(SECURE_COOKIE if secure else COOKIE, token, max_age=settings.auth.session_minutes * 60,
                        path="/", httponly=True, samesite="lax", secure=secure)
    return response


def session_token(cookies: Mapping[str, str], settings: Settings) -> str | None:
    """The session token a browser sent: the ``__Host-`` cookie, else (not in a deployment, where sign-in is always
    over HTTPS) the plain one that a sign-in over plain http on localhost sets."""
    return cookies.get(SECURE_COOKIE) or (None if settings.auth.deployment else cookies.get(COOKIE))


def logout_form(request: Request) -> Response:
    return sign_out_page()


def logout(request: Request) -> Response:
    """End the session of the cookie (a POST from this site only) and go to the sign-in page."""
    if not _same_origin(request):
        logger.warning("Refused a cross-site sign-out post (origin %s)", request.headers.get("origin"))
        return sign_out_page("This sign-out came from another site and was refused.", status=403)
    settings = Settings.load()
    store = _store(settings.paths.store_url)
    if token := session_token(request.cookies, settings):
        if name := Accounts(store).end_session(token):
            audit.record(store, name, "logout")
    response = RedirectResponse(f"{LOGIN_PATH}?note=signed-out", status_code=303)
    secure = _secure(request, settings)
    response.delete_cookie(SECURE_COOKIE if secure else COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    return response


def session_limits(settings: Settings) -> tuple[timedelta, timedelta]:
    return timedelta(minutes=settings.auth.session_minutes), timedelta(minutes=settings.auth.idle_minutes)


def session_principal(store: Store, settings: Settings, token: str | None) -> tuple[Principal | None, str]:
    """The local-account user of a session cookie's token, or ``(None, why)``."""
    if not token:
        return None, ""
    account, why = Accounts(store).session_account(token, *session_limits(settings))
    return (account.principal(), "") if account else (None, why)


def _oidc_principal(request: Request, settings: Settings) -> Principal | None:
    """The OIDC user of Streamlit's signed identity cookie (best effort: Streamlit's own helpers)."""
    if not login.oidc_enabled(settings):
        return None
    try:
        from streamlit.web.server.starlette import starlette_websocket as sw

        decoded = sw._get_signed_cookie_with_chunks(dict(request.cookies), sw.USER_COOKIE_NAME)
        claims = json.loads(decoded) if decoded else {}
    except Exception:  # noqa: BLE001 - Streamlit internals changed: refuse rather than guess
        logger.warning("Could not read Streamlit's identity cookie; OIDC users cannot open PDFs directly")
        return None
    if not claims.get("is_logged_in"):
        return None
    # Streamlit's cookie lives 30 days; the sign-in lasts auth.session_minutes from the ID token's issue time, as on
    # the pages (ui/gate.py). No usable iat: refused.
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        return None
    if why := login.session_expired(float(iat), time.time(), time.time(), settings.auth):
        logger.info("Refused an OIDC identity cookie on %s: %s", request.url.path, why)
        return None
    return login.principal_from_claims(claims, settings.auth)


def request_principal(request: Request, settings: Settings) -> Principal | None:
    """Who sent an HTTP request to one of our routes: the open-mode user, a session cookie's, or an OIDC user.

    The open mode is decided by the same policy as at start-up (``serving.check_can_serve``) on every request: the last
    account may have been removed since, and the server may listen beyond localhost or be a deployment.
    """
    store = _store(settings.paths.store_url)
    try:
        mode = serving.check_can_serve(settings, st.get_option("server.address"), Accounts(store).count())
    except AuthError as exc:
        logger.warning("Refused %s without sign-in: %s", request.url.path, exc)
        return None
    if mode == "open":
        if reason := serving.open_request_refusal(settings, _peer(request), request.headers):
            logger.warning("Refused %s in open mode: %s", request.url.path, reason)
            return None
        return serving.OPEN_USER
    user, _ = session_principal(store, settings, session_token(request.cookies, settings))
    return user or _oidc_principal(request, settings)


ROUTES = [Route(LOGIN_PATH, login_form, methods=["GET"]), Route(LOGIN_PATH, login_submit, methods=["POST"]),
          Route(LOGOUT_PATH, logout_form, methods=["GET"]), Route(LOGOUT_PATH, logout, methods=["POST"])]
