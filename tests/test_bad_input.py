"""Every kind of bad input to fastmlp.ops raises TypeError/ValueError whose message names
the argument and shows what was expected and what was received; conversions that should
work (float16/float64, strided, read-only memory maps) do, and float32 C-contiguous input
is used without a copy."""
from __future__ import annotations

import re

import numpy as np
import pytest

import fastmlp.ops as ops
from fastmlp.ops import _validate

F = np.float32


def _m(*parts):
    """Regex requiring every part (escaped) to appear in the message, in any order."""
    return "".join(f"(?=.*{re.escape(p)})" for p in parts)


def raises(exc, *parts):
    return pytest.raises(exc, match=re.compile(_m(*parts), re.S))


@pytest.fixture
def arrs(rng):
    return {
        "a": rng.standard_normal((4, 5)).astype(F),
        "b": rng.standard_normal((5, 3)).astype(F),
        "x": rng.standard_normal((6, 5)).astype(F),
        "w": rng.standard_normal((5, 3)).astype(F),
        "bias": rng.standard_normal(3).astype(F),
        "dy": rng.standard_normal((6, 3)).astype(F),
        "logits": rng.standard_normal((6, 4)).astype(F),
        "labels": np.array([0, 1, 2, 3, 0, 1]),
    }


# --------------------------------------------------------------------------- dtypes

BAD_DTYPES = [
    (np.array([[1, 2], [3, 4]], np.int64), "int64"),
    (np.array([[1, 2], [3, 4]], np.int32), "int32"),
    (np.array([[1, 2], [3, 4]], np.uint8), "uint8"),
    (np.array([[True, False], [False, True]]), "bool"),
    (np.array([[1 + 2j, 0], [0, 1]], np.complex64), "complex64"),
    (np.array([[1.0, 2.0], [3.0, 4.0]], object), "object"),
    (np.array([["a", "b"], ["c", "d"]]), "<U1"),
]


def _two_by_two_calls():
    """(function name, argument name, call(bad)) for every float array argument."""
    ok = np.ones((2, 2), F)
    return [
        ("gemm", "a", lambda v: ops.gemm(v, ok)),
        ("gemm", "b", lambda v: ops.gemm(ok, v)),
        ("dense_forward", "x", lambda v: ops.dense_forward(v, ok)),
        ("dense_forward", "w", lambda v: ops.dense_forward(ok, v)),
        ("dense_forward", "b", lambda v: ops.dense_forward(ok, ok, v)),
        ("dense_backward", "x", lambda v: ops.dense_backward(v, ok, ok)),
        ("dense_backward", "w", lambda v: ops.dense_backward(ok, v, ok)),
        ("dense_backward", "dy", lambda v: ops.dense_backward(ok, ok, v)),
        ("dense_backward", "y", lambda v: ops.dense_backward(ok, ok, ok, y=v,
                                                             activation="relu")),
        ("relu", "x", lambda v: ops.relu(v)),
        ("leaky_relu", "x", lambda v: ops.leaky_relu(v)),
        ("sigmoid", "x", lambda v: ops.sigmoid(v)),
        ("tanh", "x", lambda v: ops.tanh(v)),
        ("softmax", "x", lambda v: ops.softmax(v)),
        ("log_softmax", "x", lambda v: ops.log_softmax(v)),
        ("activation_backward", "y", lambda v: ops.activation_backward("tanh", v, ok)),
        ("activation_backward", "dy", lambda v: ops.activation_backward("tanh", ok, v)),
        ("softmax_cross_entropy", "logits",
         lambda v: ops.softmax_cross_entropy(v, np.zeros(2, np.int64))),
        ("sgd_update", "grad", lambda v: ops.sgd_update(np.ones((2, 2), F), v, lr=0.1)),
        ("adam_update", "grad", lambda v: ops.adam_update(
            np.ones((2, 2), F), v, np.zeros((2, 2), F), np.zeros((2, 2), F), step=1, lr=0.1)),
    ]


CALLS = _two_by_two_calls()


@pytest.mark.parametrize("bad,dtname", BAD_DTYPES, ids=[d for _, d in BAD_DTYPES])
@pytest.mark.parametrize("fn,arg,call", CALLS, ids=[f"{f}-{a}" for f, a, _ in CALLS])
def test_non_float_arrays_rejected(fn, arg, call, bad, dtname):
    with raises(TypeError, fn, f"'{arg}'", dtname, "float32"):
        call(bad)


