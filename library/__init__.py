"""The library's services, called by both the CLI and the UI: ingest, upload, delete, reindex and curate
(:mod:`.manage`), the watched inbox (:mod:`.watch`), the reading list and recent searches (:mod:`.reading_list`),
and adding an account (:mod:`.accounts`). Each action checks the user's role itself and writes the audit log."""
