"""Trainer: LLM-generated triplets, contrastive fine-tuning, LM-Cocktail merging (see issue 3)."""
