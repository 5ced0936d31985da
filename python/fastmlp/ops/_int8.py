"""int8 building blocks: per-channel weight quantization, per-row activation quantization,
and the int8 GEMM (exact int32 sums; raw, or dequantized with bias and activation)."""
from __future__ import annotations

import numpy as np

from .. import _core
from . import _validate as _v

I8 = np.dtype(np.int8)
U8 = np.dtype(np.uint8)
INT8_MAX_K = int(_core.INT8_MAX_K)


def quantize_per_channel(w, axis=-1):
    """Symmetric int8 quantization of ``w`` per channel (Keras' abs-max scheme).

    For each index along ``axis`` (the output channel: the last axis of a Dense kernel
    ``[in, out]``), ``scale = max|w| / 127`` over the other axes (1 for an all-zero
    channel) and ``q = clip(rint(w / scale), -127, 127)``, so ``w ~ q * scale``.

    Returns
    -------
    (q, scale) : int8 array of ``w``'s shape, float32 array of ``w.shape[axis]`` values.

    Examples
    --------
    >>> import numpy as np, fastmlp.ops as ops
    >>> q, s = ops.quantize_per_channel(np.array([[0.5, -2.0], [1.0, 1.0]]))
    >>> q.tolist(), s.tolist()
    ([[64, -127], [127, 64]], [0.007874015718698502, 0.015748031437397003])
    """
    fn = "quantize_per_channel"
    w = _v.as_f32(fn, "w", w)
    if w.ndim < 1:
        raise ValueError(f"{fn}: argument 'w' must have at least one dimension; received "
                         f"{_v.describe(w)}.")
    ax = _axis(fn, axis, w.ndim)
    if not np.isfinite(w).all():
        raise ValueError(f"{fn}: argument 'w' holds NaN or inf; only finite weights can be "
                         "quantized.")
    others = tuple(i for i in range(w.ndim) if i != ax)
    amax = np.max(np.abs(w), axis=others) if others else np.abs(w)
    scale = np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32)
    shape = [1] * w.ndim
    shape[ax] = -1
    q = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(I8)
    return q, scale


def dequantize_per_channel(q, scale, axis=-1):
    """float32 ``q * scale`` with ``scale`` broadcast along ``axis`` (the inverse of
    ``quantize_per_channel`` up to its rounding)."""
    fn = "dequantize_per_channel"
    q = np.asarray(q)
    if q.dtype != I8:
        raise TypeError(f"{fn}: argument 'q' must be an int8 array; received "
                        f"{_v.describe(q)}.")
    ax = _axis(fn, axis, q.ndim)
    scale = _v.as_f32(fn, "scale", scale).reshape(-1)
    if scale.size != q.shape[ax]:
        raise ValueError(f"{fn}: argument 'scale' must hold {q.shape[ax]} values (q.shape"
                         f"[{axis}]); received {scale.size}.")
    shape = [1] * q.ndim
    shape[ax] = -1
    return q.astype(np.float32) * scale.reshape(shape)


def quantize_per_row(x, *, bits=8, scale=None, zero_point=None):
    """Asymmetric uint8 quantization of each row of ``x`` (the activations' scheme).

    Dynamic (``scale=None``): per row, with ``lo = min(0, min x)``, ``hi = max(0, max
    x)`` and ``qmax = 2**bits - 1``: ``scale = (hi - lo) / qmax`` (1 for an all-zero row;
    ``hi / qmax - lo / qmax`` where ``hi - lo`` overflows float32; never below the smallest
    normal float32, so ``1 / scale`` stays finite for subnormal ranges),
    ``zero_point = rint(-lo / scale)``. Static: the given ``scale`` (> 0) and
    ``zero_point`` (in [0, qmax]) for every row. Then ``q = clip(rint(x / scale) +
    zero_point, 0, qmax)`` (``x / scale`` computed as ``x * (1 / scale)``), so ``x ~ (q -
    zero_point) * scale``. A row holding NaN or inf gets codes 0 and a NaN scale.

    Returns
    -------
    (q, scale, zero_point) : uint8 ``x.shape``, float32 ``(rows,)``, int32 ``(rows,)``.
    """
    fn = "quantize_per_row"
    x = _v.as_f32(fn, "x", x)
    if x.ndim != 2:
        _v.check_ndim(fn, "x", x, "a 2-D matrix", False)
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"{fn}: argument 'bits' must be an int in [1, 8]; received "
                         f"{bits!r}.")
    qmax = 2 ** int(bits) - 1
    s, z = 0.0, 0
    if scale is not None or zero_point is not None:
        if scale is None or zero_point is None:
            raise ValueError(f"{fn}: pass both 'scale' and 'zero_point' (static), or "
                             "neither (dynamic, per row).")
        s = _v.to_float(fn, "scale", scale)
        if not (s > 0 and np.isfinite(s)):
            raise ValueError(f"{fn}: argument 'scale' must be finite and > 0; received "
                             f"{scale!r}.")
        z = _int_in(fn, "zero_point", zero_point, 0, qmax)
    m, k = x.shape
    q = np.empty((m, k), U8)
    sc = np.empty(m, np.float32)
    zp = np.empty(m, np.int32)
    _core.quantize_rows(x, q, sc, zp, qmax, s, z)
    return q, sc, zp


