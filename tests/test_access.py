"""Access control without a browser: password hashing, the sign-in throttle, roles and the server-side guards,
OIDC claims to roles, session expiry, the open-mode rules of ``medembed ui``, the audit log and ``medembed users``.

Accounts and the audit log run on SQLite and PostgreSQL (``store_url``). argon2 uses a cheaper cost here than the
default (time 1, 8 MiB) except where the default itself is checked.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from access import audit, login, serving
from access.accounts import Accounts, backoff_seconds
from access.roles import Principal, has_role, parse_role, require
from cli.main import cli
from indexer import accept
from library import manage as lib
from medcore.config import AuthSettings, Settings
from medcore.errors import AuthError, ConfigError, MedEmbedError, PermissionDenied
from store import Store
from tests.conftest import suite_settings
from tests.test_reading_list import _library

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture
def accounts(store: Store) -> Accounts:
    return Accounts(store, hasher=FAST)


# -- hashing and accounts ---------------------------------------------------------------------------------------------
def test_passwords_are_salted_argon2id_hashes_and_never_stored(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    accounts = Accounts(store)  # the default cost, as deployed
    accounts.add("ann", "reader", PASSWORD)
    accounts.add("bob", "reader", PASSWORD)
    with store.engine.connect() as conn:
        hashes = [row[0] for row in conn.exec_driver_sql("select password_hash from users order by username")]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1]  # same password, different salt
    assert accounts.verify("ANN ", PASSWORD).username == "ann"  # user names are case-insensitive
    assert accounts.verify("ann", PASSWORD + "!") is None
    store.close()
    for path in tmp_path.iterdir():
        assert PASSWORD.encode() not in path.read_bytes(), path


def test_account_rules_say_how_to_fix(accounts: Accounts) -> None:
    with pytest.raises(MedEmbedError, match="too short: use at least 10"):
        accounts.add("ann", "reader", "short")
    with pytest.raises(MedEmbedError, match="not allowed: use 1-128 letters"):
        accounts.add("../ann", "reader", PASSWORD)
    with pytest.raises(ValueError, match="use one of reader, curator, admin"):
        accounts.add("ann", "boss", PASSWORD)
    accounts.add("ann", "reader", PASSWORD)
    with pytest.raises(MedEmbedError, match="exists already; use `medembed users passwd ann`"):
        accounts.add("Ann", "reader", PASSWORD)
    with pytest.raises(MedEmbedError, match="No user 'zed'"):
        accounts.set_role("zed", "admin")
    assert accounts.set_role("ann", "curator").role == "curator"
    changed = accounts.set_password("ann", PASSWORD + " again")
    assert accounts.verify("ann", PASSWORD) is None and accounts.verify("ann", PASSWORD + " again")
    assert changed.password_changed_at >= changed.created_at
    accounts.remove("ann")
    assert accounts.count() == 0 and accounts.verify("ann", PASSWORD + " again") is None


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.checked: list[str] = []

    def verify(self, hash: str, password: str) -> bool:  # noqa: A002 - argon2's name
        self.checked.append(hash)
        return super().verify(hash, password)


def test_unknown_user_is_checked_against_a_dummy_hash(store: Store) -> None:
    """Same answer (None) and the same argon2 work for an unknown user as for a wrong password."""
    hasher = CountingHasher()
    accounts = Accounts(store, hasher=hasher)
    calls = hasher.checked
    accounts.add("ann", "reader", PASSWORD)
    assert accounts.verify("nobody", PASSWORD) is None
    assert accounts.verify("ann", "wrong password!") is None
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)


# -- the throttle and sign-in -----------------------------------------------------------------------------------------
def test_backoff_waits_grow_after_the_free_failures() -> None:
    waits = [backoff_seconds(n, after=3, base_s=2, max_s=60) for n in range(1, 9)]
    assert waits == [0, 0, 2, 4, 8, 16, 32, 60]


def test_login_gives_one_message_throttles_and_audits(store: Store, accounts: Accounts, tmp_path: Path) -> None:
    settings = Settings.from_dict({"auth": {"backoff_after": 2, "backoff_base_s": 30}})
    accounts.add("ann", "curator", PASSWORD)
    refusals = []
    for name, password in (("ann", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(login.LoginRefused) as info:
            login.login_local(store, settings, name, password, "10.0.0.5", accounts)
        refusals.append(str(info.value))
    assert refusals[0] == login.WRONG_CREDENTIALS  # the first failure: no wait yet
    assert refusals[1] == f"{login.WRONG_CREDENTIALS} Wait 30 s before the next try."  # same text, client throttled
    with pytest.raises(login.LoginRefused, match="Too many failed sign-ins") as blocked:
        login.login_local(store, settings, "ann", PASSWORD, "10.0.0.5", accounts)  # right password, must wait
    assert 0 < blocked.value.retry_after <= 30
    # another computer is not held back by the client's failures, only by the user's (1 so far: none)
    assert login.login_local(store, settings, "ann", PASSWORD, "10.0.0.6", accounts) == Principal("ann", "curator")

    entries = audit.query(store)
    assert [e.action for e in reversed(entries)] == ["login_failed", "login_failed", "login_throttled", "login"]
    assert entries[-1].actor == "ann" and entries[-2].actor == login.UNKNOWN_ACTOR and not entries[-2].ok
    assert all("password" not in str(e.detail).lower() for e in entries)


def test_throttle_keys_hash_the_user_name() -> None:
    keys = login.throttle_keys("My Secret Typed In The Name Box", None)
    assert keys[1] == "client:local" and all("secret" not in k.lower() for k in keys) and len(keys[2]) == 5 + 32


def test_strangers_guesses_cannot_lock_out_the_user_nor_flood_the_audit_log(store: Store, accounts: Accounts) -> None:
    """Three wrong guesses from one address, then a flood of tries from it: the real user, at another computer, gets
    in after the short per-user wait (not the attacker's long one), and the flood makes one audit row, not one each."""
    settings = Settings.from_dict({"auth": {"backoff_after": 3, "backoff_base_s": 60, "user_backoff_max_s": 1}})
    accounts.add("ann", "reader", PASSWORD)
    for i in range(3):
        with pytest.raises(login.LoginRefused):
            login.login_local(store, settings, "ann", f"wrong guess {i}", "198.51.100.66", accounts)
    for _ in range(50):
        with pytest.raises(login.LoginRefused, match="Too many") as info:
            login.login_local(store, settings, "ann", PASSWORD, "198.51.100.66", accounts)
        assert info.value.retry_after > 30, "the guesser's own address keeps the long wait"
    try:
        principal = login.login_local(store, settings, "ann", PASSWORD, "10.0.0.6", accounts)
    except login.LoginRefused as refused:
        assert refused.retry_after <= 1, "the user name alone waits at most auth.user_backoff_max_s"
        time.sleep(refused.retry_after + 0.1)
        principal = login.login_local(store, settings, "ann", PASSWORD, "10.0.0.6", accounts)
    assert principal == Principal("ann", "reader")
    throttled = audit.query(store, actions=["login_throttled"], text="198.51.100.66")
    assert len(throttled) == 1 and throttled[0].detail["repeats"] == 49, throttled


# -- roles and the server-side guards ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("actual", "needed", "ok"), [
    ("reader", "reader", True), ("reader", "curator", False), ("reader", "admin", False),
    ("curator", "reader", True), ("curator", "curator", True), ("curator", "admin", False),
    ("admin", "reader", True), ("admin", "curator", True), ("admin", "admin", True),
    ("superuser", "reader", False), ("", "reader", False),
])
def test_role_order(actual: str, needed: str, ok: bool) -> None:
    assert has_role(actual, needed) is ok  # type: ignore[arg-type]


