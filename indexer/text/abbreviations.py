"""Abbreviations a document defines, "long form (SF)", found with the Schwartz-Hearst algorithm, and query expansion.

Schwartz & Hearst, "A simple algorithm for identifying abbreviation definitions in biomedical text" (PSB 2003):
a short form in parentheses, and before it the shortest run of words in which the short form's characters appear in
order, its first character starting a word. Written here rather than taken from the ``abbreviations`` package,
which configures the root logger when imported and reads text line by line (a PDF's line breaks split sentences).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

_PAREN = re.compile(r"\(([^()]{2,12})\)")
_WORD = re.compile(r"[\w-]+", re.UNICODE)
#: Only short forms that look like abbreviations are kept for queries: an upper-case letter, no spaces.
_SHORT = re.compile(r"^(?=.*[A-Z])[A-Za-z][A-Za-z0-9\-/&]{1,9}$")
#: Content we never treat as a short form though it fits the pattern (units, roman numerals, common stats).
MIN_QUERY_SHORT = 3
_NOT_SHORT = frozenset({"CI", "OR", "HR", "RR", "SD", "SE", "IQR", "II", "III", "IV", "VI", "USA", "UK", "NS"})


def best_long_form(short: str, long: str) -> str | None:
    """The shortest tail of ``long`` holding the characters of ``short`` in order (the first at a word start).

    Example: ``best_long_form("MetHb", "an increase in methemoglobin")`` gives ``"methemoglobin"``.
    """
    s, i = len(short) - 1, len(long) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while i >= 0 and (long[i].lower() != c or (s == 0 and i > 0 and long[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = long.rfind(" ", 0, i + 1) + 1
    found = long[start:].strip(" ,;:-")
    return found if len(found) > len(short) else None


def extract_pairs(text: str) -> list[tuple[str, str]]:
    """``[(short form, long form)]`` defined in ``text`` as "long form (SF)", in order of first definition.

    Example: ``"upper gastrointestinal bleeding (UGIB) was..."`` gives ``[("UGIB", "upper gastrointestinal
    bleeding")]``. Short forms without an upper-case letter, or with spaces, are left out.
    """
    flat = " ".join(text.split())
    seen: dict[str, str] = {}
    for match in _PAREN.finditer(flat):
        short = match.group(1).strip()
        if not _SHORT.match(short) or short in _NOT_SHORT or short in seen:
            continue
        words = _WORD.findall(flat[max(0, match.start() - 200) : match.start()])
        window = words[-min(len(short) + 5, len(short) * 2) :]
        if not window:
            continue
        long = best_long_form(short, " ".join(window))
        if long and short.lower() not in long.lower().split():
            seen[short] = long.lower()
    return list(seen.items())


def library_table(pairs: Iterable[tuple[str, str] | tuple[str, str, str]]) -> dict[str, str]:
    """``{short: long}`` over many documents' ``(short, long, source)`` (a pair without a source is a source of its
    own): each short form's long form with the most support from distinct sources.

    One source (who added the documents) has one vote per short form, shared among the long forms its documents
    give in proportion to how many give each: four planted papers from one uploader defining "AMI" as a miracle
    device weigh as one source, against the sources that agree on "acute myocardial infarction". Ties in support
    go to the long form more documents give.
    """
    counts: dict[str, dict[str, Counter[str]]] = {}  # short -> source -> long -> documents
    for n, pair in enumerate(pairs):
        short, long = pair[0], pair[1]
        source = pair[2] if len(pair) > 2 else f"pair:{n}"  # type: ignore[misc]
        counts.setdefault(short, {}).setdefault(source, Counter())[long] += 1
    table = {}
    for short, by_source in counts.items():
        support: Counter[str] = Counter()
        documents: Counter[str] = Counter()
        for longs in by_source.values():
            total = sum(longs.values())
            for long, n in longs.items():
                support[long] += n / total
                documents[long] += n
        table[short] = max(support, key=lambda long: (round(support[long], 9), documents[long], long))
    return table


def expand(query: str, table: Mapping[str, str]) -> tuple[str, list[tuple[str, str]]]:
    """The query with the long form of each abbreviation it uses (as typed, case-sensitive, 3 characters or more)
    appended.

    Returns:
        ``(expanded query, [(short, long) added])``; e.g. ``("MetHb in pregnancy methemoglobin",
        [("MetHb", "methemoglobin")])``. A long form already in the query is not added again.
    """
    added: list[tuple[str, str]] = []
    lowered = query.lower()
    for word in dict.fromkeys(_WORD.findall(query)):
        # two-letter forms mean too many things ("type IE", "amyloidosis AA" met "infective endocarditis", "areata")
        long = table.get(word) if len(word) >= MIN_QUERY_SHORT else None
        if long and long not in lowered and all(long != a for _, a in added):
            added.append((word, long))
    if not added:
        return query, []
    return query + " " + " ".join(long for _, long in added), added