@pytest.mark.parametrize("fn,arg,call", CALLS, ids=[f"{f}-{a}" for f, a, _ in CALLS])
@pytest.mark.parametrize("bad", [None, "text", {"a": 1}, [[1.0, 2.0], [3.0]]],
                         ids=["None", "str", "dict", "ragged"])
def test_non_array_objects_rejected(fn, arg, call, bad):
    if bad is None and (fn, arg) == ("dense_backward", "y"):
        # y=None is legal in general; with a non-linear activation it is a ValueError.
        with raises(ValueError, f"'{arg}'", "required"):
            call(bad)
        return
    if bad is None and (fn, arg) == ("dense_forward", "b"):
        assert call(bad).shape == (2, 2)  # b=None means no bias
        return
    with raises(TypeError, fn, f"'{arg}'"):
        call(bad)


# --------------------------------------------------------------------------- ranks


@pytest.mark.parametrize(
    "fn,arg,call,received",
    [
        ("gemm", "a", lambda: ops.gemm(np.ones(3, F), np.ones((3, 2), F)), "(3,)"),
        ("gemm", "b", lambda: ops.gemm(np.ones((2, 3), F), np.ones((3, 2, 1), F)), "(3, 2, 1)"),
        ("gemm", "a", lambda: ops.gemm(np.float32(2.0), np.ones((1, 1), F)), "()"),
        ("dense_forward", "x", lambda: ops.dense_forward(np.ones(5, F), np.ones((5, 2), F)),
         "(5,)"),
        ("dense_forward", "w", lambda: ops.dense_forward(np.ones((1, 5), F), np.ones(5, F)),
         "(5,)"),
        ("dense_forward", "b",
         lambda: ops.dense_forward(np.ones((1, 5), F), np.ones((5, 2), F), np.ones((1, 2), F)),
         "(1, 2)"),
        ("dense_backward", "x",
         lambda: ops.dense_backward(np.ones((1, 1, 5), F), np.ones((5, 2), F), np.ones((1, 2), F)),
         "(1, 1, 5)"),
        ("softmax", "x", lambda: ops.softmax(np.ones((2, 3, 4), F)), "(2, 3, 4)"),
        ("log_softmax", "x", lambda: ops.log_softmax(np.float32(1.0)), "()"),
        ("softmax_cross_entropy", "logits",
         lambda: ops.softmax_cross_entropy(np.ones(4, F), np.zeros(1, np.int64)), "(4,)"),
        ("softmax_cross_entropy", "labels",
         lambda: ops.softmax_cross_entropy(np.ones((4, 3), F), np.zeros((4, 1), np.int64)),
         "(4, 1)"),
    ],
)
def test_wrong_rank(fn, arg, call, received):
    with raises(ValueError, fn, f"'{arg}'", received):
        call()


# --------------------------------------------------------------------------- shapes


def test_gemm_inner_dimension_mismatch():
    a, b = np.ones((4, 5), F), np.ones((6, 3), F)
    with raises(ValueError, "gemm", "(4, 5)", "(6, 3)", "trans"):
        ops.gemm(a, b)
    with raises(ValueError, "gemm", "trans_a=True"):
        ops.gemm(a, np.ones((5, 3), F), trans_a=True)
    with raises(ValueError, "gemm", "trans_b=True"):
        ops.gemm(a, np.ones((5, 3), F), trans_b=True)
    ops.gemm(a, np.ones((3, 5), F), trans_b=True)  # the fix works


def test_dense_shape_mismatches(arrs):
    x, w, bias, dy = arrs["x"], arrs["w"], arrs["bias"], arrs["dy"]
    with raises(ValueError, "dense_forward", "'w'", "(5, units)", "(4, 3)"):
        ops.dense_forward(x, np.ones((4, 3), F))
    with raises(ValueError, "dense_forward", "'b'", "(3,)", "(4,)"):
        ops.dense_forward(x, w, np.ones(4, F))
    with raises(ValueError, "dense_backward", "'w'", "(4, 3)"):
        ops.dense_backward(x, np.ones((4, 3), F), dy)
    with raises(ValueError, "dense_backward", "'dy'", "(6, 3)", "(6, 4)"):
        ops.dense_backward(x, w, np.ones((6, 4), F))
    with raises(ValueError, "dense_backward", "'y'", "(6, 3)", "(5, 3)"):
        ops.dense_backward(x, w, dy, y=np.ones((5, 3), F), activation="relu")
    with raises(ValueError, "dense_backward", "'y'", "required", "'sigmoid'"):
        ops.dense_backward(x, w, dy, activation="sigmoid")