def test_require_names_the_role_needed_and_how_to_get_it() -> None:
    with pytest.raises(PermissionDenied, match=r"ann is a reader and may not delete documents: that needs the "
                                               r"curator role.*medembed users set-role ann curator"):
        require(Principal("ann", "reader"), "curator", "delete documents")
    with pytest.raises(PermissionDenied, match="Sign in to upload"):
        require(None, "reader", "upload")
    assert require(Principal("cy", "admin"), "curator", "x").name == "cy"
    assert parse_role(" Curator ") == "curator"


def test_library_actions_refuse_readers_before_touching_anything(tmp_path: Path) -> None:
    settings = suite_settings().with_home(tmp_path / "home")
    store = Store.from_settings(settings)
    reader = Principal("ann", "reader")
    with pytest.raises(PermissionDenied, match="may not upload documents"):
        lib.add_uploads(store, settings, [("a.pdf", b"%PDF-1.4 whatever")], user=reader)
    with pytest.raises(PermissionDenied, match="may not delete documents"):
        lib.delete_document(store, settings, 1, user=reader)
    with pytest.raises(PermissionDenied, match="may not reindex the library"):
        lib.reindex(store, settings, user=reader)
    with pytest.raises(PermissionDenied, match="Sign in"):
        lib.reindex(store, settings, user=None)
    assert not settings.paths.files_dir.exists() and audit.query(store) == []


