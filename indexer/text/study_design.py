"""Study design from what a paper says about itself: JATS ``article-type`` and subjects, title and abstract phrases.

A wrong design is worse than none (a clinician filtering to trials must not get a cohort study), so every rule
needs an explicit phrase; a paper that names no design is ``other``. Rules run strongest signal first: the title,
then the publisher's article type, then the abstract. The evidence kept is the matched phrase, so a reader can see
why a paper got its badge.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from indexer.parse.document import ParsedDocument
from indexer.parse.jats import parse_jats
from indexer.store import Store
from indexer.text.abbreviations import extract_pairs
from medcore.errors import MedEmbedError
from medcore.study_types import StudyType

logger = logging.getLogger(__name__)

ABSTRACT_CHARS = 3000  # where no abstract is marked (a bare PDF): the first page or so stands in for it


@dataclass(frozen=True)
class Design:
    study_type: StudyType
    evidence: str  # e.g. 'title: "case report"', 'article-type: case-report', or "" for other


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_SR = _rx(r"\b(systematic(?:al)?\s+review|meta-?\s?analys[ie]s|umbrella\s+review|pooled\s+analysis\s+of\s+"
          r"(?:randomi[sz]ed|trials))")
_RCT_TITLE = _rx(r"\b(randomi[sz]ed(?:,?\s+(?:double|single|triple)-?\s*blind(?:ed)?)?(?:,?\s+(?:placebo|sham)-?"
                 r"\s*controlled)?\s+(?:controlled\s+|clinical\s+|crossover\s+|pilot\s+)*trial)")
_RCT_ABSTRACT = _rx(r"\b((?:were|was)\s+randomly\s+(?:assigned|allocated)|(?:were|was)\s+randomi[sz]ed\s+(?:to|into)"
                    r"|we\s+(?:conducted|performed|carried\s+out)\s+an?\s+(?:\w+\s+){0,3}randomi[sz]ed"
                    r"|this\s+(?:\w+\s+){0,3}randomi[sz]ed\s+(?:\w+\s+){0,2}trial"
                    r"|(?:double|single|triple)-?\s*blind(?:ed)?,?\s+(?:placebo-controlled,?\s+)?randomi[sz]ed"
                    r"|randomi[sz]ed,?\s+(?:double|single|triple)-?\s*blind)")
_GUIDELINE = _rx(r"\b((?:clinical\s+)?practice\s+guidelines?|guidelines?\s+(?:for|on)\s+the|consensus\s+statement"
                 r"|position\s+statement|recommendations?\s+(?:of|from)\s+the)\b")
_CASE_CONTROL = _rx(r"\b(case-?\s?control(?:led)?\s+(?:study|design|analysis))")
_COHORT = _rx(r"\b((?:prospective|retrospective|population-based|longitudinal|historical|birth)\s+cohort"
              r"|cohort\s+study)")
_CROSS = _rx(r"\b(cross-?\s?sectional\s+(?:study|survey|design|analysis|descriptive))")
_CASE_TITLE = _rx(r"\b(case\s+reports?|case\s+series|(?:a|rare|unusual|first)\s+(?:\w+\s+)?case\s+of)\b")
_CASE_ABSTRACT = _rx(r"\b(we\s+(?:report|present|describe)\s+(?:a|an|the|two|three|four|five)\s+(?:\w+\s+){0,4}"
                     r"cases?\b|this\s+case\s+report|case\s+series\s+of)")
_ANIMAL_TITLE = _rx(r"\b(rats?|mice|murine|rabbits?|hamsters?|zebrafish|in\s+vitro|cell\s+lines?|porcine\s+model"
                    r"|animal\s+model)\b")
_ANIMAL_ABSTRACT = _rx(r"\b((?:\d+|groups?\s+of|male|female|adult)\s+(?:\(\d+\)\s+)?(?:\w+\s+){0,2}"
                       r"(?:rats|mice|rabbits|hamsters)\b|(?:rats|mice)\s+were\s+(?:randomly\s+)?(?:divided|assigned"
                       r"|treated|fed|injected))")
_NARRATIVE_TITLE = _rx(r"\b(a\s+(?:narrative|literature|brief|clinical)\s+review|an?\s+(?:update|overview)"
                       r"|review\s+of\s+the\s+literature|state\s+of\s+the\s+art)\b")

#: JATS ``article-type`` values and subject headings that name a design outright.
_ARTICLE_TYPES: dict[str, StudyType] = {
    "case-report": "case_report", "systematic-review": "systematic_review", "meta-analysis": "systematic_review",
    "practice-guideline": "guideline", "guideline": "guideline", "review-article": "narrative_review",
}
_SUBJECTS: dict[str, StudyType] = {
    "case report": "case_report", "case reports": "case_report", "systematic review": "systematic_review",
    "meta-analysis": "systematic_review", "practice guideline": "guideline", "guideline": "guideline",
    "guidelines": "guideline", "review article": "narrative_review", "review": "narrative_review",
}


def _quote(where: str, match: re.Match[str]) -> str:
    return f'{where}: "{" ".join(match.group(1).split())}"'


def _from_title(title: str) -> Design | None:
    rules: list[tuple[StudyType, re.Pattern[str]]] = [
        ("systematic_review", _SR), ("rct", _RCT_TITLE), ("guideline", _GUIDELINE),
        ("cohort_case_control", _CASE_CONTROL), ("cohort_case_control", _COHORT), ("cross_sectional", _CROSS),
        ("case_report", _CASE_TITLE), ("animal_in_vitro", _ANIMAL_TITLE), ("narrative_review", _NARRATIVE_TITLE),
    ]
    for study_type, pattern in rules:
        if match := pattern.search(title):
            return Design(study_type, _quote("title", match))
    return None


def _from_metadata(article_type: str | None, subjects: tuple[str, ...], abstract: str) -> Design | None:
    found: Design | None = None
    if article_type and article_type.lower() in _ARTICLE_TYPES:
        found = Design(_ARTICLE_TYPES[article_type.lower()], f"article-type: {article_type}")
    else:
        for subject in subjects:
            if subject.strip().lower() in _SUBJECTS:
                found = Design(_SUBJECTS[subject.strip().lower()], f"subject: {subject.strip()}")
                break
    if found and found.study_type == "narrative_review" and (match := _SR.search(abstract)):
        return Design("systematic_review", f"{found.evidence}; {_quote('abstract', match)}")
    return found


def _from_abstract(abstract: str) -> Design | None:
    rules: list[tuple[StudyType, re.Pattern[str]]] = [
        ("systematic_review", _SR), ("rct", _RCT_ABSTRACT), ("cohort_case_control", _CASE_CONTROL),
        ("cohort_case_control", _COHORT), ("cross_sectional", _CROSS), ("case_report", _CASE_ABSTRACT),
        ("animal_in_vitro", _ANIMAL_ABSTRACT),
    ]
    for study_type, pattern in rules:
        if match := pattern.search(abstract):
            if study_type == "systematic_review" and not _says_we_reviewed(abstract, match):
                continue
            return Design(study_type, _quote("abstract", match))
    return None


def _says_we_reviewed(abstract: str, match: re.Match[str]) -> bool:
    """A primary study's abstract may cite "a previous meta-analysis"; count the phrase only near the start of the
    abstract or with a first-person verb before it."""
    before = abstract[max(0, match.start() - 80) : match.start()].lower()
    return match.start() < 300 or any(w in before for w in ("we ", "this ", "present ", "performed", "conducted"))


def detect(title: str | None, abstract: str | None, article_type: str | None = None,
           subjects: tuple[str, ...] = ()) -> Design:
    """The study design of one paper.

    Args:
        title: the article title.
        abstract: the abstract, or the first page of text when none is marked.
        article_type: JATS ``<article article-type>`` (e.g. ``"case-report"``), if known.
        subjects: JATS subject headings (e.g. ``("Case Report",)``).

    Returns:
        e.g. ``Design("case_report", 'article-type: case-report')``, or ``Design("other", "")`` when nothing says.
    """
    title, abstract = " ".join((title or "").split()), " ".join((abstract or "").split())[:ABSTRACT_CHARS]
    return (_from_title(title) or _from_metadata(article_type, subjects, abstract) or _from_abstract(abstract)
            or Design("other", ""))


def detect_document(parsed: ParsedDocument) -> Design:
    """:func:`detect` on a parsed document: its marked abstract, else the start of its text."""
    abstract = next((s.text for s in parsed.segments if (s.heading or "").lower() == "abstract"), None)
    if abstract is None:
        abstract = " ".join(s.text for s in parsed.segments[:2])
    return detect(parsed.title, abstract, parsed.article_type, parsed.subjects)


def classify_stored(store: Store, redo: bool = False) -> int:
    """Detect the design and the abbreviations of stored documents that have none (all with ``redo``): stores made
    before these were found at ingest. A PDF's JATS sibling is read again when it is still there; otherwise the title
    and the first chunks stand in for the abstract. Returns how many documents were classified."""
    done = 0
    with_pairs = store.documents_with_abbreviations()
    for doc, _ in store.documents():
        if redo or doc.id not in with_pairs:
            store.set_abbreviations(doc.id, extract_pairs(". ".join(filter(None, [doc.title, *store.first_texts(
                doc.id, 10_000)]))))
        if doc.study_type and not redo:
            continue
        design = _stored_design(store, doc.id, doc.title, doc.file_path)
        store.set_study_design(doc.id, design.study_type, design.evidence)
        done += 1
    logger.info("Classified the study design of %d documents", done)
    return done


def _stored_design(store: Store, doc_id: int, title: str | None, file_path: str | None) -> Design:
    if file_path:
        path = Path(file_path)
        for jats in (path, path.with_suffix(".xml"), path.with_suffix(".nxml")):
            if jats.suffix.lower() in (".xml", ".nxml") and jats.is_file():
                try:
                    return detect_document(parse_jats(jats))
                except MedEmbedError as exc:
                    logger.warning("Ignoring %s: %s", jats, exc)
    return detect(title, " ".join(store.first_texts(doc_id, 2)))
