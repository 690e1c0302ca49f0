"""Drug names in queries: the generic name of a brand (or other) name a query uses, added to what is searched.

People ask about Norvasc, Lasix and Tylenol; papers and drug labels say amlodipine, furosemide and acetaminophen, and
a small embedding model seldom knows that they are the same drug. The table (``drug_names.tsv.gz``, built by
``scripts/build_drug_names.py`` from DrugBank's open vocabulary and the names collected with it) maps each variant to
one generic name; a query naming a variant is searched with the generic name appended, by BM25, the dense model and
the reranker alike (``search.expand_drug_names``).
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from functools import cache
from pathlib import Path

from medcore.errors import MedEmbedError

TABLE = Path(__file__).with_name("drug_names.tsv.gz")
#: Longest variant looked up, in words ("neopap supprettes rectal suppository"); the build keeps no longer ones.
MAX_WORDS = 4
#: At most this many generic names are added to one query (a pasted list of brands stays a bounded query).
MAX_ADDED = 8
_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")
#: Greek letters spelled out, as names use them ("β-alanine" is "beta-alanine"): dropped, they would leave "alanine",
#: and "alanine aminotransferase" would read as a drug's name.
_GREEK = str.maketrans({"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "κ": "kappa",
                        "μ": "mu", "τ": "tau", "ψ": "psi", "ω": "omega"})


def words(text: str) -> list[str]:
    """Words as the table's variants are written: lower case, Greek letters spelled out, accents and a possessive
    "'s" dropped (``"Lévothyrox's dose"`` -> ``["levothyrox", "dose"]``)."""
    plain = unicodedata.normalize("NFKD", text.lower().translate(_GREEK))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return [w.removesuffix("'s").strip("'") for w in _WORD.findall(plain.replace("\u2019", "'"))]


@cache
def drug_table(path: Path = TABLE) -> dict[str, str]:
    """``{variant: generic}`` from the packaged table (read once). An empty generic marks a longer name that is not
    a drug's ("corticotropin releasing hormone"): it is read as a whole, so that a drug name inside it
    ("corticotropin") adds nothing."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows = (line.rstrip("\n").split("\t") for line in f if not line.startswith("#"))
            return {row[0]: row[1] for row in rows if len(row) == 2}
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # missing, truncated or not text
        raise MedEmbedError(f"The drug-name table {path} cannot be read ({exc}): reinstall MedEmbed, or search "
                            "without it (MEDEMBED_SEARCH_EXPAND_DRUG_NAMES=false).") from None


def expand(query: str, table: dict[str, str] | None = None) -> tuple[str, list[tuple[str, str]]]:
    """The query with the generic name of each drug it names by another name appended.

    Returns:
        ``(expanded query, [(name as found, generic) added])``; e.g. ``("what is in Norvasc? amlodipine",
        [("norvasc", "amlodipine")])``. The longest variant wins at each word ("tylenol pm" before "tylenol"); a
        name with a word after a hyphen is read as the name ("lasix-induced"); a generic name whose words are in
        the query already is not added.
    """
    table = drug_table() if table is None else table
    tokens = words(query)
    present = f" {' '.join(tokens)} "
    added: dict[str, str] = {}  # generic -> the name it was found under

    def add(name: str, generic: str) -> None:
        if generic and f" {' '.join(words(generic))} " not in present:
            added.setdefault(generic, name)

    i = 0
    while i < len(tokens) and len(added) < MAX_ADDED:
        for n in range(min(MAX_WORDS, len(tokens) - i), 0, -1):
            name = " ".join(tokens[i : i + n])
            if name in table:
                add(name, table[name])
                i += n
                break
        else:
            # "lasix-induced", "gnrh-receptor": the name before a hyphen, where a word follows it ("dnase-seq" is a
            # method, not the drug)
            head, _, rest = tokens[i].partition("-")
            if len(rest) >= 4 and rest.isalpha() and head in table:
                add(head, table[head])
            i += 1
    if not added:
        return query, []
    return query + " " + " ".join(added), [(name, generic) for generic, name in added.items()]
