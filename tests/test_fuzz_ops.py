"""Fuzz tests of ``fastmlp.ops``: every op with random shapes (0 and 1 included), every
NumPy dtype, every memory layout (non-contiguous, negative strides, read-only, misaligned,
byte-swapped, zero-stride broadcast, np.matrix), NaN/inf, bad ``out=`` arrays, wrong label
dtypes and ranges, and allocations that cannot succeed.

Each call either works and matches the float64 reference (conftest ``Ref`` bounds; a
non-finite reference entry must be non-finite in the result, NaN where it is NaN) or
raises ``TypeError``/``ValueError`` naming the offending argument (``MemoryError`` for an
impossible allocation). Budget: see tests/fuzz_strategies.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastmlp.ops as ops
from fuzz_strategies import (F32_MAX, arrays, as_f32, check_close, dims, expect_error, f64, finite,
                             float_dtype, fuzz_settings, is_float, layouts, pos_dims)

ACTS = ("linear", "relu", "leaky_relu", "sigmoid", "tanh")
UNARY = {"relu": ops.relu, "leaky_relu": ops.leaky_relu, "sigmoid": ops.sigmoid,
         "tanh": ops.tanh}
alphas = st.sampled_from([0.01, 0.0, -1.0, 2.5, 1e-3])


def _float_ok(arr):
    return is_float(arr)


@st.composite
def out_arrays(draw, shape):
    """None, a valid out, or an invalid one (and the argument name the error must carry)."""
    kind = draw(st.sampled_from(["none", "none", "ok", "ok", "readonly", "dtype", "shape",
                                 "strided", "list"]))
    if kind == "none":
        return None, True
    if kind == "ok":
        return np.full(shape, np.nan, np.float32), True
    if kind == "readonly":
        o = np.zeros(shape, np.float32)
        o.flags.writeable = False
        return o, False
    if kind == "dtype":
        return np.zeros(shape, draw(st.sampled_from(["f8", "f2", "i4"]))), False
    if kind == "shape":
        return np.zeros(tuple(d + 1 for d in shape) or (1,), np.float32), False
    if kind == "strided":
        if not shape or 0 in shape or shape[-1] < 1:
            return np.zeros(shape + (2,), np.float32), False
        o = np.zeros(shape[:-1] + (2 * shape[-1],), np.float32)[..., ::2]
        return o, o.flags.c_contiguous  # size-1 dims: a strided view may still be C order
    return np.zeros(shape, np.float32).tolist(), False


# --------------------------------------------------------------------------- gemm


@fuzz_settings()
@given(data=st.data(), m=dims, n=dims, k=dims, ta=st.booleans(), tb=st.booleans(),
       alpha=st.sampled_from([1.0, -1.0, 0.5, 0.0, 3]),
       beta=st.sampled_from([0.0, 0.0, 1.0, -0.5]), mismatch=st.integers(0, 9))
def test_fuzz_gemm(isa, ref, data, m, n, k, ta, tb, alpha, beta, mismatch):
    kb = k + 1 if mismatch == 0 else k
    a = data.draw(arrays((k, m) if ta else (m, k)), "a")
    b = data.draw(arrays((n, kb) if tb else (kb, n)), "b")
    out, out_ok = data.draw(out_arrays((m, n)), "out")
    c0 = None if out is None or not out_ok else \
        np.random.default_rng(m * 131 + n).standard_normal((m, n)).astype(np.float32)
    if c0 is not None:
        out[...] = c0 if beta else np.nan
    try:
        got = ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)
    except (TypeError, ValueError) as exc:
        if not _float_ok(a):
            return expect_error(exc, "a")
        if not _float_ok(b):
            return expect_error(exc, "b")
        if kb != k:
            return expect_error(exc, "inner", "b")
        if not out_ok:
            return expect_error(exc, "out")
        if beta != 0.0 and out is None:
            return expect_error(exc, "beta", "out")
        raise
    assert _float_ok(a) and _float_ok(b) and kb == k and out_ok and not (beta and out is None)
    if out is not None:
        assert got is out
    A, B = f64(a), f64(b)
    if alpha == 0:  # BLAS semantics (gemm.cpp): op(a) @ op(b) is not computed, NaN/inf ignored
        A, B = np.zeros_like(A), np.zeros_like(B)
    with np.errstate(all="ignore"):
        expected, tol = ref.gemm(A, B, ta, tb, float(alpha), beta, c0)
    check_close(got, expected, tol, f"gemm m={m} n={n} k={k} ta={ta} tb={tb}")


# --------------------------------------------------------------------------- dense


@fuzz_settings()
@given(data=st.data(), batch=dims, nin=dims, nout=dims, act=st.sampled_from(ACTS + (None,)),
       bias=st.booleans(), need_dx=st.booleans(), bad_w=st.integers(0, 9))
def test_fuzz_dense(isa, ref, data, batch, nin, nout, act, bias, need_dx, bad_w):
    win = nin + 1 if bad_w == 0 else nin
    x = data.draw(arrays((batch, nin)), "x")
    w = data.draw(arrays((win, nout)), "w")
    b = data.draw(arrays((nout,)), "b") if bias else None
    try:
        y = ops.dense_forward(x, w, b, activation=act)
    except (TypeError, ValueError) as exc:
        if not is_float(x):
            return expect_error(exc, "x")
        if not is_float(w) or win != nin:
            return expect_error(exc, "w")
        if b is not None and not is_float(b):
            return expect_error(exc, "b")
        raise
    assert is_float(x) and is_float(w) and win == nin and (b is None or is_float(b))
    name = act or "linear"
    with np.errstate(all="ignore"):
        z, ztol = ref.gemm(f64(x), f64(w))
        if b is not None:
            z = z + f64(b)
            ztol = ztol + ref.U * (np.abs(z) + np.abs(f64(b)))
        ey = ref.act(name, z)
        # z itself may overflow float32 where the float64 reference does not
        free = np.isfinite(z) & ~(ztol < 0.5 * F32_MAX * 2.0**-24)
        check_close(y, ey, ref.lipschitz(name) * ztol + ref.act_tol(name, ey),
                    f"forward {name}", free=free)
    dy = data.draw(arrays((batch, nout), dtype=float_dtype, layout_s=layouts), "dy")
    dx, dw, db = ops.dense_backward(x, w, dy, y=y, activation=act, need_dx=need_dx)
    assert (dx is None) == (not need_dx)
    if not finite(x, w, dy, y):
        for r, shape in ((dx, (batch, nin)), (dw, (nin, nout)), (db, (nout,))):
            assert r is None or (r.shape == shape and r.dtype == np.float32)
        return
    dz = f64(dy) * ref.act_grad_from_y(name, y)
    dzt = ref.act_backward_tol(name, y, f64(dy))
    adz = np.abs(dz) + dzt
    W, X = f64(w), f64(x)
    if need_dx:
        check_close(dx, dz @ W.T, (nout + 6) * ref.U * (adz @ np.abs(W).T) + dzt @ np.abs(W).T,
                    "dx")
    check_close(dw, X.T @ dz, (batch + 6) * ref.U * (np.abs(X).T @ adz) + np.abs(X).T @ dzt,
                "dw")
    check_close(db, dz.sum(axis=0), (batch + 4) * ref.U * adz.sum(axis=0) + dzt.sum(axis=0),
                "db")


# --------------------------------------------------------------------------- element-wise


shapes = st.lists(dims, min_size=0, max_size=3).map(tuple)


@fuzz_settings()
@given(data=st.data(), shape=shapes, name=st.sampled_from(sorted(UNARY)), alpha=alphas,
       where=st.sampled_from(["new", "new", "out", "inplace", "bad"]))
def test_fuzz_unary(isa, ref, data, shape, name, alpha, where):
    x = data.draw(arrays(shape), "x")
    out, out_ok = (None, True)
    if where == "out":
        out = np.full(shape, np.nan, np.float32)
    elif where == "inplace" and isinstance(x, np.ndarray) and type(x) is np.ndarray \
            and x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable \
            and x.flags.aligned:
        out = x
    elif where == "bad":
        out, out_ok = data.draw(out_arrays(shape), "out")
    x_in = f64(x) if is_float(x) else None
    kw = {"alpha": alpha} if name == "leaky_relu" else {}
    try:
        y = UNARY[name](x, out=out, **kw)
    except (TypeError, ValueError) as exc:
        if not is_float(x):
            return expect_error(exc, "x")
        if not out_ok:
            return expect_error(exc, "out")
        raise
    assert is_float(x) and out_ok
    if out is not None:
        assert y is out
    with np.errstate(all="ignore"):
        ey = ref.act(name, x_in, alpha)
        check_close(y, ey, ref.act_tol(name, ey), name)


@fuzz_settings()
@given(data=st.data(), shape=shapes, name=st.sampled_from(ACTS), alpha=alphas,
       inplace=st.booleans(), bad_shape=st.integers(0, 9))
def test_fuzz_activation_backward(isa, ref, data, shape, name, alpha, inplace, bad_shape):
    yshape = shape + (1,) if bad_shape == 0 else shape
    y = data.draw(arrays(yshape), "y")
    dy = data.draw(arrays(shape), "dy")
    out = None
    if inplace and type(dy) is np.ndarray and dy.dtype == np.float32 \
            and dy.flags.c_contiguous and dy.flags.writeable and dy.flags.aligned:
        out = dy
    dy_in = f64(dy) if is_float(dy) else None
    try:
        dx = ops.activation_backward(name, y, dy, alpha, out=out)
    except (TypeError, ValueError) as exc:
        if not is_float(y):
            return expect_error(exc, "y")
        if not is_float(dy):
            return expect_error(exc, "dy")
        if yshape != shape:
            return expect_error(exc, "y", "dy")
        raise
    assert is_float(y) and is_float(dy) and yshape == shape
    with np.errstate(all="ignore"):
        g = ref.act_grad_from_y(name, as_f32(y), float(np.float32(alpha)))
        expected = dy_in * g
        tol = ref.act_backward_tol(name, as_f32(y), dy_in, alpha)
    if not finite(y, dy_in):
        assert dx.shape == shape and dx.dtype == np.float32
        return
    check_close(dx, expected, tol, f"{name} backward")


@fuzz_settings()
@given(data=st.data(), rows=dims, cols=dims, nd=st.sampled_from([1, 2, 2, 0, 3]),
       log=st.booleans(), inplace=st.booleans())
def test_fuzz_softmax(isa, ref, data, rows, cols, nd, log, inplace):
    shape = {0: (), 1: (cols,), 2: (rows, cols), 3: (rows, cols, 2)}[nd]
    x = data.draw(arrays(shape), "x")
    out = x if inplace and type(x) is np.ndarray and x.dtype == np.float32 and \
        x.flags.c_contiguous and x.flags.writeable and x.flags.aligned else None
    xin = f64(x) if is_float(x) else None
    fn = ops.log_softmax if log else ops.softmax
    try:
        y = fn(x, out=out)
    except (TypeError, ValueError) as exc:
        if not is_float(x) or nd not in (1, 2):
            return expect_error(exc, "x")
        raise
    assert is_float(x) and nd in (1, 2)
    assert y.shape == shape and y.dtype == np.float32
    x2 = xin.reshape(-1, shape[-1]) if y.size else xin.reshape(0, shape[-1])
    y2 = y.reshape(x2.shape)
    ok_rows = np.isfinite(x2).all(axis=1)  # rows with NaN/inf: any result, no crash
    if not ok_rows.any():
        return
    xs = x2[ok_rows]
    e = ref.softmax(xs, log)
    check_close(y2[ok_rows], e, ref.softmax_tol(xs, e, log), "log_softmax" if log else "softmax")
    assert not np.isnan(y2[ok_rows]).any()


# --------------------------------------------------------------------------- loss

label_dtypes = st.sampled_from(["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "i4", "i8",
                                "f4", "f8", "?", "O", "c8", "U2"])


@fuzz_settings()
@given(data=st.data(), n=dims, c=dims, ldt=label_dtypes,
       lrange=st.sampled_from(["ok", "ok", "ok", "neg", "high", "huge"]),
       llen=st.sampled_from([0, 0, 0, 0, 1, -1, "2d"]), llayout=layouts)
def test_fuzz_softmax_cross_entropy(isa, ref, data, n, c, ldt, lrange, llen, llayout):
    from fuzz_strategies import layout
    logits = data.draw(arrays((n, c)), "logits")
    rng = np.random.default_rng(n * 1000 + c)
    m = max(n + llen, 0) if llen != "2d" else n
    len_ok = m == n and llen != "2d"
    lab = rng.integers(0, max(c, 1), size=m).astype(np.int64)
    bad_value = None
    if lab.size and lrange != "ok":
        i = int(rng.integers(0, lab.size))
        lab[i] = {"neg": -1, "high": c, "huge": 2**40 + 1}[lrange]
        bad_value = lab[i]
    if c == 0 and lab.size:
        bad_value = lab[0]
    if llen == "2d":
        lab = lab.reshape(-1, 1)
    dt = np.dtype(ldt)
    with np.errstate(all="ignore"):
        labels = lab.astype(dt) if dt.kind not in "OU" else lab.astype(dt)
    labels = layout(labels, llayout)
    # what the values became in that dtype (wrapped ints, bool) decides validity
    valid_dtype = dt.kind in "iu"
    try:
        with np.errstate(all="ignore"):
            vals = np.asarray(labels).astype(np.int64) if valid_dtype else None
    except (TypeError, ValueError):
        vals = None
    try:
        loss, d = ops.softmax_cross_entropy(logits, labels)
    except (TypeError, ValueError) as exc:
        if not is_float(logits):
            return expect_error(exc, "logits")
        if not valid_dtype or not len_ok:
            return expect_error(exc, "labels")
        if vals is not None and vals.size and (vals.min() < 0 or vals.max() >= c):
            return expect_error(exc, "labels")
        raise
    assert is_float(logits) and valid_dtype and len_ok
    assert vals is not None and (vals.size == 0 or (vals.min() >= 0 and vals.max() < c))
    assert d.shape == (n, c) and d.dtype == np.float32
    if n == 0:
        assert np.isnan(loss)
        return
    x = f64(logits)
    if not np.isfinite(x).all():
        return
    el, ed, dtol, ltol = ref.sce(x, vals)
    check_close(d, ed, dtol, "dlogits")
    assert abs(loss - el) <= ltol, (loss, el, ltol)


# --------------------------------------------------------------------------- optimizers


@fuzz_settings()
@given(data=st.data(), shape=shapes, opt=st.sampled_from(["sgd", "sgd_m", "adam"]),
       state_layout=layouts, state_dtype=st.sampled_from(["f4", "f4", "f4", "f8", "f2"]))
def test_fuzz_optimizers(isa, data, shape, opt, state_layout, state_dtype):
    from fuzz_strategies import layout
    rng = np.random.default_rng(sum(shape) + 7)
    base = rng.standard_normal(shape).astype(state_dtype)
    param = layout(base, state_layout)
    grad = data.draw(arrays(shape), "grad")
    zeros = np.zeros(shape, np.float32)
    state_ok = (isinstance(param, np.ndarray) and param.dtype == np.float32
                and param.flags.c_contiguous and param.flags.writeable
                and param.flags.aligned)
    before = np.array(param, copy=True)
    try:
        if opt == "adam":
            ops.adam_update(param, grad, zeros.copy(), zeros.copy(), step=3, lr=1e-2)
        else:
            mom = 0.9 if opt == "sgd_m" else 0.0
            ops.sgd_update(param, grad, zeros.copy() if mom else None, lr=0.1, momentum=mom)
    except (TypeError, ValueError) as exc:
        # an in-place argument is never silently converted, and is left untouched
        assert np.array_equal(np.asarray(param), before, equal_nan=True)
        if not state_ok:
            return expect_error(exc, "param")
        if not is_float(grad):
            return expect_error(exc, "grad")
        raise
    assert state_ok and is_float(grad)
    if opt.startswith("sgd") and finite(grad):
        check_close(param, f64(before) - 0.1 * f64(grad),
                    4 * 2.0**-24 * (np.abs(f64(before)) + 0.1 * np.abs(f64(grad))) + 1e-30,
                    "sgd")


# --------------------------------------------------------------------------- huge sizes

HUGE = 10**6  # (big, 1) inputs are really copied: keep them at <= 40 MB


@fuzz_settings(0.5)
@given(case=st.sampled_from(["gemm_out", "gemm_a", "dense", "relu", "softmax", "xent",
                             "backward"]),
       big=st.sampled_from([HUGE, 10**7]), ta=st.booleans())
def test_fuzz_impossible_allocations_raise_memory_error(case, big, ta):
    """Zero-stride views claim terabytes: the op raises MemoryError (or a ValueError naming
    the argument), never aborts, never hangs."""
    one = np.float32(1.0)
    bc = np.broadcast_to
    calls = {
        "gemm_out": lambda: ops.gemm(bc(one, (1, big) if ta else (big, 1)), bc(one, (1, big)),
                                     trans_a=ta),
        "gemm_a": lambda: ops.gemm(bc(one, (big, big)), bc(one, (big, 1))),
        "dense": lambda: ops.dense_forward(bc(one, (big, 1)), bc(one, (1, big))),
        "relu": lambda: ops.relu(bc(np.float64(1), (big, big))),
        "softmax": lambda: ops.softmax(bc(one, (big, big))),
        "xent": lambda: ops.softmax_cross_entropy(bc(one, (big, big)), bc(np.int64(0), (big,))),
        "backward": lambda: ops.dense_backward(bc(one, (big, 1)), bc(one, (1, big)),
                                               bc(one, (big, big))),
    }
    try:
        calls[case]()
    except MemoryError as exc:
        msg = str(exc)
        # a converted input names its argument; a new output names its shape
        assert "argument '" in msg or str(big) in msg.replace(",", ""), msg
        return
    except ValueError as exc:  # e.g. a size the kernels' index type cannot address
        expect_error(exc, "a", "b", "x", "w", "dy", "logits", "out")
        return
    pytest.fail(f"{case} with dimension {big} did not raise")


@pytest.mark.parametrize("dtype", ["f4", "f8"])
def test_misaligned_float32_views_match(isa, ref, dtype):
    """Every byte offset of a float view into a byte buffer gives the aligned result."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((13, 17)).astype(dtype)
    b = rng.standard_normal((17, 9)).astype(dtype)
    expected = ops.gemm(a.astype(np.float32), b.astype(np.float32))
    for off in range(1, np.dtype(dtype).itemsize):
        raw = np.zeros(a.nbytes + 16, np.uint8)
        am = raw[off:off + a.nbytes].view(dtype).reshape(a.shape)
        am[...] = a
        assert not am.flags.aligned
        np.testing.assert_array_equal(ops.gemm(am, b), expected)
        np.testing.assert_array_equal(ops.relu(am), ops.relu(a))
        if dtype == "f4":  # written in place: refused, never written misaligned
            with pytest.raises(ValueError, match="'out'.*aligned"):
                ops.relu(a, out=am)
            with pytest.raises(ValueError, match="'param'.*aligned"):
                ops.sgd_update(am, a, lr=0.1)
            lab = raw[off:off + 4 * 13].view(np.int32)
            lab[...] = 1
            loss, _ = ops.softmax_cross_entropy(a[:, :2], lab)
            assert loss == ops.softmax_cross_entropy(a[:, :2], np.ones(13, np.int32))[0]


def test_dense_relu_epilogue_propagates_nan(isa):
    """dense_forward(activation="relu") keeps NaN like ops.relu (np.maximum semantics) on
    every tier and GEMM path (fuzzing found AVX2/AVX-512 turning NaN into 0)."""
    for m, k, n in [(1, 1, 17), (3, 5, 40), (64, 64, 64), (200, 30, 5), (1, 100, 3)]:
        x = np.ones((m, k), np.float32)
        w = np.ones((k, n), np.float32)
        w[0, 1] = np.nan
        y = ops.dense_forward(x, w, activation="relu")
        assert np.isnan(y[:, 1]).all(), (m, k, n)
        assert np.isnan(ops.relu(x @ w)[:, 1]).all()
