"""A tiny BEIR folder for the trainer tests: 16 short clinical passages in 8 related pairs, 32 train queries
(two per passage) and 8 dev queries, written by the tests so they need nothing beside the repo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

#: (doc_id, title, text): pairs share a topic, so each passage has a close but wrong neighbour.
DOCS = [
    ("d01", "Metformin in kidney disease", "Metformin is contraindicated when eGFR falls below 30 mL/min because "
     "of the risk of lactic acidosis; the dose is halved between 30 and 45 mL/min."),
    ("d02", "Metformin and vitamin B12", "Long-term metformin use lowers vitamin B12 levels; yearly B12 "
     "measurement is advised in patients with neuropathy or anaemia."),
    ("d03", "Statins and the liver", "Liver enzymes should be measured before starting statin therapy and again "
     "twelve weeks later; mild rises do not require stopping the drug."),
    ("d04", "Statin muscle symptoms", "Muscle pain on statins is common but true myopathy is rare; creatine "
     "kinase is checked when pain is severe, and switching statin often helps."),
    ("d05", "Vitamin D and falls", "Daily vitamin D of 800 IU reduced falls in older adults with low serum "
     "25-hydroxyvitamin D over twelve months."),
    ("d06", "Vitamin D and fractures", "Annual high-dose vitamin D injections increased hip fractures in elderly "
     "women, so large yearly boluses are not recommended."),
    ("d07", "Insomnia therapy", "Cognitive behavioural therapy for insomnia improved sleep efficiency more than "
     "zolpidem at six months, using sleep restriction and stimulus control."),
    ("d08", "Hypnotics in older people", "Benzodiazepine hypnotics double the risk of falls and confusion in "
     "people over 65; tapering should be slow, over several weeks."),
    ("d09", "Warfarin interactions", "Antibiotics such as ciprofloxacin raise the INR in patients on warfarin; "
     "the INR should be checked within five days of starting them."),
    ("d10", "Warfarin and diet", "Large changes in green leafy vegetables alter warfarin response because of "
     "their vitamin K content; a steady intake is advised."),
    ("d11", "Asthma inhalers", "Inhaled corticosteroids reduce asthma exacerbations; a spacer improves lung "
     "deposition in children using metered-dose inhalers."),
    ("d12", "Asthma and exercise", "Exercise-induced bronchoconstriction is prevented by a short-acting beta "
     "agonist taken fifteen minutes before sport."),
    ("d13", "Hypertension in pregnancy", "Labetalol and nifedipine are first-line for high blood pressure in "
     "pregnancy; ACE inhibitors are avoided because they harm the fetus."),
    ("d14", "Salt and blood pressure", "Cutting dietary salt to under five grams a day lowers systolic blood "
     "pressure by about five mmHg in adults with hypertension."),
    ("d15", "Iron deficiency in pregnancy", "Oral iron on alternate days is absorbed better than daily doses and "
     "causes fewer gastrointestinal side effects in pregnant women."),
    ("d16", "Intravenous iron", "Intravenous iron corrects anaemia faster than oral iron before surgery; "
     "hypophosphataemia is a known side effect of ferric carboxymaltose."),
]

TRAIN_QUERIES = [
    ("t01a", "metformin dose in kidney failure", "d01"), ("t01b", "can diabetics with low eGFR use metformin", "d01"),
    ("t02a", "metformin vitamin b12 deficiency", "d02"), ("t02b", "does metformin cause low b12 levels?", "d02"),
    ("t03a", "statin liver function tests", "d03"), ("t03b", "when to check liver enzymes on statins", "d03"),
    ("t04a", "statin myalgia creatine kinase", "d04"), ("t04b", "what to do about muscle pain from statins", "d04"),
    ("t05a", "vitamin d falls elderly", "d05"), ("t05b", "does vitamin d prevent falls in old age?", "d05"),
    ("t06a", "vitamin d bolus hip fracture", "d06"), ("t06b", "are yearly vitamin d injections safe?", "d06"),
    ("t07a", "cbt insomnia versus zolpidem", "d07"), ("t07b", "is therapy better than sleeping pills?", "d07"),
    ("t08a", "benzodiazepines falls older adults", "d08"), ("t08b", "how to stop sleeping tablets safely", "d08"),
    ("t09a", "ciprofloxacin warfarin inr", "d09"), ("t09b", "do antibiotics affect warfarin?", "d09"),
    ("t10a", "warfarin vitamin k vegetables", "d10"), ("t10b", "can I eat spinach on warfarin?", "d10"),
    ("t11a", "inhaled corticosteroid spacer children", "d11"), ("t11b", "why use a spacer with an inhaler", "d11"),
    ("t12a", "exercise induced bronchoconstriction prevention", "d12"), ("t12b", "inhaler before sport?", "d12"),
    ("t13a", "antihypertensives safe in pregnancy", "d13"), ("t13b", "which blood pressure pills in pregnancy", "d13"),
    ("t14a", "salt reduction blood pressure", "d14"), ("t14b", "how much does less salt lower bp?", "d14"),
    ("t15a", "alternate day oral iron pregnancy", "d15"), ("t15b", "best way to take iron tablets pregnant", "d15"),
    ("t16a", "iv iron before surgery", "d16"), ("t16b", "side effects of ferric carboxymaltose", "d16"),
]

DEV_QUERIES = [
    ("v01", "lactic acidosis metformin renal impairment", "d01"), ("v04", "statin intolerance muscle", "d04"),
    ("v05", "cholecalciferol supplementation to prevent falls", "d05"), ("v08", "hypnotic tapering elderly", "d08"),
    ("v09", "inr rise after antibiotics", "d09"), ("v12", "sport asthma salbutamol", "d12"),
    ("v13", "labetalol nifedipine pregnancy", "d13"), ("v16", "intravenous iron anaemia surgery", "d16"),
]


def write_tiny_beir(folder: Path) -> Path:
    """Write corpus.jsonl, queries.jsonl and qrels/{train,dev}.tsv into ``folder``."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as fh:
        fh.writelines(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, t, x in DOCS)
    with open(folder / "queries.jsonl", "w") as fh:
        fh.writelines(json.dumps({"_id": q, "text": x}) + "\n" for q, x, _ in TRAIN_QUERIES + DEV_QUERIES)
    for split, rows in (("train", TRAIN_QUERIES), ("dev", DEV_QUERIES)):
        (folder / "qrels" / f"{split}.tsv").write_text(
            "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, _, d in rows))
    return folder


@pytest.fixture(scope="session")
def tiny_beir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_beir(tmp_path_factory.mktemp("tiny_beir") / "tinymed")


@pytest.fixture(scope="session")
def tiny_triplets(tiny_beir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Triplets from the tiny train split, negatives mined with BM25 (32 queries, one positive each)."""
    from trainer.data import read_beir
    from trainer.generate import triplets_from_qrels
    from trainer.mining import MiningConfig, NegativeMiner

    data = read_beir(tiny_beir, "train")
    miner = NegativeMiner(list(data.corpus.values()), None, MiningConfig(method="bm25"))
    out = tmp_path_factory.mktemp("triplets") / "tiny.jsonl"
    triplets_from_qrels(data, miner, out, show_progress_bar=False)
    return out


TINY_TRAINING = ("--batch-size", "4", "--max-seq-length", "32")


def train_cli(*args: str) -> tuple[int, str, dict]:
    """``medembed -q train --json`` at a tiny size: (exit code, output, the JSON result or {})."""
    from cli.main import cli

    result = CliRunner().invoke(cli, ["-q", "train", *TINY_TRAINING, "--json", *args])
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"')]
    return result.exit_code, result.output, (json.loads(lines[-1]) if lines else {})