def test_elementwise_shape_mismatches():
    with raises(ValueError, "activation_backward", "'y'", "'dy'", "(3, 4)", "(4, 3)"):
        ops.activation_backward("relu", np.ones((3, 4), F), np.ones((4, 3), F))


def test_optimizer_shape_mismatches():
    p = np.ones((3, 4), F)
    with raises(ValueError, "sgd_update", "'grad'", "(3, 4)", "(4, 3)"):
        ops.sgd_update(p, np.ones((4, 3), F), lr=0.1)
    with raises(ValueError, "sgd_update", "'velocity'", "(3, 4)", "(12,)"):
        ops.sgd_update(p, np.ones((3, 4), F), np.zeros(12, F), lr=0.1, momentum=0.9)
    z = np.zeros((3, 4), F)
    with raises(ValueError, "adam_update", "'grad'", "(3, 4)", "(3, 5)"):
        ops.adam_update(p, np.ones((3, 5), F), z, z.copy(), step=1, lr=0.1)
    with raises(ValueError, "adam_update", "'m'", "(3, 4)", "(3,)"):
        ops.adam_update(p, z.copy(), np.zeros(3, F), z.copy(), step=1, lr=0.1)
    with raises(ValueError, "adam_update", "'v'", "(3, 4)", "(4, 3)"):
        ops.adam_update(p, z.copy(), z.copy(), np.zeros((4, 3), F), step=1, lr=0.1)


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize("bad,value", [([0, 4, 1], "4"), ([0, -1, 1], "-1"),
                                       ([0, 1, 1000], "1000")])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int16])
def test_labels_out_of_range(dtype, bad, value):
    logits = np.zeros((3, 4), F)
    with raises(ValueError, "softmax_cross_entropy", "'labels'", value, "[0, 4)", "(3, 4)"):
        ops.softmax_cross_entropy(logits, np.array(bad, dtype))


def test_labels_that_would_wrap_in_int32():
    """2**32 + 1 must not silently become label 1."""
    logits = np.zeros((2, 4), F)
    with raises(ValueError, "'labels'", str(2**32 + 1)):
        ops.softmax_cross_entropy(logits, np.array([0, 2**32 + 1], np.int64))
    with raises(ValueError, "'labels'", str(2**63 - 1)):
        ops.softmax_cross_entropy(logits, np.array([0, 2**63 - 1], np.uint64))


@pytest.mark.parametrize(
    "labels,dtname",
    [(np.array([0.0, 1.0, 2.0]), "float64"), (np.array([0.5, 1, 2], np.float32), "float32"),
     (np.array([True, False, True]), "bool"), (np.array(["0", "1", "2"]), "<U1"),
     (np.array([0, 1, 2], object), "object")],
)
def test_labels_non_integer(labels, dtname):
    with raises(TypeError, "softmax_cross_entropy", "'labels'", "integer", dtname):
        ops.softmax_cross_entropy(np.zeros((3, 4), F), labels)


def test_labels_wrong_length_and_none():
    with raises(ValueError, "'labels'", "(3,)", "(2,)"):
        ops.softmax_cross_entropy(np.zeros((3, 4), F), np.zeros(2, np.int64))
    with raises(ValueError, "'labels'", "(3,)", "(3, 1)", "reshape(-1)"):
        ops.softmax_cross_entropy(np.zeros((3, 4), F), np.zeros((3, 1), np.int32))
    with raises(TypeError, "'labels'", "None"):
        ops.softmax_cross_entropy(np.zeros((3, 4), F), None)


def test_zero_classes_rejects_any_label():
    with raises(ValueError, "'labels'", "[0, 0)"):
        ops.softmax_cross_entropy(np.zeros((2, 0), F), np.zeros(2, np.int32))


# --------------------------------------------------------------------------- out


OUT_CALLS = [
    ("gemm", (4, 3), lambda arrs, out: ops.gemm(arrs["a"], arrs["b"], out=out)),
    ("dense_forward", (6, 3),
     lambda arrs, out: ops.dense_forward(arrs["x"], arrs["w"], arrs["bias"], out=out)),
    ("relu", (6, 5), lambda arrs, out: ops.relu(arrs["x"], out=out)),
    ("sigmoid", (6, 5), lambda arrs, out: ops.sigmoid(arrs["x"], out=out)),
    ("softmax", (6, 4), lambda arrs, out: ops.softmax(arrs["logits"], out=out)),
    ("activation_backward", (6, 3),
     lambda arrs, out: ops.activation_backward("tanh", arrs["dy"] * 0.1, arrs["dy"], out=out)),
]
OUT_IDS = [c[0] for c in OUT_CALLS]