# -- OpenID Connect claims --------------------------------------------------------------------------------------------
def test_oidc_claims_map_to_the_highest_role() -> None:
    cfg = AuthSettings(admin_emails="Boss@H.org", curator_emails="cur@h.org, boss@h.org", role_claim="groups",
                       role_claim_prefix="medembed-")
    assert login.role_from_claims({"email": "boss@h.org", "email_verified": True}, cfg) == "admin"
    assert login.role_from_claims({"email": "cur@h.org", "email_verified": True}, cfg) == "curator"
    assert login.role_from_claims({"email": "cur@h.org", "email_verified": False}, cfg) == "reader"  # not trusted
    assert login.role_from_claims({"email": "x@h.org", "groups": ["staff", "medembed-curator"]}, cfg) == "curator"
    assert login.role_from_claims({"email": "x@h.org", "groups": "medembed-admin"}, cfg) == "admin"
    assert login.role_from_claims({"email": "x@h.org", "groups": ["admin"]}, cfg) == "reader"  # prefix required
    strict = AuthSettings(default_role="none")
    assert login.principal_from_claims({"email": "x@h.org"}, strict) is None
    ann = login.principal_from_claims({"sub": "abc", "iss": "https://idp.h.org", "email": "X@H.org",
                                       "email_verified": True}, cfg)
    assert ann == Principal("oidc:https://idp.h.org|abc", "reader", "oidc", "x@h.org")
    assert login.principal_from_claims({"email": "x@h.org"}, cfg) is None, "no subject: no stable key, refused"


def _one_document(store: Store) -> int:
    from indexer.parse.document import ParsedDocument
    from medcore.types import Chunk

    parsed = ParsedDocument(source="pdf", sha256="1" * 64, title="Methemoglobinemia in pregnancy")
    return store.add_documents([(parsed, [Chunk(id=0, doc_id=0, ordinal=0, text="text", page=1)])])[0]


@pytest.mark.parametrize("claims", [
    {"email": "boss@h.org", "email_verified": False},  # the admin's address, typed in by someone else
    {"email": "boss@h.org"},
    {"preferred_username": "ann"},  # a local user's name
    {"preferred_username": "localhost"},  # the open-mode list
])
def test_oidc_users_never_get_another_users_saved_items(store: Store, accounts: Accounts, claims: dict) -> None:
    """Claims that name someone else (an unverified e-mail, a chosen user name) give the OIDC user a key of their
    own, ``oidc:<issuer>|<sub>``: the victim's reading list is neither shown nor changed, and the audit log names
    the intruder's key, not the victim."""
    from library import reading_list

    cfg = AuthSettings(admin_emails="boss@h.org")
    boss = login.principal_from_claims({"sub": "boss-1", "iss": "https://idp", "email": "boss@h.org",
                                        "email_verified": True}, cfg)
    accounts.add("ann", "reader", PASSWORD)
    ann = accounts.get("ann").principal()
    doc = _one_document(store)
    for victim in (boss, ann, serving.OPEN_USER):
        assert reading_list.add(store, victim, doc)
    intruder = login.principal_from_claims(claims | {"sub": "mallory-7", "iss": "https://idp"}, cfg)
    assert intruder.name == "oidc:https://idp|mallory-7" and intruder.role == "reader"
    assert reading_list.items(store, intruder) == [], "nobody else's list"
    assert reading_list.add(store, intruder, doc) and reading_list.note(store, intruder, doc, "mine")
    for victim in (boss, ann, serving.OPEN_USER):
        assert [i.note for i in reading_list.items(store, victim)] == [""], "the victim's note is untouched"
    assert {e.actor for e in audit.query(store, actions=["reading-list add"])} == {
        boss.name, "ann", "localhost", intruder.name}