class PackedInt8:
    """An int8 matrix ``b`` ``[K, N]`` packed once for ``gemm_int8`` (``pack_int8(b)``):
    reuse it for every product with the same weights. Read-only."""

    __slots__ = ("shape", "_data")

    def __init__(self, b):
        fn = "pack_int8"
        b = np.asarray(b)
        if b.dtype != I8:
            raise TypeError(f"{fn}: argument 'b' must be an int8 array; received "
                            f"{_v.describe(b)}. Quantize float weights with "
                            "quantize_per_channel first.")
        if b.ndim != 2:
            _v.check_ndim(fn, "b", b, "a 2-D matrix", False)
        self.shape = tuple(int(n) for n in b.shape)
        self._data = _core.pack_s8(np.ascontiguousarray(b))
        self._data.flags.writeable = False

    def __repr__(self):
        return f"PackedInt8(shape={self.shape})"


def pack_int8(b) -> PackedInt8:
    """Pack an int8 ``[K, N]`` matrix for repeated ``gemm_int8`` calls."""
    return PackedInt8(b)


def gemm_int8(a, b, *, a_zero_point=None, a_scale=None, b_scale=None, bias=None,
              activation=None, alpha=None, out_scale=None, out_zero_point=0):
    """Integer matrix product ``(a - a_zero_point) @ b`` with exact int32 sums.

    ``a`` is ``[M, K]`` uint8 or int8 (int8 is handled as uint8 with 128 added to it and
    to its zero points), ``b`` ``[K, N]`` int8 or a ``PackedInt8``; ``a_zero_point`` a
    scalar or one int per row (default 0). Without scales the result is the int32
    ``[M, N]`` product. With ``a_scale`` (scalar or per row) and ``b_scale`` (scalar or
    per column) it is dequantized in the same pass into float32:
    ``activation(float(acc) * (a_scale[i] * b_scale[j]) + bias[j])``. With
    ``out_scale`` too it is requantized in that pass into uint8 codes for the next int8
    layer: ``clip(rint(v * (1 / out_scale)) + out_zero_point, 0, 255)`` of that float
    value ``v`` (ties to even; NaN gives 0), ``x ~ (code - out_zero_point) * out_scale``.
    K is at most ``INT8_MAX_K`` (65536), where int32 sums cannot overflow.

    Examples
    --------
    >>> import numpy as np, fastmlp.ops as ops
    >>> a = np.array([[1, 2, 3]], np.uint8); b = np.array([[1], [-1], [2]], np.int8)
    >>> ops.gemm_int8(a, b).tolist()
    [[5]]
    """
    fn = "gemm_int8"
    a = np.asarray(a) if not isinstance(a, np.ndarray) else a
    if a.dtype not in (U8, I8):
        raise TypeError(f"{fn}: argument 'a' must be a uint8 or int8 array; received "
                        f"{_v.describe(a)}. Quantize float inputs with quantize_per_row.")
    if a.ndim != 2:
        _v.check_ndim(fn, "a", a, "a 2-D matrix", False)
    packed = b if isinstance(b, PackedInt8) else PackedInt8(b)
    k, n = packed.shape
    m = a.shape[0]
    if a.shape[1] != k:
        raise ValueError(f"{fn}: inner dimensions differ: a has shape {a.shape} and b has "
                         f"shape {packed.shape}; expected b to have {a.shape[1]} rows.")
    if k > INT8_MAX_K:
        raise ValueError(f"{fn}: K = {k} exceeds {INT8_MAX_K}, beyond which int32 sums may "
                         "overflow; split K and add the int32 parts in int64.")
    signed = a.dtype == I8
    zero = _per_index(fn, "a_zero_point", a_zero_point, m, np.int32, 0)
    lo, hi = (-128, 127) if signed else (0, 255)
    if zero.size and (zero.min() < lo or zero.max() > hi):
        raise ValueError(f"{fn}: argument 'a_zero_point' must lie in [{lo}, {hi}] for "
                         f"{a.dtype} input; received values in [{zero.min()}, {zero.max()}].")
    if signed:
        a = (a.view(U8) ^ np.uint8(0x80)) if a.flags.c_contiguous else \
            (np.ascontiguousarray(a).view(U8) ^ np.uint8(0x80))
        zero = zero + np.int32(128)
    a = np.ascontiguousarray(a)
    full = bool(a.size) and int(a.max()) > 127
    if a_scale is None and b_scale is None:
        if bias is not None or activation is not None or out_scale is not None:
            raise ValueError(f"{fn}: bias, activation and out_scale apply to the "
                             "dequantized float output: pass a_scale and b_scale too.")
        out = np.empty((m, n), np.int32)
        _core.gemm_u8s8(a, packed._data, k, n, out, zero, None, None, None, 0, 0.0, full)
        return out
    if a_scale is None or b_scale is None:
        raise ValueError(f"{fn}: pass both a_scale and b_scale (float output) or neither "
                         "(int32 output).")
    sa = _per_index(fn, "a_scale", a_scale, m, np.float32, None)
    sb = _per_index(fn, "b_scale", b_scale, n, np.float32, None)
    if bias is not None:
        bias = _v.as_f32(fn, "bias", bias)
        if bias.shape != (n,):
            raise ValueError(f"{fn}: argument 'bias' must have shape ({n},); received "
                             f"{_v.describe(bias)}.")
    code = _v.act_code(fn, activation)
    act_alpha = _v.act_alpha(fn, _v.ACTIVATIONS[code], alpha)
    if out_scale is None:
        out = np.empty((m, n), np.float32)
        _core.gemm_u8s8(a, packed._data, k, n, out, zero, sa, sb, bias, code, act_alpha, full)
        return out
    if isinstance(out_scale, bool) or not isinstance(out_scale, (int, float, np.number)) or \
            not (np.isfinite(out_scale) and out_scale > 0):
        raise ValueError(f"{fn}: argument 'out_scale' must be a finite number > 0; "
                         f"received {out_scale!r}.")
    oz = _int_in(fn, "out_zero_point", out_zero_point, 0, 255)
    out = np.empty((m, n), np.uint8)
    _core.gemm_u8s8(a, packed._data, k, n, out, zero, sa, sb, bias, code, act_alpha, full,
                    float(out_scale), oz)
    return out


