"""Figures the reliability tests measure (files, kills, requests, peak memory), for RELIABILITY.md.

Each test calls :func:`record`; the figures are logged (``pytest -s`` or ``-o log_cli=true`` shows them) and
written to ``$MEDEMBED_FIGURES_DIR/<name>.json`` (default: ``<tmp>/medembed-figures``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger("medembed.figures")


def figures_dir() -> Path:
    return Path(os.environ.get("MEDEMBED_FIGURES_DIR", Path(tempfile.gettempdir()) / "medembed-figures"))


def record(name: str, figures: dict[str, Any]) -> Path:
    """Write ``figures`` as JSON under :func:`figures_dir` and print them (shown with ``pytest -s``)."""
    folder = figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    print(f"\nFIGURES {name}: {json.dumps(figures, default=str)}")  # noqa: T201 - the point of -s
    logger.info("%s: %s", name, figures)
    return path