def test_a_removed_accounts_saved_items_go_with_it(store: Store, accounts: Accounts) -> None:
    from library import reading_list

    accounts.add("ann", "reader", PASSWORD)
    accounts.add("boss", "admin", PASSWORD)
    assert reading_list.add(store, accounts.get("ann").principal(), _one_document(store))
    reading_list.record_search(store, accounts.get("ann").principal(), "secret query", {})
    accounts.remove("ann")
    accounts.add("ann", "reader", PASSWORD + "2")
    newcomer = accounts.get("ann").principal()
    assert reading_list.items(store, newcomer) == [] and reading_list.recent(store, newcomer) == []


@pytest.mark.parametrize("verified", [None, "false", "False", "true", 1, "yes", [True]])
def test_an_email_gives_a_role_only_when_verified_is_the_boolean_true(verified: object) -> None:
    cfg = AuthSettings(admin_emails="boss@h.org", default_role="none")
    claims = {"email": "boss@h.org"} | ({} if verified is None else {"email_verified": verified})
    assert login.role_from_claims(claims, cfg) is None, "a missing or non-boolean email_verified is not verified"
    assert login.role_from_claims(claims | {"email_verified": True}, cfg) == "admin"


def test_oidc_settings_need_the_provider_url_and_secrets_from_the_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="also set auth.oidc_server_metadata_url"):
        Settings.from_toml(None, environ={"MEDEMBED_AUTH_OIDC_CLIENT_ID": "medembed"})
    environ = {"MEDEMBED_HOME": str(tmp_path / "home"), "MEDEMBED_AUTH_OIDC_CLIENT_ID": "medembed",
               "MEDEMBED_AUTH_OIDC_SERVER_METADATA_URL": "https://idp.h.org/.well-known/openid-configuration",
               "MEDEMBED_AUTH_OIDC_REDIRECT_URI": "https://medembed.h.org/oauth2callback"}
    settings = Settings.from_toml(None, environ=environ)
    with pytest.raises(AuthError, match="MEDEMBED_OIDC_CLIENT_SECRET and MEDEMBED_COOKIE_SECRET are not set"):
        serving.oidc_secrets_toml(settings, environ)
    secret_env = environ | {"MEDEMBED_OIDC_CLIENT_SECRET": 'cs"1', "MEDEMBED_COOKIE_SECRET": "k" * 64}
    with serving.prepared(settings, "0.0.0.0", secret_env) as flags:  # OIDC configured: not open, may bind anywhere
        path = Path(flags[flags.index("--secrets.files") + 1])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert 'client_secret = "cs\\"1"' in text and 'client_id = "medembed"' in text
    assert not path.exists() and not path.parent.exists()


# -- sessions ---------------------------------------------------------------------------------------------------------
def test_session_expires_after_its_lifetime_or_when_idle() -> None:
    cfg = AuthSettings(session_minutes=60, idle_minutes=10)
    start = 1_000_000.0
    assert login.session_expired(start, start + 500, start + 590, cfg) is None
    assert "without activity" in login.session_expired(start, start, start + 601, cfg)
    assert "older than 60 minutes" in login.session_expired(start, start + 3590, start + 3601, cfg)


def test_client_address_believes_only_the_hops_trusted_proxies_appended() -> None:
    forged = {"X-Forwarded-For": "1.2.3.4, 203.0.113.9"}  # the client wrote 1.2.3.4; our proxy appended the rest
    assert login.client_address("203.0.113.9", forged, AuthSettings()) == "203.0.113.9", "no proxy configured"
    proxy = AuthSettings(trusted_proxies="10.0.0.2, 172.16.0.0/12")
    assert login.client_address("198.51.100.1", forged, proxy) == "198.51.100.1", "not from our proxy: header ignored"
    assert login.client_address("10.0.0.2", forged, proxy) == "203.0.113.9", "right-most untrusted hop, not 1.2.3.4"
    chained = {"x-forwarded-for": "1.2.3.4, 203.0.113.9, 172.17.0.5"}  # two proxies of ours, one behind the other
    assert login.client_address("10.0.0.2", chained, proxy) == "203.0.113.9"
    assert login.client_address("10.0.0.2", {}, proxy) == "10.0.0.2"
    assert not login.is_trusted_proxy("not-an-ip", proxy) and login.is_trusted_proxy("172.20.1.1", proxy)