def _axis(fn, axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or \
            not -ndim <= axis < ndim:
        raise ValueError(f"{fn}: argument 'axis' must be an int in [{-ndim}, {ndim}); "
                         f"received {axis!r}.")
    return int(axis) % ndim


def _int_in(fn, name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise ValueError(f"{fn}: argument '{name}' must be an int in [{lo}, {hi}]; "
                         f"received {v!r}.")
    return int(v)


def _per_index(fn, name, v, n, dtype, default):
    """A scalar or a length-n vector as a C-contiguous ``dtype`` array of n values."""
    if v is None:
        return np.full(n, default, dtype)
    arr = np.asarray(v)
    if arr.dtype.kind not in "biuf" or arr.dtype.kind == "b":
        raise TypeError(f"{fn}: argument '{name}' must be numeric; received "
                        f"{_v.describe(v)}.")
    if arr.ndim == 0:
        arr = np.full(n, arr, dtype)
    elif arr.shape != (n,):
        raise ValueError(f"{fn}: argument '{name}' must be a scalar or have shape ({n},); "
                         f"received {_v.describe(arr)}.")
    if dtype == np.int32 and arr.dtype.kind == "f" and not np.array_equal(arr, np.rint(arr)):
        raise ValueError(f"{fn}: argument '{name}' must hold integers; received "
                         f"{_v.describe(arr)}.")
    if dtype == np.float32 and not np.isfinite(arr).all():
        raise ValueError(f"{fn}: argument '{name}' holds NaN or inf.")
    if dtype == np.int32 and (arr.size and (arr.min() < -2**31 or arr.max() > 2**31 - 1)):
        raise ValueError(f"{fn}: argument '{name}' does not fit int32.")
    return np.ascontiguousarray(arr, dtype=dtype)
