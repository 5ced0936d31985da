"""softmax_cross_entropy on every tier: value and gradient against float64, finite
differences, stability at +-1e4, label dtypes, empty batch."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp.ops as ops

SHAPES = [(1, 1), (1, 10), (3, 2), (5, 15), (8, 16), (7, 17), (64, 10), (33, 33), (4, 1000),
          (2, 1037), (300, 47)]


def _case(rng, n, c, scale):
    x = (rng.standard_normal((n, c)) * scale).astype(np.float32)
    labels = rng.integers(0, c, size=n)
    return x, labels


@pytest.mark.parametrize("scale", [1.0, 20.0, 1e4])
@pytest.mark.parametrize("n,c", SHAPES)
def test_sce_matches_reference(isa, ref, check, rng, n, c, scale):
    x, labels = _case(rng, n, c, scale)
    x0 = x.copy()
    loss, d = ops.softmax_cross_entropy(x, labels)
    assert isinstance(loss, float)
    eloss, ed, dtol, ltol = ref.sce(x, labels)
    assert abs(loss - eloss) <= ltol, (loss, eloss, ltol)
    check(d, ed, dtol, f"dlogits {n}x{c} scale {scale}")
    np.testing.assert_array_equal(x, x0)
    # Rows of the gradient sum to 0 (softmax sums to 1, one-hot to 1).
    np.testing.assert_allclose(d.astype(np.float64).sum(axis=1), 0.0, atol=(c + 4) * 1.2e-7 / n)


@pytest.mark.parametrize("n,c", [(1, 3), (4, 5), (6, 17)])
def test_sce_gradient_finite_differences(isa, ref, rng, n, c):
    x, labels = _case(rng, n, c, 2.0)
    x64 = ref.f64(x).copy()

    def loss():
        lp = ref.softmax(x64, log=True)
        return -lp[np.arange(n), labels].mean()

    h = 1e-6
    fd = np.empty_like(x64)
    for i in np.ndindex(x64.shape):
        old = x64[i]
        x64[i] = old + h
        fp = loss()
        x64[i] = old - h
        fm = loss()
        x64[i] = old
        fd[i] = (fp - fm) / (2 * h)
    val, d = ops.softmax_cross_entropy(x, labels)
    np.testing.assert_allclose(d, fd, rtol=1e-4, atol=1e-6)
    assert val == pytest.approx(loss(), rel=1e-6)


def test_sce_stable_for_huge_logits(isa):
    x = np.array([
        [1e4, -1e4, 0.0],
        [1e4, -1e4, 0.0],
        [-1e4, -1e4, -1e4],
        [1e4, 1e4, -1e4],
        [3e38, -3e38, 0.0],
    ], np.float32)
    labels = np.array([0, 1, 2, 1, 0])
    loss, d = ops.softmax_cross_entropy(x, labels)
    assert np.isfinite(loss)
    assert np.isfinite(d).all()
    rows = np.array([0.0, 2e4, np.log(3.0), np.log(2.0), 0.0])
    assert loss == pytest.approx(rows.mean(), rel=1e-5)
    n = 5
    np.testing.assert_allclose(d[0], [0, 0, 0], atol=1e-7)
    np.testing.assert_allclose(d[1], np.array([1, -1, 0]) / n, atol=1e-7)
    np.testing.assert_allclose(d[2], np.array([1, 1, -2]) / 3 / n, atol=1e-7)
    np.testing.assert_allclose(d[3], np.array([0.5, -0.5, 0]) / n, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64])
def test_sce_label_dtypes(ref, rng, dtype):
    x, labels = _case(rng, 9, 7, 1.0)
    base_loss, base_d = ops.softmax_cross_entropy(x, labels.astype(np.int32))
    loss, d = ops.softmax_cross_entropy(x, labels.astype(dtype))
    assert loss == base_loss
    np.testing.assert_array_equal(d, base_d)
    # Python lists and non-contiguous label arrays work too.
    loss2, d2 = ops.softmax_cross_entropy(x, labels.tolist())
    assert loss2 == base_loss
    wide = np.repeat(labels.astype(dtype), 2)[::2]
    loss3, _ = ops.softmax_cross_entropy(x, wide)
    assert loss3 == base_loss


def test_sce_empty_batch(isa):
    loss, d = ops.softmax_cross_entropy(np.zeros((0, 5), np.float32), np.zeros(0, np.int64))
    assert np.isnan(loss)
    assert d.shape == (0, 5) and d.dtype == np.float32


def test_sce_float64_logits_converted(ref, rng):
    x, labels = _case(rng, 6, 4, 3.0)
    loss, d = ops.softmax_cross_entropy(x.astype(np.float64), labels)
    loss32, d32 = ops.softmax_cross_entropy(x, labels)
    assert loss == loss32
    np.testing.assert_array_equal(d, d32)
