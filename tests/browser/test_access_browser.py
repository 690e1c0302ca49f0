"""Access control as people meet it: ``medembed ui`` with local accounts, driven by Debian's Chromium (Playwright).

One server for the module (on a copy of the indexed test library), three accounts made with ``medembed users add``
(password on stdin), logging at DEBUG everywhere. A reader searches but cannot reach the Library; a curator uploads
and deletes; wrong passwords get one message and repeated failures must wait longer; the admin's Audit log shows
the curator's actions. The last test greps every log and every file the run wrote for the passwords and tokens used.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from access import login
from library import manage as lib
from medcore.config import Settings
from medcore.errors import PermissionDenied
from store import Store
from tests.browser.harness import chromium, medembed_cmd, new_tab, require_browser, running_ui
from tests.browser.test_ui_browser import shot, wait_idle
from tests.conftest import SUITE_ENV, product_env
from tests.hostile_pdfs import text_pdf

pytestmark = pytest.mark.browser

#: Fresh random passwords each run, so finding one in a log cannot be a coincidence.
PASSWORDS = {name: f"pw-{name}-{secrets.token_urlsafe(12)}" for name in ("reader1", "curator1", "admin1")}
ROLES = {"reader1": "reader", "curator1": "curator", "admin1": "admin"}
WRONG_PASSWORD = f"wrong-{secrets.token_urlsafe(12)}"
COOKIE_SECRET = secrets.token_hex(32)
SEEN_TOKENS: list[str] = []  # cookie values the browser held (XSRF token and the like)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, library_home: Settings) -> Iterator[dict]:
    """``medembed -v ui`` (DEBUG logging, Streamlit's too) with three accounts; yields url, home, env, logs."""
    require_browser()
    home = tmp_path_factory.mktemp("access-home") / "home"
    shutil.copytree(library_home.paths.home, home)
    env = product_env(home) | SUITE_ENV | {"MEDEMBED_AUTH_BACKOFF_AFTER": "3", "MEDEMBED_AUTH_BACKOFF_BASE_S": "3",
                                           "MEDEMBED_COOKIE_SECRET": COOKIE_SECRET}
    logs = home.parent / "logs"
    logs.mkdir()
    for name, password in PASSWORDS.items():
        done = subprocess.run([*medembed_cmd(), "-v", "users", "add", name, "--role", ROLES[name], "--password-stdin"],
                              input=password + "\n", env=env, capture_output=True, text=True, timeout=120)
        (logs / f"users-add-{name}.log").write_text(done.stdout + done.stderr)
        assert done.returncode == 0, done.stderr

    args = ["-v", "ui", "--port", "{port}", "--", "--logger.level", "debug"]
    with running_ui(args, env, home, logs / "ui.log") as url:
        yield {"url": url, "home": home, "env": env, "logs": logs}


@pytest.fixture(scope="module")
def browser(server: dict) -> Iterator[object]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser) -> Iterator[object]:  # noqa: ANN001 - a Playwright Browser
    with new_tab(browser) as tab:
        yield tab
        SEEN_TOKENS.extend(c["value"] for c in tab.context.cookies() if len(c["value"]) >= 16)


def sign_in(tab, url: str, name: str, password: str, path: str = "/") -> None:  # noqa: ANN001 - a Playwright Page
    tab.goto(f"{url}/medembed/login?next={path}")
    submit(tab, name, password)


def submit(tab, name: str, password: str) -> None:  # noqa: ANN001 - the sign-in form on the page now
    tab.get_by_role("heading", name="Sign in to MedEmbed").wait_for()
    tab.get_by_label("User name", exact=True).fill(name)
    tab.get_by_label("Password", exact=True).fill(password)
    with tab.expect_navigation():
        tab.get_by_role("button", name="Sign in", exact=True).click()


def signed_in_as(tab, name: str) -> None:  # noqa: ANN001
    tab.get_by_text(f"Signed in as {name}").wait_for()
    wait_idle(tab)


def error_text(tab) -> str:  # noqa: ANN001 - the sign-in form's message
    return tab.get_by_role("alert").inner_text().strip()


