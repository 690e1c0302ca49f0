"""The HTTP routes outside Streamlit (``/medembed/login``, ``/medembed/logout``, ``/medembed/pdf/<id>``) attacked as
a client would: through Starlette's TestClient on the real routes, a real store and the deployed argon2 cost."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from figures import record
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit import config as st_config

from access import admin
from access.accounts import Accounts
from medcore.config import Settings
from medcore.errors import MedEmbedError
from store import Store
from ui import login_route, pdf_route

PASSWORD = "correct horse battery staple"
ORIGIN = "http://localhost"
ADMIN = admin.cli_principal()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty data folder selected through MEDEMBED_HOME, served on 127.0.0.1 as `medembed ui` does by default."""
    for var in [v for v in os.environ if v.startswith("MEDEMBED_")]:
        monkeypatch.delenv(var)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    previous = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    yield tmp_path / "home"
    st_config.set_option("server.address", previous)


@pytest.fixture
def store(home: Path) -> Store:
    return login_route._store(Settings.load().paths.store_url)


@pytest.fixture
def client(home: Path) -> TestClient:
    """A browser on this computer: from 127.0.0.1, naming host localhost."""
    return TestClient(Starlette(routes=[*pdf_route.ROUTES, *login_route.ROUTES]), follow_redirects=False,
                      client=("127.0.0.1", 50000), base_url="http://localhost")


