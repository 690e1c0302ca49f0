"""How hits are shown: escaped Markdown, query-term highlighting, links, "why it ranked", cross-column overlap.

Pure functions over :class:`~medcore.types.Hit` and :class:`~medcore.types.Document`; the Streamlit pages only
place their output. Every piece of document text goes through :func:`escape_markdown`, so a title such as
``<script>`` or ``[x](javascript:...)`` is shown as typed and never becomes markup.

Size: many small pure formatting functions (each a few lines) that the pages share.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from indexer.text.sentences import prose_spans
from medcore import study_types
from medcore.analysis import WORD, query_terms, stem
from medcore.identifiers import as_pmcid
from medcore.models import OUR_MODEL, base_model, model_role
from medcore.retrievers import RetrieverSpec
from medcore.types import Document, Hit

logger = logging.getLogger(__name__)

#: Characters with a meaning in CommonMark, GFM or Streamlit's own syntax (``:red[...]``, ``$latex$``, ``:emoji:``,
#: raw HTML, entities, autolinked e-mail addresses); CommonMark lets any ASCII punctuation be backslash-escaped.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$:~&@])")
#: GFM links bare URLs and e-mail addresses in text after escapes are resolved, so ``http\\://x`` still became a link;
#: an invisible word joiner after ``:`` of ``://``, in ``www.`` and after ``@`` breaks the patterns it looks for.
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)")
WORD_JOINER = "\u2060"
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
PDF_ROUTE = "/medembed/pdf"

def escape_markdown(text: str) -> str:
    """Text that renders literally in Markdown: punctuation backslash-escaped, whitespace collapsed, bare URLs and
    e-mail addresses kept from being linked (a word joiner, which nobody sees, inside ``://``, ``www.`` and after
    ``@``).

    Example: ``"<b>*x*</b>"`` becomes ``"\\<b\\>\\*x\\*\\</b\\>"``.
    """
    cleaned = "".join(ch if ch.isprintable() or ch.isspace() else " " for ch in text)
    return _MD_SPECIAL.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, " ".join(cleaned.split())))


def snippet(text: str, query: str, max_chars: int = 420, key: tuple[int, int] | None = None) -> str:
    """A window of ``text`` around the key sentence (else the first query term), escaped, with every query term in
    bold and the key sentence on a highlighted background.

    Args:
        text: a chunk's text (may hold newlines and any characters).
        query: the user's query; words match by stem, so "bites" marks "bite" and "bitten" stays plain.
        max_chars: length of the window before escaping (widened to show the whole key sentence).
        key: ``(start, end)`` of the key sentence in ``text`` (see :mod:`search_app.key_sentence`).

    Returns:
        Markdown, e.g. ``"…after a coyote **bite**, :orange-background[the child had **tularemia**.] …"``.
    """
    plain = " ".join(text.split())
    terms = query_terms(query)
    matches = [m for m in WORD.finditer(plain) if stem(m.group()) in terms]
    mark = _find_key(plain, text, key)
    prose = prose_spans(plain)
    start = 0
    anchor = mark[0] if mark else _prose_anchor(prose, matches)
    if anchor > max_chars // 3:
        start = plain.rfind(" ", 0, max(anchor - max_chars // 4, 0)) + 1 if not mark else anchor
    if anchor and start < anchor and not _all_prose(prose, start, anchor):
        start = anchor  # the text before the anchor is a table or boilerplate: start at the prose
    end = min(len(plain), max(start + max_chars, mark[1] if mark else 0), start + 2 * max_chars)
    if cut := _debris_after(prose, plain, max(anchor, start), end):
        end = cut  # a table or boilerplate follows the prose shown: stop before it
    elif end < len(plain):
        end = max(plain.rfind(" ", start, end), start + max_chars // 2, mark[1] if mark and mark[1] <= end else 0)
    pieces = [(start, end, False)]
    if mark and mark[0] < end:
        key_end = min(mark[1], end)
        pieces = [(start, max(start, mark[0]), False), (max(start, mark[0]), key_end, True), (key_end, end, False)]
    out = []
    for a, b, is_key in pieces:
        if a >= b:
            continue
        body = _bold_terms(plain, a, b, matches)
        out.append(f" :orange-background[{body.strip()}] " if is_key else body)
    return ("… " if start > 0 else "") + "".join(out).strip() + (" …" if end < len(plain) else "")


def _prose_anchor(prose: Sequence[tuple[int, int]], matches: Sequence[re.Match[str]]) -> int:
    """Where a snippet without a key sentence starts: in the prose sentence holding the most distinct query words
    (the earliest of equals), at its first such word when that lies deep in a long sentence; the first prose
    sentence when none holds one. Never inside a table or a licence line when the passage has any prose."""
    if not prose:
        return matches[0].start() if matches else 0
    best, best_words = prose[0], 0
    for a, b in prose:
        words = {m.group().lower() for m in matches if a <= m.start() < b}
        if len(words) > best_words:
            best, best_words = (a, b), len(words)
    first = next((m.start() for m in matches if best[0] <= m.start() < best[1]), best[0])
    return first if first - best[0] >= 160 else best[0]


def _all_prose(prose: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    """Whether every character of ``plain[start:end]`` that is not blank lies in a prose sentence."""
    covered = start
    for a, b in prose:
        if b <= covered:
            continue
        if a > covered + 1:
            return False
        covered = max(covered, b)
        if covered >= end:
            return True
    return covered >= end - 1


def _debris_after(prose: Sequence[tuple[int, int]], plain: str, anchor: int, end: int) -> int | None:
    """The end of the prose run holding ``anchor`` when a table or boilerplate begins before ``end`` (to cut the
    window there), else None."""
    run_end = None
    for a, b in prose:
        if b <= anchor:
            continue
        if run_end is None:
            if a > anchor + 1:
                return None  # the anchor is not in prose (a passage that is all table): nothing to cut to
            run_end = b
        elif a <= run_end + 1:
            run_end = b
        else:
            break
    if run_end is None or run_end >= end or not plain[run_end:end].strip():
        return None
    return run_end


def _find_key(plain: str, text: str, key: tuple[int, int] | None) -> tuple[int, int] | None:
    """The key sentence's span in the whitespace-collapsed ``plain``."""
    if key is None:
        return None
    sentence = " ".join(text[key[0] : key[1]].split())
    at = plain.find(sentence) if sentence else -1
    return (at, at + len(sentence)) if at >= 0 else None


