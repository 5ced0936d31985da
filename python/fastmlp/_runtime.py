"""CPU dispatch and thread control."""
from __future__ import annotations

import os
import operator

from . import _core

# Pick the ISA tier once at import: FASTMLP_ISA if set, else the highest the CPU supports.
# A bad FASTMLP_ISA fails the import with a message naming what the CPU supports.
try:
    _core.init_dispatch()
except ValueError as exc:
    raise ImportError(f"fastmlp: {exc}") from None


def cpu_info() -> dict:
    """Describe the CPU dispatch and threading state.

    Returns a dict with ``isa`` (the active tier), ``supported`` (tiers this CPU runs),
    ``compiled`` (tiers in this build), ``num_threads``, ``openmp`` (bool) and
    ``features`` (the detected CPU flags) and ``low_precision`` (what the int8 and bf16
    paths run on here, and which low-precision units the CPU has).
    """
    return {
        "isa": _core.get_isa(),
        "supported": list(_core.supported_isas()),
        "compiled": list(_core.compiled_isas()),
        "num_threads": _core.get_num_threads(),
        "openmp": bool(_core.have_openmp()),
        "features": dict(_core.cpu_features()),
        "env_isa": os.environ.get("FASTMLP_ISA"),
        "low_precision": _low_precision(_core.get_isa(), _core.cpu_features()),
    }


# What each tier's low-precision kernels run on (gemm_u8s8.cpp, gemm_bf16.cpp).
_INT8_PATHS = {"generic": "portable integer loops",
               "neon": "portable integer loops",
               "neon_dotprod": "NEON sdot (armv8.2 dotprod)",
               "avx2": "AVX2 vpmaddubsw + vpmaddwd (exact: 7-bit activations)",
               "avx_vnni": "AVX-VNNI vpdpbusd (256-bit)",
               "avx512": "AVX2 vpmaddubsw + vpmaddwd (exact: 7-bit activations)",
               "avx512_vnni": "AVX-512 VNNI vpdpbusd",
               "avx512_bf16": "AVX-512 VNNI vpdpbusd",
               "amx": "AMX tdpbusd tiles from 16 rows on, AVX-512 VNNI below"}
_BF16_FLOAT = "inputs rounded to bf16, float32 multiply-adds (the same numerics)"
_BF16_PATHS = {"avx512_bf16": "AVX512-BF16 vdpbf16ps", "amx": "AMX tdpbf16ps tiles"}
_LOW_PRECISION_FLAGS = ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8",
                        "amx_bf16", "asimd_dotprod")


def _low_precision(isa, features):
    """The int8 and bf16 paths of tier ``isa``, and the CPU's low-precision flags."""
    return {"int8": f"tier {isa}: {_INT8_PATHS.get(isa, 'portable integer loops')}",
            "bf16": f"tier {isa}: {_BF16_PATHS.get(isa, _BF16_FLOAT)}",
            "cpu_has": [f for f in _LOW_PRECISION_FLAGS if features.get(f)]}


def get_isa() -> str:
    """The kernel tier in use now, e.g. ``"avx512_bf16"`` (``cpu_info()["supported"]``
    lists the tiers this CPU runs)."""
    return str(_core.get_isa())


def set_isa(isa: str) -> None:
    """Run the kernels of tier ``isa`` from now on, for every model and op.

    Meant for benchmarks and for checking a result on a lower tier: the import already picks
    the fastest tier (or ``FASTMLP_ISA``). Quantized and packed weights stay valid; each tier
    reads them. A tier this CPU or build lacks raises ``ValueError`` and leaves the active
    tier as it was.
    """
    if not isinstance(isa, str):
        raise TypeError(f"isa: expected a tier name (str), one of "
                        f"{list(_core.supported_isas())}, got {type(isa).__name__} {isa!r}")
    _core.set_isa(isa)  # (its ValueErrors name the argument and the usable tiers)


def get_num_threads() -> int:
    """Number of threads the kernels may use (OpenMP's max threads)."""
    return int(_core.get_num_threads())


def set_num_threads(n: int) -> None:
    """Set the number of threads the kernels may use (>= 1)."""
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n: expected an int >= 1, got {type(n).__name__} {n!r}") from None
    if n < 1:
        raise ValueError(f"n: expected an int >= 1, got {n}")
    _core.set_num_threads(n)
