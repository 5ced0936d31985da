"""from_onnx on hostile or corrupt graphs: every refusal is a ValueError naming the source."""
from __future__ import annotations

import contextlib
import os
import re
import signal

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.interop import onnx as fonnx

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

rng = np.random.default_rng(0)
W = rng.standard_normal((3, 2)).astype(np.float32)
B = rng.standard_normal(2).astype(np.float32)


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name=name)


def _model(nodes, inits=(), in_dims=("batch", 3), out_dims=("batch", 2), inp="x", out="y"):
    graph = helper.make_graph(
        nodes, "hostile",
        [helper.make_tensor_value_info(inp, TensorProto.FLOAT, list(in_dims))],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, list(out_dims))],
        initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _gemm_model(w=W, b=B):
    return _model([helper.make_node("Gemm", ["x", "W", "B"], ["y"], name="gemm")],
                  [_init("W", w), _init("B", b)])


def _raises(src, pattern):
    """from_onnx(src) raises a ValueError naming the source and matching ``pattern``."""
    shown = (os.fspath(src) if isinstance(src, (str, os.PathLike)) else
             "<bytes>" if isinstance(src, bytes) else "<ModelProto>")
    with pytest.raises(ValueError, match=re.escape(f"from_onnx({shown}): ")) as info:
        fonnx.from_onnx(src)
    assert re.search(pattern, str(info.value)), str(info.value)
    return info.value


@contextlib.contextmanager
def _deadline(seconds):
    """Fail instead of hanging (the cycle bug was an endless loop)."""
    if not hasattr(signal, "SIGALRM"):  # pragma: no cover - not on Windows
        yield
        return

    def boom(*_):
        raise AssertionError(f"from_onnx did not return within {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _three_sources(proto, tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    return [path, str(path), proto.SerializeToString(), proto]


# --------------------------------------------------------------------------- 1. cycles, size
@pytest.mark.parametrize("kind", ["self_loop", "two_nodes"])
def test_cycle_is_refused_not_an_endless_loop(kind):
    if kind == "self_loop":  # Relu(x) -> x
        nodes, inits, through = [helper.make_node("Relu", ["x"], ["x"], name="relu")], [], "relu"
    else:  # Gemm(x, W, B) -> y, Relu(y) -> x
        nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["y"], name="gemm"),
                 helper.make_node("Relu", ["y"], ["x"], name="relu")]
        inits, through = [_init("W", np.ones((3, 3), np.float32)), _init("B", np.ones(3))], "gemm"
    proto = _model(nodes, inits)
    with _deadline(20):
        _raises(proto, rf"the graph has a cycle through node '{through}'")


def test_more_nodes_than_the_limit_are_refused(tmp_path):
    n = fonnx._MAX_NODES
    nodes = [helper.make_node("Identity", [f"t{i}" if i else "x"], [f"t{i + 1}"], name=f"id{i}")
             for i in range(n)]
    nodes.append(helper.make_node("Gemm", [f"t{n}", "W", "B"], ["y"], name="gemm"))
    proto = _model(nodes, [_init("W", W), _init("B", B)])
    path = tmp_path / "big.onnx"
    onnx.save_model(proto, str(path))
    _raises(path, rf"{n + 1} nodes, more than the {n}")
    # one node fewer is still a (silly, but valid) MLP
    del proto.graph.node[0]
    proto.graph.node[0].input[0] = "x"
    assert fonnx.from_onnx(proto).count_params() == W.size + B.size


# --------------------------------------------------------------------------- 2. NaN / inf
def test_non_finite_initializer_weight_is_refused(tmp_path):
    w = W.copy()
    w[0, 0], w[1, 1], w[2, 0] = np.nan, np.inf, -np.inf
    for src in _three_sources(_gemm_model(w=w), tmp_path):
        _raises(src, r"initializer 'W' holds 3 non-finite values \(NaN/inf\)")
    b = B.astype(np.float64)
    b[1] = np.nan
    _raises(_gemm_model(b=b), r"initializer 'B' holds 1 non-finite value")


