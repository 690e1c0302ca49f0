"""Logging for the CLI: one tqdm-aware handler on the root logger, configured only here."""

from __future__ import annotations

import logging
import sys

from tqdm.auto import tqdm


class TqdmLoggingHandler(logging.Handler):
    """Writes log records through ``tqdm.write`` so progress bars stay intact; to stderr, like the bars, so that
    standard output carries only results (``--json``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def configure(verbose: int = 0, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = TqdmLoggingHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "urllib3", "sentence_transformers", "transformers", "bm25s", "faiss", "filelock"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
