"""Hard-negative mining and ``medembed generate --from-qrels`` on a tiny BEIR folder and on NFCorpus train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from trainer_fixtures import DOCS, tiny_beir  # noqa: F401 - the fixture

from cli.main import cli
from trainer.data import Passage, read_beir, read_triplets
from trainer.mining import MiningConfig, NegativeMiner

POS = Passage("p1", "docA", "Liver enzymes should be measured before starting statin therapy and twelve weeks later.")
POOL = [
    POS,
    Passage("p2", "docA", "Statin therapy in this trial: liver enzymes were measured at twelve weeks."),  # same doc
    Passage("p3", "docB", "Liver enzymes should be measured before starting statin therapy and twelve weeks later!"),
    Passage("p4", "docC", "Statin liver enzymes statin liver enzymes measured statin therapy liver enzymes."),
    Passage("p5", "docD", "Muscle pain on statins is common; creatine kinase is checked if it is severe."),
    Passage("p6", "docE", "Liver biopsy remains the reference test for fatty liver disease staging."),
    Passage("p7", "docF", "Inhaled corticosteroids reduce asthma exacerbations in children."),
]
QUERY = "when to measure liver enzymes on statin therapy"


def test_bm25_negatives_skip_positive_its_document_duplicates_and_likely_false_negatives() -> None:
    miner = NegativeMiner(POOL, None, MiningConfig(method="bm25", num_negatives=5))
    [negatives] = miner.mine([QUERY], [POS])
    ids = [n.passage.id for n in negatives]
    # p1 positive, p2 same document, p3 near-duplicate, p4 scores above the positive (false-negative guard),
    # p7 shares no term with the query.
    assert ids == ["p6", "p5"] and all(n.method == "bm25" for n in negatives)


def test_a_passage_that_contains_the_positive_is_never_its_negative() -> None:
    # BioASQ keeps a snippet and its longer version as two passages; mining took the longer one as the negative.
    longer = Passage("p8", "docG", POS.text + " Patients with raised enzymes at baseline were excluded.")
    miner = NegativeMiner([*POOL, longer], None, MiningConfig(method="bm25", num_negatives=6, relative_margin=0.0))
    [negatives] = miner.mine([QUERY], [POS])
    assert negatives and "p8" not in [n.passage.id for n in negatives]


def test_excluded_ids_and_their_documents_are_never_negatives() -> None:
    miner = NegativeMiner(POOL, None, MiningConfig(method="bm25", num_negatives=5, relative_margin=0.0))
    [negatives] = miner.mine([QUERY], [POS], [{"p5"}])
    assert "p5" not in [n.passage.id for n in negatives]


def test_hybrid_mining_with_the_real_model(minilm) -> None:
    miner = NegativeMiner(POOL, minilm.model, MiningConfig(method="hybrid", num_negatives=3, relative_margin=0.05))
    [negatives] = miner.mine([QUERY], [POS])
    assert negatives and not {n.passage.id for n in negatives} & {"p1", "p2", "p3"}
    pos_score = float(minilm.encode_queries([QUERY])[0] @ minilm.encode_passages([POS.text])[0])
    assert all(n.score <= 0.95 * pos_score + 1e-5 for n in negatives)  # the guard uses the dense score here
    assert all(set(n.method.split("+")) <= {"bm25", "dense"} for n in negatives)


def test_from_qrels_cli_on_a_tiny_beir_folder(tiny_beir: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "qrels.jsonl.gz"
    args = ["-q", "generate", "--from-qrels", str(tiny_beir), "--split", "train", "--mine", "bm25", "-o", str(out),
            "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    triplets = read_triplets(out)
    assert summary["units"] == 32 and summary["triplets"] == len(triplets) >= 24
    assert summary["kept_queries"] + summary["dropped"].get("no_negative", 0) == 32
    docs = {d for d, _, _ in DOCS}
    for t in triplets:
        assert t.source == "qrels:tinymed/train" and t.kind == "qrels" and t.neg_source == "bm25"
        assert t.pos_id in docs and t.neg_id in docs and t.neg_id != t.pos_id
    again = CliRunner().invoke(cli, args)
    assert json.loads(again.output.strip().splitlines()[-1])["skipped_done"] == 32
    assert len(read_triplets(out)) == len(triplets)


def test_random_negatives_come_from_qrels_only(tiny_beir: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "r.jsonl"
    result = CliRunner().invoke(cli, ["-q", "generate", "--from-qrels", str(tiny_beir), "--mine", "random", "-o",
                                      str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert {t.neg_source for t in read_triplets(out)} == {"random"}
    llm = CliRunner().invoke(cli, ["-q", "generate", "--mine", "random", "-o", str(tmp_path / "llm.jsonl")])
    assert llm.exit_code == 2 and "random negatives are for --from-qrels" in llm.output


def test_from_qrels_on_nfcorpus_train_subset(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "nf.jsonl"
    result = CliRunner().invoke(cli, ["-q", "generate", "--from-qrels", str(shared_data / "nfcorpus"), "--split",
                                      "train", "--max-queries", "25", "--max-per-query", "2", "--mine", "bm25",
                                      "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = read_beir(shared_data / "nfcorpus", "train")
    triplets = read_triplets(out)
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["units"] == 25 and summary["triplets"] == len(triplets)
    assert len({t.query_id for t in triplets}) >= 8  # BM25's false-negative guard drops many NFCorpus queries
    for t in triplets:
        assert data.qrels[t.query_id].get(t.pos_id, 0) > 0 and t.neg_id not in data.qrels[t.query_id]
        assert t.query == data.queries[t.query_id] and t.pos == data.corpus[t.pos_id].indexed_text


def test_dense_mining_needs_a_model() -> None:
    with pytest.raises(ValueError, match="needs a model"):
        NegativeMiner(POOL, None, MiningConfig(method="dense"))