def test_non_finite_constant_scale_and_offset_are_refused():
    for op, val in (("Mul", np.inf), ("Add", np.nan)):
        nodes = [helper.make_node("Constant", [], ["c"], name="const",
                                  value=_init("c_value", np.float32(val))),
                 helper.make_node(op, ["x", "c"], ["s"], name="rescale"),
                 helper.make_node("Gemm", ["s", "W", "B"], ["y"], name="gemm")]
        _raises(_model(nodes, [_init("W", W), _init("B", B)]),
                r"Constant 'c' holds 1 non-finite values")


def test_float64_weight_that_overflows_float32_is_refused():
    w = W.astype(np.float64)
    w[0, 0] = 1e300  # finite in the file, inf once fastmlp casts it to float32
    _raises(_gemm_model(w=w), r"'gemm': its weight is not finite in float32")


# --------------------------------------------------------------------------- 3. corrupt input
def _exported(tmp_path):
    model = fm.Sequential([fm.Dense(4, activation="relu"), fm.Dense(2)], input_shape=(3,),
                          seed=0)
    path = tmp_path / "good.onnx"
    fonnx.to_onnx(model, path)
    return path


def test_truncated_file_and_bytes_are_value_errors(tmp_path):
    data = _exported(tmp_path).read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    e = _raises(cut, r"not a valid ONNX model")
    assert e.__cause__ is not None  # protobuf's DecodeError, chained
    e = _raises(data[: len(data) // 2], r"not an ONNX model")
    assert e.__cause__ is not None


@pytest.mark.parametrize("data", [b"not an onnx model", b""])
def test_bytes_that_are_not_a_model(data):
    _raises(data, r"not an ONNX model|has no graph")


def _with_external_weight(proto, location):
    t = next(t for t in proto.graph.initializer if t.dims and len(t.dims) == 2)
    raw = numpy_helper.to_array(t).tobytes()
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("length", str(len(raw)))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return raw


@pytest.mark.parametrize("location", ["missing.bin", "../outside.bin", "/etc/passwd"])
def test_external_data_with_a_bad_path_is_a_value_error(tmp_path, location):
    proto = onnx.load(str(_exported(tmp_path)))
    _with_external_weight(proto, location)
    path = tmp_path / "ext.onnx"
    onnx.save_model(proto, str(path))
    e = _raises(path, r"cannot load the external data")
    assert e.__cause__ is not None


def test_external_data_loads_from_a_path_but_never_from_the_cwd(tmp_path, monkeypatch):
    proto = onnx.load(str(_exported(tmp_path)))
    raw = _with_external_weight(proto, "w.bin")
    (tmp_path / "w.bin").write_bytes(raw)
    path = tmp_path / "ext.onnx"
    onnx.save_model(proto, str(path))
    ref = fonnx.from_onnx(tmp_path / "good.onnx")
    x = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_array_equal(fonnx.from_onnx(path).predict(x), ref.predict(x))
    # without a path there is no folder to read from: the cwd must not be used instead
    monkeypatch.chdir(tmp_path)
    for src in (proto, proto.SerializeToString()):
        _raises(src, r"keeps its data in an external file \('w.bin'\)")


# --------------------------------------------------------------------------- 4. Reshape
def _reshape_model(shape, in_dims=("batch", 3, 5), allowzero=None):
    attrs = {} if allowzero is None else {"allowzero": allowzero}
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["flat"], name="reshape", **attrs),
             helper.make_node("Gemm", ["flat", "W", "B"], ["y"], name="gemm")]
    inits = [_init("shape", np.asarray(shape, np.int64)),
             _init("W", rng.standard_normal((15, 2)).astype(np.float32)), _init("B", B)]
    return _model(nodes, inits, in_dims=in_dims)


