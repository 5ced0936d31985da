"""Shared Hypothesis strategies and helpers for the fuzz tests (tests/test_fuzz_*.py).

Budget: ``FASTMLP_FUZZ_EXAMPLES`` examples per test (and per ISA tier where the test takes
the ``isa`` fixture); default ``DEFAULT_EXAMPLES``, sized so that all fuzz tests together
take well under a minute on a loaded 2-core CI machine. Under ``CI`` the runs are
derandomized (the same examples every run, no example database); locally they are random
and ``FASTMLP_FUZZ_EXAMPLES=2000`` fuzzes for longer. ``FASTMLP_SANITIZER=1`` (set by
``.ci/sanitize_python``) skips only what AddressSanitizer itself cannot survive.

Every array argument is drawn as a *logical* float64 value array plus a *layout* (C order,
Fortran order, strided, negative strides, read-only, misaligned offset view of a byte
buffer, byte-swapped, broadcast with zero strides, np.matrix) and a *dtype* (every NumPy
dtype kind). The reference is always computed from the array actually passed, so layouts
that change values (broadcast) are fine.
"""
from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

DEFAULT_EXAMPLES = 12
EXAMPLES = int(os.environ.get("FASTMLP_FUZZ_EXAMPLES", str(DEFAULT_EXAMPLES)))
IN_CI = bool(os.environ.get("CI"))
UNDER_SANITIZER = os.environ.get("FASTMLP_SANITIZER", "") not in ("", "0")

def fuzz_settings(scale: float = 1.0, **kw):
    """Settings of one fuzz test: ``scale * FASTMLP_FUZZ_EXAMPLES`` examples, no deadline,
    derandomized under CI."""
    return settings(
        max_examples=max(1, int(EXAMPLES * scale)),
        deadline=None,
        derandomize=IN_CI,
        database=None if IN_CI else settings.default.database,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.filter_too_much, HealthCheck.data_too_large],
        print_blob=True,
        **kw,
    )


# --------------------------------------------------------------------------- dtypes

FLOAT_DTYPES = [np.dtype(t) for t in ("f2", "f4", "f8")] + (
    [np.dtype(np.longdouble)] if np.dtype(np.longdouble) != np.dtype("f8") else [])
INT_DTYPES = [np.dtype(t) for t in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8")]
OTHER_DTYPES = [np.dtype(t) for t in ("?", "c8", "c16", "O", "U3", "S3", "M8[s]", "m8[s]",
                                      "V4")]
ALL_DTYPES = FLOAT_DTYPES + INT_DTYPES + OTHER_DTYPES

# Mostly float32 (the fast path), often another float, sometimes anything at all.
any_dtype = st.one_of(
    st.just(np.dtype("f4")), st.sampled_from(FLOAT_DTYPES), st.sampled_from(ALL_DTYPES))
float_dtype = st.one_of(st.just(np.dtype("f4")), st.sampled_from(FLOAT_DTYPES))

LAYOUTS = ("c", "f", "strided", "negative", "readonly", "misaligned", "byteswapped",
           "broadcast", "matrix")
layouts = st.one_of(st.just("c"), st.sampled_from(LAYOUTS))

# Small dims, with 0 and 1 much more likely than uniform, plus the odd vector-width edge.
dims = st.one_of(st.sampled_from([0, 1, 1, 2]), st.integers(0, 40),
                 st.sampled_from([7, 8, 9, 15, 16, 17, 31, 33, 64, 65]))
pos_dims = st.one_of(st.sampled_from([1, 1, 2]), st.integers(1, 40),
                     st.sampled_from([7, 8, 9, 16, 17, 33, 65]))
seeds = st.integers(0, 2**32 - 1)
value_kinds = st.sampled_from(["normal", "normal", "normal", "specials", "big", "tiny",
                               "zeros", "ints"])

F32_MAX = float(np.finfo(np.float32).max)
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1.2e-38,
                     3.0e38, -3.0e38], np.float64)


def values(rng: np.random.Generator, shape, kind: str) -> np.ndarray:
    """float64 values of ``shape``; ``kind`` picks the distribution (NaN/inf with
    ``specials``)."""
    if kind == "zeros":
        return np.zeros(shape)
    if kind == "ints":
        return rng.integers(-3, 4, size=shape).astype(np.float64)
    v = rng.standard_normal(shape)
    if kind == "big":
        v *= 1e4
    elif kind == "tiny":
        v *= 1e-30
    elif kind == "specials" and v.size:
        mask = rng.random(shape) < 0.2
        v[mask] = rng.choice(SPECIALS, size=int(mask.sum()))
    return v


