"""Whether a long loop shows a progress bar, decided in one place for every loop that takes
``show_progress_bar: bool | None``."""

from __future__ import annotations

import logging


def show_progress(show_progress_bar: bool | None, logger: logging.Logger, n_items: int | None = None,
                  more_than: int = 0) -> bool:
    """``show_progress_bar`` when given; else True when ``logger`` logs at INFO or DEBUG (``-q`` turns bars off with
    the log lines) and, when ``n_items`` is given, there are more than ``more_than`` items (a bar over a handful of
    items is only noise)."""
    if show_progress_bar is not None:
        return show_progress_bar
    return logger.getEffectiveLevel() <= logging.INFO and (n_items is None or n_items > more_than)
