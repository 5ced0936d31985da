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
    ``features`` (the detected CPU flags).
    """
    return {
        "isa": _core.get_isa(),
        "supported": list(_core.supported_isas()),
        "compiled": list(_core.compiled_isas()),
        "num_threads": _core.get_num_threads(),
        "openmp": bool(_core.have_openmp()),
        "features": dict(_core.cpu_features()),
        "env_isa": os.environ.get("FASTMLP_ISA"),
    }


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
