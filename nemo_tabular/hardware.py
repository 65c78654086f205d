"""What this machine offers the samplers: native bfloat16 arithmetic and the cores this process may use.

The caps that emulate an older CPU on a newer one (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY) count as the
machine, so an AVX2-capped run on an AMX Xeon decides as an AVX2-only CPU would.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})  # /proc/cpuinfo flags of CPUs that compute in bfloat16


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU feature flags (Linux /proc/cpuinfo); empty where they cannot be read."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(flags: frozenset[str] | None = None, environ: dict | None = None) -> bool:
    """True where bfloat16 matrix products run natively (AMX or AVX512-BF16) and no ISA cap hides them."""
    environ = os.environ if environ is None else environ
    flags = cpu_flags() if flags is None else flags
    isa = environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    capped = isa != "ALL" and "BF16" not in isa and "AMX" not in isa
    aten = environ.get("ATEN_CPU_CAPABILITY", "").lower() in ("avx2", "default")
    return bool(flags & BF16_FLAGS) and not capped and not aten


def cpu_kind(flags: frozenset[str] | None = None, environ: dict | None = None) -> str:
    """The vector ISA that matmuls get here, as benchmark rows record it beside lscpu's model name (one name,
    such as "AMD EPYC", covers AVX2-only and AVX512-BF16 parts): amx, avx512_bf16, avx512 or avx2; an
    AVX2 cap (ONEDNN_MAX_CPU_ISA / ATEN_CPU_CAPABILITY) reads as avx2."""
    environ = os.environ if environ is None else environ
    flags = cpu_flags() if flags is None else flags
    capped = environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper().startswith("AVX2") or environ.get(
        "ATEN_CPU_CAPABILITY", ""
    ).lower() in ("avx2", "default")
    if capped or "avx512f" not in flags:
        return "avx2" if "avx2" in flags else "baseline"
    if native_bf16(flags, environ):
        return "amx" if "amx_bf16" in flags else "avx512_bf16"
    return "avx512"


def machine_name() -> str:
    """lscpu's model name with the ISA kind, e.g. "AMD EPYC (avx512_bf16)": what every benchmark row records."""
    import subprocess

    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")
    return f"{name} ({cpu_kind()})"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def sampling_dtype(precision: str, device: str) -> torch.dtype:
    """precision fp32 | bf16 | auto as a dtype: auto is bf16 on GPUs and on CPUs with native bf16, else fp32."""
    if precision == "auto":
        if str(device).startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if native_bf16() else torch.float32
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if precision not in dtypes:
        raise ValueError(f"precision={precision!r}: expected one of auto, bf16, fp32")
    return dtypes[precision]
