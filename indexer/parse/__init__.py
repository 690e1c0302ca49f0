"""PDF, JATS and BEIR files into parsed documents (run in a killable child process)."""
