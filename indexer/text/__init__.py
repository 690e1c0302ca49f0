"""Text of parsed documents: sentences, chunks, abbreviations, study design."""