def test_trusting_every_forwarded_header_is_refused_with_what_to_set_instead() -> None:
    with pytest.raises(ConfigError, match="replaced by auth.trusted_proxies: list the address of your reverse proxy"):
        AuthSettings(trust_proxy_headers=True)
    with pytest.raises(ConfigError, match="'proxy.local' is not an IP address or network"):
        AuthSettings(trusted_proxies="127.0.0.1, proxy.local")


@pytest.mark.parametrize("guesses", [40])
def test_parallel_guesses_cannot_pass_one_backoff_window(store: Store, guesses: int) -> None:
    """``guesses`` wrong passwords for one account sent at once from as many threads, as the route's thread pool
    runs them: only ``backoff_after`` of them may reach the password check."""
    hasher = CountingHasher()
    accounts = Accounts(store, hasher=hasher)
    accounts.add("ann", "reader", PASSWORD)
    hasher.checked.clear()
    settings = Settings.from_dict({"auth": {"backoff_after": 3, "backoff_base_s": 60}})
    start = threading.Barrier(guesses)

    def guess(i: int) -> str:
        start.wait()
        try:
            login.login_local(store, settings, "ann", f"guess number {i}", f"10.1.0.{i}", accounts)
        except login.LoginRefused as exc:
            return "throttled" if "Too many" in str(exc) else "wrong"
        return "in"

    with ThreadPoolExecutor(guesses) as pool:
        outcomes = list(pool.map(guess, range(guesses)))
    assert outcomes.count("wrong") == 3 and outcomes.count("throttled") == guesses - 3, outcomes
    assert len(hasher.checked) == 3, "only the first backoff_after guesses were checked"


# -- open mode and the server flags -----------------------------------------------------------------------------------
def test_open_mode_only_on_localhost_and_never_in_a_deployment() -> None:
    plain, deployed = Settings(), Settings.from_dict({"auth": {"deployment": True}})
    assert serving.check_can_serve(plain, "127.0.0.1", 0) == "open"
    assert serving.check_can_serve(plain, "0.0.0.0", 2) == "local"
    with pytest.raises(AuthError, match="listens on 0.0.0.0.*medembed users add NAME --role admin"):
        serving.check_can_serve(plain, "0.0.0.0", 0)
    with pytest.raises(AuthError, match="listens on every interface"):
        serving.check_can_serve(plain, None, 0)
    with pytest.raises(AuthError, match="this is a deployment"):
        serving.check_can_serve(deployed, "127.0.0.1", 0)
    assert serving.check_can_serve(Settings.from_dict({"auth": {"deployment": True, "allow_open": True}}),
                                 "0.0.0.0", 0) == "open"


