"""Accuracy and stability of the elementwise / softmax / optimizer kernels, per ISA tier.

These call the raw ``fastmlp._core`` entry points (float32 C-contiguous arrays) on every
tier the CPU supports (the ``isa`` fixture in conftest.py) and measure errors in ulps of
the float64 reference rounded to float32, so a regression in the vectorized math
(exp / sigmoid / tanh polynomials, range reduction, tails, denormals, saturation) shows
up as a number, not as a vague tolerance failure. Every output is poisoned with NaN first.

Bounds: measured on Zen 4 (all tiers) sigmoid <= 2.6 ulp, tanh <= 2.6 ulp (<= 1.7 ulp for
|x| < 1e-3); asserted with a little margin.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastmlp
from fastmlp import _core

LINEAR, RELU, LEAKY, SIGMOID, TANH = 0, 1, 2, 3, 4
SIGMOID_MAX_ULP = 3.0
TANH_MAX_ULP = 3.0
F32_MAX = float(np.finfo(np.float32).max)
TINY = float(np.finfo(np.float32).tiny)           # smallest normal
DENORM = float(np.finfo(np.float32).smallest_subnormal)

# Lengths around every tier's vector width (4, 8, 16) and the 2x unrolled bodies.
LENGTHS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 257, 1000]
COLS = [1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257]


# ----------------------------------------------------------------------------- helpers

def ulp_error(y, ref):
    """|y - ref| in units of the float32 spacing at ref (denormal spacing below TINY)."""
    ref = np.asarray(ref, np.float64)
    sp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return np.abs(np.asarray(y, np.float64) - ref) / sp


def sigmoid64(x):
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def poisoned(shape):
    return np.full(shape, np.nan, np.float32)


def act_fwd(x, act, alpha=0.01):
    x = np.ascontiguousarray(x, np.float32)
    y = poisoned(x.shape)
    _core.act_forward(x, y, act, alpha)
    return y


def float_sweep(stride=4099, lo=None, hi=None):
    """Every `stride`-th float32 bit pattern (both signs), finite only, optionally in [lo, hi]."""
    bits = np.arange(0, 2**32, stride, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    if lo is not None:
        x = x[(x >= lo) & (x <= hi)]
    return x


def special_values():
    v = [0.0, -0.0, DENORM, -DENORM, TINY, -TINY, 1e-30, -1e-30, 1e-7, -1e-7, 0.5, -0.5,
         0.625, -0.625, np.nextafter(np.float32(0.625), np.float32(0)), 1.0, -1.0, 9.0, -9.0,
         10.0, -10.0, 20.0, -20.0, 44.0, -44.0, 88.0, -88.0, 88.7, -88.7, 89.0, -89.0,
         103.9, -103.9, 104.5, -104.5, 1e4, -1e4, 1e30, -1e30, F32_MAX, -F32_MAX,
         np.inf, -np.inf]
    return np.array(v, np.float32)


# ----------------------------------------------------------------------- activations

def test_sigmoid_ulp_sweep(isa):
    x = np.concatenate([float_sweep(), np.linspace(-30, 30, 200_001, dtype=np.float32),
                        special_values()])
    y = act_fwd(x, SIGMOID)
    assert not np.isnan(y).any()
    err = ulp_error(y, sigmoid64(x))
    worst = int(np.argmax(err))
    assert err[worst] <= SIGMOID_MAX_ULP, (isa, float(x[worst]), float(y[worst]), err[worst])
    # Exact limits, monotone range [0, 1].
    assert ((y >= 0) & (y <= 1)).all()
    lim = act_fwd(np.array([-np.inf, -1e4, -200, 1e4, np.inf, 0.0], np.float32), SIGMOID)
    assert lim.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 0.5]


def test_tanh_ulp_sweep(isa):
    x = np.concatenate([float_sweep(), np.linspace(-12, 12, 200_001, dtype=np.float32),
                        special_values()])
    y = act_fwd(x, TANH)
    assert not np.isnan(y).any()
    err = ulp_error(y, np.tanh(x.astype(np.float64)))
    worst = int(np.argmax(err))
    assert err[worst] <= TANH_MAX_ULP, (isa, float(x[worst]), float(y[worst]), err[worst])
    assert (np.abs(y) <= 1).all()


def test_tanh_tiny_and_saturation(isa):
    # Tiny |x|: tanh(x) == x to float precision (a 1 - 2/(e^2x + 1) formula returns 0 or
    # garbage here). Includes denormals and signed zeros.
    tiny = np.geomspace(DENORM, 1e-3, 5000).astype(np.float32)
    x = np.concatenate([tiny, -tiny])
    y = act_fwd(x, TANH)
    assert ulp_error(y, np.tanh(x.astype(np.float64))).max() <= 2.0
    # Far below float's epsilon tanh(x) comes out as x itself.
    small = np.abs(x) < 2.0 ** -26
    np.testing.assert_array_equal(y[small], x[small])
    z = act_fwd(np.array([0.0, -0.0], np.float32), TANH)
    assert z[0] == 0 and not np.signbit(z[0]) and z[1] == 0 and np.signbit(z[1])
    big = np.array([9.5, 10.0, 20.0, 100.0, 1e4, 1e30, F32_MAX, np.inf], np.float32)
    assert (act_fwd(big, TANH) == 1.0).all()
    assert (act_fwd(-big, TANH) == -1.0).all()


def test_sigmoid_tiny_outputs_relative(isa):
    # Deep negative inputs: sigmoid(x) ~ exp(x) down into the denormal range, still
    # accurate relative to the value (no flush to zero before ~-103.9).
    x = np.linspace(-103, -80, 10_001, dtype=np.float32)
    y = act_fwd(x, SIGMOID)
    ref = sigmoid64(x)
    normal = ref >= TINY
    assert ulp_error(y[normal], ref[normal]).max() <= SIGMOID_MAX_ULP
    # Denormal results: within a couple of denormal steps.
    assert (np.abs(y[~normal] - ref[~normal]) <= 2 * DENORM).all()


def test_nan_propagates(isa):
    x = np.array([np.nan, 1.0, np.nan, -1.0] * 5, np.float32)  # 20: body + tail
    for act in (RELU, LEAKY, SIGMOID, TANH, LINEAR):
        y = act_fwd(x, act)
        assert np.isnan(y[::2]).all(), act
        assert not np.isnan(y[1::2]).any(), act


@pytest.mark.parametrize("n", LENGTHS)
def test_act_forward_lengths(isa, rng, n):
    """Every length around the vector widths: body, tail, and nothing past n written."""
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    x64 = x.astype(np.float64)
    for act, ref, max_ulp in [
        (LINEAR, x64, 0), (RELU, np.maximum(x64, 0), 0),
        (LEAKY, np.where(x64 > 0, x64, np.float32(0.2) * x64), 0.5),
        (SIGMOID, sigmoid64(x64), SIGMOID_MAX_ULP), (TANH, np.tanh(x64), TANH_MAX_ULP),
    ]:
        buf = np.full(n + 17, 12345.0, np.float32)
        _core.act_forward(x, buf[:n], act, 0.2)
        assert (buf[n:] == 12345.0).all(), f"act {act} wrote past the end"
        assert ulp_error(buf[:n], ref).max() <= max_ulp, act
        # In place (y is x).
        z = x.copy()
        _core.act_forward(z, z, act, 0.2)
        np.testing.assert_array_equal(z, buf[:n])


@pytest.mark.parametrize("n", [1, 7, 16, 17, 33, 1000])
def test_act_backward(isa, rng, n):
    dy = rng.standard_normal(n).astype(np.float32)
    z = (rng.standard_normal(n) * 3).astype(np.float32)
    U = 2.0 ** -24
    for act, alpha in [(LINEAR, 0.0), (RELU, 0.0), (LEAKY, 0.1), (SIGMOID, 0.0), (TANH, 0.0)]:
        y = act_fwd(z, act, alpha)
        y64, dy64 = y.astype(np.float64), dy.astype(np.float64)
        deriv = {LINEAR: np.ones_like(y64), RELU: (y64 > 0) * 1.0,
                 LEAKY: np.where(y64 > 0, 1.0, np.float32(alpha)),
                 SIGMOID: y64 * (1 - y64), TANH: 1 - y64 * y64}[act]
        ref = dy64 * deriv
        dx = poisoned(n)
        _core.act_backward(y, dy, dx, act, alpha)
        tol = 3 * U * np.abs(ref) + (0 if act in (LINEAR, RELU) else 1e-45)
        assert (np.abs(dx - ref) <= tol).all(), act
        # dx may equal dy.
        g = dy.copy()
        _core.act_backward(y, g, g, act, alpha)
        np.testing.assert_array_equal(g, dx)


def test_tiers_agree_closely(rng):
    """Different tiers may round differently (FMA or not) but stay within a few ulp."""
    x = (rng.standard_normal(4099) * 6).astype(np.float32)
    before = _core.get_isa()
    try:
        outs = {}
        for t in _core.supported_isas():
            if t not in _core.compiled_isas():
                continue
            _core.set_isa(t)
            outs[t] = (act_fwd(x, SIGMOID), act_fwd(x, TANH))
    finally:
        _core.set_isa(before)
    base = next(iter(outs.values()))
    for t, (s, th) in outs.items():
        assert ulp_error(s, base[0].astype(np.float64)).max() <= 4, t
        assert ulp_error(th, base[1].astype(np.float64)).max() <= 4, t


# --------------------------------------------------------------------------- softmax

def softmax64(x, log=False):
    x = np.asarray(x, np.float64)
    m = x.max(axis=1, keepdims=True)
    s = np.exp(x - m).sum(axis=1, keepdims=True)
    return x - m - np.log(s) if log else np.exp(x - m) / s


@pytest.mark.parametrize("cols", COLS)
def test_softmax_accuracy(isa, rng, cols):
    rows = 13
    x = (rng.standard_normal((rows, cols)) * 5).astype(np.float32)
    y = poisoned(x.shape)
    _core.softmax(x, y, False)
    ref = softmax64(x)
    # exp(x - m): the float32 subtraction is exact or off by half an ulp of |x - m|,
    # plus a few ulp of exp, sum and scaling.
    rel = np.abs(y - ref) / ref
    assert (rel <= 2.0 ** -24 * (np.abs(x - x.max(1, keepdims=True)) + 8 + cols)).all()
    np.testing.assert_allclose(y.astype(np.float64).sum(1), 1.0, rtol=0, atol=cols * 2e-7 + 1e-6)

    ly = poisoned(x.shape)
    _core.softmax(x, ly, True)
    lref = softmax64(x, log=True)
    m = np.abs(x.max(1, keepdims=True)).astype(np.float64)
    assert (np.abs(ly - lref) <= 2.0 ** -24 * (2 * np.abs(lref) + m + 4)).all()


@pytest.mark.parametrize("log", [False, True])
def test_softmax_in_place(isa, rng, log):
    x = (rng.standard_normal((9, 37)) * 3).astype(np.float32)
    y = poisoned(x.shape)
    _core.softmax(x, y, log)
    z = x.copy()
    _core.softmax(z, z, log)
    np.testing.assert_array_equal(z, y)


@pytest.mark.parametrize("cols", [2, 10, 17, 100])
def test_softmax_extreme_logits(isa, rng, cols):
    x = (rng.choice([-1e4, 1e4, 0.0, 50.0, -80.0], size=(32, cols))
         + rng.standard_normal((32, cols))).astype(np.float32)
    x[0] = 1e4
    x[1] = -1e4
    x[2, :] = -1e4
    x[2, 0] = 1e4
    for log in (False, True):
        y = poisoned(x.shape)
        _core.softmax(x, y, log)
        assert np.isfinite(y).all()
        ref = softmax64(x, log)
        if log:
            assert (np.abs(y - ref) <= 2.0 ** -24 * (2 * np.abs(ref) + 1e4 + 8)).all()
        else:
            assert (np.abs(y - ref) <= 2.0 ** -24 * (np.abs(x - x.max(1, keepdims=True)) + 8 + cols) * ref + 1e-38).all()
            np.testing.assert_allclose(y.sum(1), 1.0, atol=1e-5)


def test_log_softmax_no_cancellation(isa):
    # log_softmax = x - max - log(sum): a row with one dominant logit has log-probs of
    # ~-1e3 for the others and ~-exp(-1e3)... = -0.0 for the winner; log(softmax) would
    # give -inf for the losers.
    x = np.array([[0.0, -1000.0, -2000.5, 3.0]], np.float32)
    y = poisoned(x.shape)
    _core.softmax(x, y, True)
    np.testing.assert_allclose(y, softmax64(x, log=True), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------- softmax x-entropy

def sce64(x, labels, scale):
    lp = softmax64(x, log=True)
    rows = np.arange(x.shape[0])
    row_loss = -lp[rows, labels]
    d = np.exp(lp)
    d[rows, labels] -= 1.0
    return row_loss, d * scale


@pytest.mark.parametrize("cols", [1, 2, 3, 10, 15, 16, 17, 33, 100, 257])
def test_softmax_xent(isa, rng, cols):
    rows = 21
    x = (rng.standard_normal((rows, cols)) * 4).astype(np.float32)
    labels = rng.integers(0, cols, rows).astype(np.int32)
    scale = np.float32(1.0 / rows)
    d = poisoned(x.shape)
    rl = poisoned(rows)
    total = _core.softmax_xent(x, labels, d, rl, scale)
    ref_rl, ref_d = sce64(x, labels, float(scale))
    U = 2.0 ** -24
    m = np.abs(x.max(1)).astype(np.float64)
    assert (np.abs(rl - ref_rl) <= U * (2 * ref_rl + m + 8)).all()
    assert math.isclose(total, ref_rl.sum(), rel_tol=1e-6, abs_tol=1e-6)
    # The total is the double sum of the row losses in row order; row_loss holds them
    # rounded to float32.
    assert math.isclose(total, float(np.sum(rl, dtype=np.float64)), rel_tol=1e-6, abs_tol=1e-6)
    assert (np.abs(d - ref_d) <= float(scale) * U * (np.abs(x) .max() + cols + 16)).all()
    # The gradient of each row sums to ~0.
    assert (np.abs(d.astype(np.float64).sum(1)) <= float(scale) * cols * 4e-7 + 1e-7).all()

    # Optional outputs and aliasing dlogits == logits.
    t2 = _core.softmax_xent(x, labels, None, None, scale)
    assert t2 == total
    z = x.copy()
    t3 = _core.softmax_xent(z, labels, z, None, scale)
    assert t3 == total
    np.testing.assert_array_equal(z, d)


def test_softmax_xent_extreme_logits(isa, rng):
    rows, cols = 40, 10
    x = rng.choice([-1e4, 1e4, 0.0, 30.0], size=(rows, cols)).astype(np.float32)
    x[0] = 1e4
    x[1] = -1e4
    labels = rng.integers(0, cols, rows).astype(np.int32)
    labels[2] = int(np.argmin(x[2]))
    d = poisoned(x.shape)
    rl = poisoned(rows)
    total = _core.softmax_xent(x, labels, d, rl, 1.0)
    assert np.isfinite(total) and np.isfinite(d).all() and np.isfinite(rl).all()
    ref_rl, ref_d = sce64(x, labels, 1.0)
    np.testing.assert_allclose(rl, ref_rl, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(d, ref_d, rtol=0, atol=1e-6)
    assert (rl >= 0).all()


# ---------------------------------------------------------------------------- colsum

def colsum_sequential(x):
    acc = np.zeros(x.shape[1], np.float32)
    for row in x:
        acc += row  # float32, row order
    return acc


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 16), (17, 17), (64, 33), (5, 64),
                                   (2, 65), (100, 257), (1, 1000), (0, 5)])
def test_colsum_exact_row_order(isa, rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    out = poisoned(shape[1])
    _core.colsum(x, out)
    # Rows added in order, one float32 addition each: bitwise equal to the serial loop.
    np.testing.assert_array_equal(out, colsum_sequential(x))


# ------------------------------------------------------------------------ optimizers

def sgd64(p, g, v, lr, mom, nesterov, wd):
    p, g = p.astype(np.float64), g.astype(np.float64)
    v = None if v is None else v.astype(np.float64)
    g = g + wd * p
    if mom == 0:
        return p - lr * g, v
    v = mom * v + g
    return p - lr * (g + mom * v if nesterov else v), v


def adam64(p, g, m, v, step, lr, b1, b2, eps, wd, decoupled):
    p, g, m, v = (a.astype(np.float64) for a in (p, g, m, v))
    if wd and not decoupled:
        g = g + wd * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    if wd and decoupled:
        p = p - lr * wd * p
    p = p - lr * (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + eps)
    return p, m, v


@pytest.mark.parametrize("n", [1, 5, 16, 17, 33, 1001])
@pytest.mark.parametrize("mom,nesterov,wd", [(0.0, False, 0.0), (0.0, False, 1e-2),
                                             (0.9, False, 0.0), (0.9, True, 5e-4),
                                             (0.5, False, 1e-3)])
def test_sgd_update(isa, rng, n, mom, nesterov, wd):
    p = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    v = rng.standard_normal(n).astype(np.float32) if mom else None
    lr = 0.05
    rp, rv = sgd64(p, g, v, lr, mom, nesterov, wd)
    p2, v2 = p.copy(), None if v is None else v.copy()
    _core.sgd_update(p2, g, v2, lr, mom, nesterov, wd)
    U = 2.0 ** -24
    mag = np.abs(p) + lr * (np.abs(g) + 2 * np.abs(v if v is not None else 0) + 1)
    assert (np.abs(p2 - rp) <= 4 * U * mag).all()
    if mom:
        assert (np.abs(v2 - rv) <= 4 * U * (np.abs(v) + np.abs(g) + 1)).all()


@pytest.mark.parametrize("n", [1, 7, 16, 17, 1001])
@pytest.mark.parametrize("wd,decoupled", [(0.0, True), (1e-2, True), (1e-2, False)])
def test_adam_update_steps(isa, rng, n, wd, decoupled):
    p = rng.standard_normal(n).astype(np.float32)
    m = np.zeros(n, np.float32)
    v = np.zeros(n, np.float32)
    rp, rm, rv = p.astype(np.float64), m.astype(np.float64), v.astype(np.float64)
    # The kernel takes float32 hyper-parameters: the reference uses the same values.
    lr, b1, b2, eps = (float(np.float32(h)) for h in (1e-2, 0.9, 0.999, 1e-8))
    for step in range(1, 6):
        g = rng.standard_normal(n).astype(np.float32)
        g[::5] *= 1e-6  # tiny gradients: the eps / sqrt path
        ge = np.abs(g) + (0 if decoupled else wd * np.abs(rp))
        m_mag = b1 * np.abs(rm) + (1 - b1) * ge  # m = b1 m + (1 - b1) g may cancel
        v_mag = b2 * rv + (1 - b2) * ge * ge      # g + wd p may cancel before squaring
        _core.adam_update(p, g, m, v, step, lr, b1, b2, eps, wd, decoupled)
        rp, rm, rv = adam64(rp, g, rm, rv, step, lr, b1, b2, eps, wd, decoupled)
        # Re-anchor the reference state on the kernel's (error does not compound).
        assert (np.abs(m - rm) <= 4 * 2.0 ** -24 * m_mag).all(), step
        assert (np.abs(v - rv) <= 6 * 2.0 ** -24 * v_mag).all(), step
        assert (np.abs(p - rp) <= 1e-6 * np.abs(rp) + 1e-3 * lr).all(), step
        rp, rm, rv = p.astype(np.float64), m.astype(np.float64), v.astype(np.float64)


def test_adam_first_step_is_sign_step(isa, rng):
    # Step 1 with m = v = 0 and eps ~ 0: the update is lr * sign(g) exactly-ish.
    n = 103
    p = np.zeros(n, np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    m = np.zeros(n, np.float32)
    v = np.zeros(n, np.float32)
    _core.adam_update(p, g, m, v, 1, 1e-3, 0.9, 0.999, 1e-30, 0.0, True)
    np.testing.assert_allclose(p, -1e-3 * np.sign(g), rtol=1e-6)


# ----------------------------------------------------------------- thread invariance

def _run_all(rng_seed):
    rng = np.random.default_rng(rng_seed)
    out = {}
    x = (rng.standard_normal(300_001) * 4).astype(np.float32)
    dy = rng.standard_normal(x.size).astype(np.float32)
    for act in (RELU, LEAKY, SIGMOID, TANH):
        y = act_fwd(x, act, 0.1)
        dx = poisoned(x.size)
        _core.act_backward(y, dy, dx, act, 0.1)
        out[f"fwd{act}"], out[f"bwd{act}"] = y, dx
    s = (rng.standard_normal((3001, 67)) * 5).astype(np.float32)
    for log in (False, True):
        y = poisoned(s.shape)
        _core.softmax(s, y, log)
        out[f"softmax{log}"] = y
    lab = rng.integers(0, 67, 3001).astype(np.int32)
    d = poisoned(s.shape)
    rl = poisoned(3001)
    out["sce_total"] = np.array(_core.softmax_xent(s, lab, d, rl, 1 / 3001))
    out["sce_d"], out["sce_rl"] = d, rl
    c = rng.standard_normal((777, 1031)).astype(np.float32)
    cs = poisoned(1031)
    _core.colsum(c, cs)
    out["colsum"] = cs
    n = 200_003
    p = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    v = rng.standard_normal(n).astype(np.float32)
    _core.sgd_update(p, g, v, 0.01, 0.9, True, 1e-4)
    out["sgd_p"], out["sgd_v"] = p, v
    p = rng.standard_normal(n).astype(np.float32)
    m = rng.standard_normal(n).astype(np.float32) * 0.1
    v = np.abs(rng.standard_normal(n).astype(np.float32)) * 0.01
    _core.adam_update(p, g, m, v, 7, 1e-3, 0.9, 0.999, 1e-8, 1e-2, True)
    out["adam_p"], out["adam_m"], out["adam_v"] = p, m, v
    return out


def test_thread_count_invariance(isa, restore_threads):
    fastmlp.set_num_threads(1)
    one = _run_all(7)
    fastmlp.set_num_threads(2)
    two = _run_all(7)
    fastmlp.set_num_threads(3)  # uneven chunks
    three = _run_all(7)
    for k in one:
        np.testing.assert_array_equal(one[k], two[k], err_msg=k)
        np.testing.assert_array_equal(one[k], three[k], err_msg=k)


@pytest.mark.parametrize("cols", [3, 10, 16, 17, 100])
def test_row_results_independent_of_batch(isa, rng, cols):
    """Row r's (log-)softmax and loss do not depend on which other rows share the call
    (row blocks for the vector log, tails, chunking)."""
    rows = 37
    x = (rng.standard_normal((rows, cols)) * 4).astype(np.float32)
    labels = rng.integers(0, cols, rows).astype(np.int32)
    for log in (False, True):
        whole = poisoned(x.shape)
        _core.softmax(x, whole, log)
        for r in (0, 5, 16, 17, 36):
            one = poisoned((1, cols))
            _core.softmax(x[r:r + 1], one, log)
            np.testing.assert_array_equal(one[0], whole[r])
            part = poisoned((rows - r, cols))
            _core.softmax(x[r:], part, log)
            np.testing.assert_array_equal(part, whole[r:])
    d = poisoned(x.shape)
    rl = poisoned(rows)
    _core.softmax_xent(x, labels, d, rl, 0.5)
    for r in (0, 3, 16, 33):
        d1 = poisoned((rows - r, cols))
        rl1 = poisoned(rows - r)
        _core.softmax_xent(x[r:], labels[r:], d1, rl1, 0.5)
        np.testing.assert_array_equal(d1, d[r:])
        np.testing.assert_array_equal(rl1, rl[r:])