def test_reader_searches_sees_no_library_and_is_refused_there(page, server: dict) -> None:  # noqa: ANN001
    page.goto(server["url"])  # not signed in: the app offers the sign-in form and nothing else
    link = page.get_by_role("link", name="Sign in with your MedEmbed account")
    wait_idle(page)
    assert page.get_by_label("Question or keywords").count() == 0
    assert page.request.get(server["url"] + "/medembed/pdf/1").status == 401  # nor the library's PDFs
    page.goto(server["url"] + link.get_attribute("href"))
    submit(page, "reader1", PASSWORDS["reader1"])
    signed_in_as(page, "reader1")
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Search", exact=True).count() == 1
    for hidden in ("Library", "Benchmark", "Audit log", "Users", "Settings"):
        assert nav.get_by_text(hidden, exact=True).count() == 0, hidden
    box = page.get_by_label("Question or keywords")
    box.fill("methylene blue treatment of methemoglobinemia")
    box.press("Enter")
    page.get_by_text("Why here").first.wait_for()
    wait_idle(page)
    assert page.get_by_text("Rare Case of Methemoglobinemia Complicating Pregnancy").count() >= 1
    shot(page, "access_reader_search")

    page.goto(server["url"] + "/library")  # a new page load keeps the sign-in; the page's own check refuses
    page.get_by_text("Not allowed.").wait_for()
    wait_idle(page)
    assert page.get_by_text("needs the curator role; you are signed in as reader1 (reader)").count() == 1
    assert page.get_by_role("button", name="Add to library").count() == 0
    assert page.get_by_text("Delete…").count() == 0
    shot(page, "access_reader_refused")


def test_reader_calling_the_actions_directly_is_refused_on_the_server(server: dict) -> None:
    """The actions the Library page calls, called as the reader's signed-in Principal: each refuses, nothing
    changes (the check is in library.manage, not in the page)."""
    settings = Settings.from_toml(None, environ=server["env"])
    store = Store.from_settings(settings)
    reader = login.login_local(store, settings, "reader1", PASSWORDS["reader1"], client="test-direct")
    before = store.counts()
    pdf = text_pdf(server["home"].parent / "direct.pdf", "Direct call", ["Nothing to see here. " * 20])
    with pytest.raises(PermissionDenied, match="reader1 is a reader and may not upload documents"):
        lib.add_uploads(store, settings, [("direct.pdf", pdf.read_bytes())], user=reader)
    with pytest.raises(PermissionDenied, match="may not delete documents"):
        lib.delete_document(store, settings, store.documents()[0][0].id, user=reader)
    with pytest.raises(PermissionDenied, match="may not reindex"):
        lib.reindex(store, settings, user=reader)
    assert store.counts() == before
    assert not settings.paths.files_dir.joinpath("direct.pdf").exists()


def test_curator_uploads_and_deletes(page, server: dict, tmp_path: Path) -> None:  # noqa: ANN001
    pdf = text_pdf(tmp_path / "Kawasaki review.pdf", "Kawasaki disease in infants", [
        "Kawasaki disease is an acute vasculitis of infants with fever, conjunctivitis and a strawberry tongue. " * 4,
        "Intravenous immunoglobulin with aspirin lowers the rate of coronary artery aneurysms. " * 4])
    sign_in(page, server["url"], "curator1", PASSWORDS["curator1"], "/library")
    signed_in_as(page, "curator1")
    page.get_by_role("heading", name="Library").wait_for()
    page.locator('input[type="file"]').set_input_files(str(pdf))
    page.get_by_text("Kawasaki review.pdf").first.wait_for()
    page.get_by_role("button", name="Add to library").click()
    page.get_by_text(re.compile(r"added: Kawasaki disease in infants")).wait_for()
    wait_idle(page)
    shot(page, "access_curator_upload")

    page.get_by_role("combobox", name="Document").click()
    page.get_by_role("option", name=re.compile(r"Kawasaki disease in infants")).click()
    page.get_by_text("Delete…").click()
    page.get_by_role("button", name="Delete permanently").click()
    page.get_by_text(re.compile(r"deleted document \d+: Kawasaki disease in infants")).wait_for()
    wait_idle(page)
    shot(page, "access_curator_delete")


def test_wrong_password_gets_one_message_and_repeated_failures_slow_down(page, server: dict) -> None:  # noqa: ANN001
    url = server["url"]
    sign_in(page, url, "curator1", WRONG_PASSWORD)  # a known user, a wrong password
    known = error_text(page)
    sign_in(page, url, "nobody-here", WRONG_PASSWORD)  # an unknown user
    unknown = error_text(page)
    assert known == unknown == login.WRONG_CREDENTIALS  # no hint which part was wrong
    assert "curator1" not in known and "nobody" not in unknown

    submit(page, "curator1", WRONG_PASSWORD)  # third failure from this computer: a wait begins
    assert error_text(page) == f"{login.WRONG_CREDENTIALS} Wait 3 s before the next try."
    submit(page, "curator1", PASSWORDS["curator1"])  # at once: even the right password must wait now
    assert error_text(page).startswith("Too many failed sign-ins")
    page.wait_for_timeout(3500)
    submit(page, "admin1", WRONG_PASSWORD)  # a fourth failure: the wait doubles
    assert error_text(page) == f"{login.WRONG_CREDENTIALS} Wait 6 s before the next try."
    shot(page, "access_backoff")
    page.wait_for_timeout(6500)
    submit(page, "curator1", PASSWORDS["curator1"])  # after the wait, the right password gets in
    signed_in_as(page, "curator1")
    page.goto(server["url"] + page.get_by_role("link", name="Sign out").get_attribute("href"))
    page.get_by_role("heading", name="Sign out of MedEmbed").wait_for()  # a GET only offers the button
    page.get_by_role("button", name="Sign out").click()  # the sign-out itself is a same-site POST
    page.get_by_text("Signed out.").wait_for()
    page.goto(server["url"] + "/library")  # the session is gone on the server, not only in this browser
    page.get_by_role("heading", name="MedEmbed: please sign in").wait_for()


