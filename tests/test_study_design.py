"""Study design detection: each phrase rule on real abstracts, the trained model, "Not determined", the 17 papers,
and the scores on the held-apart test split of ``tests/data/study_designs``."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from indexer.parse.files import parse_file
from indexer.text import design_model
from indexer.text.study_design import decide, detect, detect_document, detect_many, rules_only
from medcore.study_types import DESIGNS, LABELS, label
from medcore.types import Document
from tests.fakes import per_class
from ui import present

REPO = Path(__file__).resolve().parents[1]
PAPER_LABELS = Path(__file__).resolve().parent / "data" / "study_types.csv"
SET = Path(__file__).resolve().parent / "data" / "study_designs" / "labels.jsonl"
PDF_FOLDERS = (REPO.parent / "shared" / "data" / "pdfs", REPO / "samples" / "pdfs", REPO / "tests" / "data" / "pdfs")
ROWS = {row["id"]: row for row in map(json.loads, SET.read_text(encoding="utf-8").splitlines())}


def _rules(item: str):
    row = ROWS[item]
    return rules_only(row["title"], row["text"], row.get("methods"), row.get("article_type"))


def test_the_labelled_set_is_what_its_rules_say() -> None:
    rows = list(ROWS.values())
    assert len(rows) >= 300 and len(ROWS) == len(rows), "ids are unique"
    assert {r["label"] for r in rows} == set(DESIGNS)
    assert all(r["reason"].strip() and len(r["text"]) > 100 and r["split"] in ("dev", "test") for r in rows)
    earlier, fresh = rows[:-240], rows[-240:]  # draws 1-7, then the fresh random test draw (RULES.md, draw 8)
    assert all(r["split"] == "dev" for r in earlier) and all(r["split"] == "test" for r in fresh)
    assert all(r["pick"] == "random" for r in fresh), "the test split is a plain random draw, no fills"
    assert sum(r["pick"] == "random" for r in rows) >= 250, "most items are a random draw, not picked for a rule"


@pytest.mark.parametrize(("item", "design", "phrase"), [
    ("nfcorpus:MED-1400", "systematic_review", 'title: "systematic review"'),
    ("nfcorpus:MED-3964", "systematic_review", "were searched"),
    ("nfcorpus:MED-1954", "systematic_review", "studies published in PubMed"),  # a "review" that says its search
    ("nfcorpus:MED-5052", "narrative_review", 'title: "review"'),  # searched PubMed but calls itself non-systematic
    ("nfcorpus:MED-826", "guideline", "position statement"),
    ("nfcorpus:MED-2990", "guideline", "task force"),
    ("nfcorpus:MED-5134", "guideline", "Committee"),
    ("nfcorpus:MED-1646", "guideline", "Guidance Panel"),
    ("nfcorpus:MED-4193", "rct", "randomised"),
    ("pubmedqa-pqal:dd0d1a6d9acdf", "rct", "were randomly assigned"),
    ("pubmedqa-pqal:dbcd14e673bb4", "rct", "We randomized 42"),
    ("pubmedqa-pqal:dbd0f60f2e55f", "rct", "post hoc analysis of an RCT"),
    ("nfcorpus:MED-3773", "rct", "repeated-measures trials"),
    ("nfcorpus:MED-4396", "cohort_case_control", "prospective cohort"),
    ("nfcorpus:MED-1301", "cohort_case_control", "case-control"),
    ("nfcorpus:MED-4485", "cohort_case_control", "7 years of follow-up"),
    ("pubmedqa-pqal:dd8a8fefa1406", "cohort_case_control", "retrospectively reviewed"),
    ("nfcorpus:MED-2032", "cohort_case_control", "reviewed the clinical charts"),
    ("pubmedqa-pqal:db75ba1040762", "cross_sectional", "cross-sectional"),
    ("nfcorpus:MED-1226", "cross_sectional", "National Health and Nutrition Examination Survey"),
    ("pubmedqa-pqal:de4684d465ebd", "cross_sectional", "Web-based survey"),
    ("nfcorpus:MED-1523", "case_report", "fatal case of"),
    ("nfcorpus:MED-3694", "case_report", "case series"),
    ("pubmedqa-pqal:d12c44203ddb1", "case_report", "12-year-old boy"),  # "dogs" in its title: the boy decides
    ("pubmedqa-pqal:d8cfc6cf71d4d", "case_report", "We describe the case"),
    ("nfcorpus:MED-4546", "animal_in_vitro", 'title: "rats"'),
    ("nfcorpus:MED-1521", "animal_in_vitro", "48 male Wistar albino rats"),
    ("pubmedqa-pqal:d0090eefe0391", "animal_in_vitro", "14 healthy pigs"),
    ("nfcorpus:MED-1726", "animal_in_vitro", "cell lines"),
    ("nfcorpus:MED-4230", "narrative_review", "PURPOSE OF REVIEW"),
    ("nfcorpus:MED-3381", "narrative_review", "commentary"),  # cites a randomised trial: background is not design
    ("nfcorpus:MED-5302", "narrative_review", "This review"),
    ("pubmedqa-pqal:d7e27c00fa9dd", "other", "diagnostic accuracy"),
    ("pubmedqa-pqal:d5aa88e403c92", "other", "Cost-effectiveness analysis"),  # "based on a ... RCT": not a trial
    ("nfcorpus:MED-3867", "other", "no random allocation stated"),
    ("nfcorpus:MED-4085", "other", "non-randomized controlled study"),  # not read as "randomized controlled"
    ("nfcorpus:MED-3019", "systematic_review", "Data sources and extraction:"),  # "we excluded case series"
    ("nfcorpus:MED-2033", "systematic_review", "literature through PubMed"),  # a "literature review" with a search
    ("nfcorpus:MED-913", "systematic_review", "citations found in databases (PubMed"),
    ("nfcorpus:MED-2164", "systematic_review", "meta-analysis"),  # late in the abstract, after "We identified 28"
    ("nfcorpus:MED-1460", "narrative_review", "we reviewed experimental evidence"),  # not its "in vitro" background
])
def test_each_rule_on_a_real_abstract(item: str, design: str, phrase: str) -> None:
    found = _rules(item)
    assert found is not None and found.study_type == design == ROWS[item]["label"], found
    assert phrase.lower() in found.evidence.lower() and found.confidence is None


@pytest.mark.parametrize("item", [
    "pubmedqa-pqal:d7388fa722795",  # IMRT and parotid function: no phrase names it (a cohort, by its reader)
    "nfcorpus:MED-4306",  # brain serotonin: a physiology summary that shows no design
    "pubmedqa-pqal:dd2a2a508f157",  # EVLA by access site: compares groups without naming a design
    "nfcorpus:MED-5110",  # hotdog contents: "cross-sectional surface area" is no cross-sectional study
])
def test_no_rule_claims_a_paper_that_names_no_design(item: str) -> None:
    assert _rules(item) is None


@pytest.mark.parametrize(("title", "abstract", "methods", "expected", "phrase"), [
    ("Metformin in prediabetes", "Randomized controlled trials are needed to confirm this.", None, "undetermined",
     ""),
    ("Metformin in prediabetes", "Previous randomized trials have shown benefit. We studied 40 patients.", None,
     "undetermined", ""),
    ("Syncope and echocardiography", "We compared 468 admissions with normal and abnormal ECGs.",
     "This is a cross-sectional study at a medical centre. Patients with normal and abnormal ECG "
     "were compared.", "cross_sectional", "methods:"),
    ("Syncope and echocardiography", "We compared 468 admissions with normal and abnormal ECGs.",
     "This is a retrospective, observational study at a medical centre. Patients with normal and abnormal ECG "
     "were compared.", "undetermined", 'methods: "retrospective, observational study" suggests'),  # a weak phrase
    ("Insulin dose", "", "Twenty-four adult male albino rats were housed and divided into four groups.",
     "undetermined", 'methods: "adult male albino rats" suggests'),  # a weak phrase, and no abstract to confirm it
    ("Outcomes after repair", "A retrospective review of all 30 patients treated from 2001 to 2010. Ten had a leak.",
     None, "undetermined", ""),  # no comparison: a case series, which the phrase alone cannot tell from a cohort
])
def test_rules_read_the_sentences_about_this_paper_and_its_methods(title, abstract, methods, expected,
                                                                    phrase) -> None:
    design = detect(title, abstract, methods=methods, use_model=False)
    assert design.study_type == expected, design
    assert phrase in design.evidence


def test_not_determined_is_not_other() -> None:
    design = detect("Metformin in prediabetes", "65 patients were investigated.", use_model=False)
    assert design.study_type == "undetermined" and "no design phrase" in design.evidence
    assert label("undetermined") == "Not determined" and "undetermined" not in DESIGNS
    doc = Document(id=1, title="x", source="pdf", study_type="undetermined", study_evidence=design.evidence)
    assert present.study_badge(doc).endswith("[Not determined]") and "No design phrase" in present.study_evidence(doc)


def test_the_trained_model_file_is_small_and_matches_its_encoder() -> None:
    assert design_model.WEIGHTS.stat().st_size < 1_000_000
    model = design_model.DesignModel.load()
    assert model.encoder == "minilm" and set(model.classes) == set(DESIGNS) and 0.2 <= model.threshold < 0.95
    assert 0.0 < model.margin < 0.5, "the model claims a design only where it leads the second one (chosen on dev)"
    assert model.tfidf is not None and 0.0 < model.weight < 1.0 and len(model.tfidf.vocabulary) <= 5000
    assert model.abstain == "top", "revision 4's weights: the averaged top probability is held to the threshold"
    assert "cohort_case_control|abstract:cohort_weak" in model.weak_rules, "0.79 precise on dev: it must be confirmed"
    assert "rct|abstract:rct" not in model.weak_rules and 0.0 < model.agree < 1.0
    probe = design_model.embed([design_model.PROBE_TEXT], model.encoder)[0]
    assert float(probe @ model.probe) > 0.99, "the packaged MiniLM still gives the vectors the weights were fit on"


@pytest.mark.parametrize(("item", "design"), [
    ("nfcorpus:MED-1559", "cohort_case_control"),  # dev (test to revision 6): survivors followed, never named
    ("nfcorpus:MED-3307", "cohort_case_control"),  # dev (test to revision 6): abattoir workers' mortality (SMRs)
    ("nfcorpus:MED-2416", "other"),  # dev (test to revision 6): uncontrolled 4-week intervention, 14 volunteers
    ("nfcorpus:MED-5147", "animal_in_vitro"),  # dev split: PBMCs in culture, no "in vitro" in a sentence of its own
])
def test_the_model_reads_abstracts_that_name_no_design(item: str, design: str) -> None:
    row = ROWS[item]
    assert _rules(item) is None
    found = detect(row["title"], row["text"], row.get("article_type"), methods=row.get("methods"))
    assert found.study_type == design == row["label"], found
    assert found.confidence is not None and found.confidence >= design_model.DesignModel.load().threshold
    assert found.evidence == f"classified from the abstract (confidence {found.confidence:.2f})"


def test_the_model_abstains_when_unsure_or_torn(monkeypatch) -> None:
    """Below the threshold, or where its best design leads the second by less than the margin, the model claims
    nothing (probabilities given here, so the test does not hang on one abstract's score)."""
    model = replace(design_model.DesignModel.load(), threshold=0.5, margin=0.2)
    classes = model.classes
    probs = np.full((3, len(classes)), 0.0)
    for row, (best, second) in enumerate([(0.45, 0.40), (0.55, 0.45), (0.75, 0.25)]):
        probs[row, classes.index("other")], probs[row, classes.index("cohort_case_control")] = best, second
    monkeypatch.setattr(design_model, "probabilities", lambda titles, abstracts: (classes, probs, model,
                                                                                  (probs, probs)))
    unsure, torn, sure = detect_many([{"title": "Metformin", "abstract": "65 patients were investigated."}] * 3)
    assert unsure.study_type == torn.study_type == "undetermined" and sure.study_type == "other"
    assert "unsure" in unsure.evidence and "0.45 < 0.50" in unsure.evidence
    assert "torn" in torn.evidence and "only 0.10 ahead of Cohort / case-control" in torn.evidence, torn.evidence


def test_with_min_both_models_must_back_the_design(monkeypatch) -> None:
    """``abstain="min"``: the score held to the threshold is the lower of the two models' probabilities of the
    averaged best design, so a design only one model backs is not claimed however sure that model is."""
    model = replace(design_model.DesignModel.load(), threshold=0.5, margin=0.0, abstain="min", weight=0.5)
    classes, other = model.classes, model.classes.index("other")
    embedding, words = np.full((2, len(classes)), 0.01), np.full((2, len(classes)), 0.01)
    embedding[:, other], words[:, other] = (0.95, 0.9), (0.35, 0.6)  # the averaged top: 0.65 and 0.75
    probs = 0.5 * embedding + 0.5 * words
    monkeypatch.setattr(design_model, "probabilities", lambda titles, abstracts: (classes, probs, model,
                                                                                  (embedding, words)))
    alone, both = detect_many([{"title": "Metformin", "abstract": "65 patients were investigated."}] * 2)
    assert alone.study_type == "undetermined" and "confidence 0.35 < 0.50" in alone.evidence, alone.evidence
    assert both.study_type == "other" and both.evidence == "classified from the abstract (confidence 0.60)"
    top = decide(np.array([-1, -1]), np.array([False, False]), probs, 0.5)[0]
    assert top.tolist() == [other, other], "on the averaged top probability both would be claimed"
    with pytest.raises(ValueError):
        decide(np.array([-1]), np.array([False]), probs[:1], 0.5, abstain="min")


@pytest.mark.parametrize(("item", "design", "phrase"), [
    # ("cohort study", "incident cancers" decide alone since the fourth draw: 0.91 precise on dev; a weak phrase the
    # model confirms is test_the_syncope_paper_is_a_retrospective_cohort)
    ("nfcorpus:MED-4059", "undetermined", 'abstract: "male Fischer 344 rats" suggests'),  # dev: rats fed a diet
    # in a food-safety study its hand label calls "other"; the model does not see an animal experiment
    ("pubmedqa-pqal:dd8b38ff0c88a", "undetermined", 'abstract: "this case" suggests'),  # dev: a cohort
    ("nfcorpus:MED-4161", "undetermined", 'abstract: "retrospectively reviewed" suggests'),  # dev: a case series
])
def test_a_weak_phrase_decides_only_with_the_models_agreement(item: str, design: str, phrase: str) -> None:
    row = ROWS[item]
    rule = _rules(item)
    assert rule is not None and rule.rule in design_model.DesignModel.load().weak_rules
    alone = detect(row["title"], row["text"], row.get("article_type"), methods=row.get("methods"), use_model=False)
    assert alone.study_type == "undetermined" and alone.confidence is None and "must confirm" in alone.evidence
    found = detect(row["title"], row["text"], row.get("article_type"), methods=row.get("methods"))
    assert found.study_type == design and phrase.lower() in found.evidence.lower(), found
    assert ("the abstract model agrees" if design != "undetermined" else "the abstract model disagrees") \
        in found.evidence
    if design != "undetermined":
        assert design == row["label"]
    else:
        assert rule.study_type != row["label"], "the model kept a wrong phrase from deciding"


def test_scores_on_the_held_apart_split() -> None:
    """A floor under what BENCHMARKS.md reports (``benchmarks/study_design_eval.py``), so a change that makes
    the classifier worse on papers it never saw fails here."""
    rows = [r for r in ROWS.values() if r["split"] == "test"]
    designs = detect_many([{"title": r["title"], "abstract": r["text"], "methods": r.get("methods"),
                            "article_type": r.get("article_type")} for r in rows])
    pairs = [(r["label"], d.study_type) for r, d in zip(rows, designs, strict=True)]
    claimed = [(g, p) for g, p in pairs if p != "undetermined"]
    accuracy = sum(g == p for g, p in pairs) / len(pairs)
    precision = sum(g == p for g, p in claimed) / len(claimed)
    # measured: 0.654 and 0.831 (revision 4 on the fresh test draw, RULES.md draw 8; 0.675 and 0.876 on draw 7)
    assert accuracy >= 0.64 and precision >= 0.82, (accuracy, precision)
    assert all(p in LABELS for _, p in pairs)


def _paper_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder in PDF_FOLDERS:
        for pdf in sorted(folder.glob("PMC*.pdf")):
            files.setdefault(pdf.stem, pdf)
    return files


def _as_ingested(path: Path) -> str:
    """The design ingest gives a file: phrases in the parser, the model in the ingesting process."""
    parsed = parse_file(path, "library")
    return detect_document(parsed).study_type if parsed.study_type == "undetermined" else parsed.study_type


def test_the_syncope_paper_is_a_retrospective_cohort() -> None:
    """Its Methods' "retrospective, observational study" is a weak phrase: the parser leaves it to the model,
    which agrees."""
    pdf = REPO / "samples" / "pdfs" / "PMC4736231.pdf"
    parsed = parse_file(pdf, "library")
    assert parsed.study_type == "undetermined" and "retrospective" in (parsed.study_evidence or "")
    design = detect_document(parsed)
    assert design.study_type == "cohort_case_control" and "retrospective" in design.evidence
    assert "the abstract model agrees" in design.evidence


@pytest.mark.parametrize(("analyzer", "low", "high"), [("word", 1, 2), ("char_wb", 3, 5), ("char_wb", 1, 4)])
def test_the_product_reads_tfidf_as_scikit_learn_does(analyzer: str, low: int, high: int) -> None:
    sklearn = pytest.importorskip("sklearn.feature_extraction.text")
    texts = [f"{r['title']}. {r['text']}" for r in list(ROWS.values())[:40]] + [
        "Café-au-lait spots in 2 boys.", "A  b\tc\n\nÅngström ﬁbre 2 x ab abc abcd.", "a a a I"]
    fitted = sklearn.TfidfVectorizer(analyzer=analyzer, ngram_range=(low, high), min_df=2, sublinear_tf=True,
                                     strip_accents="unicode")
    expected = fitted.fit_transform(texts).toarray()
    terms = fitted.get_feature_names_out()
    coef = np.random.default_rng(0).normal(size=(3, len(terms)))
    mine = design_model.Tfidf({t: i for i, t in enumerate(terms)}, fitted.idf_, coef, np.zeros(3), high, analyzer,
                              low)
    assert np.abs(mine.vectors(texts) - expected).max() < 1e-5
    logits = expected @ coef.T
    assert np.abs(mine.probabilities(texts) - design_model._softmax(logits)).max() < 1e-5  # the sparse path too


def test_accuracy_on_the_hand_labelled_papers() -> None:
    """Every distinct paper of shared/data/pdfs, samples/pdfs and tests/data/pdfs, parsed the way ingest parses it
    (PDF plus its JATS sibling); a wrong design is worse than none, so every claim must be right."""
    gold = {row["pmcid"]: row["study_type"] for row in csv.DictReader(PAPER_LABELS.open())}
    files = _paper_files()
    missing = set(files) - set(gold)
    assert not missing, f"label these papers in {PAPER_LABELS.name}: {sorted(missing)}"
    if not (REPO.parent / "shared" / "data" / "pdfs").is_dir():
        pytest.skip("needs ../shared/data/pdfs for all 17 papers")
    predicted = {pmcid: _as_ingested(path) for pmcid, path in files.items()}
    report = per_class(gold, predicted, abstain="undetermined")
    print({pmcid: (gold[pmcid], predicted[pmcid]) for pmcid in gold if gold[pmcid] != predicted[pmcid]})
    assert len(gold) == 17
    for design, row in report.items():
        if design not in ("_all", "undetermined") and not math.isnan(row["precision"]):
            assert row["precision"] == 1.0, (design, row)
    assert report["_all"]["correct"] >= 15, report["_all"]  # measured 16 (a cohort: "Not determined")


def test_the_labelled_abstracts_are_the_seeded_draw() -> None:
    from benchmarks.study_design_draw import draw

    data = REPO.parent / "shared" / "data"
    if not (data / "nfcorpus").is_dir():
        pytest.skip("needs ../shared/data (NFCorpus, PubMedQA, pdfs) to redraw")
    assert draw(data) == list(ROWS), "labels.jsonl holds exactly the seeded draw, in drawing order"
