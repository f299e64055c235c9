"""Choice of the compiled kernels: the AVX2 + FMA build when the CPU has it, else the portable one.

Set the environment variable ``SQ_KERNELS`` to ``"portable"`` before the first import to force the
portable build (tests compare the two), or to ``"avx2"`` to require the AVX2 build.
"""

from __future__ import annotations

import os
from types import ModuleType

from . import _core as _portable


def _load() -> tuple[ModuleType, str]:
    requested = os.environ.get("SQ_KERNELS", "auto").lower()
    if requested not in ("auto", "portable", "avx2"):
        raise ValueError(f"SQ_KERNELS must be 'auto', 'portable' or 'avx2', got {requested!r}")
    if requested == "portable":
        return _portable, "portable"
    try:
        from . import _core_avx2 as accelerated
    except ImportError:
        accelerated = None
    if accelerated is not None and _portable.cpu_has_avx2_fma():
        return accelerated, "avx2"
    if requested == "avx2":
        raise ImportError(
            "SQ_KERNELS=avx2 but the AVX2 build is missing or this CPU lacks AVX2/FMA"
        )
    return _portable, "portable"


core, kernel_name = _load()
