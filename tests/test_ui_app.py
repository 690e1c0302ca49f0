"""The app's logic: pages driven with Streamlit's AppTest, and the helpers behind them, on the three committed PDFs
indexed with the real packaged MiniLM."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit import config as st_config

from access import audit
from access.roles import Principal
from indexer import accept
from indexer.index.build import build_indexes
from indexer.ingest import Ingestor
from indexer.text import sentences
from library import manage as lib
from medcore import beir
from medcore.config import Settings
from medcore.errors import DatasetError
from medcore.types import Document, Hit
from search_app.evaluation import benchmarks
from search_app.evaluation.runner import evaluate_dataset
from search_app.searcher import Searcher
from store import Store
from tests.conftest import suite_settings
from tests.hostile_pdfs import text_pdf
from ui import present, scoring

streamlit_testing = pytest.importorskip("streamlit.testing.v1")
AppTest = streamlit_testing.AppTest

REPO = Path(__file__).resolve().parents[1]
VIEWS = REPO / "ui" / "views"
PDFS = Path(__file__).resolve().parent / "data" / "pdfs"
TINY_BEIR_ROOT = Path(__file__).resolve().parent / "browser" / "data"
TIMEOUT = 120
CURATOR = Principal("cura", "curator")


KAWASAKI_PAGES = [
    " ".join([
        "Kawasaki disease is an acute systemic vasculitis of infants and young children.",
        "The diagnosis rests on fever for five days or more with bilateral non-exudative conjunctival injection,",
        "changes of the lips and oral cavity such as a strawberry tongue, polymorphous rash, oedema or erythema of",
        "the hands and feet followed by periungual desquamation, and unilateral cervical lymphadenopathy.",
        "Incomplete presentations are common in the youngest infants, who may show only fever and irritability.",
        "Laboratory support includes raised C-reactive protein, leucocytosis, anaemia, low albumin, raised",
        "transaminases, sterile pyuria and, after the first week, thrombocytosis.",
    ] * 3),
    " ".join([
        "Intravenous immunoglobulin at 2 g/kg given within ten days of fever onset, together with aspirin, lowers",
        "the rate of coronary artery aneurysms from about a quarter of patients to a few percent.",
        "Echocardiography is repeated at two and six weeks to look for dilatation of the coronary arteries.",
        "Children who stay febrile after immunoglobulin may receive a second dose, corticosteroids or infliximab.",
    ] * 3),
]


@pytest.fixture(scope="session")
def library_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding the three committed PDFs, ingested and indexed (BM25 + MiniLM) once per session."""
    home = tmp_path_factory.mktemp("ui-home")
    settings = suite_settings().with_home(home)
    store = Store.from_settings(settings)
    report = Ingestor(store, settings).ingest(sorted(PDFS.glob("*.pdf")), show_progress_bar=False)
    assert report.count("added") == 3, report.results
    build_indexes(store, settings, model="minilm", show_progress_bar=False)
    store.close()
    return home