@pytest.mark.parametrize("in_dims", [("batch", 3, 5), ("batch", "h", "w")],
                         ids=["static", "symbolic"])
@pytest.mark.parametrize("shape", [[0, 10**15], [-1, 7], [0, 16], [0, 0], [-1, -1]])
def test_reshape_that_is_not_a_flatten_is_refused(shape, in_dims):
    _raises(_reshape_model(shape, in_dims), r"Reshape node 'reshape' to ")
    # the true width (from the input dims, or else the next Gemm's rows) is a flatten
    for ok in ([0, -1], [-1, 15], [0, 15]):
        assert fonnx.from_onnx(_reshape_model(ok, in_dims)).input_shape[-1] in (5, 15)


def test_reshape_with_allowzero_to_an_empty_batch_is_refused():
    _raises(_reshape_model([0, -1], allowzero=1), r"allowzero=1")
    fonnx.from_onnx(_reshape_model([-1, 15], allowzero=1))


# --------------------------------------------------------------------------- 5. negative dims
def _negative_dims_tensor(name, dims, values):
    t = TensorProto()
    t.name, t.data_type = name, TensorProto.FLOAT
    t.dims.extend(dims)
    t.raw_data = np.asarray(values, np.float32).tobytes()
    return t


@pytest.mark.parametrize("dims", [[-1, 2], [3, -2]])
def test_initializer_with_a_negative_dimension_is_refused(dims, tmp_path):
    proto = _model([helper.make_node("Gemm", ["x", "W", "B"], ["y"], name="gemm")],
                   [_negative_dims_tensor("W", dims, W.ravel()), _init("B", B)])
    for src in _three_sources(proto, tmp_path):
        _raises(src, r"initializer 'W' has a negative dimension in its shape "
                + re.escape(str(dims)))


def test_constant_with_a_negative_dimension_is_refused():
    nodes = [helper.make_node("Constant", [], ["c"], name="const",
                              value=_negative_dims_tensor("c_value", [-1], [2.0])),
             helper.make_node("Mul", ["x", "c"], ["s"], name="scale"),
             helper.make_node("Gemm", ["s", "W", "B"], ["y"], name="gemm")]
    _raises(_model(nodes, [_init("W", W), _init("B", B)]),
            r"Constant 'c' has a negative dimension")


# --------------------------------------------------------------------------- other malformed
def test_malformed_graphs_are_value_errors_naming_the_source():
    gemm = helper.make_node("Gemm", ["s", "W", "B"], ["y"], name="gemm")
    inits = [_init("W", W), _init("B", B)]
    zero = _init("zero", np.float32(0.0))
    cases = [  # (graph, what the message says); each was an IndexError etc. before
        (_model([helper.make_node("Mul", ["x"], ["s"], name="mul"), gemm], inits),
         r"Mul node 'mul' has 1 inputs, expected 2"),
        (_model([helper.make_node("Div", ["x", "zero"], ["s"], name="div"), gemm],
                inits + [zero]), r"Div node 'div' divides by zero"),
        (_gemm_model(b=np.ones(5, np.float32)), r"bias C of shape \(5,\) does not fit 2"),
        (_gemm_model(b=np.ones((2, 1), np.float32)), r"bias C of shape \(2, 1\) does not"),
        (_gemm_model(w=np.ones((4, 2), np.float32)), r"takes 4 input features but receives 3"),
        (_gemm_model(w=np.ones((3, 0), np.float32), b=np.ones(1, np.float32)),
         r"empty weight of shape \(3, 0\)"),
    ]
    for proto, pattern in cases:
        _raises(proto, pattern)


def test_existing_messages_name_the_source(tmp_path):
    proto = _model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv")], [_init("W", W)])
    for src in _three_sources(proto, tmp_path):
        _raises(src, r"unsupported ops: Conv")
    with pytest.raises(TypeError, match="from_onnx: expected a path, bytes or onnx.ModelProto"):
        fonnx.from_onnx(42)
