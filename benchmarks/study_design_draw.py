"""Redraw the abstracts of ``tests/data/study_designs/labels.jsonl`` (their ids; the labels were written by hand).

    python -m benchmarks.study_design_draw [--data ../shared/data]   # prints one id per line, in drawing order

The draws of ``tests/data/study_designs/RULES.md``, in order: 130 NFCorpus and 130 PubMedQA abstracts at random
(seed 25), rare-class fills among the abstracts not yet drawn whose text matches a candidate pattern (seeds 2525 and
7), a second random draw of 45 + 45 (seed 2026), then the third and fourth draws (all dev), then the fresh test
draw (seed 2030, the ``test`` split of revision 7, ``dev`` since), then a second fresh test draw (seed 2031, the
``test`` split since revision 8). The 17 papers of ``pdfs/`` are added as they are.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_FILLS = [  # (name, pattern over title + text, how many) in the order they were drawn, seed 2525
    ("guideline", r"guideline|recommendations|consensus|position (statement|paper)|task force|advisory", 16),
    ("case", r"year-old|we (report|describe|present) (a|an|the|two|three)|case (report|series)|a case of|this case",
     18),
    ("sr", r"systematic|meta-analy|searched|cochrane|medline|embase", 12),
    ("animal", r"\b(rats?|mice|mouse|murine|rabbits?|dogs?|pigs?|piglets|sheep|zebrafish|cell lines?|in vitro"
               r"|cultured|hamsters?|monkeys?|xenograft)\b", 28),
    ("cs", r"survey|questionnaire|prevalence|cross-sectional", 6),
]
_GUIDELINE_TITLE = (r"guideline|position (statement|paper|of the)|consensus statement|scientific statement"
                    r"|recommendations? (for|of|from)|practice parameter|advisory|expert panel|committee")
_GUIDELINE_TEXT = (r"(panel|committee|task force|working group|society|association)\b.{0,80}\b(recommend|guidance"
                   r"|statement)")
_FILLS_3 = [  # third draw (seed 2028): (name, pattern over title + text, how many)
    ("other", r"sensitivity and specificity|cost-effective|validat|reliability|concentrations? (?:of \w+ )?in "
              r"(?:\w+ )?(?:foods?|samples|products)|simulation|content of|qualitative", 30),
    ("cs", r"survey|questionnaire|prevalence|cross-sectional", 15),
    ("case", r"retrospective(?:ly)? review|we reviewed|records of (?:all )?\d+|consecutive", 15),
]
#: Drawn but not labelled (RULES.md): two near-duplicate FAO/WHO reports and a cosmetic ingredient assessment; in the
#: fourth draw, an abstract whose text is already labelled under another id (MED-1874).
SKIPPED = {"nfcorpus:MED-4869", "nfcorpus:MED-3497", "nfcorpus:MED-957", "nfcorpus:MED-2432"}
_ANIMAL_2 = (r"\b(rats?|mice|mouse|murine|rabbits?|dogs?|piglets|sheep|zebrafish|cell lines?|in vitro|cultured"
             r"|hamsters?|monkeys?|xenograft)\b")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def pools(data: Path) -> tuple[list[dict], list[dict]]:
    """NFCorpus abstracts over 300 characters, and PubMedQA abstracts titled by their question."""
    nf = [{"id": f"nfcorpus:{d['_id']}", "title": d["title"], "text": d["text"]}
          for d in _lines(data / "nfcorpus" / "corpus.jsonl") if len(d["text"]) > 300]
    pq_dir = data / "train" / "pubmedqa-pqal"
    questions = {q["_id"]: q["text"] for q in _lines(pq_dir / "queries.jsonl")}
    title = {}
    for qrels in sorted((pq_dir / "qrels").glob("*.tsv")):
        for line in qrels.read_text(encoding="utf-8").splitlines()[1:]:
            query, doc, _ = line.split("\t")
            title[doc] = questions[query]
    pq = [{"id": f"pubmedqa-pqal:{d['_id']}", "title": title.get(d["_id"], ""), "text": d["text"]}
          for d in _lines(pq_dir / "corpus.jsonl")]
    return nf, pq


def draw(data: Path) -> list[str]:
    nf, pq = pools(data)
    rng = random.Random(25)
    ids = [d["id"] for d in rng.sample(nf, 130)] + [d["id"] for d in rng.sample(pq, 130)]
    rest = [d for d in nf + pq if d["id"] not in set(ids)]
    rng, taken = random.Random(2525), set()
    for _, pattern, n in _FILLS:
        found = [d for d in rest if d["id"] not in taken and re.search(pattern, d["title"] + " " + d["text"], re.I)]
        picked = [d["id"] for d in rng.sample(found, n)]
        taken.update(picked)
        ids += picked
    rest = [d for d in rest if d["id"] not in taken]
    guides = [d for d in rest if re.search(_GUIDELINE_TITLE, d["title"], re.I)
              or re.search(_GUIDELINE_TEXT, d["text"], re.I)]
    animals = [d for d in rest if re.search(_ANIMAL_2, d["title"] + " " + d["text"][:400], re.I) and d not in guides]
    rng = random.Random(7)
    ids += [d["id"] for d in rng.sample(guides, min(22, len(guides)))] + [d["id"] for d in rng.sample(animals, 14)]
    ids += [f"pdf:{p.stem}" for p in sorted((data / "pdfs").glob("PMC*.xml"))]
    drawn = set(ids) - SKIPPED  # the second draw left out what was labelled so far
    rng = random.Random(2026)
    ids += [d["id"] for d in rng.sample([d for d in nf if d["id"] not in drawn], 45)]
    ids += [d["id"] for d in rng.sample([d for d in pq if d["id"] not in drawn], 45)]
    ids += third_draw(nf, pq, set(ids))
    ids += fourth_draw(nf, pq, set(ids))
    ids += test_draw(nf, pq, set(ids))
    ids += fresh_test_draw(nf, pq, set(ids))
    return [i for i in ids if i not in SKIPPED]


def third_draw(nf: list[dict], pq: list[dict], drawn: set[str]) -> list[str]:
    """120 NFCorpus and 80 PubMedQA abstracts at random (seed 2028), then fills for the classes the test split showed
    weakest (other, cross-sectional, case series), all among abstracts not drawn before; all go to ``dev``."""
    return _random_then_fills(nf, pq, drawn, seed=2028, n_nf=120, n_pq=80, fills=_FILLS_3)


def _random_then_fills(nf: list[dict], pq: list[dict], drawn: set[str], seed: int, n_nf: int, n_pq: int,
                       fills: list[tuple[str, str, int]]) -> list[str]:
    """``n_nf`` NFCorpus and ``n_pq`` PubMedQA abstracts not drawn before, at random, then ``n`` more matching each
    fill's pattern (in this order of random draws, which the committed labels depend on)."""
    rng = random.Random(seed)
    ids = [d["id"] for d in rng.sample([d for d in nf if d["id"] not in drawn], n_nf)]
    ids += [d["id"] for d in rng.sample([d for d in pq if d["id"] not in drawn], n_pq)]
    for _, pattern, n in fills:
        taken = drawn | set(ids)
        found = [d for d in nf + pq if d["id"] not in taken and re.search(pattern, d["title"] + " " + d["text"], re.I)]
        ids += [d["id"] for d in rng.sample(found, n)]
    return ids