@pytest.fixture
def home(library_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the indexed library (tests may add and delete), selected through MEDEMBED_HOME."""
    copy = tmp_path / "home"
    shutil.copytree(library_home, copy)
    monkeypatch.setenv("MEDEMBED_HOME", str(copy))
    monkeypatch.setenv("MEDEMBED_BENCHMARKS_DIR", str(TINY_BEIR_ROOT))
    monkeypatch.delenv("MEDEMBED_CONFIG", raising=False)
    monkeypatch.delenv("MEDEMBED_DATABASE_URL", raising=False)
    previous = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")  # as `medembed ui` serves: localhost, no accounts -> open
    yield copy
    st_config.set_option("server.address", previous)


def run_page(name: str) -> AppTest:
    at = AppTest.from_file(str(VIEWS / f"{name}.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


# -- pages --------------------------------------------------------------------------------------------------------
def test_search_page_returns_cards_with_highlights_links_and_reasons(home: Path) -> None:
    at = run_page("search")
    at.segmented_control(key="search_view").set_value("Passages")
    at.text_input(key="search_query").input("tularemia after a coyote bite").run()
    assert not at.exception, [e.value for e in at.exception]
    text, caps = markdown(at), captions(at)
    assert "First Pediatric Case of Tularemia after a Coyote Bite" in text
    assert "**coyote**" in text and "**bite**" in text
    assert re.search(r"\[Open PDF at page \d+\]\(/medembed/pdf/\d+#page=\d+\)", text)
    assert "(https://doi.org/10.1155/2016/8095138)" in text
    assert "(https://www.ncbi.nlm.nih.gov/pmc/articles/PMC4738698/)" in text
    assert re.search(r"BM25 #\d+ \([\d.]+\) · dense #\d+ \([\d.]+\) · fused 0\.\d+", caps)
    assert re.search(r"\d+ passages · hybrid · minilm · \d+ ms", caps)

    at.radio(key="search_mode").set_value("bm25").run()
    assert "BM25 #1" in captions(at) and "dense #" not in captions(at)


def test_search_page_builds_its_filter_lists_without_loading_every_document(home: Path, monkeypatch) -> None:
    def every_document(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the Search page loaded every document to build its filters")

    monkeypatch.setattr(Store, "documents", every_document)
    at = run_page("search")
    journals = at.multiselect(key="search_journals").options
    assert journals and all(isinstance(j, str) for j in journals)  # from the store's facet query
    at.text_input(key="search_query").input("tularemia after a coyote bite").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "First Pediatric Case of Tularemia after a Coyote Bite" in markdown(at)


def test_search_page_says_no_good_match_and_folds_the_nearest_papers_away(home: Path) -> None:
    at = run_page("search")
    at.text_input(key="search_query").input("zzqx blorf").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [w.value for w in at.warning][0].startswith("No good match: nothing in the library is relevant enough")
    assert re.search(r"^0 papers · hybrid · minilm", captions(at), re.MULTILINE)
    folded = [e for e in at.expander if e.label.startswith("Nearest papers: weak matches")]
    assert len(folded) == 1 and folded[0].proto.expanded is False
    titles = [m.value for m in at.markdown if ".** **" in m.value]
    assert titles and all(":gray-badge[weak match]" in t for t in titles), titles
    assert not [b for b in at.button if b.key and b.key.startswith("keep-")], "no result card, so no buttons"
    assert re.search(r"Why here: (matches your words and meaning|close in meaning to your question) · relevance "
                     r"0\.\d\d", captions(at))


def test_search_filters_by_journal(home: Path) -> None:
    at = run_page("search")
    at.multiselect(key="search_journals").set_value(["Case Reports in Obstetrics and Gynecology"])
    at.segmented_control(key="search_view").set_value("Passages")
    at.text_input(key="search_query").input("case report children").run()
    titles = [m.value for m in at.markdown if m.value.startswith("**") and ".** **" in m.value]
    assert titles and all("Methemoglobinemia" in t for t in titles)
    assert "(filtered)" in captions(at)


def test_search_page_shows_papers_with_their_passages_and_design_by_default(home: Path) -> None:
    at = run_page("search")
    at.text_input(key="search_query").input("tularemia after a coyote bite").run()
    assert not at.exception, [e.value for e in at.exception]
    titles = [m.value for m in at.markdown if ".** **" in m.value]
    assert len(titles) == 3, "one card per paper: the library holds three"
    assert titles[0].startswith("**1.** **First Pediatric Case of Tularemia") and ":red-badge[Case report" in titles[0]
    assert re.search(r"\d+ papers · hybrid · minilm · \d+ ms", captions(at))
    assert re.search(r"\[Open PDF at page (\d+)\]\(/medembed/pdf/\d+#page=\1\)", captions(at))
    assert "(https://doi.org/10.1155/2016/8095138)" in markdown(at)

    cite = next(c.value for c in at.code)
    assert cite.startswith("Chomel BB, Morton JA") and "PMCID: PMC4738698." in cite, "each card offers its citation"
    assert len(at.get("download_button")) == 3, "RIS, BibTeX and CSV of the results page"

    # a curator's design is what the filter and the evidence order use (the three papers were all case reports)
    store = Store.from_settings(suite_settings().with_home(home))
    ich = next(d.id for d, _ in store.documents() if d.pmcid == "PMC4735909")
    lib.set_design(store, ich, "cohort_case_control", "children's records compared by outcome",
                   user=Principal("ann", "curator"))
    at = run_page("search")
    at.text_input(key="search_query").input("tularemia after a coyote bite").run()
    at.multiselect(key="search_designs").set_value(["cohort_case_control"]).run()
    titles = [m.value for m in at.markdown if ".** **" in m.value]
    assert titles and all("Intracerebral" in t and ":orange-badge[Cohort" in t for t in titles), titles

    at.multiselect(key="search_designs").set_value([])
    at.segmented_control(key="search_sort").set_value("Level of evidence").run()
    titles = [m.value for m in at.markdown if ".** **" in m.value]
    # the cohort is off-topic for this query: evidence order never lifts a paper below the relevance floor above one
    # above it, so the answering case report stays first
    assert "Tularemia" in titles[0] and not any("Intracerebral" in t for t in titles[:1]), titles


def test_reading_list_and_recent_searches_from_search_to_saved_page(home: Path) -> None:
    at = run_page("search")
    at.text_input(key="search_query").input("tularemia after a coyote bite").run()
    keep = [b for b in at.button if b.key and b.key.startswith("keep-")]
    # the two other papers are off topic, below the relevance floor: folded away, marked weak, without buttons
    assert len(keep) == 1 and keep[0].label == "Add to reading list"
    keep[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert next(b for b in at.button if b.key == keep[0].key).label == "On reading list · remove"

    saved = run_page("saved")
    assert "Reading list (1)" in [h.value for h in saved.subheader]
    assert any("First Pediatric Case of Tularemia" in m for m in (x.value for x in saved.markdown))
    doc_id = keep[0].key.split("-")[1]
    saved.text_area(key=f"note-{doc_id}").input("Amoxicillin/clavulanate did not prevent it")  # in a form: sent
    saved.button(key=f"save-note-{doc_id}").click().run()  # with the click, in one run
    assert not saved.exception, [e.value for e in saved.exception]
    assert saved.text_area(key=f"note-{doc_id}").value == "Amoxicillin/clavulanate did not prevent it"
    assert "tularemia after a coyote bite" in markdown(saved) and "Papers" in markdown(saved)
    entries = audit.query(Store.from_settings(Settings.load()), actions=["reading-list add", "reading-list note"])
    assert [e.action for e in entries] == ["reading-list note", "reading-list add"]
    assert all(e.actor == "localhost" for e in entries), "open mode keeps one local list"

    again = run_page("saved")
    again.button(key=f"keep-{doc_id}").click().run()
    assert "Reading list (0)" in [h.value for h in again.subheader]


def test_query_length_and_result_count_are_capped_on_the_server(home: Path) -> None:
    """What a forged client can send past the browser's own limit: a 24,000-character query."""
    from ui.common import MAX_QUERY_CHARS

    at = run_page("search")
    at.text_input(key="search_query").set_value("coyote bite " * 2000).run()  # 24,000 characters, past max_chars
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.text_input(key="search_query").value) == MAX_QUERY_CHARS, "cut on the server"
    assert [w.value for w in at.warning][:1] == [
        f"Queries are limited to {MAX_QUERY_CHARS:,} characters; anything longer was cut there. Shorten it to its "
        "key terms or question."]
    assert at.text_input(key="search_query").max_chars == MAX_QUERY_CHARS, "the box itself stops typing there"

    assert "Why here" in captions(at), "the cut query was searched"


