"""bfloat16 rounding: the bf16 precision of ``gemm`` and of ``Model.quantize("bf16")``."""
from __future__ import annotations

import numpy as np

from . import _validate as _v

PRECISIONS = ("float32", "bf16")
_ALIASES = {"float32": "float32", "fp32": "float32", "bf16": "bf16", "bfloat16": "bf16"}


def round_bfloat16(x):
    """float32 copy of ``x`` rounded to the nearest bfloat16 (ties to even; NaN stays a
    quiet NaN, overflow gives inf): the values a bf16 tensor holds, kept in float32."""
    x = np.array(_v.as_f32("round_bfloat16", "x", x), dtype=np.float32, copy=True)
    u = x.view(np.uint32)
    nan = np.isnan(x)
    u += np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))
    u &= np.uint32(0xFFFF0000)
    u[nan] = np.uint32(0x7FC00000)
    return x


def check_precision(fn: str, precision) -> str:
    """The canonical precision name ("float32" or "bf16") for ``precision``."""
    p = _ALIASES.get(precision) if isinstance(precision, str) else None
    if p is None:
        raise ValueError(f"{fn}: argument 'precision' must be one of 'float32', 'bf16' "
                         f"(or 'bfloat16'); received {_v.describe(precision)}.")
    return p