@pytest.mark.parametrize("fn,shape,call", OUT_CALLS, ids=OUT_IDS)
def test_out_read_only(arrs, fn, shape, call):
    out = np.zeros(shape, F)
    out.flags.writeable = False
    with raises(ValueError, fn, "'out'", "read-only"):
        call(arrs, out)
    np.testing.assert_array_equal(out, 0)


@pytest.mark.parametrize("fn,shape,call", OUT_CALLS, ids=OUT_IDS)
def test_out_wrong_shape(arrs, fn, shape, call):
    bad = (shape[0] + 1, shape[1])
    with raises(ValueError, fn, "'out'", str(shape), str(bad)):
        call(arrs, np.zeros(bad, F))
    with raises(ValueError, fn, "'out'", str(shape), f"({shape[0] * shape[1]},)"):
        call(arrs, np.zeros(shape[0] * shape[1], F))


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32])
@pytest.mark.parametrize("fn,shape,call", OUT_CALLS, ids=OUT_IDS)
def test_out_wrong_dtype(arrs, fn, shape, call, dtype):
    out = np.zeros(shape, dtype)
    with raises(TypeError, fn, "'out'", "float32", np.dtype(dtype).name):
        call(arrs, out)
    np.testing.assert_array_equal(out, 0)


@pytest.mark.parametrize("fn,shape,call", OUT_CALLS, ids=OUT_IDS)
def test_out_not_contiguous_or_not_array(arrs, fn, shape, call):
    big = np.zeros((shape[0], shape[1] * 2), F)
    with raises(ValueError, fn, "'out'", "C-contiguous"):
        call(arrs, big[:, ::2])
    with raises(ValueError, fn, "'out'", "C-contiguous"):
        call(arrs, np.zeros(shape[::-1], F).T)
    with raises(TypeError, fn, "'out'", "list"):
        call(arrs, np.zeros(shape).tolist())


def test_out_aliasing_inputs_rejected(arrs):
    a = np.ones((5, 5), F)
    with raises(ValueError, "gemm", "'out'", "'a'", "shares memory"):
        ops.gemm(a, np.ones((5, 5), F), out=a)
    b = np.ones((5, 5), F)
    with raises(ValueError, "gemm", "'out'", "'b'"):
        ops.gemm(np.ones((5, 5), F), b, out=b, beta=1.0)
    buf = np.ones((10, 5), F)
    with raises(ValueError, "gemm", "'out'", "'a'"):  # overlapping views, not identical
        ops.gemm(buf[:5], np.ones((5, 5), F), out=buf[3:8])
    x, w = arrs["x"], arrs["w"]
    wide = np.zeros((6, 3), F)
    with raises(ValueError, "dense_forward", "'out'", "'b'"):
        bias_view = wide.reshape(-1)[:3]
        ops.dense_forward(x, w, bias_view, out=wide)
    # Element-wise ops accept exactly the input (in place) but not a partial overlap.
    z = np.arange(20, dtype=F) - 10
    with raises(ValueError, "relu", "'out'", "'x'"):
        ops.relu(z[:10], out=z[5:15])
    with raises(ValueError, "softmax", "'out'", "'x'"):
        m = np.zeros((4, 4), F)
        ops.softmax(m[:3], out=m[1:])
    y = np.ones((3, 3), F) * 0.5
    with raises(ValueError, "activation_backward", "'out'", "'y'"):
        ops.activation_backward("sigmoid", y, np.ones((3, 3), F), out=y)


def test_gemm_beta_without_out():
    with raises(ValueError, "gemm", "beta", "out="):
        ops.gemm(np.ones((2, 2), F), np.ones((2, 2), F), beta=1.0)


# --------------------------------------------------------------------------- names, scalars


@pytest.mark.parametrize("name", ["softmax", "Relu ", "prelu", ""])
def test_unknown_activation_lists_valid_ones(name):
    x, w = np.ones((2, 3), F), np.ones((3, 2), F)
    for call in (lambda: ops.dense_forward(x, w, activation=name),
                 lambda: ops.dense_backward(x, w, np.ones((2, 2), F), y=np.ones((2, 2), F),
                                            activation=name),
                 lambda: ops.activation_backward(name, w, w)):
        with raises(ValueError, repr(name), "'linear'", "'relu'", "'leaky_relu'", "'sigmoid'",
                    "'tanh'"):
            call()


