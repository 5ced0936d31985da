"""General matrix multiply on NumPy arrays."""
from __future__ import annotations

import numpy as np

from .. import _core
from . import _validate as _v
from ._bf16 import check_precision, round_bfloat16

_gemm_fast = _core.gemm_fast


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None,
         precision="float32"):
    """Matrix product ``alpha * op(a) @ op(b) + beta * out`` in float32.

    ``op(a)`` is ``a.T`` when ``trans_a`` is true, else ``a`` (likewise ``b``); the
    transposes are never materialised. With ``out=None`` a new ``(M, N)`` float32 array
    is returned; otherwise the result is written into ``out`` (a writable float32
    C-contiguous ``(M, N)`` array sharing no memory with ``a`` or ``b``) and ``out`` is
    returned. ``beta != 0`` needs ``out`` (it holds the C that is scaled and added); with
    ``beta == 0`` the old contents of ``out`` are never read (they may be NaN).

    Parameters
    ----------
    a, b : array_like, 2-D
        float32 C-contiguous arrays are used without copying; other float dtypes and
        layouts are converted.
    trans_a, trans_b : bool
        Use the transpose of ``a`` / ``b``.
    alpha, beta : float
        Scale factors.
    out : ndarray, optional
        Destination (and C input when ``beta != 0``).
    precision : {"float32", "bf16"}
        ``"bf16"`` rounds ``a`` and ``b`` to bfloat16 (nearest, ties to even) and
        accumulates in float32, as bf16 hardware does; ``out`` (C) stays float32. The
        ``avx512_bf16`` and ``amx`` tiers multiply with bf16 instructions (vdpbf16ps,
        AMX tiles; denormals count as zero there, as in the hardware) when
        ``alpha=1, beta=0``; other tiers and settings run at the float32 rate (the
        same numerics up to the order of the float32 sums).

    Returns
    -------
    ndarray of shape ``(M, N)``, float32.

    Examples
    --------
    >>> import numpy as np, fastmlp.ops as ops
    >>> a = np.ones((2, 3), np.float32); b = np.ones((3, 4), np.float32)
    >>> ops.gemm(a, b).shape
    (2, 4)
    """
    # Common case (float32 C-contiguous operands, bool flags, float scales) in one C++
    # call; None means "unusual input": convert and validate below.
    if precision == "float32":
        r = _gemm_fast(a, b, out, trans_a, trans_b, alpha, beta)
        if r is not None:
            return r
    fn = "gemm"
    bf16 = check_precision(fn, precision) == "bf16"
    if bf16:
        a = round_bfloat16(a)
        b = round_bfloat16(b)
    a = _v.as_f32(fn, "a", a)
    b = _v.as_f32(fn, "b", b)
    if a.ndim != 2:
        _v.check_ndim(fn, "a", a, "a 2-D matrix", False)
    if b.ndim != 2:
        _v.check_ndim(fn, "b", b, "a 2-D matrix", False)
    ta = bool(trans_a)
    tb = bool(trans_b)
    if ta:
        k, m = a.shape
    else:
        m, k = a.shape
    if tb:
        n, kb = b.shape
    else:
        kb, n = b.shape
    if k != kb:
        raise ValueError(
            f"gemm: inner dimensions differ: op(a) has shape {(m, k)} (a.shape={a.shape}, "
            f"trans_a={ta}) and op(b) has shape {(kb, n)} (b.shape={b.shape}, "
            f"trans_b={tb}); expected op(b) to have {k} rows. Check the transpose flags."
        )
    alpha = alpha if type(alpha) is float else _v.to_float(fn, "alpha", alpha)
    beta = beta if type(beta) is float else _v.to_float(fn, "beta", beta)
    if out is None:
        if beta != 0.0:
            raise ValueError(
                f"gemm: beta={beta!r} scales and adds the existing C, so it needs "
                f"out= (a float32 array of shape {(m, n)} holding C); received out=None. "
                f"Pass out=, or beta=0."
            )
        out = _v.alloc((m, n))
    else:
        _v.check_out(fn, out, (m, n), (("a", a), ("b", b)))
    if bf16 and alpha == 1.0 and beta == 0.0 and out.flags.c_contiguous and \
            _core.has_bf16_gemm():  # the tier's bf16 dot products (vdpbf16ps, AMX)
        _core.gemm_bf16(np.ascontiguousarray(a.T if ta else a),
                        np.ascontiguousarray(b.T if tb else b), out)
        return out
    _core.gemm(a, b, out, ta, tb, alpha, beta, None, 0, 0.0)
    return out