_FILLS_4 = [  # fourth draw (seed 2029): (name, pattern over title + text, how many)
    ("other", r"diagnostic accuracy|sensitivity and specificity|cost-effective|pilot|feasibility|before and after"
              r"|pre- and post|uncontrolled|open-label|single-arm|focus groups?|interviews|reproducib"
              r"|agreement between|model(?:l)?ing|simulat|contents? of|concentrations? of", 25),
    ("cs", r"survey|questionnaire|prevalence|cross-sectional|NHANES|national health", 20),
]


def fourth_draw(nf: list[dict], pq: list[dict], drawn: set[str]) -> list[str]:
    """80 NFCorpus and 60 PubMedQA abstracts at random (seed 2029), then fills for "other" and cross-sectional, the
    classes the dev errors are in, all among abstracts not drawn before; all go to ``dev``."""
    return _random_then_fills(nf, pq, drawn, seed=2029, n_nf=80, n_pq=60, fills=_FILLS_4)


def test_draw(nf: list[dict], pq: list[dict], drawn: set[str]) -> list[str]:
    """The test split of revision 7 (``dev`` since revision 8): 140 NFCorpus and 100 PubMedQA abstracts not drawn
    before, at random (seed 2030), no fills, so that its accuracy estimates the classifier's on the pool the
    classifier was built from."""
    return _random_then_fills(nf, pq, drawn, seed=2030, n_nf=140, n_pq=100, fills=[])


def fresh_test_draw(nf: list[dict], pq: list[dict], drawn: set[str]) -> list[str]:
    """The test split since revision 8: 140 NFCorpus and 100 PubMedQA abstracts not drawn before, at random (seed
    2031), no fills, drawn as draw 7 was, once draw 7 had been scored for two revisions and joined ``dev``."""
    return _random_then_fills(nf, pq, drawn, seed=2031, n_nf=140, n_pq=100, fills=[])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    for item in draw(parser.parse_args().data):
        print(item)


if __name__ == "__main__":
    main()