# -- the open mode on the PDF route -----------------------------------------------------------------------------------
def test_pdf_route_is_open_only_where_the_app_may_start_open(client: TestClient, store: Store,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert Accounts(store).count() == 0
    assert client.get("/medembed/pdf/1").status_code == 404, "localhost, no accounts: open (no such document)"
    monkeypatch.setenv("MEDEMBED_AUTH_DEPLOYMENT", "1")
    assert client.get("/medembed/pdf/1").status_code == 401, "a deployment never serves open"
    monkeypatch.delenv("MEDEMBED_AUTH_DEPLOYMENT")
    st_config.set_option("server.address", "0.0.0.0")
    assert client.get("/medembed/pdf/1").status_code == 401, "bound beyond localhost: never open"
    monkeypatch.setenv("MEDEMBED_AUTH_ALLOW_OPEN", "1")
    assert client.get("/medembed/pdf/1").status_code == 404, "unless allow_open says another gate stands in front"


@pytest.mark.parametrize(("peer", "host", "headers", "why"), [
    ("127.0.0.1", "rebind.attacker.example", {}, "DNS rebinding: a web page's own name now points at 127.0.0.1"),
    ("127.0.0.1", "localhost", {"X-Forwarded-For": "203.0.113.7"}, "a local proxy relays another computer"),
    ("127.0.0.1", "localhost:8501", {"Forwarded": "for=203.0.113.7"}, "the standard forwarding header"),
    ("127.0.0.1", "localhost", {"Via": "1.1 squid"}, "a proxy that says only that it is one"),
    ("192.0.2.8", "localhost", {}, "not from this computer (the server listens beyond loopback by mistake)"),
])
def test_the_open_mode_serves_no_pdf_to_a_foreign_host_or_through_a_proxy(home: Path, store: Store, peer: str,
                                                                          host: str, headers: dict, why: str) -> None:
    """Loopback-only listening is not enough: the open mode refuses any request that is not this computer's own."""
    app = Starlette(routes=pdf_route.ROUTES)
    doc_id = _stored_pdf(store, home)
    own = TestClient(app, client=("127.0.0.1", 50000), base_url="http://localhost:8501")
    assert own.get(f"/medembed/pdf/{doc_id}").status_code == 200, "this computer's own browser gets it"
    foreign = TestClient(app, client=(peer, 50000), base_url=f"http://{host}")
    response = foreign.get(f"/medembed/pdf/{doc_id}", headers=headers)
    assert response.status_code == 401 and b"%PDF" not in response.content, why


def test_the_open_mode_is_refused_when_a_proxy_is_configured(client: TestClient, store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDEMBED_AUTH_TRUSTED_PROXIES", "127.0.0.1")
    assert client.get("/medembed/pdf/1").status_code == 401, "a proxy in front means others reach the app"


def _stored_pdf(store: Store, home: Path) -> int:
    """A real PDF stored the way an upload is; its document id."""
    from indexer.accept import accept_pdf

    settings = Settings.load()
    paper = Path(__file__).resolve().parent / "data" / "pdfs" / "PMC4738698.pdf"
    result = accept_pdf(store, settings, paper.name, paper.read_bytes())
    assert result.status == "added", result
    return result.doc_id


def test_removing_the_last_account_does_not_open_a_deployment(client: TestClient, store: Store,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDEMBED_AUTH_DEPLOYMENT", "1")
    admin.add_user(store, ADMIN, "bob", "reader", PASSWORD)
    assert client.get("/medembed/pdf/1").status_code == 401
    admin.remove_user(store, ADMIN, "bob")
    assert Accounts(store).count() == 0
    assert client.get("/medembed/pdf/1").status_code == 401, "no accounts left, still a deployment: refused"


def test_the_last_admin_cannot_be_removed_or_demoted(store: Store) -> None:
    admin.add_user(store, ADMIN, "ann", "admin", PASSWORD)
    admin.add_user(store, ADMIN, "bob", "reader", PASSWORD)
    with pytest.raises(MedEmbedError, match=r"ann is the only admin and cannot be removed: add another admin first"):
        admin.remove_user(store, ADMIN, "ann")
    with pytest.raises(MedEmbedError, match=r"ann is the only admin and cannot be demoted: .*then demote ann"):
        admin.set_role(store, ADMIN, "ann", "curator")
    admin.set_role(store, ADMIN, "bob", "admin")
    admin.set_role(store, ADMIN, "ann", "reader")  # bob is an admin now
    with pytest.raises(MedEmbedError, match="bob is the only admin"):
        admin.remove_user(store, ADMIN, "bob")
    admin.remove_user(store, ADMIN, "ann")
    assert [(a.username, a.role) for a in Accounts(store).users()] == [("bob", "admin")]


# -- sign-in ----------------------------------------------------------------------------------------------------------
def _sign_in(client: TestClient, username: str, password: str = "wrong password!", **headers: str) -> int:
    response = client.post(login_route.LOGIN_PATH, data={"username": username, "password": password, "next": "/"},
                            headers={"Origin": ORIGIN, **headers})
    return response.status_code


def test_unknown_and_known_user_names_cost_the_same_on_the_login_route(client: TestClient, store: Store,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Each POST builds its own Accounts, as the route does; the deployed argon2 cost; timed in turns."""
    monkeypatch.setenv("MEDEMBED_AUTH_BACKOFF_AFTER", "1000")  # the throttle's early refusal is not what is timed
    Accounts(store).add("ann", "reader", PASSWORD)
    assert _sign_in(client, "warm-up") == 401 and _sign_in(client, "ann") == 401
    known, unknown = [], []
    for i in range(9):
        for name, times in (("ann", known), (f"nobody{i}", unknown)):
            start = time.perf_counter()
            assert _sign_in(client, name) == 401
            times.append(time.perf_counter() - start)
    ratio = statistics.median(unknown) / statistics.median(known)
    record("login_timing", {"known_median_ms": round(statistics.median(known) * 1000, 1), "ratio": round(ratio, 2),
                            "unknown_median_ms": round(statistics.median(unknown) * 1000, 1)})
    assert 0.75 < ratio < 1.3, f"an unknown name costs {ratio:.2f}x a known one: the time tells which names exist"


def _post_chunks(chunks: int, size: int, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """POST ``chunks`` x ``size`` bytes of form to the login route at the ASGI level, without Content-Length; returns
    the status and how many chunks the route read."""
    app = Starlette(routes=login_route.ROUTES)
    sent = 0
    status: list[int] = []

    async def receive() -> dict:
        nonlocal sent
        sent += 1
        return {"type": "http.request", "body": b"username=" + b"a" * size, "more_body": sent < chunks}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": login_route.LOGIN_PATH, "raw_path": login_route.LOGIN_PATH.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"testserver"), *headers], "client": ("203.0.113.7", 5000),
             "server": ("testserver", 80)}
    # In a thread of its own: earlier tests in the same process (Playwright's sync API) may leave an event loop
    # running in this one, where asyncio.run refuses to start.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return status[0], sent


def test_an_oversized_sign_in_is_refused_early_before_origin_and_throttle(client: TestClient, store: Store) -> None:
    status, read = _post_chunks(100_000, 4096, [(b"origin", b"https://evil.example")])  # 400 MB, cross-site
    assert status == 413 and read <= login_route.MAX_BODY // 4096 + 1, f"read {read} chunks before refusing"
    declared = client.post(login_route.LOGIN_PATH, content=b"a" * (login_route.MAX_BODY + 1),
                           headers={"Origin": ORIGIN, "Content-Type": "application/x-www-form-urlencoded"})
    assert declared.status_code == 413 and "too large" in declared.text
    assert _sign_in(client, "ann") == 401, "a normal form still reaches the password check"
    with store.engine.connect() as conn:
        keys = [row[0] for row in conn.exec_driver_sql("select key from login_throttle")]
    assert keys == [k for k in keys if "203.0.113.7" not in k], "the refused posts never reached the throttle"


def test_a_sign_in_with_too_many_fields_is_a_clean_400(client: TestClient) -> None:
    form = "&".join(f"f{i}=x" for i in range(6))  # one more than the form may have
    response = client.post(login_route.LOGIN_PATH, content=form.encode(),
                           headers={"Origin": ORIGIN, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and "unexpected fields" in response.text


def test_forged_forwarded_headers_do_not_escape_the_client_throttle(home: Path, store: Store,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind our proxy (10.0.0.2) the client 203.0.113.7 writes a new X-Forwarded-For on every guess; the proxy
    appends the real address. Each guess names another user, so only the client's count can stop them."""
    monkeypatch.setenv("MEDEMBED_AUTH_TRUSTED_PROXIES", "10.0.0.2")
    monkeypatch.setenv("MEDEMBED_AUTH_BACKOFF_BASE_S", "60")
    app = Starlette(routes=login_route.ROUTES)
    via_proxy = TestClient(app, client=("10.0.0.2", 40000), follow_redirects=False, base_url=ORIGIN)
    statuses = []
    for i in range(5):
        forged = f"198.51.100.{i}, 203.0.113.7"
        response = via_proxy.post(login_route.LOGIN_PATH, data={"username": f"user{i}", "password": "guess!"},
                                  headers={"Origin": ORIGIN, "X-Forwarded-For": forged})
        statuses.append((response.status_code, "Too many" in response.text))
    assert statuses == [(401, False)] * 3 + [(401, True)] * 2, statuses
    direct = TestClient(app, client=("198.51.100.9", 40000), follow_redirects=False, base_url=ORIGIN)
    Accounts(store).add("ann", "reader", PASSWORD)
    signed_in = direct.post(login_route.LOGIN_PATH, data={"username": "ann", "password": PASSWORD},
                            headers={"Origin": ORIGIN, "X-Forwarded-For": "10.0.0.2", "X-Forwarded-Proto": "https"})
    assert signed_in.status_code == 303, "a client's own X-Forwarded-For does not make it the throttled proxy"
    assert "secure" not in signed_in.headers["set-cookie"].lower(), "nor does its X-Forwarded-Proto count"


# -- sign-out and the sign-in page's notes ----------------------------------------------------------------------------
def test_sign_out_is_a_same_site_post_and_the_page_shows_only_its_own_notes(client: TestClient, store: Store) -> None:
    Accounts(store).add("ann", "reader", PASSWORD)
    assert _sign_in(client, "ann", PASSWORD) == 303 and client.cookies.get(login_route.COOKIE)
    token = client.cookies.get(login_route.COOKIE)
    assert login_route.session_principal(store, Settings.load(), token)[0] is not None

    offered = client.get(login_route.LOGOUT_PATH)  # what an <img src> or a link on another site would do
    assert offered.status_code == 200 and 'method="post"' in offered.text
    cross = client.post(login_route.LOGOUT_PATH, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert login_route.session_principal(store, Settings.load(), token)[0] is not None, "still signed in"

    out = client.post(login_route.LOGOUT_PATH, headers={"Origin": ORIGIN})
    assert out.status_code == 303 and out.headers["location"] == f"{login_route.LOGIN_PATH}?note=signed-out"
    assert login_route.session_principal(store, Settings.load(), token)[0] is None
    assert "Signed out." in client.get(out.headers["location"]).text

    forged = "Your session expired. Call +1 555 0100 to re-activate your account"
    assert forged not in client.get(login_route.LOGIN_PATH, params={"note": forged}).text


# -- OpenID Connect identity cookies on the PDF route ---------------------------------------------------------------
def _identity_cookie(claims: dict) -> dict[str, str]:
    """Streamlit's signed identity cookie, made the way Streamlit makes it (its own signer and secret)."""
    import json

    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value
    from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

    value = create_signed_value(st_config.get_option("server.cookieSecret"), USER_COOKIE_NAME, json.dumps(claims))
    return {USER_COOKIE_NAME: value.decode()}


@pytest.mark.parametrize(("age_minutes", "served"), [(5, True), (479, True), (481, False), (10 * 24 * 60, False)])
def test_the_pdf_route_applies_the_session_length_to_oidc_identity_cookies(home: Path, store: Store,
                                                                           monkeypatch: pytest.MonkeyPatch,
                                                                           age_minutes: int, served: bool) -> None:
    """Streamlit's identity cookie lives 30 days; a sign-in lasts auth.session_minutes (480) from the token's iat."""
    monkeypatch.setenv("MEDEMBED_AUTH_OIDC_CLIENT_ID", "medembed")
    monkeypatch.setenv("MEDEMBED_AUTH_OIDC_SERVER_METADATA_URL", "https://idp.example/.well-known/openid-configuration")
    monkeypatch.setenv("MEDEMBED_AUTH_OIDC_REDIRECT_URI", "https://medembed.example/oauth2callback")
    previous = st_config.get_option("server.cookieSecret")
    st_config.set_option("server.cookieSecret", "test-cookie-secret-" + "x" * 32)
    try:
        doc_id = _stored_pdf(store, home)
        claims = {"is_logged_in": True, "sub": "u-1", "iss": "https://idp.example", "email": "ann@h.org",
                  "email_verified": True, "iat": int(time.time()) - age_minutes * 60}
        browser = TestClient(Starlette(routes=pdf_route.ROUTES), client=("198.51.100.4", 50000),
                             base_url="https://medembed.example", cookies=_identity_cookie(claims))
        response = browser.get(f"/medembed/pdf/{doc_id}")
        assert response.status_code == (200 if served else 401), response.text[:200]
        no_iat = TestClient(Starlette(routes=pdf_route.ROUTES), base_url="https://medembed.example",
                            cookies=_identity_cookie({k: v for k, v in claims.items() if k != "iat"}))
        assert no_iat.get(f"/medembed/pdf/{doc_id}").status_code == 401, "no issue time: refused"
    finally:
        st_config.set_option("server.cookieSecret", previous)


def test_pdfs_are_never_cached_by_the_browser(client: TestClient, store: Store, home: Path) -> None:
    """On a shared workstation the next person must not find the last one's papers in the browser's cache."""
    response = client.get(f"/medembed/pdf/{_stored_pdf(store, home)}")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"


def test_the_session_cookie_over_https_has_the_host_prefix(home: Path, store: Store) -> None:
    """Over HTTPS the cookie is ``__Host-medembed_session`` (Secure, Path=/, no Domain): no sibling sub-domain or
    plain-http page can plant one. A cookie of the plain name is not read in a deployment."""
    Accounts(store).add("ann", "reader", PASSWORD)
    browser = TestClient(Starlette(routes=login_route.ROUTES), base_url="https://medembed.example",
                         follow_redirects=False)
    response = browser.post(login_route.LOGIN_PATH, data={"username": "ann", "password": PASSWORD, "next": "/"},
                            headers={"Origin": "https://medembed.example"})
    cookie = response.headers["set-cookie"]
    assert response.status_code == 303 and cookie.startswith("__Host-medembed_session=")
    assert "secure" in cookie.lower() and "path=/" in cookie.lower() and "domain" not in cookie.lower()
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    deployed = Settings.from_dict({"auth": {"deployment": True}})
    assert login_route.session_token({"__Host-medembed_session": token}, deployed) == token
    assert login_route.session_token({"medembed_session": token}, deployed) is None, "a planted plain cookie"
