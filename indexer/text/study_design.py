"""Study design from what a paper says and shows: phrase rules first, then a trained model, else "Not determined".

A wrong design is worse than none (a clinician filtering to trials must not get a cohort study). So a paper gets a
design from, in order: a phrase of its title, the publisher's article type, a phrase of its abstract, a phrase of
its Methods (PDFs and JATS: "This is a retrospective, observational study", "rats were divided"), and only where no
phrase decides, the trained model (:mod:`indexer.text.design_model`) reading the whole abstract, when it is
confident enough. A weak phrase (one that was under 0.9 precise on the development set) decides only where the
model agrees with it. Otherwise the design is ``undetermined`` ("Not determined"); ``other`` is kept for papers that
are none of the designs (modelling, diagnostic accuracy, methods, non-randomised interventions) and is only given
by the model. The evidence kept is the phrase, or the model's confidence, so a reader can see why.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexer.parse.document import ParsedDocument
from indexer.parse.jats import parse_jats
from indexer.text import design_model
from indexer.text.abbreviations import extract_pairs
from indexer.text.design_rules import Design, from_text, from_title
from medcore.errors import MedEmbedError
from medcore.study_types import LABELS, StudyType
from store import Store

logger = logging.getLogger(__name__)

__all__ = ["Design", "classify_stored", "confidence", "decide", "detect", "detect_document", "detect_documents",
           "detect_many", "needs_model", "rules_only"]

ABSTRACT_CHARS = 3000  # where no abstract is marked (a bare PDF): the first page or so stands in for it
METHODS_CHARS = 6000
_METHODS_HEADING = re.compile(r"method|patients|subjects|participants|study\s+(?:design|population|area)|materials"
                              r"|protocol|animals|experimental", re.IGNORECASE)

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


def _from_metadata(article_type: str | None, subjects: tuple[str, ...], abstract: str) -> Design | None:
    found: Design | None = None
    if article_type and article_type.lower() in _ARTICLE_TYPES:
        found = Design(_ARTICLE_TYPES[article_type.lower()], f"article-type: {article_type}")
    else:
        for subject in subjects:
            if subject.strip().lower() in _SUBJECTS:
                found = Design(_SUBJECTS[subject.strip().lower()], f"subject: {subject.strip()}")
                break
    if found and found.study_type == "narrative_review" and (better := from_text(abstract, "abstract")):
        if better.study_type == "systematic_review":
            return Design("systematic_review", f"{found.evidence}; {better.evidence}")
    return found


def _clean(text: str | None, limit: int) -> str:
    return " ".join((text or "").split())[:limit]


def rules_only(title: str | None, abstract: str | None, methods: str | None = None, article_type: str | None = None,
               subjects: tuple[str, ...] = ()) -> Design | None:
    """The design a phrase decides (title, article type, abstract, Methods, in that order), or None."""
    title, abstract, methods = _clean(title, 1000), _clean(abstract, ABSTRACT_CHARS), _clean(methods, METHODS_CHARS)
    return (from_title(title, abstract) or _from_metadata(article_type, tuple(subjects), abstract)
            or (from_text(abstract, "abstract") if abstract else None)
            or (from_text(methods, "methods", abstract) if methods else None))


def _undetermined(why: str) -> Design:
    return Design("undetermined", why)


def _unconfirmed(phrase: Design) -> str:
    return f"{phrase.evidence} suggests {LABELS[phrase.study_type]}, a phrase the abstract model must confirm"


def confidence(probs: np.ndarray, parts: tuple[np.ndarray, ...] = (), abstain: str = "top") -> np.ndarray:
    """Per paper the score :func:`decide` holds to the threshold: the averaged probability of the best design
    (``"top"``), or the lower of the models' probabilities of that design (``"min"``: the embedding and the TF-IDF
    models must both back it; ``parts`` are their probabilities)."""
    top = probs.max(axis=1)
    if abstain == "top":
        return top
    if abstain != "min" or not parts:
        raise ValueError(f"abstain={abstain!r} needs each model's probabilities")
    best = probs.argmax(axis=1)
    rows = np.arange(len(probs))
    return np.minimum.reduce([part[rows, best] for part in parts])


def decide(rule: np.ndarray, weak: np.ndarray, probs: np.ndarray, threshold: float, agree: float = 0.0,
           margin: float = 0.0, abstain: str = "top", parts: tuple[np.ndarray, ...] = ()
           ) -> tuple[np.ndarray, np.ndarray]:
    """The decision rule given the phrase rules and the model's probabilities, vectorised: :func:`detect_many` uses
    it on the papers the model reads, and the trainer scores many (threshold, agree, margin, abstain) settings with
    it.

    Args:
        rule: per paper the class index a phrase rule gives (-1: none).
        weak: per paper, True where that rule is weak (it decides only where the model agrees).
        probs: ``(n, n_classes)`` model probabilities (the averaged ones).
        threshold, agree, margin, abstain: the model's operating point (:class:`design_model.DesignModel`);
            ``abstain`` names the score held to the threshold (:func:`confidence`).
        parts: each averaged model's probabilities (needed for ``abstain="min"``).

    Returns:
        ``(chosen, why)``: the class index given (-1: not determined), and why: ``"rule"`` (a strong phrase),
        ``"confirmed"`` / ``"disputed"`` (a weak phrase the model agrees / disagrees with), ``"model"`` (the model
        claims its best design), ``"unsure"`` (its confidence under the threshold) or ``"torn"`` (best design
        under ``margin`` ahead of the second). Probabilities are compared as shown to users, to two decimals.
    """
    ranked = np.sort(probs, axis=1)
    best = probs.argmax(axis=1)
    sure = np.round(confidence(probs, parts, abstain), 2) >= threshold
    clear = np.round(ranked[:, -1] - ranked[:, -2], 2) >= margin
    agrees = np.round(probs[np.arange(len(rule)), np.maximum(rule, 0)], 2) >= agree
    weak = weak & (rule >= 0)
    why = np.select([(rule >= 0) & ~weak, weak & agrees, weak, sure & clear, ~sure],
                    ["rule", "confirmed", "disputed", "model", "unsure"], "torn")
    chosen = np.select([(why == "rule") | (why == "confirmed"), why == "model"], [rule, best], -1)
    return chosen, why


def _model_design(phrase: Design | None, why: str, classes: tuple[str, ...], probs: np.ndarray, score: float,
                  model: design_model.DesignModel) -> Design:
    """The design :func:`decide` chose for one paper the model read, with the evidence shown to users; the
    confidence shown is the score held to the threshold (:func:`confidence`)."""
    runner_up, best = (int(j) for j in probs.argsort()[-2:])
    kind, shown = classes[best], round(score, 2)
    lead = round(float(probs[best] - probs[runner_up]), 2)
    label = LABELS.get(kind, kind)  # type: ignore[call-overload]
    if phrase is not None:
        agreement = round(float(probs[classes.index(phrase.study_type)]), 2)
        if why == "confirmed":
            return replace(phrase, evidence=f"{phrase.evidence}; the abstract model agrees "
                                            f"(probability {agreement:.2f})")
        return Design("undetermined", f"{phrase.evidence} suggests {LABELS[phrase.study_type]}, but the abstract "
                                      f"model disagrees (probability {agreement:.2f} < {model.agree:.2f}; best guess "
                                      f"{label})", shown)
    if why == "model":
        return Design(kind, f"classified from the abstract (confidence {shown:.2f})",  # type: ignore[arg-type]
                      shown)
    if why == "unsure":
        return Design("undetermined", f"no design phrase, and the abstract model is unsure (best guess {label}, "
                                      f"confidence {shown:.2f} < {model.threshold:.2f})", shown)
    second = LABELS.get(classes[runner_up], classes[runner_up])  # type: ignore[call-overload]
    return Design("undetermined", f"no design phrase, and the abstract model is torn (best guess {label}, confidence "
                                  f"{shown:.2f}, only {lead:.2f} ahead of {second}; {model.margin:.2f} needed)",
                  shown)


def detect_many(papers: list[dict], use_model: bool = True) -> list[Design]:
    """:func:`detect` for many papers at once (the model embeds them in one batch).

    A strong phrase rule decides alone. A weak one (under 0.9 precise on the development set: "retrospective
    study", "prevalence of", "in vitro", ...) decides only where the model gives its design at least the model's
    ``agree`` probability; otherwise, and wherever the model cannot be used, the paper is "Not determined" (and
    ingest, which parses with phrases only, has the model read it). The rule itself is :func:`decide`.

    Args:
        papers: dicts with ``title``, ``abstract`` and optionally ``methods``, ``article_type``, ``subjects``.
        use_model: False gives phrase rules only (undetermined where none decides, or only a weak one does).
    """
    designs: list[Design | None] = [rules_only(p.get("title"), p.get("abstract"), p.get("methods"),
                                               p.get("article_type"), tuple(p.get("subjects") or ())) for p in papers]
    weak = design_model.weak_rules()
    unsure = {i: d for i, d in enumerate(designs) if d is not None and d.rule in weak}
    for i in unsure:
        designs[i] = None
    todo = [i for i, d in enumerate(designs) if d is None and _clean(papers[i].get("abstract"), 1)]
    found = design_model.probabilities([_clean(papers[i].get("title"), 1000) for i in todo],
                                       [_clean(papers[i].get("abstract"), ABSTRACT_CHARS) for i in todo]) \
        if todo and use_model else None
    if found is None:
        for i in todo:
            phrase = unsure.get(i)
            designs[i] = _undetermined(_unconfirmed(phrase) if phrase else
                                       "no design phrase in the title, abstract or methods")
    else:
        classes, probs, model, parts = found
        rule = np.asarray([classes.index(unsure[i].study_type) if i in unsure else -1 for i in todo], dtype=int)
        _, why = decide(rule, rule >= 0, probs, model.threshold, model.agree, model.margin, model.abstain, parts)
        scores = confidence(probs, parts, model.abstain)
        for k, i in enumerate(todo):
            designs[i] = _model_design(unsure.get(i), str(why[k]), classes, probs[k], float(scores[k]), model)
    for i, phrase in unsure.items():  # a weak phrase with no abstract to read
        designs[i] = designs[i] or _undetermined(_unconfirmed(phrase))
    return [d or _undetermined("no title or abstract to read") for d in designs]


def detect(title: str | None, abstract: str | None, article_type: str | None = None,
           subjects: tuple[str, ...] = (), methods: str | None = None, use_model: bool = True) -> Design:
    """The study design of one paper.

    Args:
        title: the article title.
        abstract: the abstract, or the first page of text when none is marked.
        article_type: JATS ``<article article-type>`` (e.g. ``"case-report"``), if known.
        subjects: JATS subject headings (e.g. ``("Case Report",)``).
        methods: the Methods section's text, when the full text is there (PDF, JATS).
        use_model: False for phrase rules only.

    Returns:
        e.g. ``Design("case_report", 'article-type: case-report')``, ``Design("cohort_case_control",
        "classified from the abstract (confidence 0.87)", 0.87)``, or ``Design("undetermined", why)``.
    """
    return detect_many([{"title": title, "abstract": abstract, "methods": methods, "article_type": article_type,
                         "subjects": subjects}], use_model)[0]


def _parts(parsed: ParsedDocument) -> dict:
    abstract = next((s.text for s in parsed.segments if (s.heading or "").lower() == "abstract"), None)
    if abstract is None:
        abstract = " ".join(s.text for s in parsed.segments[:2])
    methods = " ".join(s.text for s in parsed.segments
                       if (s.heading or "").lower() != "abstract" and _METHODS_HEADING.search(s.heading or ""))
    return {"title": parsed.title, "abstract": abstract, "methods": methods, "article_type": parsed.article_type,
            "subjects": parsed.subjects}


def detect_document(parsed: ParsedDocument, use_model: bool = True) -> Design:
    """:func:`detect` on a parsed document: its marked abstract (else the start of its text) and Methods."""
    return detect_many([_parts(parsed)], use_model)[0]


def detect_documents(parsed: list[ParsedDocument], use_model: bool = True) -> list[Design]:
    """:func:`detect_document` for many documents, the model reading them in one batch."""
    return detect_many([_parts(p) for p in parsed], use_model)


def needs_model(design: Design) -> bool:
    """True for a phrase-rules-only result that the model has not read yet (parsing runs rules only)."""
    return design.study_type == "undetermined" and design.confidence is None


def classify_stored(store: Store, redo: bool = False, use_model: bool = True) -> int:
    """Detect the design and the abbreviations of stored documents that have none (all with ``redo``): stores made
    before these were found at ingest, or a library to relabel after the classifier improved. A PDF's JATS sibling
    is read again when it is still there; otherwise the title and the first chunks stand in for the abstract and
    the text after a "Methods" heading for the Methods. A curator's correction is kept (it is stored apart from the
    detected design). Returns how many documents were classified."""
    with_pairs = store.documents_with_abbreviations()
    todo: list[tuple[int, dict]] = []
    for doc, _ in store.documents():
        if redo or doc.id not in with_pairs:
            store.set_abbreviations(doc.id, extract_pairs(". ".join(filter(None, [doc.title, *store.first_texts(
                doc.id, 10_000)]))))
        if doc.study_type and not redo:
            continue
        todo.append((doc.id, _stored_parts(store, doc.id, doc.title, doc.file_path)))
    designs = detect_many([parts for _, parts in todo], use_model)
    for (doc_id, _), design in zip(todo, designs, strict=True):
        store.set_study_design(doc_id, design.study_type, design.evidence)
    logger.info("Classified the study design of %d documents", len(todo))
    return len(todo)


_METHODS_START = re.compile(r"\b(?:materials?\s+and\s+methods|methods|patients\s+and\s+methods|study\s+design)\b",
                            re.IGNORECASE)


def _stored_parts(store: Store, doc_id: int, title: str | None, file_path: str | None) -> dict:
    if file_path:
        path = Path(file_path)
        for jats in (path, path.with_suffix(".xml"), path.with_suffix(".nxml")):
            if jats.suffix.lower() in (".xml", ".nxml") and jats.is_file():
                try:
                    return _parts(parse_jats(jats))
                except MedEmbedError as exc:
                    logger.warning("Ignoring %s: %s", jats, exc)
    texts = store.first_texts(doc_id, 12)
    rest = " ".join(texts[2:])
    start = _METHODS_START.search(rest)
    return {"title": title, "abstract": " ".join(texts[:2]),
            "methods": rest[start.start(): start.start() + METHODS_CHARS] if start else ""}
