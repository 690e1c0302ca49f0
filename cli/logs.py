"""Logging for the CLI: one handler on the root logger, configured only here, routed through ``tqdm.write`` while
a command runs so that log lines never break a progress bar. Both go to stderr, so standard output carries only
results (``--json``)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from tqdm.contrib.logging import logging_redirect_tqdm

NOISY = ("httpx", "urllib3", "sentence_transformers", "transformers", "bm25s", "faiss", "filelock", "alembic")


@contextlib.contextmanager
def configured(verbose: int = 0, quiet: bool = False) -> Iterator[None]:
    """Log at INFO (DEBUG with ``verbose``, WARNING with ``quiet``) to stderr, through tqdm, until the block ends."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    with logging_redirect_tqdm():
        yield