def test_activation_name_suggestion():
    with raises(ValueError, "Did you mean 'relu'"):
        ops.dense_forward(np.ones((1, 1), F), np.ones((1, 1), F), activation="RELU")


def test_activation_non_string():
    with raises(TypeError, "'activation'", "int"):
        ops.dense_forward(np.ones((1, 1), F), np.ones((1, 1), F), activation=1)


@pytest.mark.parametrize(
    "call,exc,parts",
    [
        (lambda: ops.gemm(np.ones((1, 1), F), np.ones((1, 1), F), alpha="2"), TypeError,
         ("'alpha'", "str")),
        (lambda: ops.leaky_relu(np.ones(2, F), alpha=None), TypeError, ("'alpha'",)),
        (lambda: ops.sgd_update(np.ones(2, F), np.ones(2, F), lr=-0.1), ValueError,
         ("'lr'", "-0.1")),
        (lambda: ops.sgd_update(np.ones(2, F), np.ones(2, F), lr=float("nan")), ValueError,
         ("'lr'", "nan")),
        (lambda: ops.sgd_update(np.ones(2, F), np.ones(2, F), lr="fast"), TypeError, ("'lr'",)),
        (lambda: ops.sgd_update(np.ones(2, F), np.ones(2, F), lr=0.1, momentum=0.9),
         ValueError, ("'velocity'", "required", "(2,)")),
        (lambda: ops.sgd_update(np.ones(2, F), np.ones(2, F), lr=0.1, nesterov=True),
         ValueError, ("nesterov", "momentum")),
        (lambda: ops.sgd_update(np.ones(2, F), np.ones(2, F), lr=0.1, weight_decay=-1),
         ValueError, ("'weight_decay'",)),
        (lambda: ops.adam_update(*[np.ones(2, F) for _ in range(4)], step=0, lr=0.1),
         ValueError, ("'step'", ">= 1", "0")),
        (lambda: ops.adam_update(*[np.ones(2, F) for _ in range(4)], step=1.5, lr=0.1),
         TypeError, ("'step'", "float")),
        (lambda: ops.adam_update(*[np.ones(2, F) for _ in range(4)], step=1, lr=0.1,
                                 beta1=1.0), ValueError, ("'beta1'", "1.0")),
        (lambda: ops.adam_update(*[np.ones(2, F) for _ in range(4)], step=1, lr=0.1,
                                 beta2=-0.5), ValueError, ("'beta2'",)),
        (lambda: ops.adam_update(*[np.ones(2, F) for _ in range(4)], step=1, lr=0.1,
                                 eps=-1e-8), ValueError, ("'eps'",)),
    ],
)
def test_bad_scalars(call, exc, parts):
    with raises(exc, *parts):
        call()


# --------------------------------------------------------------------------- in-place args


def _sgd(p, g=None, v=None):
    return ops.sgd_update(p, np.ones(4, F) if g is None else g, v, lr=0.1,
                          momentum=0.0 if v is None else 0.9)


def _adam(p=None, m=None, v=None):
    return ops.adam_update(np.ones(4, F) if p is None else p, np.ones(4, F),
                           np.zeros(4, F) if m is None else m,
                           np.zeros(4, F) if v is None else v, step=1, lr=0.1)


@pytest.mark.parametrize(
    "call,exc,parts",
    [
        (lambda: _sgd(np.ones(4, np.float64)), TypeError, ("'param'", "float32", "float64")),
        (lambda: _sgd([1.0, 2.0, 3.0, 4.0]), TypeError, ("'param'", "list")),
        (lambda: _sgd(np.ones(8, F)[::2]), ValueError, ("'param'", "C-contiguous")),
        (lambda: _sgd(np.ones(4, np.int32)), TypeError, ("'param'", "int32")),
        (lambda: _sgd(np.ones(4, F), v=np.zeros(4, np.float64)), TypeError,
         ("'velocity'", "float64")),
        (lambda: _sgd(np.ones(4, F), v=np.zeros(8, F)[::2]), ValueError,
         ("'velocity'", "C-contiguous")),
        (lambda: _adam(p=np.ones(4, np.float16)), TypeError, ("'param'", "float16")),
        (lambda: _adam(m=np.zeros(4, np.float64)), TypeError, ("'m'", "float64")),
        (lambda: _adam(v=np.zeros((4, 2), F)[:, 0]), ValueError, ("'v'", "C-contiguous")),
        (lambda: _adam(m=[0.0] * 4), TypeError, ("'m'", "list")),
    ],
)
def test_in_place_arguments_never_converted(call, exc, parts):
    with raises(exc, *parts):
        call()