def _bold_terms(plain: str, start: int, end: int, matches: Sequence[re.Match[str]]) -> str:
    out, pos = [], start
    for m in matches:
        if m.start() < start or m.end() > end:
            continue
        out.append(escape_markdown_keep_space(plain[pos : m.start()]))
        out.append(f"**{escape_markdown(m.group())}**")
        pos = m.end()
    out.append(escape_markdown_keep_space(plain[pos:end]))
    return "".join(out)


def escape_markdown_keep_space(text: str) -> str:
    """Like :func:`escape_markdown` but keeps one leading/trailing space (for pieces between highlights)."""
    core = escape_markdown(text)
    if not core:
        return " " if text[:1].isspace() else ""
    return (" " if text[:1].isspace() else "") + core + (" " if text[-1:].isspace() else "")


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def doi_url(doi: str | None) -> str | None:
    if not doi or not _DOI.match(doi.strip()):
        return None
    return "https://doi.org/" + quote(doi.strip(), safe="/:;.-_")


def pmc_url(pmcid: str | None) -> str | None:
    """The article's page on PubMed Central, or None when ``pmcid`` is no PMCID (a link is never built from
    anything else)."""
    pmcid = as_pmcid(pmcid.strip()) if pmcid else None
    return f"https://www.ncbi.nlm.nih.gov/pmc/articles/{pmcid}/" if pmcid else None


def pdf_url(doc: Document, page: int | None) -> str | None:
    """The app's own route that serves a library PDF inline; ``#page=N`` makes Chromium's viewer open page N."""
    if not doc.file_path or not doc.file_path.lower().endswith(".pdf"):
        return None
    return f"{PDF_ROUTE}/{doc.id}" + (f"#page={page}" if page else "")


def links(doc: Document | None, page: int | None) -> list[Link]:
    """DOI, PubMed Central and "open the PDF at this page" links a card offers."""
    if doc is None:
        return []
    out = []
    if url := pdf_url(doc, page):
        out.append(Link(f"Open PDF at page {page}" if page else "Open PDF", url))
    if url := doi_url(doc.doi):
        out.append(Link(f"doi:{doc.doi}", url))
    if url := pmc_url(doc.pmcid):
        out.append(Link(doc.pmcid or "PMC", url))
    return out


def links_markdown(items: Sequence[Link]) -> str:
    return " · ".join(f"[{escape_markdown(link.label)}]({link.url})" for link in items)


def byline(doc: Document | None, page: int | None = None) -> str:
    """``authors · journal · year · p. N`` escaped; long author lists are shortened to "First et al."."""
    if doc is None:
        return f"p. {page}" if page else ""
    parts = []
    if names := [a.byline for a in doc.author_list]:
        authors = ", ".join(names)
        parts.append(escape_markdown(authors if len(authors) < 60 else f"{names[0]} et al."))
    if doc.journal:
        parts.append(f"*{escape_markdown(doc.journal)}*")
    if doc.year:
        parts.append(str(doc.year))
    if page:
        parts.append(f"p. {page}")
    if doc.collection and doc.collection != "library":
        parts.append(escape_markdown(f"[{doc.collection}]"))
    return " · ".join(parts)


