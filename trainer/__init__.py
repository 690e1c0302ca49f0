"""Trainer: LLM-generated triplets, contrastive fine-tuning, LM-Cocktail merging.

Modules: ``data`` (passages, BEIR folders, triplet files), ``llm`` (prompt, reply parsing and validation; the
OpenAI-compatible client is :mod:`medcore.llm`), ``mining`` (hard negatives with BM25 and the dense model),
``generate`` (the two ways to write triplets), ``devset`` (held-out scoring), ``train`` and ``loop``
(SentenceTransformerTrainer or a plain torch loop), ``merge`` (weighted averages), ``card`` (model cards). Imports
go ``trainer -> medcore`` only; only the CLI's training commands (``cli/generate.py``, ``cli/train.py``,
``cli/rerank.py``, ``cli/adapt.py``) import this package, inside each command, and hand it store chunks as
:class:`medcore.types.Chunk` values.
"""
