"""A clinician's path in a real Chromium: search -> filter to trials -> add two papers to the reading list -> write a
note -> export RIS from the Saved page -> the downloaded RIS parses with rispy and holds those papers.

The library is the 17 NFCorpus abstracts (real PubMed records) that mention peppermint oil (4 randomised trials, 3
systematic reviews, a case report, lab work and papers that name no design) and the three committed PMC PDFs, whose
JATS files give authors, journal, year, DOI and PMCID (NFCorpus records carry a title only). One of those PDFs was
put on the reading list before the test, as in an earlier session, so the exported RIS is checked field by field
against the store for a paper that has every field. Screenshots go to ``screenshots/`` (git-ignored).

Every wait is for something the page shows (a caption, a button's new label, a count), never a fixed sleep, and
allows minutes: on a 2-core machine shared with a training run a Streamlit rerun can take tens of seconds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from access.admin import cli_principal
from indexer.index.build import build_indexes
from indexer.ingest import Ingestor
from library import reading_list
from medcore.types import Document
from store import Store
from tests.browser.harness import chromium, new_tab, require_browser, running_ui
from tests.conftest import product_env, suite_settings

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NFCORPUS = REPO.parent / "shared" / "data" / "nfcorpus"
PDFS = REPO / "tests" / "data" / "pdfs"
SCREENSHOTS = REPO / "screenshots"
TOPIC = re.compile(r"peppermint", re.IGNORECASE)
QUERY = "peppermint oil for irritable bowel syndrome"
CAPTION = re.compile(r"\d+ papers( \(filtered\))? · hybrid · minilm( · reranked)? · \d+ ms")  # reranked: the default
SLOW_MS = 300_000  # one rerun (search + key sentences) niced beside a training job; seconds when idle
NOTE = "Placebo-controlled; check the dose and the IBS subtype."


@dataclass(frozen=True)
class App:
    url: str
    saved_before: Document  # on the reading list from "an earlier session": a PDF with every citation field


def _ibs_corpus(folder: Path) -> Path:
    """A BEIR folder of the NFCorpus documents on the topic."""
    folder.mkdir(parents=True)
    with (NFCORPUS / "corpus.jsonl").open() as src, (folder / "corpus.jsonl").open("w") as out:
        for line in src:
            doc = json.loads(line)
            if TOPIC.search(doc.get("title", "")) or TOPIC.search(doc.get("text", "")[:600]):
                out.write(line)
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "peppermint oil"}) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    return folder


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    require_browser()
    if not NFCORPUS.is_dir():
        pytest.skip("needs ../shared/data/nfcorpus")
    home = tmp_path_factory.mktemp("clinician-home")
    settings = suite_settings().with_home(home)
    store = Store.from_settings(settings)
    ingestor = Ingestor(store, settings)
    assert len(ingestor.ingest_beir(_ibs_corpus(home / "ibs"), collection="library", show_progress_bar=False)) == 17
    assert ingestor.ingest(sorted(PDFS.glob("*.pdf")), show_progress_bar=False).count("added") == 3
    build_indexes(store, settings, model="minilm", show_progress_bar=False)
    earlier = next(doc for doc, _ in store.documents() if doc.pmcid == "PMC4738698")
    reading_list.add(store, cli_principal(), earlier.id, "localhost")  # the open-mode list the app shows
    store.close()
    # the path checks the marks, whatever the default
    env = product_env(home) | {"MEDEMBED_SEARCH_KEY_SENTENCES": "true"}
    # niced beside a training job, Streamlit itself can take minutes to answer
    with running_ui(["ui", "--port", "{port}"], env, home, home / "ui.log", timeout_s=400) as url:
        yield App(url, earlier)


@pytest.fixture
def page(app: App) -> Iterator[object]:
    with chromium() as browser, new_tab(browser, height=1800) as tab:
        tab.set_default_timeout(SLOW_MS)
        yield tab


def settled(tab) -> bool:  # noqa: ANN001 - a Playwright Page
    """No run in progress: Streamlit's running indicator gone and no element left stale by a rerun."""
    return tab.locator('[data-testid="stStatusWidget"], [data-testid="stSkeleton"], [data-stale="true"]').count() == 0


def wait_until(tab, check: Callable[[], bool], what: str, timeout_ms: int = SLOW_MS) -> None:  # noqa: ANN001
    """Poll ``check`` until it holds twice in a row, half a second apart (a rerun replaces the page piece by piece,
    and the caption of the results is drawn before their cards)."""
    from playwright.sync_api import Error

    deadline, streak = time.monotonic() + timeout_ms / 1000, 0
    while streak < 2:
        try:
            streak = streak + 1 if check() else 0
        except Error:  # an element replaced while it was read
            streak = 0
        if time.monotonic() > deadline:
            shot(tab, "clinician_timeout")
            raise AssertionError(f"{what}: not seen within {timeout_ms / 1000:.0f} s")
        tab.wait_for_timeout(500)


