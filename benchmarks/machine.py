"""What a benchmark records about the machine: CPU, cores, memory, load and the other busy processes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

PACKAGES = ("torch", "sentence-transformers", "faiss-cpu", "bm25s", "numba", "numpy", "rank-bm25", "onnxruntime",
            "openvino")


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def busy_processes(seconds: float = 1.0, min_percent: float = 20.0) -> list[dict]:
    """Other processes using at least ``min_percent`` CPU over ``seconds``, busiest first."""
    import psutil

    procs = list(psutil.process_iter(["pid", "name", "cmdline"]))
    for proc in procs:
        try:
            proc.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(seconds)
    busy = []
    for proc in procs:
        try:
            cpu = proc.cpu_percent(None)
        except psutil.Error:
            continue
        if cpu >= min_percent and proc.pid != os.getpid():
            busy.append({"pid": proc.pid, "cpu_percent": cpu, "cmd": " ".join(proc.info["cmdline"] or [])[:160]})
    return sorted(busy, key=lambda b: -b["cpu_percent"])


def machine_info() -> dict:
    """CPU, cores, memory, load and the other busy processes: latency on a shared 2-core box depends on them."""
    import faiss
    import psutil
    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), [])
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return {"cpu_model": model, "nproc": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "amx"))),
            "uptime_at_start": uptime, "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "busy_processes_at_start": busy_processes(),
            "torch_threads": torch.get_num_threads(), "faiss_omp_threads": faiss.omp_get_max_threads(),
            "python": platform.python_version(), "versions": versions()}


def save_results(path: Path, results: dict) -> None:
    """Write a benchmark's results as indented JSON (its folder made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def offline_defaults() -> None:
    """No hub downloads and no tokenizer thread pools fighting the benchmark, unless the caller set otherwise."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