def _results_slider() -> None:
    import streamlit as st

    st.write(f"k = {st.slider('Results', 1, 50, 10, key='search_k')}")


def test_a_forged_slider_value_is_discarded_by_the_server() -> None:
    """Streamlit itself resets a slider value outside [min, max] to the default (what a forged client could send),
    so the pages take their sliders as they are; this fails if a Streamlit upgrade stops doing so."""
    at = AppTest.from_function(_results_slider, default_timeout=TIMEOUT)
    at.run()
    for forged in (1_000_000, -7):
        at.slider(key="search_k").set_value(forged).run()
        assert not at.exception, [e.value for e in at.exception]
        assert markdown(at) == "k = 10", forged


def test_cached_searchers_and_stores_are_bounded() -> None:
    from ui import common

    for cached in (common._searcher, common.dataset_searcher, common._store, common.load_benchmark):
        assert 0 < cached._info.max_entries <= 16, cached


def test_search_page_lists_models_without_an_index(home: Path) -> None:
    at = run_page("search")
    assert at.selectbox(key="search_model").options == ["minilm"]
    assert "bge-small" in markdown(at) and "no index" in markdown(at)


def test_compare_page_shows_columns_marks_shared_documents_and_greys_unavailable(home: Path) -> None:
    at = run_page("compare")
    assert at.multiselect(key="compare_specs").value == ["hybrid:minilm", "dense:minilm", "bm25"]
    at.multiselect(key="compare_specs").set_value(["hybrid:minilm", "bm25", "dense:bge-small"])
    at.text_input(key="compare_query").input("methemoglobinemia in pregnancy").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.subheader] == ["hybrid · minilm", "BM25", "dense · bge-small"]
    text = markdown(at)
    assert re.search(r":\w+-badge\[A\] also: card \\#\d+ in BM25", text)
    assert "Not available." in text and "no index" in text
    assert re.search(r"^\d+ papers · \d+ ms$", captions(at), re.M), "papers are the default unit in Compare too"


