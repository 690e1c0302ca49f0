"""A new user's first hour in Chromium, on a copy of the demo library (scripts/demo.sh: the 8 sample papers indexed
with MiniLM and our model) plus one bare PDF without metadata: the Library table and its tiles, the Compare page's
marks of our model and its base, then the first account, made on the Users page in open mode.

One server for the module, in open mode until the last test adds the first account (so that test runs last).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from access import serving
from indexer.ingest import Ingestor
from library import reading_list
from medcore.config import Settings
from store import Store
from tests.browser.harness import chromium, new_tab, require_browser, running_ui
from tests.browser.test_ui_browser import shot, wait_idle
from tests.conftest import product_env
from tests.hostile_pdfs import text_pdf
from ui.common import EXAMPLE_QUERY

pytestmark = pytest.mark.browser

PASSWORD = "first-hour-password-42"
BARE_TITLE = "A bare PDF with no metadata"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_home: Path) -> Iterator[dict]:
    """`medembed ui` on a copy of the demo library, open mode, with a paper and a note saved in open mode."""
    require_browser()
    home = tmp_path_factory.mktemp("first-hour") / "medembed-data"
    shutil.copytree(demo_home, home)
    env = product_env(home)
    settings = Settings.from_toml(None, environ=env)
    store = Store.from_settings(settings)
    bare = text_pdf(home.parent / "bare.pdf", BARE_TITLE, ["Capsule endoscopy needs a clean small bowel. " * 20])
    assert Ingestor(store, settings).ingest([bare], show_progress_bar=False).count("added") == 1
    saved = next(d for d, _ in store.documents() if "Levofloxacin" in (d.title or ""))
    reading_list.add(store, serving.OPEN_USER, saved.id)
    reading_list.note(store, serving.OPEN_USER, saved.id, "journal club on Friday")
    store.close()
    with running_ui(["ui", "--port", "{port}"], env, home, home.parent / "ui.log") as url:
        yield {"url": url, "saved": saved}


@pytest.fixture(scope="module")
def browser(server: dict) -> Iterator[object]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser) -> Iterator[object]:  # noqa: ANN001 - a Playwright Browser
    with new_tab(browser, height=1500) as tab:
        yield tab


def test_library_table_shows_blanks_and_the_models_tile_in_full(page, server: dict) -> None:  # noqa: ANN001
    page.goto(f"{server['url']}/library")
    page.get_by_text("Documents", exact=True).first.wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    wait_idle(page)
    tile = page.locator('[data-testid="stMetric"]').filter(has_text="Models indexed")
    assert tile.locator('[data-testid="stMetricValue"]').inner_text().strip() == "2"
    assert page.get_by_text("minilm, medembed-small", exact=True).is_visible()
    grid = page.locator('[data-testid="stDataFrame"]').first
    cells = grid.locator('td[role="gridcell"]')  # the grid's accessible table (hidden: the grid draws on a canvas)
    texts = [t.strip() for t in cells.all_inner_texts()]
    assert any(BARE_TITLE in t for t in texts), texts[:40]  # the bare PDF's row is there ...
    assert "None" not in texts and "null" not in texts, texts  # ... and its missing year, journal, authors blank
    assert any(t.startswith("A. Justine Landi") for t in texts), "authors given names first"
    shot(page, "first_hour_library")


def test_compare_marks_our_model_and_its_base(page, server: dict) -> None:  # noqa: ANN001
    page.goto(f"{server['url']}/compare")
    box = page.get_by_label("Question or keywords")
    assert box.get_attribute("placeholder") == f"e.g. {EXAMPLE_QUERY}"
    box.fill(EXAMPLE_QUERY)
    box.press("Enter")
    page.get_by_text(re.compile(r"^\d+ papers · \d+ ms$")).first.wait_for()
    wait_idle(page)
    for heading in ("hybrid · medembed-small", "dense · medembed-small", "dense · minilm", "BM25"):
        assert page.get_by_role("heading", name=heading).count() == 1, heading
    assert page.get_by_text("ours", exact=True).count() == 2  # both columns of our model
    assert page.get_by_text("base model", exact=True).count() == 1  # MiniLM's
    assert page.get_by_text(re.compile(r"fine-tuned from minilm")).count() == 2
    counts = [int(m.group(1)) for t in page.get_by_text(re.compile(r"^\d+ papers · ")).all_inner_texts()
              if (m := re.match(r"(\d+) papers", t))]
    assert counts[:3] == [8, 8, 8], counts  # our dense column no longer stops short of k
    if counts[3] < 8:
        assert page.get_by_text(re.compile(r"only \d+ papers contain a word of the query")).count() == 1
    shot(page, "first_hour_compare")


def test_the_first_account_is_an_admin_and_keeps_what_open_mode_saved(page, server: dict) -> None:  # noqa: ANN001
    url = server["url"]
    page.goto(f"{url}/users")
    page.get_by_role("button", name="Add account").wait_for()
    wait_idle(page)
    form = page.locator('[data-testid="stForm"]')
    role = form.locator('[data-testid="stSelectbox"]')
    shown = role.inner_text() + " ".join(i.input_value() for i in role.locator("input").all())
    assert "admin" in shown and "reader" not in shown, f"the first account's role defaults to admin: {shown!r}"
    form.get_by_label("User name").fill("drlee")
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Add account").click()
    page.get_by_text("Added drlee (admin).").wait_for()
    wait_idle(page)
    shot(page, "first_hour_added")
    link = page.get_by_role("link", name="Sign in as drlee")
    assert link.get_attribute("target") == "_self"
    link.click()  # in this tab: no second tab, none left behind on "please sign in"
    page.get_by_role("heading", name="Sign in to MedEmbed").wait_for()
    assert len(page.context.pages) == 1
    page.get_by_label("User name", exact=True).fill("drlee")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("Signed in as drlee").wait_for()
    wait_idle(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    for admin_page in ("Users", "Audit log", "Library"):
        assert nav.get_by_text(admin_page, exact=True).count() == 1, admin_page
    page.goto(f"{url}/saved")
    page.get_by_text("Reading list (1)").wait_for()
    wait_idle(page)
    assert page.get_by_text(server["saved"].title).count() >= 1
    assert page.get_by_label("Note").first.input_value() == "journal club on Friday"
    shot(page, "first_hour_saved")
