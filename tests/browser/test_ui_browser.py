"""The app as a person sees it: ``medembed ui`` on a free port, driven by Debian's Chromium through Playwright.

The server runs against a temporary data folder holding the three committed PDFs (ingested and indexed once for
the session) and the tiny BEIR folder in ``tests/browser/data``. A screenshot of every page goes to
``screenshots/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.index.build import build_indexes
from indexer.ingest import Ingestor
from store import Store
from tests.browser.harness import chromium, new_tab, require_browser, running_ui
from tests.conftest import product_env, suite_settings
from tests.hostile_pdfs import text_pdf

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
PDFS = REPO / "tests" / "data" / "pdfs"
BENCHMARKS = Path(__file__).resolve().parent / "data"
SCREENSHOTS = REPO / "screenshots"


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``medembed ui`` serving a library of the three committed PDFs (BM25 + MiniLM indexes), the reranker off (its
    default depends on the CPU; these tests read the first stage's ranks, and one turns the reranker on)."""
    require_browser()
    home = tmp_path_factory.mktemp("browser-home")
    settings = suite_settings().with_home(home)
    store = Store.from_settings(settings)
    assert Ingestor(store, settings).ingest(sorted(PDFS.glob("*.pdf")), show_progress_bar=False).count("added") == 3
    build_indexes(store, settings, model="minilm", show_progress_bar=False)
    store.close()

    env = product_env(home) | {"MEDEMBED_BENCHMARKS_DIR": str(BENCHMARKS), "MEDEMBED_SEARCH_RERANK": "false"}
    with running_ui(["ui", "--port", "{port}"], env, home, home / "ui.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser(app_url: str) -> Iterator[object]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser) -> Iterator[object]:  # noqa: ANN001 - a Playwright Browser
    with new_tab(browser, height=1600) as tab:
        yield tab


def wait_idle(tab) -> None:  # noqa: ANN001 - a Playwright Page
    """Until Streamlit's "running" indicator is gone and the page has settled."""
    tab.wait_for_timeout(400)
    tab.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")
    tab.wait_for_selector('[data-testid="stSkeleton"]', state="detached")
    tab.wait_for_timeout(600)


def shot(tab, name: str) -> None:  # noqa: ANN001 - a Playwright Page
    SCREENSHOTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def search(tab, query: str) -> None:  # noqa: ANN001 - a Playwright Page
    box = tab.get_by_label("Question or keywords")
    box.fill(query)
    box.press("Enter")
    tab.get_by_text("Why here").first.wait_for()
    wait_idle(tab)


def latency_ms(tab) -> int:  # noqa: ANN001 - a Playwright Page
    caption = tab.get_by_text(re.compile(r"(papers|passages).* · \d+ ms")).first.inner_text()
    return int(re.search(r"(\d+) ms", caption).group(1))


def test_search_returns_cards_and_the_pdf_link_opens_that_page(page, app_url: str) -> None:  # noqa: ANN001
    page.goto(app_url)
    search(page, "methemoglobinemia in pregnancy")  # the first search loads the model
    search(page, "methylene blue treatment of methemoglobinemia")
    cards = page.get_by_text("Rare Case of Methemoglobinemia Complicating Pregnancy")
    assert cards.count() >= 1
    assert page.get_by_text(re.compile(r"BM25 #\d+ \(.*\) · dense #\d+ .* · fused")).count() >= 1
    print(f"query latency after the first load: {latency_ms(page)} ms")
    assert latency_ms(page) < 2000
    shot(page, "search")

    link = page.get_by_role("link", name=re.compile(r"Open PDF at page \d+")).first
    href = link.get_attribute("href")
    assert re.fullmatch(r"/medembed/pdf/\d+#page=\d+", href)
    response = page.request.get(app_url + href.split("#")[0])
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    with page.context.expect_page() as opened:
        link.click()
    viewer = opened.value
    viewer.wait_for_timeout(2500)
    assert viewer.url.endswith(href)
    shot(viewer, "pdf_at_page")


def test_a_brand_name_says_which_generic_name_was_also_searched(page, app_url: str) -> None:  # noqa: ANN001
    page.goto(app_url)
    search(page, "Marcaine and methemoglobinemia in pregnancy")  # the paper names bupivacaine, never Marcaine
    assert page.get_by_text("Also searched: bupivacaine (marcaine)").count() == 1
    assert page.get_by_text("Rare Case of Methemoglobinemia Complicating Pregnancy").count() >= 1


def test_the_rerank_switch_reorders_by_the_reranker_and_says_so(page, app_url: str) -> None:  # noqa: ANN001
    page.goto(app_url)
    search(page, "methylene blue treatment of methemoglobinemia")
    assert page.get_by_text(re.compile(r"reranker #\d+")).count() == 0
    page.get_by_text("Rerank", exact=True).click()
    # the switch reruns the search in the box; the reranker's first load can outlast the page's first idle
    page.get_by_text(re.compile(r" · reranked · \d+ ms")).wait_for(timeout=60_000)
    wait_idle(page)
    assert page.get_by_text(re.compile(r"BM25 #\d+ \(.*\) · dense #\d+ .* · reranker #\d+ \(")).count() >= 1
    assert page.get_by_text(re.compile(r" · fused ")).count() == 0
    shot(page, "search_reranked")


def test_compare_shows_each_retriever_in_its_own_column(page, app_url: str) -> None:  # noqa: ANN001
    page.goto(f"{app_url}/compare")
    search(page, "tularemia after a coyote bite")
    for header in ("hybrid · minilm", "dense · minilm", "BM25"):
        assert page.get_by_role("heading", name=header).count() == 1
    assert page.get_by_text(re.compile(r"also: .*#\d")).count() >= 2
    shot(page, "compare")


def test_score_marks_graded_relevance_and_shows_metrics(page, app_url: str) -> None:  # noqa: ANN001
    page.goto(f"{app_url}/score")
    page.get_by_role("button", name="Score this query").click()
    page.get_by_text("highly relevant").first.wait_for()
    wait_idle(page)
    assert page.get_by_text("2 · highly relevant").count() >= 2
    assert page.get_by_text("1 · relevant").count() >= 2
    # BM25, our dense and hybrid, and MiniLM dense (its base)
    assert page.get_by_text(re.compile(r"nDCG@10 [01]\.\d{3} · Recall@10")).count() == 4
    shot(page, "score")


def test_score_uses_judgements_uploaded_for_the_library(page, app_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    qrels = tmp_path / "library-qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n"
                     "tularemia after a coyote bite\tPMC4738698\t2\n"
                     "tularemia after a coyote bite\tPMC4736312\t0\n"
                     "tularemia after a coyote bite\tPMC9999999\t1\n")
    page.goto(f"{app_url}/score")
    page.get_by_text("Library (upload judgements)").click()
    page.locator('input[type="file"]').first.set_input_files(str(qrels))
    page.get_by_text("1 judged document name(s) match no library document").wait_for()
    page.get_by_role("button", name="Score this query").click()
    page.get_by_text("2 · highly relevant").first.wait_for()
    wait_idle(page)
    assert page.get_by_text("0 · judged not relevant").count() >= 1
    shot(page, "score_library")


def test_benchmark_runs_an_evaluation_and_lists_it(page, app_url: str) -> None:  # noqa: ANN001
    page.goto(f"{app_url}/benchmark")
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_text(re.compile(r"hybrid:medembed-small: nDCG@10 [\d.]+ over 3 queries")).wait_for()
    page.get_by_text("Runs to chart").wait_for()
    wait_idle(page)
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').first.wait_for()
    wait_idle(page)
    shot(page, "benchmark")


HOSTILE_TITLE = '<script>window.__xss=2</script><img src=x onerror="window.__xss=1"> Sepsis <b>bundle</b>'


def test_upload_makes_a_pdf_findable_and_reports_a_broken_file(page, app_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    pages = [
        "Kawasaki disease is an acute vasculitis of infants and young children with fever, conjunctivitis, a "
        "strawberry tongue and cervical lymphadenopathy. " * 4,
        "Intravenous immunoglobulin with aspirin within ten days of fever onset lowers the rate of coronary artery "
        "aneurysms; echocardiography is repeated at two and six weeks. " * 4,
    ]
    good = text_pdf(tmp_path / "Kawasaki disease review.pdf", "Kawasaki disease in infants", pages)
    hostile = text_pdf(tmp_path / "hostile.pdf", HOSTILE_TITLE,
                       ["Early antibiotics and fluids within the first hour of sepsis recognition. " * 8])
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"<html>this is a web page saved with a .pdf name</html>")

    page.goto(f"{app_url}/library")
    page.locator('input[type="file"]').set_input_files([str(good), str(hostile), str(broken)])
    page.get_by_text("broken.pdf").first.wait_for()
    page.get_by_role("button", name="Add to library").click()
    page.get_by_text(re.compile(r"Kawasaki_disease_review\.pdf|Kawasaki disease review\.pdf")).first.wait_for()
    page.get_by_text("failed: broken.pdf: not a PDF").wait_for()
    wait_idle(page)
    assert page.get_by_text(re.compile(r"added: Kawasaki disease in infants")).count() == 1
    shot(page, "library")

    page.goto(app_url)
    search(page, "immunoglobulin coronary aneurysm")
    assert page.get_by_text("Kawasaki disease in infants").count() >= 1
    search(page, "sepsis antibiotics first hour")
    assert page.get_by_text(HOSTILE_TITLE).count() >= 1
    assert page.evaluate("window.__xss") is None


def test_a_curator_corrects_a_study_design_and_search_shows_it(page, app_url: str) -> None:  # noqa: ANN001
    page.goto(f"{app_url}/library")
    page.get_by_text("Study designs").first.wait_for()
    wait_idle(page)
    form = page.get_by_test_id("stForm")
    form.get_by_test_id("stSelectbox").nth(0).click()
    page.get_by_role("option", name=re.compile("Spectrum of Intracerebral Hemorrhage")).click()
    form.get_by_test_id("stSelectbox").nth(1).click()
    page.get_by_role("option", name="Cohort / case-control").click()
    form.get_by_label("Why (optional, kept with the correction)").fill("records compared by outcome")
    form.get_by_role("button", name="Save design").click()
    page.get_by_text(re.compile(r"Document \d+ is now Cohort / case-control")).wait_for()
    wait_idle(page)
    shot(page, "library-designs")

    page.goto(app_url)
    search(page, "intracerebral hemorrhage in children")
    card = page.get_by_text("Spectrum of Intracerebral Hemorrhage in Children").first
    assert card.is_visible()
    assert page.get_by_text("Cohort / case-control").count() >= 1


def test_ask_page_explains_how_to_configure_an_llm(page, app_url: str) -> None:  # noqa: ANN001
    page.goto(f"{app_url}/ask")
    page.get_by_text("No LLM is configured").wait_for()
    wait_idle(page)
    assert page.get_by_text("MEDEMBED_LLM_BASE_URL").count() >= 1
    shot(page, "ask")
