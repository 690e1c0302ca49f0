"""How ``medembed ui`` starts Streamlit safely: refuse to serve open where it must not, the hardened server flags,
and the OpenID Connect settings handed to Streamlit's ``st.login`` through a private secrets file.

The open mode (no accounts, no OIDC) is for one person on their own computer: it is allowed only when the server
listens on a loopback address and is not a deployment (``auth.deployment``), unless ``auth.allow_open`` says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from access.accounts import Accounts
from access.login import oidc_enabled
from access.roles import Principal
from indexer.accept import MAX_UPLOAD_BYTES
from medcore.config import Settings
from medcore.errors import AuthError
from store import Store

logger = logging.getLogger(__name__)

OPEN_USER = Principal("localhost", "admin", "open")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def is_loopback(address: str | None) -> bool:
    """Whether the server listens on loopback only (unset means every interface, as Streamlit binds then)."""
    return bool(address) and (address in LOOPBACK or address.startswith("127."))  # type: ignore[union-attr]


def open_reason(settings: Settings, address: str | None) -> str | None:
    """Why serving without sign-in is not allowed here (None when it is): a deployment, a proxy in front
    (``auth.trusted_proxies``), or a non-loopback address."""
    if settings.auth.allow_open:
        return None
    if settings.auth.deployment:
        return "this is a deployment (auth.deployment / MEDEMBED_AUTH_DEPLOYMENT=1)"
    if settings.auth.trusted_proxies.strip():
        return "auth.trusted_proxies is set (a proxy in front lets other computers in)"
    if not is_loopback(address):
        return f"the server listens on {address or 'every interface'}, not only on localhost"
    return None


#: Headers a proxy adds: a request carrying one came through something that listens beyond loopback.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
                      "via", "x-forwarded-server", "true-client-ip", "cf-connecting-ip")


def _loopback_host(host: str) -> bool:
    """Whether a Host header names this computer by a loopback name (``localhost``, ``127.x``, ``[::1]``; any port)."""
    host = host.strip().lower()
    name = host[: host.index("]") + 1] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
    return name in LOOPBACK or name.endswith(".localhost") or (name.startswith("127.") and
                                                               name.replace(".", "").isdigit())


def open_request_refusal(settings: Settings, peer: str | None, headers: Mapping[str, str]) -> str | None:
    """Why one request may not use the open mode (None when it may). Listening on loopback is not enough: a web
    page can rebind its own host name to 127.0.0.1 (the browser then sends ``Host: rebind.attacker.example``), and a
    local proxy relays other computers' requests from 127.0.0.1 (with forwarding headers). So the open mode serves
    only a loopback peer that names a loopback host and came through no proxy; ``auth.allow_open`` lifts this."""
    if settings.auth.allow_open:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    if not is_loopback((peer or "").removeprefix("::ffff:")):
        return f"the request came from {peer or 'an unknown address'}, not from this computer"
    if "host" in lower and not _loopback_host(lower["host"]):  # every browser sends one; a test harness may not
        return f"the request names host {lower.get('host', '')[:100]!r}, not localhost"
    if found := [h for h in FORWARDING_HEADERS if h in lower]:
        return f"the request came through a proxy ({', '.join(found)})"
    return None


def how_to_fix() -> str:
    return ("Create an admin account first: `medembed users add NAME --role admin` (in Docker: `docker compose run "
            "--rm app medembed users add NAME --role admin`), or configure OpenID Connect (MEDEMBED_AUTH_OIDC_*; see "
            "docs/deploy.md), or, only behind another gate you trust, set MEDEMBED_AUTH_ALLOW_OPEN=1.")


def check_can_serve(settings: Settings, address: str | None, n_accounts: int) -> str:
    """The sign-in mode (``open``, ``local``, ``oidc``, ``local+oidc``), or AuthError when it would run open where
    it must not."""
    modes = [m for m, on in (("local", n_accounts > 0), ("oidc", oidc_enabled(settings))) if on]
    if modes:
        return "+".join(modes)
    if reason := open_reason(settings, address):
        raise AuthError(f"Refusing to start without sign-in: no accounts and no OpenID Connect, and {reason}. "
                        + how_to_fix())
    return "open"


def server_flags(settings: Settings, address: str) -> list[str]:
    """Streamlit flags a security review expects (they override ui/.streamlit/config.toml): XSRF protection and
    CORS checks on, the upload cap, no static file serving (no directory listing), no source-watching; beyond
    localhost also no tracebacks shown to users and the viewer-only toolbar."""
    flags = {
        "server.enableXsrfProtection": "true",
        "server.enableCORS": "true",
        "server.maxUploadSize": str(MAX_UPLOAD_BYTES // 2**20),
        "server.enableStaticServing": "false",
        "server.runOnSave": "false",
        "server.fileWatcherType": "none",
        "global.developmentMode": "false",
        "browser.gatherUsageStats": "false",
    }
    if not is_loopback(address) or settings.auth.deployment:
        flags |= {"client.showErrorDetails": "none", "client.toolbarMode": "viewer"}
    return [part for key, value in flags.items() for part in (f"--{key}", value)]


def oidc_secrets_toml(settings: Settings, environ: Mapping[str, str]) -> str:
    """The ``[auth]`` section Streamlit's ``st.login`` reads, from settings and the two secret variables."""
    cfg = settings.auth
    missing = [name for name in (cfg.oidc_client_secret_env, cfg.cookie_secret_env) if not environ.get(name)]
    if missing:
        raise AuthError(f"OpenID Connect is configured (auth.oidc_client_id) but {' and '.join(missing)} "
                        f"{'is' if len(missing) == 1 else 'are'} not set: put the client secret and a random cookie "
                        "key (`python -c 'import secrets; print(secrets.token_hex(32))'`) in the environment (.env).")
    values = {"redirect_uri": cfg.oidc_redirect_uri, "cookie_secret": environ[cfg.cookie_secret_env],
              "client_id": cfg.oidc_client_id, "client_secret": environ[cfg.oidc_client_secret_env],
              "server_metadata_url": cfg.oidc_server_metadata_url}
    return "[auth]\n" + "".join(f"{k} = {_toml_string(str(v))}\n" for k, v in values.items())


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def prepared(settings: Settings, address: str, environ: Mapping[str, str] | None = None) -> Iterator[list[str]]:
    """Check the sign-in mode and yield the extra ``streamlit run`` flags; an OIDC secrets file (mode 0600, in a
    private temporary folder) exists for as long as the block runs. Raises AuthError before anything starts."""
    environ = os.environ if environ is None else environ
    store = Store.from_settings(settings)
    try:
        mode = check_can_serve(settings, address, Accounts(store).count())
    finally:
        store.close()
    logger.info("Sign-in mode: %s", mode)
    flags = server_flags(settings, address)
    if not oidc_enabled(settings):
        yield flags
        return
    folder = Path(tempfile.mkdtemp(prefix="medembed-auth-"))
    try:
        secrets = folder / "secrets.toml"
        fd = os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(oidc_secrets_toml(settings, environ))
        yield [*flags, "--secrets.files", str(secrets)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