def test_audit_log_shows_the_curators_actions(page, server: dict) -> None:  # noqa: ANN001
    sign_in(page, server["url"], "admin1", PASSWORDS["admin1"], "/audit")
    signed_in_as(page, "admin1")
    page.get_by_role("heading", name="Audit log").wait_for()
    page.get_by_label("Who").click()
    page.get_by_role("option", name="curator1").click()
    wait_idle(page)
    table = page.locator('[data-testid="stTable"]')
    text = table.inner_text()
    for action in ("upload", "delete", "reindex", "login", "login_failed"):
        assert re.search(rf"\b{action}\b", text), action
    assert "Kawasaki" in text and "reader1" not in text
    shot(page, "access_audit")


HOSTILE_TITLE = "Sepsis trial [Re-authenticate](http://evil.example/login) ![](http://evil.example/pixel.png)"


TITLE_AS_TEXT = re.compile("\\[Re-authenticate\\]\\(http:\u2060?//evil\\.example/login\\)")


def assert_inert(tab, where: str, requests: list[str]) -> None:  # noqa: ANN001 - a Playwright Page
    """The hostile title is in ``where`` as text: no link or image made of it, nothing fetched from its host."""
    tab.locator(where).first.wait_for(state="attached")
    wait_idle(tab)
    text = "\n".join(tab.locator(where).all_inner_texts())
    assert TITLE_AS_TEXT.search(text), text
    assert tab.locator('a[href*="evil.example"]').count() == 0
    assert tab.locator('img[src*="evil.example"]').count() == 0
    assert not [u for u in requests if "evil.example" in u], requests


def test_markdown_in_a_pdf_title_stays_text_on_the_library_and_audit_pages(page, browser, server: dict,  # noqa: ANN001
                                                                        tmp_path: Path) -> None:
    pdf = text_pdf(tmp_path / "sepsis.pdf", HOSTILE_TITLE, [
        "Early antibiotics in septic shock lowered mortality in this randomised trial of adults. " * 4])
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    sign_in(page, server["url"], "curator1", PASSWORDS["curator1"], "/library")
    signed_in_as(page, "curator1")
    page.locator('input[type="file"]').set_input_files(str(pdf))
    page.get_by_text("sepsis.pdf").first.wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Add to library").click()
    # parsing in a fresh child process and indexing: minutes when the machine is shared with a training job
    page.get_by_text(re.compile(r"added: Sepsis trial")).wait_for(timeout=600_000)
    assert_inert(page, "body", requests)  # the upload's success message
    page.get_by_role("combobox", name="Document").click()
    page.get_by_role("option", name=re.compile(r"Sepsis trial")).click()
    page.get_by_text("Delete…").click()
    page.get_by_role("button", name="Delete permanently").click()
    page.get_by_text(re.compile(r"deleted document \d+: Sepsis trial")).wait_for(timeout=600_000)
    assert_inert(page, "body", requests)  # the caption "Indexes updated: deleted document N: <title>"
    shot(page, "hostile_title_library")

    with new_tab(browser) as admin:
        admin.on("request", lambda request: requests.append(request.url))
        sign_in(admin, server["url"], "admin1", PASSWORDS["admin1"], "/audit")
        signed_in_as(admin, "admin1")
        admin.get_by_role("heading", name="Audit log").wait_for()
        assert_inert(admin, '[data-testid="stTable"]', requests)  # the delete entry's target: "document N: <title>"
        shot(admin, "hostile_title_audit")


def test_no_password_or_token_in_any_log_or_file(server: dict) -> None:
    """Every log of the run (CLI and server, DEBUG) and every file under the data folder, the SQLite database and
    its WAL included, is free of the passwords typed and the tokens the browser held."""
    secrets_used = [*PASSWORDS.values(), WRONG_PASSWORD, COOKIE_SECRET, *SEEN_TOKENS]
    assert SEEN_TOKENS, "the browser held no cookie to look for"
    files = [p for p in [*server["logs"].rglob("*"), *server["home"].rglob("*")] if p.is_file()]
    assert any(p.name == "ui.log" and "DEBUG" in p.read_text(errors="replace") for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets_used:
            assert secret.encode() not in data, f"{path} holds a password or token"
