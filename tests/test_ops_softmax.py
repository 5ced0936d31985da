"""softmax / log_softmax (row-wise; 1-D is one row) on every tier: column counts around
the vector widths, 0 and 1000+, logits up to +-1e4 (never NaN), in-place use."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp.ops as ops

COLS = [0, 1, 2, 7, 15, 16, 17, 31, 32, 33, 100, 1000, 1037]
ROWS = [0, 1, 3, 8]
FUNCS = {"softmax": (ops.softmax, False), "log_softmax": (ops.log_softmax, True)}
SCALES = {"unit": 1.0, "wide": 30.0, "huge": 1e4}


def _logits(rng, shape, scale):
    x = rng.standard_normal(shape) * scale
    if scale >= 1e4 and x.size:
        # Mix in the classic traps: one dominant value and exact ties at +-1e4.
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size, size=max(1, flat.size // 7))] = 1e4
        flat[rng.integers(0, flat.size, size=max(1, flat.size // 7))] = -1e4
    return x.astype(np.float32)


@pytest.mark.parametrize("scale", list(SCALES), ids=list(SCALES))
@pytest.mark.parametrize("cols", COLS)
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("fname", list(FUNCS))
def test_softmax_2d(isa, ref, check, rng, fname, rows, cols, scale):
    fn, log = FUNCS[fname]
    x = _logits(rng, (rows, cols), SCALES[scale])
    x0 = x.copy()
    y = fn(x)
    expected = ref.softmax(x, log=log)
    check(y, expected, ref.softmax_tol(x, expected, log=log), f"{fname} {rows}x{cols} {scale}")
    np.testing.assert_array_equal(x, x0)
    assert not np.isnan(y).any()
    if not log and rows and cols:
        np.testing.assert_allclose(y.astype(np.float64).sum(axis=1), 1.0, atol=cols * 2e-7 + 1e-6)


@pytest.mark.parametrize("cols", [0, 1, 16, 17, 1001])
@pytest.mark.parametrize("fname", list(FUNCS))
def test_softmax_1d_is_one_row(isa, ref, check, rng, fname, cols):
    fn, log = FUNCS[fname]
    x = _logits(rng, (cols,), 5.0)
    y = fn(x)
    assert y.shape == (cols,)
    expected = ref.softmax(x[None, :], log=log)[0]
    check(y, expected, ref.softmax_tol(x[None, :], expected[None, :], log=log)[0], fname)
    np.testing.assert_array_equal(y, fn(x[None, :])[0])


@pytest.mark.parametrize("fname", list(FUNCS))
def test_softmax_out_and_in_place(isa, ref, check, rng, fname):
    fn, log = FUNCS[fname]
    x = _logits(rng, (9, 41), 10.0)
    expected = ref.softmax(x, log=log)
    tol = ref.softmax_tol(x, expected, log=log)
    out = np.full_like(x, np.nan)
    assert fn(x, out=out) is out
    check(out, expected, tol, f"{fname} out=")
    assert fn(x, out=x) is x
    check(x, expected, tol, f"{fname} in place")


@pytest.mark.parametrize("fname", list(FUNCS))
def test_softmax_extremes_never_nan(isa, fname):
    fn, log = FUNCS[fname]
    big = np.float32(3e38)
    x = np.array([
        [1e4, -1e4, 0.0, 1e4],
        [-1e4, -1e4, -1e4, -1e4],
        [1e4] * 4,
        [big, -big, 0.0, 1.0],
        [-big, -big, -big, -big],
        [0.0, 0.0, 0.0, 1e-45],
    ], np.float32)
    y = fn(x)
    assert not np.isnan(y).any(), y
    if not log:
        assert np.isfinite(y).all(), y
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(y[0], [0.5, 0.0, 0.0, 0.5], atol=1e-7)
        np.testing.assert_allclose(y[1], [0.25] * 4, rtol=1e-6)
    else:
        assert np.isfinite(y[:3]).all() and np.isfinite(y[5]).all()
        np.testing.assert_allclose(y[0, [0, 3]], np.log(0.5), rtol=1e-6)
        np.testing.assert_allclose(y[1], np.log(0.25), rtol=1e-6)
        assert y[0, 1] < -1.99e4


def test_softmax_shift_invariance(isa, rng):
    x = rng.standard_normal((5, 33)).astype(np.float32)
    np.testing.assert_allclose(ops.softmax(x + np.float32(1000)), ops.softmax(x),
                               rtol=3e-4, atol=1e-7)
