"""A curator's correction of a study design: stored apart from the detected one, audited, kept by
``medembed classify --redo``, cleared back to the detected design, and refused to readers and to bad input."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from access import audit
from access.roles import Principal
from cli.main import cli
from library import manage as lib
from medcore.errors import MedEmbedError, PermissionDenied
from store import Store
from ui import present


@pytest.fixture
def home(library_home, tmp_path):
    """A private copy of the three-paper library (the shared one stays as built)."""
    shutil.copytree(library_home.paths.home, tmp_path / "home")
    return library_home.with_home(tmp_path / "home")


def _doc_id(store: Store, pmcid: str) -> int:
    return next(doc.id for doc, _ in store.documents() if doc.pmcid == pmcid)


def test_a_correction_is_shown_audited_and_kept_over_reclassification(home, monkeypatch) -> None:
    store = Store.from_settings(home)
    doc_id = _doc_id(store, "PMC4735909")
    curator = Principal("ann", "curator")
    doc = lib.set_design(store, doc_id, "cohort_case_control", "records of 50 children compared by outcome",
                         user=curator)
    assert doc.study_type == "cohort_case_control"
    assert doc.study_evidence.startswith("set by curator ann on ") and "(detected: case_report)" in doc.study_evidence
    assert present.study_evidence(doc).startswith("Set by curator ann")
    entry = audit.query(store, actions=["design"])[0]
    assert entry.actor == "ann" and entry.detail["study_type"] == "cohort_case_control"
    assert entry.detail["previous"] == "case_report" and str(doc_id) in entry.target

    monkeypatch.setenv("MEDEMBED_HOME", str(home.paths.home))
    out = CliRunner().invoke(cli, ["classify", "--redo"])
    assert out.exit_code == 0 and "Classified 3 documents" in out.output, out.output
    assert store.get_document(doc_id).study_type == "cohort_case_control", "the correction outlives --redo"
    row = store.study_design_rows()[doc_id]
    assert row.study_type == "case_report" and row.curated_type == "cohort_case_control", "both are kept"

    cleared = lib.set_design(store, doc_id, None, user=curator)
    assert cleared.study_type == "case_report" and cleared.study_evidence.startswith("classified from the abstract")
    assert audit.query(store, actions=["design"])[0].detail["study_type"] == "(detected)"


def test_only_curators_correct_and_only_to_a_design(home) -> None:
    store = Store.from_settings(home)
    doc_id = _doc_id(store, "PMC4738698")
    with pytest.raises(PermissionDenied):
        lib.set_design(store, doc_id, "rct", user=Principal("rea", "reader"))
    with pytest.raises(MedEmbedError, match="not a study design"):
        lib.set_design(store, doc_id, "undetermined", user=Principal("ann", "curator"))
    with pytest.raises(MedEmbedError, match="not a study design"):
        lib.set_design(store, doc_id, "'; DROP TABLE documents; --", user=Principal("ann", "curator"))
    with pytest.raises(MedEmbedError, match="not in the library"):
        lib.set_design(store, 999_999, "rct", user=Principal("ann", "curator"))
    assert store.get_document(doc_id).study_type == "case_report"
    assert audit.query(store, actions=["design"]) == []
