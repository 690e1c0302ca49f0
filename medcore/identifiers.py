"""What a PubMed Central id (PMCID) looks like: "PMC" and the record number, read from a page, a file name or a
JATS ``<article-id>``."""

from __future__ import annotations

import re

_NUMBER = r"(\d{1,12})"
#: In running text or a file name: not inside a longer word ("XPMC1") nor the start of a longer number; a file name
#: may glue it to other words with "_" ("article_PMC4736312.pdf", "PMC4736312_supplement.pdf").
_IN_TEXT = re.compile(rf"(?<![^\W_])PMC{_NUMBER}(?!\d)", re.IGNORECASE)
#: A whole value: JATS writes the id with or without its "PMC".
_WHOLE = re.compile(rf"(?:PMC)?{_NUMBER}", re.IGNORECASE)


def find_pmcid(text: str) -> str | None:
    """The first PMCID in ``text``, as ``PMC1234``."""
    match = _IN_TEXT.search(text)
    return f"PMC{match.group(1)}" if match else None


def as_pmcid(value: str) -> str | None:
    """``value`` as ``PMC1234`` when it is a PMCID with or without its prefix (``PMC1234``, ``pmc1234``, ``1234``)."""
    match = _WHOLE.fullmatch(value)
    return f"PMC{match.group(1)}" if match else None