def _cast(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if dtype.kind in "fc":
            return v.astype(dtype)
        if dtype.kind in "iu":
            return np.nan_to_num(v, nan=0, posinf=1, neginf=-1).clip(-100, 100).astype(dtype)
        if dtype.kind == "b":
            return v > 0
        if dtype.kind == "O":
            return v.astype(object)
        if dtype.kind in "US":
            return v.astype(dtype)
        if dtype.kind in "mM":
            return np.nan_to_num(v, nan=0, posinf=0, neginf=0).astype(np.int64).astype(dtype)
        return np.zeros(v.shape, dtype)


def layout(a: np.ndarray, how: str) -> np.ndarray:
    """The same logical array (except ``broadcast``) in memory layout ``how``."""
    if how == "c" or a.ndim == 0:
        return np.ascontiguousarray(a) if a.ndim else a.copy()
    if how == "f":
        return np.asfortranarray(a)
    if how == "strided":
        buf = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype)
        v = buf[..., 1::2]
        v[...] = a
        return v
    if how == "negative":
        idx = (slice(None, None, -1),) * a.ndim
        return a[idx].copy()[idx]
    if how == "readonly":
        r = a.copy()
        r.flags.writeable = False
        return r
    if how == "misaligned":
        if a.dtype.hasobject or a.dtype.itemsize == 0:
            return a.copy()
        raw = np.zeros(a.nbytes + a.dtype.itemsize + 8, np.uint8)
        m = raw[1:1 + a.nbytes].view(a.dtype).reshape(a.shape)
        m[...] = a
        return m
    if how == "byteswapped":
        if a.dtype.hasobject or a.dtype.itemsize <= 1 or a.dtype.kind in "USV":
            return a.copy()
        return a.astype(a.dtype.newbyteorder())
    if how == "broadcast":
        if a.shape[0] == 0:
            return a.copy()
        return np.broadcast_to(a[:1], a.shape)
    if how == "matrix":
        if a.ndim != 2:
            return a.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return np.asmatrix(a)
    raise AssertionError(how)


@st.composite
def arrays(draw, shape, dtype=any_dtype, layout_s=layouts, kinds=value_kinds):
    """An array of ``shape`` (a tuple or a strategy), any dtype and layout."""
    if not isinstance(shape, tuple):
        shape = draw(shape)
    dt = draw(dtype) if not isinstance(dtype, np.dtype) else dtype
    how = draw(layout_s)
    rng = np.random.default_rng(draw(seeds))
    return layout(_cast(values(rng, shape, draw(kinds)), dt), how)


def is_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def as_f32(a) -> np.ndarray:
    """What the ops see after conversion: float32 values (float64 for the reference)."""
    with np.errstate(all="ignore"):
        return np.asarray(a, np.float32)


def f64(a) -> np.ndarray:
    return as_f32(a).astype(np.float64)


def finite(*arrs) -> bool:
    return all(bool(np.isfinite(np.asarray(a, np.float64)).all()) for a in arrs if a is not None)


def expect_error(exc: BaseException, *names: str, types=(TypeError, ValueError)) -> None:
    """``exc`` is one of ``types`` and its message names one of the arguments ``names``."""
    assert isinstance(exc, types), f"unexpected {type(exc).__name__}: {exc}"
    msg = str(exc)
    assert any(re.search(rf"['\"]?\b{re.escape(n)}\b['\"]?", msg) for n in names), (
        f"{type(exc).__name__} message names none of {names}: {msg}")


def check_close(actual, expected, tol, what="result", atol=1e-35, free=None):
    """Finite reference entries within ``tol + atol``; non-finite ones non-finite in
    ``actual`` too, NaN where the reference is NaN. ``atol`` covers subnormal results
    (underflow to 0, or flush-to-zero in a SIMD tier). Entries where ``free`` is true
    are not checked (e.g. an intermediate that may overflow float32)."""
    assert isinstance(actual, np.ndarray) and actual.dtype == np.float32, (
        f"{what}: {type(actual)} {getattr(actual, 'dtype', None)}")
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if actual.size == 0:
        return
    a = actual.astype(np.float64)
    fin = np.isfinite(expected)
    if free is not None:
        fin &= ~np.broadcast_to(free, expected.shape)
        if free.any():
            expected = np.where(free, 0.0, expected)
    # NaN in the reference (NaN input, inf - inf, 0 * inf) is NaN in float32 too; an
    # infinite reference may come out as NaN in float32 (an overflowed partial sum meeting
    # the infinity), but never finite.
    nf = ~np.isfinite(expected)
    nan_ref = np.isnan(expected)
    assert np.isnan(a[nan_ref]).all() and not np.isfinite(a[nf]).any(), (
        f"{what}: non-finite entries differ: got {a[nf][:8]}, expected {expected[nf][:8]}")
    tol = np.broadcast_to(np.asarray(tol, np.float64) + atol, expected.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        # where the bound comes near float32's range (tol ~ U * sum of |terms|), float32
        # partial sums may overflow legitimately (the float64 reference does not): any
        # result is accepted there
        bounded = (tol < 0.5 * F32_MAX * 2.0**-24) & (np.abs(expected) + tol < 0.5 * F32_MAX)
        bad = fin & bounded & ~(np.abs(a - expected) <= tol)
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} outside the bound; at "
                             f"{i}: got {a[i]!r}, expected {expected[i]!r}, tol {tol[i]:.3g}")


def skip_under_sanitizer(reason: str):
    return pytest.mark.skipif(UNDER_SANITIZER, reason=reason)
