"""The search application: the searcher and fusion, metrics and the eval runner, answers, papers and citations,
the library (accept, delete, reindex), the watched inbox, and how hits are shown."""
