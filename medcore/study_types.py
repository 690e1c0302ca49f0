"""The study designs a paper is classified into, their labels, and their order on the level-of-evidence scale."""

from __future__ import annotations

from typing import Literal

StudyType = Literal["systematic_review", "guideline", "rct", "cohort_case_control", "cross_sectional", "case_report",
                    "narrative_review", "animal_in_vitro", "other", "undetermined"]

#: Display labels, in level-of-evidence order (strongest first). Guidelines sit just below systematic reviews: they
#: are meant to be built on them, above any single primary study; animal and in-vitro work informs no clinical
#: decision directly, so it ranks below opinion pieces. "Other" is a paper that is none of the designs (modelling,
#: diagnostic accuracy, methods, non-randomised interventions); "Not determined" is a paper the classifier could not
#: place with confidence, and sorts last.
LABELS: dict[StudyType, str] = {
    "systematic_review": "Systematic review / meta-analysis",
    "guideline": "Guideline",
    "rct": "Randomised controlled trial",
    "cohort_case_control": "Cohort / case-control",
    "cross_sectional": "Cross-sectional",
    "case_report": "Case report / series",
    "narrative_review": "Narrative review",
    "animal_in_vitro": "Animal / in-vitro",
    "other": "Other",
    "undetermined": "Not determined",
}
#: The nine designs a paper can be classified into (without "Not determined", which is the lack of one).
DESIGNS: tuple[StudyType, ...] = tuple(t for t in LABELS if t != "undetermined")
STUDY_TYPES: tuple[StudyType, ...] = tuple(LABELS)

#: Badge colours (Streamlit Markdown ``:COLOUR-badge[...]``) by design.
COLOURS: dict[StudyType, str] = {
    "systematic_review": "violet", "guideline": "blue", "rct": "green", "cohort_case_control": "orange",
    "cross_sectional": "orange", "case_report": "red", "narrative_review": "gray", "animal_in_vitro": "yellow",
    "other": "gray", "undetermined": "gray",
}


def evidence_rank(study_type: str | None) -> int:
    """0 for the strongest design; unknown or unclassified papers come last."""
    return STUDY_TYPES.index(study_type) if study_type in LABELS else len(STUDY_TYPES)  # type: ignore[arg-type]


def label(study_type: str | None) -> str:
    return LABELS.get(study_type, "Not classified")  # type: ignore[arg-type]