def results_drawn(tab) -> bool:  # noqa: ANN001 - a Playwright Page
    """The results' run has finished: one reading-list button per paper the caption counts, nothing stale."""
    main = tab.locator('[data-testid="stMain"]')
    caption = main.get_by_text(CAPTION)
    if caption.count() != 1:
        return False
    papers = int(re.match(r"\d+", caption.inner_text()).group())
    return main.get_by_role("button", name=re.compile("reading list")).count() == papers and settled(tab)


def shot(tab, name: str) -> None:  # noqa: ANN001 - a Playwright Page
    SCREENSHOTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_search_filter_to_trials_keep_two_note_and_export_ris(page, app: App, tmp_path: Path) -> None:  # noqa: ANN001
    import rispy

    page.goto(app.url)
    box = page.get_by_label("Question or keywords")
    box.fill(QUERY)
    box.press("Enter")
    done = page.get_by_text(CAPTION).or_(page.locator('[data-testid="stException"]'))  # (not stAlert: the
    try:                                                                          # open-mode banner is one)
        done.first.wait_for(timeout=2 * SLOW_MS)  # the first search loads the model
    finally:
        shot(page, "clinician_0_first_search")
    assert page.locator('[data-testid="stException"]').count() == 0, page.inner_text("body")[:3000]
    wait_until(page, lambda: results_drawn(page), "every paper card of the first search")
    main = page.locator('[data-testid="stMain"]')
    assert main.get_by_text("Randomised controlled trial", exact=True).count() >= 1, "design badges on the cards"
    # (a badge has a background colour too, so the key sentence's own class, not the style, is what counts)
    assert main.locator("span.stMarkdownColoredBackground").count() >= 1, "key sentences are highlighted"
    shot(page, "clinician_1_papers")

    page.locator('[data-testid="stMultiSelect"]').filter(has_text="Study type").locator("input").click()
    page.get_by_role("option", name="Randomised controlled trial").click()
    page.keyboard.press("Escape")
    page.get_by_text(re.compile(r"\d+ papers \(filtered\)")).wait_for()
    titles = main.locator('[data-testid="stMarkdownContainer"] p').filter(has_text=re.compile(r"^\d+\. "))
    badges = main.get_by_text("Randomised controlled trial", exact=True)
    wait_until(page, lambda: results_drawn(page) and 2 <= titles.count() == badges.count(),
               "only trial cards left, every one drawn")
    shot(page, "clinician_2_trials")
    kept = [re.sub(r"^\d+\.\s*", "", titles.nth(i).inner_text()).removesuffix("Randomised controlled trial").strip()
            for i in range(2)]

    listed = main.get_by_role("button", name="On reading list · remove")
    for n in (1, 2):
        main.get_by_role("button", name="Add to reading list").first.click()
        wait_until(page, lambda n=n: listed.count() == n and results_drawn(page),
                   f"{n} paper(s) marked as on the reading list")

    page.get_by_role("link", name="Saved").click()
    page.get_by_text("Reading list (3)").wait_for()
    wait_until(page, lambda: main.get_by_role("button", name="Save note").count() == 3 and settled(page),
               "the Saved page drawn")
    assert page.get_by_text(QUERY).count() >= 1, "the search is remembered"
    card = main.locator('[data-testid="stVerticalBlock"]').filter(has=page.get_by_text(kept[0][:40])).filter(
        has=page.get_by_label("Note")).last
    card.get_by_label("Note").fill(NOTE)
    card.get_by_role("button", name="Save note").click()
    wait_until(page, lambda: main.get_by_label("Note").evaluate_all(
        "(areas, note) => areas.some(a => a.value === note)", NOTE) and page.get_by_text(
        "Reading list (3)").count() == 1 and settled(page), "the note kept after the rerun")
    shot(page, "clinician_3_saved")

    with page.expect_download() as download:
        main.get_by_role("button", name=re.compile(r"\bRIS$")).click()
    ris = tmp_path / "list.ris"
    download.value.save_as(ris)
    records = rispy.loads(ris.read_text())
    assert len(records) == 3, records
    by_title = {r["title"]: r for r in records}
    for title in kept:
        match = [r for t, r in by_title.items() if t[:40] == title[:40]]
        assert match, (title, list(by_title))
        assert match[0]["type_of_reference"] == "JOUR"
    assert any(r.get("notes") == [NOTE] for r in records), "the note travels in N1"
    earlier = by_title[app.saved_before.title]
    doc = app.saved_before
    assert earlier["journal_name"] == doc.journal and earlier["year"] == str(doc.year)
    assert earlier["doi"] == doc.doi and earlier["custom3"] == doc.pmcid
    assert len(earlier["authors"]) >= 2 and all(a.split(",")[0] in (doc.authors or "") for a in earlier["authors"])
