"""Hypothesis property tests: random shapes, flags and values on every tier.

Budget: the ``fastmlp`` profile in conftest (``FASTMLP_FUZZ_EXAMPLES`` examples per test
and tier, 25 by default)."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastmlp.ops as ops

dims = st.integers(min_value=0, max_value=70)
pos_dims = st.integers(min_value=1, max_value=70)
acts = st.sampled_from(["linear", "relu", "leaky_relu", "sigmoid", "tanh"])
seeds = st.integers(min_value=0, max_value=2**32 - 1)
finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(m=dims, n=dims, k=st.one_of(dims, st.integers(250, 700)), ta=st.booleans(),
       tb=st.booleans(), alpha=st.sampled_from([1.0, -1.0, 0.5, 3.0]),
       beta=st.sampled_from([0.0, 1.0, -0.5]), seed=seeds)
def test_gemm_random_shapes(isa, ref, check, m, n, k, ta, tb, alpha, beta, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    out = c0.copy() if beta else np.full((m, n), np.nan, np.float32)
    ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)
    expected, tol = ref.gemm(a, b, ta, tb, alpha, beta, c0)
    check(out, expected, tol, f"gemm {m}x{n}x{k} ta={ta} tb={tb}")


@given(batch=dims, nin=dims, nout=pos_dims, act=acts, bias=st.booleans(), seed=seeds)
def test_dense_roundtrip_random_shapes(isa, ref, check, batch, nin, nout, act, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, nin)).astype(np.float32)
    w = rng.standard_normal((nin, nout)).astype(np.float32)
    b = rng.standard_normal(nout).astype(np.float32) if bias else None
    y = ops.dense_forward(x, w, b, activation=act)
    z, ztol = ref.gemm(x, w)
    if b is not None:
        z = z + b
        ztol = ztol + ref.U * (np.abs(z) + np.abs(b))
    ey = ref.act(act, z)
    check(y, ey, ref.lipschitz(act) * ztol + ref.act_tol(act, ey), f"forward {act}")
    dy = rng.standard_normal((batch, nout)).astype(np.float32)
    dx, dw, db = ops.dense_backward(x, w, dy, y=y, activation=act)
    dz = ref.f64(dy) * ref.act_grad_from_y(act, y)
    dzt = ref.act_backward_tol(act, y, dy)
    adz = np.abs(dz) + dzt
    check(dx, dz @ ref.f64(w).T,
          (nout + 6) * ref.U * (adz @ np.abs(ref.f64(w)).T) + dzt @ np.abs(ref.f64(w)).T, "dx")
    check(dw, ref.f64(x).T @ dz,
          (batch + 6) * ref.U * (np.abs(ref.f64(x)).T @ adz) + np.abs(ref.f64(x)).T @ dzt, "dw")
    check(db, dz.sum(axis=0), (batch + 4) * ref.U * adz.sum(axis=0) + dzt.sum(axis=0), "db")


@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, min_side=0,
                                                  max_side=40),
                    elements=st.floats(-1e4, 1e4, width=32)),
       log=st.booleans())
def test_softmax_random(isa, ref, check, x, log):
    fn = ops.log_softmax if log else ops.softmax
    y = fn(x)
    x2 = x.reshape(1, -1) if x.ndim == 1 else x
    expected = ref.softmax(x2, log=log).reshape(x.shape)
    check(y, expected, ref.softmax_tol(x2, expected.reshape(x2.shape), log=log)
          .reshape(x.shape), "log_softmax" if log else "softmax")
    assert not np.isnan(y).any()


@given(x=hnp.arrays(np.float32, st.tuples(pos_dims, pos_dims),
                    elements=st.floats(-1e4, 1e4, width=32)),
       data=st.data())
def test_sce_random(isa, ref, check, x, data):
    n, c = x.shape
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    loss, d = ops.softmax_cross_entropy(x, labels)
    eloss, ed, dtol, ltol = ref.sce(x, labels)
    assert np.isfinite(loss) and loss >= 0.0
    assert abs(loss - eloss) <= ltol
    check(d, ed, dtol, "dlogits")


@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                  max_side=20), elements=finite32),
       act=st.sampled_from(["relu", "leaky_relu", "sigmoid", "tanh"]))
def test_activations_any_finite_input(isa, ref, check, x, act):
    fn = {"relu": ops.relu, "leaky_relu": ops.leaky_relu, "sigmoid": ops.sigmoid,
          "tanh": ops.tanh}[act]
    y = fn(x)
    assert y.shape == x.shape
    assert not np.isnan(y).any()
    expected = ref.act(act, x)
    check(y, expected, ref.act_tol(act, expected), act)


@given(n=st.integers(0, 300), momentum=st.sampled_from([0.0, 0.5, 0.9]),
       nesterov=st.booleans(), wd=st.sampled_from([0.0, 1e-3]), seed=seeds)
def test_sgd_random(isa, n, momentum, nesterov, wd, seed):
    nesterov = nesterov and momentum > 0
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    v = rng.standard_normal(n).astype(np.float32) if momentum else None
    p64 = p.astype(np.float64)
    ge = g + np.float32(wd) * p64
    if momentum:
        v64 = np.float32(momentum) * v.astype(np.float64) + ge
        upd = ge + np.float32(momentum) * v64 if nesterov else v64
    else:
        upd = ge
    expected = p64 - np.float32(0.1) * upd
    ops.sgd_update(p, g, v, lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=wd)
    np.testing.assert_allclose(p, expected, rtol=1e-6, atol=1e-6)
    if momentum:
        np.testing.assert_allclose(v, v64, rtol=1e-6, atol=1e-6)