def describe_search(options: Mapping[str, object]) -> str:
    """A recent search's settings in words, every one that changes the results: "hybrid · minilm · Papers · 10
    results · by level of evidence · RCT · Lancet · 2015–2020"."""
    mode, model = options.get("mode"), options.get("model")
    parts = ["BM25" if mode == "bm25" else f"{mode} · {model}" if model else str(mode)] if mode else []
    parts += [str(options["view"])] if options.get("view") else []
    parts += [f"{options['k']} results"] if options.get("k") else []
    if options.get("sort") == "Level of evidence" and options.get("view") != "Passages":
        parts.append("by level of evidence")
    parts += [", ".join(study_types.label(str(t)) for t in options.get("study_types") or [])]
    for name in ("journals", "collections"):
        parts.append(", ".join(map(str, options.get(name) or [])))
    low, high = options.get("year_min"), options.get("year_max")
    if low or high:
        parts.append(f"{low or '…'}–{high or '…'}")
    return " · ".join(p for p in parts if p)


def title_markdown(hit_title: str | None, doc: Document | None) -> str:
    title = hit_title or (doc.title if doc else None) or (doc.external_id if doc else None) or "(untitled)"
    return escape_markdown(title)


_RETRIEVER_LABEL = {"bm25": "BM25", "dense": "dense"}


def why_ranked(hit: Hit, mode: str) -> str:
    """Each retriever's rank and score for the hit, and the fused score for hybrid (the reranker's rank and logit
    instead, where it reordered the hits).

    Example: ``"BM25 #2 (2.12) · dense #1 (0.821) · fused 0.0325"``; a retriever that missed the chunk among its
    candidates says so.
    """
    parts = []
    for name in ("bm25", "dense"):
        if mode not in (name, "hybrid"):
            continue
        if name in hit.ranks:
            parts.append(f"{_RETRIEVER_LABEL[name]} #{hit.ranks[name]} ({hit.scores.get(name, 0.0):.3g})")
        else:
            # the passage, not its paper: another passage of the paper may rank (and tag it in another column)
            parts.append(f"{_RETRIEVER_LABEL[name]}: this passage not in its top candidates")
    if "rerank" in hit.scores:
        parts.append(f"reranker #{hit.ranks['rerank']} ({hit.scores['rerank']:.3g})")
    elif mode == "hybrid":
        parts.append(f"fused {hit.score:.4f}")
    return " · ".join(parts)


def why_here(hit: Hit, mode: str) -> str:
    """Why a passage is shown, in a clinician's words: what it matched and how relevant it is, e.g. "matches your
    words and meaning · relevance 0.82". The retrievers' ranks and scores are :func:`why_ranked`."""
    words = mode == "bm25" or (mode == "hybrid" and "bm25" in hit.ranks)
    meaning = mode == "dense" or (mode == "hybrid" and "dense" in hit.ranks)
    matched = ("matches your words and meaning" if words and meaning else "matches your words" if words
               else "close in meaning to your question")
    return matched + (f" · relevance {hit.relevance:.2f}" if hit.relevance is not None else "")


def model_mark(spec: str) -> str:
    """Markdown naming a retriever's model as ours or as our model's base, so that columns side by side say which
    is which; "" for a retriever with another model or none (BM25)."""
    model = RetrieverSpec.parse(spec).model
    role = model_role(model) if model else None
    if role == "ours":
        base = base_model(model)
        return f":green-badge[ours] {escape_markdown(model)}" + (f", fine-tuned from {escape_markdown(base)}"
                                                                   if base else "")
    if role == "base":
        return f":gray-badge[base model] {escape_markdown(model)}, the model {OUR_MODEL} was fine-tuned from"
    return ""


#: Badge colours Streamlit Markdown knows (``:blue-badge[...]``), used to tag a document across columns.
BADGE_COLOURS = ("blue", "green", "orange", "violet", "red", "yellow", "gray")


@dataclass(frozen=True)
class Overlap:
    """Where one document shows up across the compared columns.

    Attributes:
        ranks: ``{column: rank}``, the rank of the document's best passage in that column (the number on its card).
        tag: a short label ("A", "B", ...) given to documents found by two columns or more, else "".
        colour: the badge colour for ``tag``.
    """

    ranks: dict[str, int]
    tag: str = ""
    colour: str = "gray"


def document_ranks(hits: Sequence[Hit]) -> dict[int, int]:
    """``{doc_id: rank of its best passage}``, e.g. hits of docs 7, 7, 3 at ranks 1-3 give ``{7: 1, 3: 3}``."""
    out: dict[int, int] = {}
    for hit in hits:
        out.setdefault(hit.doc_id, hit.rank)
    return out