def test_score_page_marks_relevance_and_shows_query_metrics(home: Path) -> None:
    at = run_page("score")
    assert at.radio(key="score_source").options == ["beir_tiny", "Library (upload judgements)"]
    at.selectbox(key="score_qid").set_value("q2")
    at.multiselect(key="score_specs").set_value(["bm25", "dense:minilm"])
    next(b for b in at.button if b.label == "Score this query").click().run()
    assert not at.exception, [e.value for e in at.exception]
    text = markdown(at)
    assert ":green-badge[2 · highly relevant]" in text and ":blue-badge[1 · relevant]" in text
    assert "Methemoglobinemia complicating pregnancy" in text
    assert re.search(r"nDCG@10 \*\*[01]\.\d{3}\*\* · Recall@10 \*\*[01]\.\d{3}\*\* · MRR@10 .* · P@5 ", text)
    assert [h.value for h in at.subheader] == ["BM25", "dense · minilm"]


def _benchmark_folder_page(role: str) -> None:
    """The benchmark-folder chooser of the Score and Benchmark pages, for a user of ``role``."""
    import streamlit as st

    from access.roles import Principal
    from medcore.config import Settings
    from ui import common

    root = common.benchmark_root(Settings.load(), key="score_root", user=Principal("someone", role))
    st.write(f"benchmarks: {', '.join(b.name for b in common.benchmarks(root))}")


