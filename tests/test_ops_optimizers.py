"""sgd_update / adam_update on every tier against float64 NumPy references.

Each step is checked against a float64 step taken from the kernel's own float32 state
(so the bound stays a per-step rounding bound), over several steps so that the velocity,
the moments and Adam's bias correction (which depends on `step`) are all exercised.
Sizes straddle the vector widths (masked tails)."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp.ops as ops

SIZES = [0, 1, 7, 15, 16, 17, 33, 1000, 4097]
U = 2.0 ** -24
STEPS = 5


def _f32(x):
    return float(np.float32(x))


def _sgd_ref(p, g, v, lr, momentum, nesterov, wd):
    """float64 step and the float32 error bound of each output."""
    lr, momentum, wd = _f32(lr), _f32(momentum), _f32(wd)
    ge = g + wd * p
    ge_abs = np.abs(g) + wd * np.abs(p)
    if momentum:
        v_new = momentum * v + ge
        v_abs = momentum * np.abs(v) + ge_abs
        upd = ge + momentum * v_new if nesterov else v_new
        upd_abs = ge_abs + momentum * v_abs if nesterov else v_abs
    else:
        v_new, v_abs = None, None
        upd, upd_abs = ge, ge_abs
    p_new = p - lr * upd
    p_tol = 10 * U * (np.abs(p) + lr * upd_abs)
    v_tol = None if v_abs is None else 6 * U * v_abs
    return p_new, p_tol, v_new, v_tol


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(
    "momentum,nesterov,wd",
    [(0.0, False, 0.0), (0.0, False, 0.01), (0.9, False, 0.0), (0.9, True, 0.0),
     (0.9, False, 5e-4), (0.5, True, 0.1)],
    ids=["plain", "wd", "momentum", "nesterov", "momentum-wd", "nesterov-wd"],
)
def test_sgd_steps(isa, check, rng, n, momentum, nesterov, wd):
    lr = 0.05
    p = rng.standard_normal(n).astype(np.float32)
    v = np.zeros(n, np.float32) if momentum else None
    for step in range(STEPS):
        g = rng.standard_normal(n).astype(np.float32)
        p64 = p.astype(np.float64)
        v64 = v.astype(np.float64) if v is not None else None
        ep, ptol, ev, vtol = _sgd_ref(p64, g.astype(np.float64), v64, lr, momentum,
                                      nesterov, wd)
        assert ops.sgd_update(p, g, v, lr=lr, momentum=momentum, nesterov=nesterov,
                              weight_decay=wd) is None
        check(p, ep, ptol, f"sgd param step {step}")
        if v is not None:
            check(v, ev, vtol, f"sgd velocity step {step}")


def test_sgd_multi_step_trajectory(isa, rng):
    """Five momentum steps track a float64 run started from the same values."""
    n = 257
    p = rng.standard_normal(n).astype(np.float32)
    v = np.zeros(n, np.float32)
    p64, v64 = p.astype(np.float64), np.zeros(n)
    for _ in range(STEPS):
        g = rng.standard_normal(n).astype(np.float32)
        ops.sgd_update(p, g, v, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
        ge = g + _f32(1e-3) * p64
        v64 = _f32(0.9) * v64 + ge
        p64 = p64 - _f32(0.1) * (ge + _f32(0.9) * v64)
    np.testing.assert_allclose(p, p64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(v, v64, rtol=1e-5, atol=1e-5)


def _adam_ref(p, g, m, v, step, lr, b1, b2, eps, wd, decoupled):
    lr, b1, b2, eps, wd = (_f32(t) for t in (lr, b1, b2, eps, wd))
    if decoupled:
        ge, ge_abs = g, np.abs(g)
    else:
        ge, ge_abs = g + wd * p, np.abs(g) + wd * np.abs(p)
    m_new = b1 * m + (1 - b1) * ge
    m_abs = b1 * np.abs(m) + (1 - b1) * ge_abs
    v_new = b2 * v + (1 - b2) * ge * ge
    bc1 = 1 - b1 ** step
    bc2 = 1 - b2 ** step
    den = np.sqrt(v_new / bc2) + eps
    p_dec = p - lr * wd * p if decoupled else p
    p_new = p_dec - lr * (m_new / bc1) / den
    # v's bound uses |g_eff|^2 from magnitudes: with L2 decay g + wd * p may cancel.
    v_tol = 6 * U * (b2 * v + (1 - b2) * ge_abs * ge_abs)
    # A relative error r of v is a relative error r / 2 of sqrt(v), hence of the step.
    v_rel = np.divide(v_tol, v_new, out=np.zeros_like(v_new), where=v_new > 0)
    step_abs = lr * (m_abs / bc1) / den
    p_tol = 16 * U * (np.abs(p) + lr * wd * np.abs(p) + step_abs) + step_abs * v_rel / 2
    return p_new, p_tol, m_new, 4 * U * m_abs, v_new, v_tol


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(
    "wd,decoupled,b1,b2",
    [(0.0, True, 0.9, 0.999), (0.01, True, 0.9, 0.999), (0.01, False, 0.9, 0.999),
     (0.1, True, 0.5, 0.9), (0.0, True, 0.0, 0.99)],
    ids=["adam", "adamw", "adam-l2", "adamw-fast-betas", "rmsprop-like"],
)
def test_adam_steps(isa, check, rng, n, wd, decoupled, b1, b2):
    lr, eps = 1e-2, 1e-8
    p = rng.standard_normal(n).astype(np.float32)
    m = np.zeros(n, np.float32)
    v = np.zeros(n, np.float32)
    for step in range(1, STEPS + 1):
        g = (rng.standard_normal(n) * 0.3).astype(np.float32)
        f = [t.astype(np.float64) for t in (p, g, m, v)]
        ep, ptol, em, mtol, ev, vtol = _adam_ref(*f, step, lr, b1, b2, eps, wd, decoupled)
        assert ops.adam_update(p, g, m, v, step=step, lr=lr, beta1=b1, beta2=b2, eps=eps,
                               weight_decay=wd, decoupled=decoupled) is None
        check(p, ep, ptol, f"adam param step {step}")
        check(m, em, mtol, f"adam m step {step}")
        check(v, ev, vtol, f"adam v step {step}")


def test_adam_bias_correction_first_step(isa, rng):
    """At step 1 from zero moments the update is lr * g / (|g| + eps) = lr * sign(g)."""
    g = (rng.standard_normal(100) * 10.0 ** rng.integers(-3, 3, 100)).astype(np.float32)
    p = np.zeros(100, np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    ops.adam_update(p, g, m, v, step=1, lr=1e-3, eps=1e-12)
    np.testing.assert_allclose(p, -1e-3 * np.sign(g), rtol=1e-5)


@pytest.mark.parametrize("which", ["sgd", "nesterov", "adam"])
def test_state_below_2_to_minus_100_is_stored_as_zero(isa, which):
    """A decaying state (zero gradient) is flushed to 0 under 2**-100; above it, it decays
    exactly; NaN stays NaN. Lanes and the masked tail alike (n = 37)."""
    n = 37
    p = np.ones(n, np.float32)
    g = np.zeros(n, np.float32)
    s0 = np.full(n, 1e-29, np.float32)
    s0[::3] = 1e-31
    s0[5] = np.nan
    if which == "adam":
        s1 = s0.copy()
        ops.adam_update(p, g, s0, s1, step=3, lr=1e-3)
        states, decays = (s0, s1), (0.9, 0.999)
    else:
        ops.sgd_update(p, g, s0, lr=0.1, momentum=0.9, nesterov=which == "nesterov")
        states, decays = (s0,), (0.9,)
    tiny = np.zeros(n, bool)
    tiny[::3] = True
    for s, k in zip(states, decays):
        assert np.isnan(s[5])
        ok = ~tiny & ~np.isnan(s)
        assert np.all(s[tiny] == 0.0), s[tiny]
        np.testing.assert_allclose(s[ok], np.float32(1e-29) * np.float32(k), rtol=1e-6)


def test_adam_late_step_uses_step_count(isa, rng):
    """Same state, different `step`: the bias correction must differ accordingly."""
    n = 33
    g = rng.standard_normal(n).astype(np.float32)
    m0 = rng.standard_normal(n).astype(np.float32) * 0.1
    v0 = np.abs(rng.standard_normal(n).astype(np.float32)) * 0.01
    results = {}
    for step in (2, 50, 10_000):
        p = np.ones(n, np.float32)
        m, v = m0.copy(), v0.copy()
        ops.adam_update(p, g, m, v, step=step, lr=1e-2)
        ep, ptol, *_ = _adam_ref(np.ones(n), g.astype(np.float64), m0.astype(np.float64),
                                 v0.astype(np.float64), step, 1e-2, 0.9, 0.999, 1e-8, 0.0, True)
        assert (np.abs(p - ep) <= ptol).all(), step
        results[step] = p
    assert not np.array_equal(results[2], results[50])


def test_optimizers_update_2d_params(isa, rng):
    p = rng.standard_normal((13, 17)).astype(np.float32)
    g = rng.standard_normal((13, 17)).astype(np.float32)
    expected = p - np.float32(0.1) * g
    ops.sgd_update(p, g, lr=0.1)
    np.testing.assert_allclose(p, expected, rtol=1e-6, atol=1e-7)


def test_optimizers_convert_grad_only(rng):
    """grad may be float64 / strided (it is read only); param is updated in place."""
    p = rng.standard_normal(20).astype(np.float32)
    p_id = id(p)
    g64 = rng.standard_normal(40)[::2]
    expected = p.astype(np.float64) - _f32(0.5) * g64.astype(np.float32)
    ops.sgd_update(p, g64, lr=0.5)
    assert id(p) == p_id
    np.testing.assert_allclose(p, expected, rtol=1e-6, atol=1e-6)
    m, v = np.zeros_like(p), np.zeros_like(p)
    before = p.copy()
    ops.adam_update(p, g64, m, v, step=1, lr=1e-3)
    assert not np.array_equal(p, before)
