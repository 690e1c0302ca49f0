"""Trainer: LLM-generated triplets, contrastive fine-tuning, LM-Cocktail merging.

Modules: ``data`` (passages, BEIR folders, triplet files), ``llm`` (prompt, reply parsing and validation, the
OpenAI-compatible client), ``mining`` (hard negatives with BM25 and the dense model), ``generate`` (the two ways to
write triplets), ``devset`` (held-out scoring), ``train`` and ``loop`` (SentenceTransformerTrainer or a plain torch
loop), ``merge`` (weighted averages), ``card`` (model cards). Imports go ``trainer -> medcore`` only; the CLI
(``cli/train.py``) is the one place that imports this package, inside the ``generate``/``train``/``merge``
commands, and hands it store chunks as :class:`medcore.types.Chunk` values.
"""