def test_server_flags_turn_on_what_a_security_review_expects() -> None:
    def flags(address: str) -> dict[str, str]:
        args = serving.server_flags(Settings(), address)
        return dict(zip(args[::2], args[1::2], strict=True))

    local, public = flags("127.0.0.1"), flags("0.0.0.0")
    for f in (local, public):
        assert f["--server.enableXsrfProtection"] == "true" and f["--server.enableCORS"] == "true"
        assert f["--server.maxUploadSize"] == str(accept.MAX_UPLOAD_BYTES // 2**20)
        assert f["--server.enableStaticServing"] == "false"
    assert public["--client.showErrorDetails"] == "none" and "--client.showErrorDetails" not in local


# -- the audit log ----------------------------------------------------------------------------------------------------
def test_audit_log_filters_by_who_what_and_when(store: Store) -> None:
    cur, adm = Principal("cur", "curator"), Principal("adm", "admin")
    audit.record(store, cur, "upload", "kawasaki.pdf", doc_id=7)
    audit.record(store, cur, "delete", "document 7: Kawasaki")
    audit.record(store, adm, "reindex", "minilm", added=3)
    assert [e.action for e in audit.query(store, actor="cur")] == ["delete", "upload"]
    assert [e.actor for e in audit.query(store, actions=["reindex"])] == ["adm"]
    assert [e.target for e in audit.query(store, text="KAWA")] == ["document 7: Kawasaki", "kawasaki.pdf"]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert audit.query(store, since=future) == [] and len(audit.query(store, until=future)) == 3
    assert audit.query(store, actions=["upload"])[0].detail == {"doc_id": 7}
    assert audit.distinct_values(store) == (["adm", "cur"], ["delete", "reindex", "upload"])


# -- medembed users and medembed ui -----------------------------------------------------------------------------------
def test_users_cli_adds_lists_changes_and_removes_without_echoing_passwords(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEDEMBED_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> str:
        result = runner.invoke(cli, list(args), input=stdin)
        assert PASSWORD not in result.output
        assert result.exit_code == 0, result.output
        return result.output

    assert "Added ann (curator)" in run("users", "add", "Ann", "--role", "curator", "--password-stdin",
                                        stdin=PASSWORD + "\n")
    assert "Added bob (reader)" in run("users", "add", "bob", stdin=f"{PASSWORD}\n{PASSWORD}\n")  # hidden prompt
    assert "ann is now admin" in run("users", "set-role", "ann", "admin")
    assert "Password of bob changed" in run("users", "passwd", "bob", "--password-stdin", stdin="another long one\n")
    listed = run("users", "list", "--json")
    assert '"username": "ann", "role": "admin"' in listed and '"username": "bob", "role": "reader"' in listed
    assert "Removed bob" in run("users", "remove", "bob", "--yes")
    bad = runner.invoke(cli, ["users", "add", "cy", "--password-stdin"], input="short\n")
    assert bad.exit_code == 1 and "too short" in bad.output
    mismatch = runner.invoke(cli, ["users", "add", "cy"], input=f"{PASSWORD}\nsomething else\n" * 3)
    assert mismatch.exit_code != 0
    store = Store.from_settings(Settings.load())
    assert [a.username for a in Accounts(store).users()] == ["ann"]
    assert {e.action for e in audit.query(store)} == {"user_add", "user_set_role", "user_passwd", "user_remove"}
    assert audit.query(store)[0].actor.startswith("cli:")


def test_ui_refuses_to_start_open_beyond_localhost_or_in_a_deployment(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEDEMBED_DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["ui", "--address", "0.0.0.0"])
    assert result.exit_code == 1 and "Refusing to start without sign-in" in result.output
    monkeypatch.setenv("MEDEMBED_AUTH_DEPLOYMENT", "1")
    result = CliRunner().invoke(cli, ["ui"])
    assert result.exit_code == 1 and "this is a deployment" in result.output
    assert os.environ.get("MEDEMBED_AUTH_ALLOW_OPEN") is None


def test_cli_commands_that_change_the_library_are_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEDEMBED_DATABASE_URL", raising=False)
    notes = tmp_path / "notes.pdf"
    notes.write_text("not a PDF at all\n")
    result = CliRunner().invoke(cli, ["ingest", str(notes)])
    assert result.exit_code == 1, result.output
    [entry] = audit.query(Store.from_settings(Settings.load()), actions=["ingest"])
    assert entry.actor.startswith("cli:") and not entry.ok and "notes.pdf" in entry.target


def test_the_store_password_is_masked_in_logs_settings_and_messages(pg_url: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL here trusts local connections, so a password in the URL is accepted and ignored."""
    secret = "s3cret-" + os.urandom(6).hex()
    url = pg_url.replace("://postgres@", f"://postgres:{secret}@")
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEDEMBED_DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["-v", "users", "list"])
    assert result.exit_code == 0 and "Settings: " in result.output, result.output
    assert secret not in result.output and "postgres:***@" in result.output
    assert secret not in str(Settings.load().to_dict()) and Settings.load().paths.database_url == url
    empty = CliRunner().invoke(cli, ["generate", "-o", str(tmp_path / "triplets.jsonl"), "--mine", "bm25"])
    assert empty.exit_code == 1 and "has no chunks" in empty.output and "postgres:***@" in empty.output
    assert secret not in empty.output, empty.output


def test_first_account_is_an_admin_and_takes_over_what_open_mode_saved(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first account added without --role is an admin (with a reader first, sign-in would lock everyone out of
    the Users page); the reading list, note and recent search saved in open mode become its own."""
    from library import reading_list

    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEDEMBED_DATABASE_URL", raising=False)
    store = Store.from_settings(Settings.load())
    doc = _library(store)[0]
    reading_list.add(store, serving.OPEN_USER, doc)
    reading_list.note(store, serving.OPEN_USER, doc, "journal club")
    reading_list.record_search(store, serving.OPEN_USER, "statin myopathy", {"mode": "bm25"})
    runner = CliRunner()
    first = runner.invoke(cli, ["users", "add", "drlee", "--password-stdin"], input=PASSWORD + "\n")
    assert first.exit_code == 0 and "Added drlee (admin)" in first.output, first.output
    second = runner.invoke(cli, ["users", "add", "nurse", "--password-stdin"], input=PASSWORD + "\n")
    assert "Added nurse (reader)" in second.output
    lee = Principal("drlee", "admin", "local")
    assert [(i.document.id, i.note) for i in reading_list.items(store, lee)] == [(doc, "journal club")]
    assert [s.query for s in reading_list.recent(store, lee)] == ["statin myopathy"]
    assert reading_list.items(store, serving.OPEN_USER) == [] and reading_list.recent(store, serving.OPEN_USER) == []
    assert reading_list.items(store, Principal("nurse", "reader", "local")) == []  # only the first account takes them
    assert "saved-items hand over" in {e.action for e in audit.query(store)}


def test_a_library_without_an_admin_says_how_to_make_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEDEMBED_DATABASE_URL", raising=False)
    runner = CliRunner()
    added = runner.invoke(cli, ["users", "add", "ann", "--role", "reader", "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0 and "Added ann (reader)" in added.stdout  # told explicitly: kept
    assert "no admin" in added.stderr and "medembed users set-role NAME admin" in added.stderr
    listed = runner.invoke(cli, ["users", "list"])
    assert "medembed users set-role NAME admin" in listed.stderr


def test_the_audit_entry_of_index_names_what_was_indexed_and_the_model(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`medembed index` with the default model: the entry names the model the default resolved to, not null."""
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEDEMBED_DATABASE_URL", raising=False)
    store = Store.from_settings(Settings.load())
    _library(store)
    result = CliRunner().invoke(cli, ["index"])
    assert result.exit_code == 0, result.output
    [entry] = audit.query(store, actions=["index"])
    model = Settings.load().index.model
    assert entry.ok and model in entry.target and "BM25" in entry.target
    assert entry.detail["model"] == model and entry.detail["added"] == 2 and entry.detail["total"] == 2


def test_stopping_medembed_ui_stops_the_streamlit_server(tmp_path: Path) -> None:
    """SIGTERM to `medembed ui` (a service manager stopping it) must end its Streamlit child too: the port closes."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    from tests.browser.harness import free_port, wait_healthy
    from tests.conftest import REPO, product_env

    port, log = free_port(), tmp_path / "ui.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "ui", "--port", str(port)], cwd=REPO,
                                env=product_env(tmp_path / "home"), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        proc.send_signal(signal.SIGTERM)  # to medembed only, not its process group
        assert proc.wait(timeout=30) in (0, 128 + signal.SIGTERM), log.read_text()  # as a shell reports it
        deadline, closed = time.monotonic() + 15, False
        while not closed and time.monotonic() < deadline:
            with socket.socket() as sock:
                closed = sock.connect_ex(("127.0.0.1", port)) != 0
            time.sleep(0.3)
        assert closed, f"medembed ui ended but port {port} still answers:\n{log.read_text()[-2000:]}"
    finally:
        with contextlib.suppress(ProcessLookupError):  # what is left of the group it started, on failure only
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("verb", ["demote", "remove"])
def test_two_admins_demoting_each_other_at_once_leave_one_admin(accounts: Accounts, monkeypatch: pytest.MonkeyPatch,
                                                                verb: str) -> None:
    """Each guard is slowed down after its check, so both run before either commits (the race, every time)."""
    accounts.add("ann", "admin", PASSWORD)
    accounts.add("bob", "admin", PASSWORD)
    guard = Accounts._keep_an_admin
    barrier = threading.Barrier(2, timeout=30)

    def slow_guard(s, row, verb):  # noqa: ANN001, ANN202
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=1)  # the second one may be waiting for the first's lock: then go on alone
        guard(s, row, verb)
        time.sleep(0.3)

    monkeypatch.setattr(Accounts, "_keep_an_admin", staticmethod(slow_guard))

    def act(name: str) -> str:
        try:
            accounts.set_role(name, "reader") if verb == "demote" else accounts.remove(name)
        except MedEmbedError as exc:
            return str(exc)
        return "done"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(act, ["ann", "bob"]))
    assert sorted(o == "done" for o in outcomes) == [False, True], outcomes
    assert [a.username for a in accounts.users() if a.role == "admin"] != []