def overlaps(columns: Mapping[str, Sequence[Hit]]) -> dict[int, Overlap]:
    """``{doc_id: Overlap}`` over all columns; shared documents get tags A, B, ... in order of best rank."""
    ranks: dict[int, dict[str, int]] = {}
    for name, hits in columns.items():
        for doc_id, rank in document_ranks(hits).items():
            ranks.setdefault(doc_id, {})[name] = rank
    shared = sorted((d for d, r in ranks.items() if len(r) > 1), key=lambda d: (min(ranks[d].values()), d))
    tags = {doc_id: i for i, doc_id in enumerate(shared)}
    out = {}
    for doc_id, by_column in ranks.items():
        i = tags.get(doc_id)
        if i is None:
            out[doc_id] = Overlap(by_column)
        else:
            tag = chr(ord("A") + i % 26) + (str(i // 26) if i >= 26 else "")
            out[doc_id] = Overlap(by_column, tag, BADGE_COLOURS[i % len(BADGE_COLOURS)])
    return out


def fewer_results(spec: str, unit: str, shown: int, k: int) -> str:
    """Why a column lists fewer than ``k`` results while others may list ``k``: BM25 finds only what contains a
    query word; a dense or hybrid search ranks every passage, so only the library's size or a filter stops it."""
    if spec == "bm25":
        return f"Fewer than {k}: only {shown} {unit} contain a word of the query (BM25 matches words)."
    return f"Fewer than {k}: the library (with its filters) holds only {shown} {unit} to rank."


def retriever_label(spec: str) -> str:
    """``"hybrid · minilm"``, ``"BM25"``, ``"hybrid · medembed-small · reranked"``: a retriever as column headings
    and tags name it."""
    parsed = RetrieverSpec.parse(spec)
    label = f"{parsed.mode} · {parsed.model}" if parsed.model else "BM25"
    return label + (" · reranked" if parsed.rerank else "")


def spec_mode(spec: str) -> str:
    """The first stage's mode of a retriever spec (``hybrid`` for ``hybrid:minilm+rerank``)."""
    return RetrieverSpec.parse(spec).mode


def overlap_markdown(overlap: Overlap, column: str) -> str:
    """``":blue-badge[A] also: card #2 in dense · minilm, card #1 in BM25"`` (the number on the document's card in
    each other column: a paper's rank, which may come from another of its passages than the one shown here), or
    "only here" for a document no other column found."""
    others = [f"card \\#{rank} in {escape_markdown(retriever_label(name))}" for name, rank in overlap.ranks.items()
              if name != column]
    if not others:
        return ":gray[only in this column]"
    return f":{overlap.colour}-badge[{overlap.tag}] also: " + ", ".join(others)


RELEVANCE_LABELS = {2: "highly relevant", 1: "relevant", 0: "judged not relevant"}


def relevance_markdown(grade: int | None) -> str:
    """A badge for a hit's graded relevance from the qrels; ``None`` means the pair was never judged."""
    if grade is None:
        return ":gray-badge[not judged]"
    if grade <= 0:
        return ":red-badge[0 · judged not relevant]"
    label = RELEVANCE_LABELS.get(grade, "relevant")
    return f":green-badge[{grade} · {label}]" if grade >= 2 else f":blue-badge[{grade} · {label}]"


_ESCAPED_CITATION = re.compile(r"\\\[(\d{1,2})\\\]")


def answer_markdown(text: str, anchor: str = "passage") -> str:
    """An LLM answer as safe Markdown: everything escaped (it is model output, shown as text), then each ``[n]``
    citation made a link to the passage card with the HTML id ``{anchor}-{n}``."""
    return _ESCAPED_CITATION.sub(lambda m: f"[\\[{m.group(1)}\\]](#{anchor}-{m.group(1)})", escape_markdown(text))


def study_badge(doc: Document | None) -> str:
    """The paper's design as a coloured badge, e.g. ``":red-badge[Case report / series]"``; "" when not classified.
    "Other" is shown too, in grey, so a missing badge always means "not classified yet"."""
    if doc is None or not doc.study_type:
        return ""
    kind = doc.study_type if doc.study_type in study_types.LABELS else "other"
    return f":{study_types.COLOURS[kind]}-badge[{escape_markdown(study_types.label(kind))}]"  # type: ignore[index]


def study_evidence(doc: Document | None) -> str:
    """Why the paper got its badge, as plain text for a tooltip: ``'Detected from article-type: case-report'``,
    ``'Classified from the abstract (confidence 0.87)'``, ``'Set by curator ann on 2026-12-02: ...'``."""
    if doc is None or not doc.study_type:
        return ""
    evidence = doc.study_evidence or ""
    if not evidence:
        return "No design named in the title, abstract or article type."
    if doc.study_type == "undetermined" or evidence.startswith(("classified from", "set by curator")):
        return evidence[0].upper() + evidence[1:]
    return f"Detected from {evidence}"