def test_readers_score_only_against_the_configured_benchmarks_folder(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDEMBED_BENCHMARKS_DIR", str(TINY_BEIR_ROOT))
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(TINY_BEIR_ROOT / "beir_tiny", elsewhere / "private_bench")
    reader = AppTest.from_function(_benchmark_folder_page, args=("reader",), default_timeout=TIMEOUT)
    reader.run()
    assert not reader.exception, [e.value for e in reader.exception]
    assert not reader.text_input, "no folder box for a reader"
    assert markdown(reader) == "benchmarks: beir_tiny"
    reader.session_state["score_root"] = str(elsewhere)  # what a forged client could send for the box
    reader.run()
    assert markdown(reader) == "benchmarks: beir_tiny"

    curator = AppTest.from_function(_benchmark_folder_page, args=("curator",), default_timeout=TIMEOUT)
    curator.run()
    curator.text_input(key="score_root").set_value(str(elsewhere)).run()
    assert markdown(curator) == "benchmarks: private_bench"


def test_benchmark_page_runs_saves_and_lists_runs(home: Path) -> None:
    at = run_page("benchmark")
    at.multiselect(key="bench_specs").set_value(["bm25"])
    at.button(key="bench_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    runs = Store.from_settings(Settings.load()).eval_runs()
    assert [(r.dataset, r.split, r.retriever, r.n_queries) for r in runs] == [("beir_tiny", "test", "bm25", 3)]
    table = at.dataframe[0].value
    assert table["run"].tolist() == [f"#{runs[0].id} bm25 · test · 3 q"]
    assert table["ndcg@10"].iloc[0] == pytest.approx(runs[0].metrics["ndcg@10"])


def test_library_page_lists_documents_and_deletes_one(home: Path) -> None:
    at = run_page("library")
    n_docs, n_chunks = Store.from_settings(Settings.load()).counts()
    assert [m.value for m in at.metric] == [str(n_docs), str(n_chunks), "1"] and n_docs == 3
    assert "minilm" in captions(at)  # the indexed models named in full under the tile
    table = at.dataframe[0].value
    assert len(table) == 3
    assert not table.isna().any().any() and "None" not in table.astype(str).to_numpy().ravel().tolist()
    at.selectbox(key="library_delete_id").set_value(2)
    at.button(key="library_delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = Store.from_settings(Settings.load())
    assert sorted(d.id for d, _ in store.documents()) == [1, 3]
    hits = Searcher.from_settings(Settings.load(), "hybrid:minilm", store=store).search("methemoglobinemia", 10)
    assert hits and all(h.doc_id != 2 for h in hits)


def test_navigation_opens_on_the_search_page(home: Path) -> None:
    at = AppTest.from_file(str(REPO / "ui" / "main.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Search the library"


def test_ask_page_says_how_to_configure_an_llm(home: Path) -> None:
    at = run_page("ask")
    assert "No LLM is configured" in at.info[0].value
    assert "MEDEMBED_LLM_BASE_URL" in at.code[0].value


# -- library helpers ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "safe"),
    [("../../etc/passwd", "passwd.pdf"), ("C:\\Users\\x\\Paper 1.PDF", "Paper_1.pdf"), ("Ré sumé (1).pdf",
     "Re_sume_1.pdf"), ("..", "upload.pdf"), (".hidden.pdf", "hidden.pdf"), ("a/b/c.pdf.exe", "c.pdf.exe.pdf")],
)
def test_safe_filename_strips_paths_and_odd_characters(name: str, safe: str) -> None:
    assert accept.safe_filename(name) == safe


def test_check_pdf_refuses_non_pdfs_empty_and_oversized_files() -> None:
    assert accept.check_pdf("a.pdf", b"%PDF-1.7\n...") is None
    assert "not a PDF" in accept.check_pdf("a.pdf", b"<html>hello</html>")
    assert "empty" in accept.check_pdf("a.pdf", b"")
    assert "over the 1 MB limit" in accept.check_pdf("a.pdf", b"%PDF-" + b"0" * 2**20, max_bytes=2**20)


def test_upload_makes_a_new_pdf_findable_and_reports_broken_files(home: Path, tmp_path: Path) -> None:
    settings = Settings.load()
    store = Store.from_settings(settings)
    pdf = text_pdf(tmp_path / "kawasaki.pdf", "Kawasaki disease in infants", KAWASAKI_PAGES)
    seen: list[str] = []
    results = lib.add_uploads(store, settings, [
        ("../../kawasaki.pdf", pdf.read_bytes()),
        ("notes.pdf", b"just some text"),
        ("broken.pdf", b"%PDF-1.4\n this is not really a pdf"),
    ], progress=lambda f, m: seen.append(m), user=CURATOR)
    by_name = {r.path: r for r in results}
    assert by_name["../../kawasaki.pdf"].status == "added"
    assert "not a PDF" in by_name["notes.pdf"].reason
    assert by_name["broken.pdf"].status == "failed" and by_name["broken.pdf"].reason
    assert sorted(p.name for p in settings.paths.files_dir.iterdir()) == ["kawasaki.pdf"]
    assert seen[-1] == "Files read"

    lib.reindex(store, settings, user=CURATOR)
    hits = Searcher.from_settings(settings, "hybrid:minilm", store=store).search("immunoglobulin coronary aneurysm")
    assert hits[0].title == "Kawasaki disease in infants"
    on_page_2 = next(h for h in hits if h.doc_id == hits[0].doc_id and h.page == 2)
    assert present.pdf_url(on_page_2.document, on_page_2.page) == f"/medembed/pdf/{hits[0].doc_id}#page=2"

    again = lib.add_uploads(store, settings, [("kawasaki.pdf", pdf.read_bytes())], user=CURATOR)
    assert again[0].status == "skipped"
    lib.delete_document(store, settings, hits[0].doc_id, user=CURATOR)
    assert not settings.paths.files_dir.joinpath("kawasaki.pdf").exists()
    after = Searcher.from_settings(settings, "hybrid:minilm", store=store).search("immunoglobulin coronary aneurysm")
    assert all(h.doc_id != hits[0].doc_id for h in after)


def test_retriever_statuses_say_why_a_model_cannot_run(home: Path) -> None:
    statuses = {s.spec: s for s in lib.retriever_statuses(Settings.load())}
    assert statuses["bm25"].available and statuses["hybrid:minilm"].available
    assert not statuses["dense:bge-small"].available and "BAAI/bge-small-en-v1.5" in statuses["dense:bge-small"].reason
    assert lib.default_retrievers(list(statuses.values())) == ["hybrid:minilm", "dense:minilm", "bm25"]


def test_pdf_route_serves_only_stored_pdfs(home: Path) -> None:
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from ui.pdf_route import ROUTES

    # open mode serves only this computer's own browser: a loopback peer naming a loopback host
    client = TestClient(Starlette(routes=ROUTES), client=("127.0.0.1", 50000), base_url="http://localhost")
    doc_id = Store.from_settings(Settings.load()).documents()[0][0].id
    ok = client.get(f"/medembed/pdf/{doc_id}")
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/pdf"
    assert ok.headers["content-disposition"].startswith("inline;") and ok.content.startswith(b"%PDF-")
    assert client.get("/medembed/pdf/999").status_code == 404
    assert client.get("/medembed/pdf/..%2F..%2Fetc%2Fpasswd").status_code == 404


# -- presentation -------------------------------------------------------------------------------------------------
def test_escape_markdown_neutralises_html_links_and_streamlit_syntax() -> None:
    raw = "<script>alert(1)</script> [x](javascript:alert(1)) :red[big] $x^2$ **b**"
    escaped = present.escape_markdown(raw)
    assert "<" not in escaped.replace("\\<", "") and "[" not in escaped.replace("\\[", "")
    assert "$" not in escaped.replace("\\$", "") and "*" not in escaped.replace("\\*", "")
    assert re.sub(r"\\(.)", r"\1", escaped) == raw


def test_snippet_highlights_query_terms_by_stem_around_the_first_match() -> None:
    text = "Intro. " * 80 + "The child was bitten by a coyote; coyote bites can transmit <b>tularemia</b>."
    out = present.snippet(text, "Coyote bite", max_chars=160)
    assert out.startswith("… ") and "**coyote**" in out and "**bites**" in out and "bitten" in out
    assert "\\<b\\>" in out


def test_links_and_byline() -> None:
    doc = Document(id=7, source="pdf", title="T", authors="A. B., C. D.", journal="J <x>", year=2016,
                   doi="10.1016/S0140-6736(20)30183-5", pmcid="PMC123456", file_path="/data/files/t.pdf")
    labels = {link.label: link.url for link in present.links(doc, 3)}
    assert labels == {"Open PDF at page 3": "/medembed/pdf/7#page=3",
                      "doi:10.1016/S0140-6736(20)30183-5": "https://doi.org/10.1016/S0140-6736%2820%2930183-5",
                      "PMC123456": "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC123456/"}
    bad = Document(id=8, source="pdf", doi="javascript:alert(1)", pmcid="PMC1) [x](y")
    assert present.links(bad, None) == []
    pdf_only = replace(doc, pmcid=None)  # a bare PDF's author field: names kept as written
    assert present.byline(pdf_only, 3) == "A\\. B\\., C\\. D\\. · *J \\<x\\>* · 2016 · p. 3"


def test_byline_puts_given_names_first_for_jats_authors() -> None:
    """JATS names are stored surname first (for citations); a byline reads "A. Justine Landi", not
    "Landi A. Justine"."""
    doc = Document(id=7, source="pdf", pmcid="PMC4738914", authors="Landi A. Justine, Burkes Robert")
    assert present.byline(doc) == "A\\. Justine Landi, Robert Burkes"
    many = replace(doc, authors="Landi A. Justine, Burkes Robert, Doe Jane, Roe Richard, Poe Edgar Allan")
    assert present.byline(many) == "A\\. Justine Landi et al\\."


def _hit(doc_id: int, rank: int) -> Hit:
    return Hit(chunk_id=doc_id * 100 + rank, doc_id=doc_id, score=1.0 / rank, text="", rank=rank)


def test_overlaps_tag_shared_documents_with_their_rank_in_each_column() -> None:
    columns = {"bm25": [_hit(1, 1), _hit(1, 2), _hit(2, 3)], "dense:minilm": [_hit(2, 1), _hit(3, 2)]}
    marks = present.overlaps(columns)
    assert marks[2].ranks == {"bm25": 3, "dense:minilm": 1} and marks[2].tag == "A"
    assert marks[1].tag == "" and marks[3].tag == ""
    tag = present.overlap_markdown(marks[2], "bm25")
    assert tag == f":{marks[2].colour}-badge[A] also: card \\#1 in dense · minilm"
    assert "only in this column" in present.overlap_markdown(marks[1], "bm25")


def test_a_passage_missed_by_a_retriever_is_told_apart_from_its_paper() -> None:
    """A hybrid card's passage BM25 did not rank says it is the passage (its paper may be "card #4 in BM25" through
    another passage), and the compared columns of our model and its base are named as such."""
    missed = Hit(chunk_id=1, doc_id=1, score=0.5, text="", rank=1, ranks={"dense": 1}, scores={"dense": 0.8})
    assert "BM25: this passage not in its top candidates" in present.why_ranked(missed, "hybrid")
    assert present.model_mark("hybrid:medembed-small").startswith(":green-badge[ours] medembed\\-small")
    assert "fine-tuned from minilm" in present.model_mark("dense:medembed-small")
    assert present.model_mark("dense:minilm").startswith(":gray-badge[base model] minilm")
    assert present.model_mark("bm25") == "" and present.model_mark("dense:bge-small") == ""
    assert "contain a word of the query" in present.fewer_results("bm25", "papers", 5, 8)


# -- scoring ------------------------------------------------------------------------------------------------------
def test_parse_qrels_and_map_them_to_library_documents() -> None:
    qrels = beir.parse_qrels_tsv("query-id\tcorpus-id\tscore\r\nq1\tPMC4738698\t2\nq1\tmissing\t1\nq2\t2\t1\n")
    docs = [Document(id=2, source="pdf", pmcid="PMC4736312"), Document(id=3, source="pdf", pmcid="PMC4738698",
                                                                       file_path="/x/PMC4738698.pdf")]
    mapped, unknown = scoring.map_qrels(qrels, scoring.library_aliases(docs))
    assert mapped == {"q1": {"3": 2}, "q2": {"2": 1}} and unknown == ["missing"]
    with pytest.raises(DatasetError, match=re.escape("qrels line 2: expected")):
        beir.parse_qrels_tsv("q\td\tscore\nq1\td1\thigh\n")
    with pytest.raises(DatasetError, match="no judgements"):
        beir.parse_qrels_tsv("query-id\tcorpus-id\tscore\n")


def test_evaluation_with_progress_matches_the_cli_path_and_labels_capped_runs(tmp_path: Path) -> None:
    settings = suite_settings().with_home(tmp_path / "home")
    dataset = TINY_BEIR_ROOT / "beir_tiny"
    steps: list[float] = []
    ours = evaluate_dataset(dataset, "test", "hybrid:minilm", settings,
                            progress=lambda fraction, _: steps.append(fraction))
    reference = evaluate_dataset(dataset, "test", "hybrid:minilm", settings, show_progress_bar=False)
    assert ours.metrics == pytest.approx(reference.metrics) and ours.n_queries == 3
    assert steps[0] == 0.0 and steps[-1] == 1.0
    capped = evaluate_dataset(dataset, "test", "bm25", settings, max_queries=2)
    assert (capped.split, capped.n_queries) == ("test[:2]", 2)


def test_dataset_retrievers_preselect_dense_only_where_it_is_cheap(tmp_path: Path) -> None:
    settings = Settings.from_dict({"search": {"rerank": False}}).with_home(tmp_path / "home")  # the CPU decides it
    options, defaults = scoring.dataset_retrievers(TINY_BEIR_ROOT / "beir_tiny", settings)
    settings = suite_settings().with_home(tmp_path / "home")
    assert defaults == ["bm25", "dense:medembed-small", "hybrid:medembed-small", "dense:minilm"]  # with its base
    assert "dense:bge-small" in options
    _, without_ours = scoring.dataset_retrievers(TINY_BEIR_ROOT / "beir_tiny", settings, models=("minilm",))
    assert without_ours == ["bm25", "dense:minilm", "hybrid:minilm"]
    _, big = scoring.dataset_retrievers(TINY_BEIR_ROOT / "beir_tiny", settings, small_corpus=5)
    assert big == ["bm25"]


def test_find_benchmarks_and_published_results(tmp_path: Path) -> None:
    assert [b.name for b in benchmarks.find_benchmarks(TINY_BEIR_ROOT)] == ["beir_tiny"]
    assert benchmarks.find_benchmarks(tmp_path / "absent") == []
    ref = tmp_path / "reference_results" / "medembed_mteb" / "abhinand__MedEmbed-small-v0.1"
    ref.mkdir(parents=True)
    (ref / "NFCorpus.json").write_text('{"scores": {"test": [{"ndcg_at_10": 0.34777, "mrr_at_1": 0.44}]}}')
    (published,) = scoring.published_results(tmp_path, "nfcorpus")
    assert (published.model, published.task) == ("MedEmbed-small-v0.1", "NFCorpus")
    assert published.metrics == {"ndcg@10": 0.34777, "mrr@1": 0.44}
    assert scoring.published_results(tmp_path, "beir_tiny") == []


def test_the_benchmark_folder_is_the_configured_one_else_the_shipped_sample(tmp_path: Path) -> None:
    settings = suite_settings()
    configured = replace(settings, benchmarks=replace(settings.benchmarks, dir=tmp_path))
    assert benchmarks.benchmarks_root(configured) == tmp_path
    unset = replace(settings, benchmarks=replace(settings.benchmarks, dir=None))
    assert benchmarks.benchmarks_root(unset) == benchmarks.SAMPLE_BENCHMARKS_DIR  # never a folder beside the repo
    assert [b.name for b in benchmarks.find_benchmarks(benchmarks.SAMPLE_BENCHMARKS_DIR)] == ["medquad-sample"]


def test_published_results_read_the_shipped_reference_files(shared_data: Path) -> None:
    rows = {r.model: r for r in scoring.published_results(shared_data, "nfcorpus")}
    assert rows["MedEmbed-small-v0.1"].metrics["ndcg@10"] == pytest.approx(0.34777)
    assert set(rows["bge-small-en-v1.5"].metrics) == set(scoring.METRIC_NAMES)


def test_compare_opens_with_our_model_against_minilm_and_bm25_where_it_is_indexed() -> None:
    from library.manage import RetrieverStatus, default_retrievers

    specs = ["bm25", "dense:minilm", "hybrid:minilm", "dense:medembed-small", "hybrid:medembed-small"]
    statuses = [RetrieverStatus(spec, True, "") for spec in specs]
    assert default_retrievers(statuses) == ["hybrid:medembed-small", "dense:medembed-small", "dense:minilm", "bm25"]
    assert default_retrievers(statuses[:3]) == ["hybrid:minilm", "dense:minilm", "bm25"]


def test_snippet_skips_table_debris_and_licence_boilerplate() -> None:
    """A passage that runs through a table or starts with the licence line shows its prose, not "Farmer 39
    (21.7) 18 (46.2)" or "distributed under the Creative Commons Attribution License"."""
    table = ("Table 2: Respondents by occupation and knowledge of PMTCT of HIV (n = 350). Farmer 39 (21.7) 18 (46.2) "
             "Trader 77 (12.1) 40 (11.4) Civil servant 12 (3.4) 9 (2.6) HIV 55 (15.7) 20 (5.7). Most health workers "
             "knew that breastfeeding transmits HIV to the child and that antiretroviral drugs lower the risk.")
    out = present.snippet(table, "HIV breastfeeding", max_chars=200)
    assert "**breastfeeding**" in out and "Farmer" not in out and "21\\.7" not in out and "Table 2" not in out
    licence = ("Copyright © 2016 Jane Doe et al. This is an open access article distributed under the Creative "
               "Commons Attribution License, which permits unrestricted use, distribution, and reproduction. "
               "Rapid malaria tests agreed with light microscopy in 172 of 180 febrile patients.")
    out = present.snippet(licence, "malaria test microscopy", max_chars=150)
    assert "**malaria**" in out and "Creative" not in out and "Copyright" not in out
    assert not sentences.is_prose("Farmer 39 (21.7) 18 (46.2) Trader 77 (12.1) 40 (11.4)")
    assert not sentences.is_prose("Conflict of Interests The authors declare that there is no conflict of interests.")
    assert sentences.is_prose("In 2016, 39 of 180 patients (21.7%) had malaria confirmed by microscopy.")


def test_search_page_reranks_on_request_and_the_other_pages_offer_the_reranker(home: Path) -> None:
    at = run_page("search")
    assert at.toggle(key="search_rerank").value is False, "the suite runs with search.rerank off"
    at.segmented_control(key="search_view").set_value("Passages")
    at.toggle(key="search_rerank").set_value(True)
    at.text_input(key="search_query").input("can a child catch rabbit fever from a wild dog bite").run()
    assert not at.exception, [e.value for e in at.exception]
    assert re.search(r"\d+ passages · hybrid · minilm · reranked · \d+ ms", captions(at))
    assert "First Pediatric Case of Tularemia after a Coyote Bite" in markdown(at)
    statuses = {s.spec: s for s in lib.retriever_statuses(Settings.load())}
    assert statuses["hybrid:minilm+rerank"].available and statuses["bm25+rerank"].available
    # with the reranker on (the product's default) the hybrid column is the reranked one, as Search shows it; the
    # pages allow four columns, so it replaces the plain hybrid rather than adding a fifth
    assert lib.default_retrievers(list(statuses.values()), rerank=True) == ["hybrid:minilm+rerank", "dense:minilm",
                                                                            "bm25", "hybrid:minilm"]
    ours = [lib.RetrieverStatus(spec, True, "") for spec in ("hybrid:medembed-small", "dense:medembed-small",
                                                             "hybrid:medembed-small+rerank", "dense:minilm", "bm25")]
    assert lib.default_retrievers(ours, rerank=True) == ["hybrid:medembed-small+rerank", "dense:medembed-small",
                                                         "dense:minilm", "bm25"]
    reranking = replace(Settings.load(), search=replace(Settings.load().search, rerank=True))
    _, defaults = scoring.dataset_retrievers(TINY_BEIR_ROOT / "beir_tiny", reranking)
    assert len(defaults) <= 4 and "hybrid:medembed-small+rerank" in defaults, defaults
    compare = run_page("compare")
    assert "hybrid:minilm+rerank" in compare.multiselect(key="compare_specs").options
    options, _ = scoring.dataset_retrievers(TINY_BEIR_ROOT / "beir_tiny", Settings.load())
    assert "hybrid:medembed-small+rerank" in options and "bm25+rerank" in options
