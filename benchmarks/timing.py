"""Timing helpers shared by the benchmark scripts: per-call milliseconds, percentiles, memory, thread counts."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def time_each(fn: Callable[[int], object], n: int, warmup: int) -> np.ndarray:
    """Milliseconds of ``fn(i)`` for ``i`` in ``range(n)``, one call at a time, after ``warmup`` untimed calls."""
    for i in range(min(warmup, n)):
        fn(i)
    out = np.empty(n)
    for i in range(n):
        start = time.perf_counter_ns()
        fn(i)
        out[i] = (time.perf_counter_ns() - start) / 1e6
    return out


def summary(ms: np.ndarray) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "mean_ms": round(float(ms.mean()), 3), "n": len(ms)}


def rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def get_threads() -> int:
    import torch

    return torch.get_num_threads()


def set_threads(n: int) -> None:
    """Intra-op threads of torch (query encoding) and OpenMP threads of FAISS."""
    import faiss
    import torch

    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)
