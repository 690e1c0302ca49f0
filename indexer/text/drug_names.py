"""Drug names in queries: the generic name of a brand (or other) name a query uses, added to what is searched.

People ask about Norvasc, Lasix and Tylenol; papers and drug labels say amlodipine, furosemide and acetaminophen, and
a small embedding model seldom knows that they are the same drug. The table (``drug_names.tsv.gz``, 24,000 names,
built by ``scripts/build_drug_names.py`` from DrugBank's open vocabulary and the names collected with it) maps each
variant to one generic name; a query naming a variant is searched with the generic name appended, by BM25 and by
the dense model alike (``search.expand_drug_names``).
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from pathlib import Path

TABLE = Path(__file__).with_name("drug_names.tsv.gz")
#: Longest variant, in words, looked up ("neopap supprettes rectal suppository").
MAX_WORDS = 4
_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")


def words(text: str) -> list[str]:
    """Lower-cased words as the table's variants are written: ``"Prevnar-13?"`` -> ``["prevnar-13"]``."""
    return _WORD.findall(text.lower())


@cache
def drug_table(path: Path = TABLE) -> dict[str, str]:
    """``{variant: generic}`` from the packaged table (read once)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = (line.rstrip("\n").split("\t") for line in f if not line.startswith("#"))
        return {row[0]: row[1] for row in rows if len(row) == 2}


def expand(query: str, table: dict[str, str] | None = None) -> tuple[str, list[tuple[str, str]]]:
    """The query with the generic name of each drug it names by another name appended.

    Returns:
        ``(expanded query, [(name as found, generic) added])``; e.g. ``("what is in norvasc amlodipine",
        [("norvasc", "amlodipine")])``. The longest variant wins at each word ("tylenol pm" before "tylenol"); a
        generic name already in the query is not added.
    """
    table = drug_table() if table is None else table
    tokens, lowered = words(query), query.lower()
    added: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        for n in range(min(MAX_WORDS, len(tokens) - i), 0, -1):
            generic = table.get(" ".join(tokens[i : i + n]))
            if generic is not None:
                if generic not in lowered and all(generic != g for _, g in added):
                    added.append((" ".join(tokens[i : i + n]), generic))
                i += n
                break
        else:
            i += 1
    if not added:
        return query, []
    return query + " " + " ".join(generic for _, generic in added), added
