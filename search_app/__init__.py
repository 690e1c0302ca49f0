"""Search application: searcher, fusion, evaluation and the command-line interface."""