def test_in_place_read_only_rejected_and_untouched():
    p = np.ones(4, F)
    p.flags.writeable = False
    with raises(ValueError, "sgd_update", "'param'", "read-only"):
        _sgd(p)
    m = np.zeros(4, F)
    m.flags.writeable = False
    with raises(ValueError, "adam_update", "'m'", "read-only"):
        _adam(m=m)
    np.testing.assert_array_equal(p, 1)


def test_in_place_aliasing_rejected():
    p = np.ones(4, F)
    with raises(ValueError, "sgd_update", "'param'", "'grad'", "share memory"):
        ops.sgd_update(p, p, lr=0.1)
    with raises(ValueError, "sgd_update", "'param'", "'velocity'"):
        ops.sgd_update(p, np.ones(4, F), p, lr=0.1, momentum=0.9)
    s = np.zeros(8, F)
    with raises(ValueError, "adam_update", "'m'", "'v'"):
        ops.adam_update(p, np.ones(4, F), s[:4], s[:4], step=1, lr=0.1)
    np.testing.assert_array_equal(p, 1)


# --------------------------------------------------------------------------- what works


def test_float32_contiguous_input_not_copied():
    x = np.ones((3, 4), F)
    assert _validate.as_f32("f", "x", x) is x
    mm_like = x.view(np.ndarray)
    assert np.shares_memory(_validate.as_f32("f", "x", mm_like), x)
    # A float64 input is converted (a new float32 array).
    x64 = np.ones((3, 4))
    c = _validate.as_f32("f", "x", x64)
    assert c.dtype == F and not np.shares_memory(c, x64)


def test_read_only_memmap_inputs(tmp_path, ref, check, rng):
    def mm(name, arr):
        path = tmp_path / f"{name}.dat"
        arr.tofile(path)
        return np.memmap(path, dtype=arr.dtype, mode="r", shape=arr.shape)

    x = mm("x", rng.standard_normal((7, 9)).astype(F))
    w = mm("w", rng.standard_normal((9, 5)).astype(F))
    b = mm("b", rng.standard_normal(5).astype(F))
    labels = mm("labels", rng.integers(0, 5, 7).astype(np.int64))
    labels32 = mm("labels32", np.asarray(labels).astype(np.int32))
    assert not x.flags.writeable
    expected, tol = ref.gemm(x, w)
    check(ops.gemm(x, w), expected, tol, "memmap gemm")
    y = ops.dense_forward(x, w, b, activation="tanh")
    assert np.isfinite(y).all()
    dx, dw, db = ops.dense_backward(x, w, mm("dy", np.ones((7, 5), F)), y=mm("y", y),
                                    activation="tanh")
    assert np.isfinite(dx).all() and np.isfinite(dw).all() and np.isfinite(db).all()
    l1, d1 = ops.softmax_cross_entropy(mm("logits", np.asarray(y)), labels)
    l2, d2 = ops.softmax_cross_entropy(np.asarray(y), labels32)
    assert l1 == l2
    np.testing.assert_array_equal(d1, d2)
    assert np.isfinite(ops.softmax(x)).all()
    p = np.ones(5, F)
    ops.sgd_update(p, b, lr=1.0)
    np.testing.assert_allclose(p, 1 - np.asarray(b), rtol=1e-6)


def test_read_only_plain_arrays_as_inputs(rng):
    x = rng.standard_normal((4, 4)).astype(F)
    x.flags.writeable = False
    np.testing.assert_array_equal(ops.relu(x), np.maximum(x, 0))
    np.testing.assert_array_equal(ops.gemm(x, x, trans_a=True), ops.gemm(x.copy(), x.copy(),
                                                                         trans_a=True))


def test_errors_leave_interpreter_alive():
    """A burst of bad calls, then a good one: nothing crashed or corrupted state."""
    for bad in (np.ones((2, 2), np.int8), None, "x", np.ones((0, 3, 3), F)):
        with pytest.raises((TypeError, ValueError)):
            ops.softmax(bad)
    assert ops.softmax(np.zeros(4, F)).tolist() == [0.25] * 4
