"""What this CPU can do, for the choices that depend on it (bf16 training, encoder precision, benchmark records).

The machines here come as AMD EPYC (AVX-512 with BF16, no AMX) or as Intel Xeon whose virtual machine lists AMX in
``/proc/cpuinfo`` but traps on AMX tile instructions. So nothing here enables AMX: native bf16 means AVX512-BF16 or
AMX-BF16, which torch (oneDNN) and OpenVINO use only where the kernel lets the process use them.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux
        return ""


def cpu_flags() -> frozenset[str]:
    """The first processor's feature flags (empty where /proc/cpuinfo is absent)."""
    line = next((ln for ln in _cpuinfo().splitlines() if ln.startswith("flags")), "")
    return frozenset(line.split(":", 1)[1].split()) if ":" in line else frozenset()


def cpu_name() -> str:
    """``model name`` from /proc/cpuinfo (e.g. ``AMD EPYC``, ``Intel(R) Xeon(R) Processor``)."""
    line = next((ln for ln in _cpuinfo().splitlines() if ln.startswith("model name")), "")
    return line.split(":", 1)[1].strip() if ":" in line else platform.processor() or "unknown CPU"


def native_bf16() -> bool:
    """Whether the CPU computes bf16 natively; elsewhere bf16 is emulated and slower than fp32."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
