"""Study design detection: the rules on typical phrasings, and its accuracy on the hand-labelled papers."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from indexer.parse.files import parse_file
from indexer.text.study_design import detect
from search_app.metrics import per_class

REPO = Path(__file__).resolve().parents[1]
LABELS = Path(__file__).resolve().parent / "data" / "study_types.csv"
PDF_FOLDERS = (REPO.parent / "shared" / "data" / "pdfs", REPO / "samples" / "pdfs", REPO / "tests" / "data" / "pdfs")


@pytest.mark.parametrize(("title", "abstract", "article_type", "subjects", "expected"), [
    ("Aspirin after stroke: a systematic review and meta-analysis", "", None, (), "systematic_review"),
    ("Aspirin after stroke", "We searched MEDLINE and performed a meta-analysis of 12 trials.", "review-article", (),
     "systematic_review"),
    ("Metformin vs placebo: a randomized controlled trial", "", None, (), "rct"),
    ("Metformin in prediabetes", "Participants were randomly assigned to metformin or placebo.", None, (), "rct"),
    ("Metformin in prediabetes", "Randomized controlled trials are needed to confirm this.", None, (), "other"),
    ("Clinical practice guideline for sepsis", "", None, (), "guideline"),
    ("Visfatin in hypothyroidism", "This is a prospective case-control study of 118 subjects.", None, (),
     "cohort_case_control"),
    ("Statins and dementia", "In this retrospective cohort of 20,000 veterans...", None, (), "cohort_case_control"),
    ("Knowledge of PMTCT", "A descriptive cross-sectional survey of 350 health workers.", None, (),
     "cross_sectional"),
    ("Tularemia after a bite", "We report the first pediatric case of tularemia.", None, (), "case_report"),
    ("Methemoglobinemia in pregnancy", "", "case-report", ("Case Report",), "case_report"),
    ("Antioxidant effects of metformin in alloxan-induced diabetic rats", "", None, (), "animal_in_vitro"),
    ("Snap25 and glycaemia", "A region known to affect gene expression in vitro was genotyped in 1019 people.",
     None, (), "other"),
    ("Notch signalling in breast cancer", "Over the past decade...", "review-article", ("Review Article",),
     "narrative_review"),
    ("Insulin dose in newly diagnosed diabetes", "65 patients were investigated.", "research-article", (), "other"),
])
def test_detect_needs_an_explicit_phrase(title, abstract, article_type, subjects, expected) -> None:
    design = detect(title, abstract, article_type, subjects)
    assert design.study_type == expected, design
    assert (design.evidence == "") == (expected == "other"), "every claim names the phrase that decided it"


def _paper_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder in PDF_FOLDERS:
        for pdf in sorted(folder.glob("PMC*.pdf")):
            files.setdefault(pdf.stem, pdf)
    return files


def test_accuracy_on_the_hand_labelled_papers() -> None:
    """Every distinct paper of shared/data/pdfs, samples/pdfs and tests/data/pdfs, parsed the way ingest parses it
    (PDF plus its JATS sibling); a wrong design is worse than "other", so precision must be perfect."""
    gold = {row["pmcid"]: row["study_type"] for row in csv.DictReader(LABELS.open())}
    files = _paper_files()
    missing = set(files) - set(gold)
    assert not missing, f"label these papers in {LABELS.name}: {sorted(missing)}"
    if not (REPO.parent / "shared" / "data" / "pdfs").is_dir():
        pytest.skip("needs ../shared/data/pdfs for all 17 papers")
    predicted = {pmcid: parse_file(path, "library").study_type for pmcid, path in files.items()}
    report = per_class(gold, predicted)
    for label, row in sorted(report.items()):
        if label != "_all":
            print(f"{label:20} n={row['n']:2} predicted={row['predicted']:2} correct={row['correct']:2} "
                  f"precision={row['precision']:.2f} recall={row['recall']:.2f}")
    print("overall", report["_all"])
    assert len(gold) == 17
    for label, row in report.items():
        if label not in ("_all", "other") and not math.isnan(row["precision"]):
            assert row["precision"] == 1.0, (label, row)
    assert report["_all"]["claimed_correct"] >= 8, report["_all"]
