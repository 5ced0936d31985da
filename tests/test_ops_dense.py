"""dense_forward / dense_backward: fused GEMM epilogue, backward GEMMs and column sums,
against float64 references on every tier, plus finite-difference gradient checks."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp.ops as ops

ACTS = ["linear", "relu", "leaky_relu", "sigmoid", "tanh"]
# (batch, in, out): small-M path, tile edges of every tier, K above the K blocks.
SHAPES = [
    (1, 1, 1),
    (1, 784, 128),
    (3, 17, 10),
    (4, 33, 47),
    (5, 16, 32),
    (12, 97, 33),
    (13, 600, 31),
    (64, 784, 128),
    (97, 49, 257),
]


def _layer(rng, batch, nin, nout, scale=1.0):
    x = rng.standard_normal((batch, nin)).astype(np.float32)
    w = (rng.standard_normal((nin, nout)) * (scale / np.sqrt(nin))).astype(np.float32)
    b = rng.standard_normal(nout).astype(np.float32)
    return x, w, b


def _forward_ref(ref, x, w, b, act, alpha):
    z, ztol = ref.gemm(x, w)
    if b is not None:
        z = z + ref.f64(b)
        ztol = ztol + ref.U * (np.abs(z) + np.abs(ref.f64(b)))
    y = ref.act(act, z, alpha)
    tol = ref.lipschitz(act, alpha) * ztol + ref.act_tol(act, y)
    return y, tol


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("batch,nin,nout", SHAPES)
def test_dense_forward(isa, ref, check, rng, batch, nin, nout, act):
    x, w, b = _layer(rng, batch, nin, nout, scale=3.0)
    alpha = 0.2
    out = np.full((batch, nout), np.nan, np.float32)
    y = ops.dense_forward(x, w, b, activation=act, alpha=alpha, out=out)
    assert y is out
    expected, tol = _forward_ref(ref, x, w, b, act, alpha)
    check(y, expected, tol, f"dense_forward {act} {batch}x{nin}x{nout}")
    # Without a bias and into a fresh (poisoned) array.
    y2 = ops.dense_forward(x, w, activation=act, alpha=alpha)
    expected2, tol2 = _forward_ref(ref, x, w, None, act, alpha)
    check(y2, expected2, tol2, f"dense_forward no bias {act}")


def test_dense_forward_default_leaky_alpha_and_none_activation(ref, check, rng):
    x, w, b = _layer(rng, 9, 20, 30)
    expected, tol = _forward_ref(ref, x, w, b, "leaky_relu", 0.01)
    check(ops.dense_forward(x, w, b, activation="leaky_relu"), expected, tol, "alpha default")
    expected, tol = _forward_ref(ref, x, w, b, "linear", 0.01)
    check(ops.dense_forward(x, w, b, activation=None), expected, tol, "activation=None")


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_dense_forward_saturating_epilogue_is_finite(isa, rng, act):
    """Huge pre-activations (|z| ~ 1e4) must saturate, never give NaN."""
    x, w, b = _layer(rng, 20, 40, 50)
    w *= 1e4
    y = ops.dense_forward(x, w, b, activation=act)
    assert np.isfinite(y).all()
    lo = 0.0 if act == "sigmoid" else -1.0
    assert (y >= lo).all() and (y <= 1.0).all()


def test_dense_forward_large(isa, ref, check, rng):
    x, w, b = _layer(rng, 256, 784, 1024)
    expected, tol = _forward_ref(ref, x, w, b, "relu", 0.01)
    check(ops.dense_forward(x, w, b, activation="relu"), expected, tol, "256x784x1024 relu")


# --------------------------------------------------------------------------- backward


def _backward_ref(ref, x, w, dy, y, act, alpha):
    """float64 dx, dw, db and their bounds (errors of dz propagated through the GEMMs)."""
    if act == "linear":
        dz = ref.f64(dy)
        dz_tol = np.zeros_like(dz)
    else:
        dz = ref.f64(dy) * ref.act_grad_from_y(act, y, alpha)
        dz_tol = ref.act_backward_tol(act, y, dy, alpha)
    adz, aw, ax = np.abs(dz) + dz_tol, np.abs(ref.f64(w)), np.abs(ref.f64(x))
    batch, nout = dz.shape
    dx = dz @ ref.f64(w).T
    dx_tol = (nout + 6) * ref.U * (adz @ aw.T) + dz_tol @ aw.T
    dw = ref.f64(x).T @ dz
    dw_tol = (batch + 6) * ref.U * (ax.T @ adz) + ax.T @ dz_tol
    db = dz.sum(axis=0)
    db_tol = (batch + 4) * ref.U * adz.sum(axis=0) + dz_tol.sum(axis=0)
    return (dx, dx_tol), (dw, dw_tol), (db, db_tol)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("batch,nin,nout", SHAPES)
def test_dense_backward(isa, ref, check, rng, batch, nin, nout, act):
    x, w, b = _layer(rng, batch, nin, nout, scale=2.0)
    alpha = 0.1
    y = ops.dense_forward(x, w, b, activation=act, alpha=alpha)
    dy = rng.standard_normal((batch, nout)).astype(np.float32)
    dx, dw, db = ops.dense_backward(x, w, dy, y=y, activation=act, alpha=alpha)
    (rdx, tdx), (rdw, tdw), (rdb, tdb) = _backward_ref(ref, x, w, dy, y, act, alpha)
    what = f"dense_backward {act} {batch}x{nin}x{nout}"
    check(dx, rdx, tdx, what + " dx")
    check(dw, rdw, tdw, what + " dw")
    check(db, rdb, tdb, what + " db")
    # need_dx=False: dx is None, dw/db identical.
    none_dx, dw2, db2 = ops.dense_backward(x, w, dy, y=y, activation=act, alpha=alpha,
                                           need_dx=False)
    assert none_dx is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


def test_dense_backward_large(isa, ref, check, rng):
    x, w, b = _layer(rng, 256, 784, 300)
    y = ops.dense_forward(x, w, b, activation="relu")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = ops.dense_backward(x, w, dy, y=y, activation="relu")
    (rdx, tdx), (rdw, tdw), (rdb, tdb) = _backward_ref(ref, x, w, dy, y, "relu", 0.01)
    check(dx, rdx, tdx, "dx")
    check(dw, rdw, tdw, "dw")
    check(db, rdb, tdb, "db")


@pytest.mark.parametrize("batch", [0, 1])
def test_dense_backward_tiny_batch(isa, ref, check, rng, batch):
    x, w, b = _layer(rng, batch, 7, 5)
    y = ops.dense_forward(x, w, b, activation="tanh")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = ops.dense_backward(x, w, dy, y=y, activation="tanh")
    (rdx, tdx), (rdw, tdw), (rdb, tdb) = _backward_ref(ref, x, w, dy, y, "tanh", 0.01)
    check(dx, rdx, tdx, "dx")
    check(dw, rdw, tdw, "dw")  # batch 0: all zeros
    check(db, rdb, tdb, "db")


def test_dense_backward_linear_ignores_missing_y(ref, check, rng):
    x, w, _ = _layer(rng, 6, 8, 9)
    dy = rng.standard_normal((6, 9)).astype(np.float32)
    dx, dw, db = ops.dense_backward(x, w, dy)
    (rdx, tdx), (rdw, tdw), (rdb, tdb) = _backward_ref(ref, x, w, dy, None, "linear", 0.01)
    check(dx, rdx, tdx, "dx")
    check(dw, rdw, tdw, "dw")
    check(db, rdb, tdb, "db")


# --------------------------------------------------------------------------- gradients


def _fd_grad(f, params, h=1e-6):
    """Central differences of scalar f w.r.t. every element of every float64 param."""
    grads = []
    for p in params:
        g = np.empty_like(p)
        it = np.nditer(p, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = p[i]
            p[i] = old + h
            fp = f()
            p[i] = old - h
            fm = f()
            p[i] = old
            g[i] = (fp - fm) / (2 * h)
        grads.append(g)
    return grads


@pytest.mark.parametrize("act,alpha", [(a, 0.01) for a in ACTS] + [("leaky_relu", 0.3)])
@pytest.mark.parametrize("batch,nin,nout", [(1, 3, 2), (3, 5, 4), (6, 13, 7)])
def test_dense_gradient_finite_differences(isa, ref, rng, batch, nin, nout, act, alpha):
    """dense_backward's (dx, dw, db) equal float64 finite differences of
    L(x, w, b) = sum(G * act(x @ w + b)), with G = dy random."""
    for _ in range(100):  # keep every pre-activation away from the ReLU kink
        x, w, b = _layer(rng, batch, nin, nout, scale=2.0)
        z = x.astype(np.float64) @ w + b
        if np.abs(z).min() > 1e-2:
            break
    else:
        pytest.fail("could not draw inputs away from the kink")
    G = rng.standard_normal((batch, nout))
    x64, w64, b64 = (ref.f64(v).copy() for v in (x, w, b))

    def loss():
        return float((G * ref.act(act, x64 @ w64 + b64, alpha)).sum())

    fdx, fdw, fdb = _fd_grad(loss, [x64, w64, b64])
    y = ops.dense_forward(x, w, b, activation=act, alpha=alpha)
    dx, dw, db = ops.dense_backward(x, w, G.astype(np.float32), y=y, activation=act,
                                    alpha=alpha)
    for name, got, fd in (("dx", dx, fdx), ("dw", dw, fdw), ("db", db, fdb)):
        scale = np.abs(fd).max() + 1e-3
        np.testing.assert_allclose(got, fd, rtol=1e-4, atol=2e-5 * scale,
                                   err_msg=f"{act} {name} vs finite differences")


# Epilogue (bias + activation) on the M and N tails of every tier's tile.
TILE_SIZES = [1, 2, 4, 5, 6, 7, 11, 12, 13, 16, 17, 25, 31, 32, 33, 47, 48, 49, 97, 257]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("size", TILE_SIZES)
def test_dense_forward_epilogue_tails(isa, ref, check, rng, size, act):
    for batch, nout in ((size, 45), (9, size)):
        x, w, b = _layer(rng, batch, 45, nout, scale=3.0)
        expected, tol = _forward_ref(ref, x, w, b, act, 0.3)
        y = ops.dense_forward(x, w, b, activation=act, alpha=0.3)
        check(y, expected, tol, f"epilogue {act} batch={batch} out={nout}")


@pytest.mark.parametrize("act", ACTS)
def test_dense_forward_zero_inputs_dim(isa, ref, check, rng, act):
    """in = 0: y = act(b) (K = 0 GEMM with epilogue)."""
    x = np.zeros((6, 0), np.float32)
    w = np.zeros((0, 19), np.float32)
    b = (rng.standard_normal(19) * 3).astype(np.float32)
    expected = np.broadcast_to(ref.act(act, b, 0.2), (6, 19))
    y = ops.dense_forward(x, w, b, activation=act, alpha=0.2)
    check(y, expected, ref.act_tol(act, expected) + ref.U * np.abs(expected), f"K=0 {act}")
