"""ONNX export / import: onnxruntime runs what to_onnx writes; from_onnx reads it back."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
from _optional import require
from fastmlp.interop import onnx as fonnx


def _ort(path):
    ort = require("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _models():
    yield "relu_softmax", fm.Sequential([fm.Dense(16, activation="relu"),
                                         fm.Dense(5, activation="softmax")], input_shape=(9,),
                                        seed=1), (9,)
    yield "all_acts_images", fm.Sequential(
        [fm.Rescaling(1 / 255, 0.25), fm.Flatten(), fm.Dense(12), fm.ReLU(),
         fm.Dense(11, activation="tanh"), fm.Dense(10), fm.LeakyReLU(0.2),
         fm.Dense(9, activation="sigmoid"), fm.Dense(8, activation="leaky_relu"),
         fm.Dense(7), fm.Tanh(), fm.Dense(6), fm.Sigmoid(), fm.Dense(4), fm.Softmax()],
        input_shape=(3, 5), seed=2), (3, 5)
    yield "regression_no_bias", fm.Sequential([fm.Dense(7, activation="relu", use_bias=False),
                                               fm.Dense(2)], input_shape=(4,), seed=3), (4,)


MODELS = list(_models())


@pytest.mark.parametrize("use_gemm", [True, False])
@pytest.mark.parametrize("name,model,shape", MODELS, ids=[m[0] for m in MODELS])
def test_onnxruntime_matches_predict_and_round_trip(tmp_path, name, model, shape, use_gemm):
    onnx = require("onnx")
    path = tmp_path / "m.onnx"
    proto = fonnx.to_onnx(model, path, opset=17, use_gemm=use_gemm)
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= set(fonnx.SUPPORTED_OPS)
    assert ("Gemm" in ops) == use_gemm
    assert ("MatMul" in ops) == (not use_gemm or name == "regression_no_bias")
    onnx.checker.check_model(onnx.load(str(path)))
    sess = _ort(path)
    rng = np.random.default_rng(0)
    for n in (1, 3, 64):  # dynamic batch dimension
        x = rng.uniform(-2, 255 if len(shape) > 1 else 2, (n, *shape)).astype(np.float32)
        ref = model.predict(x)
        got = sess.run(None, {"input": x})[0]
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    back = fonnx.from_onnx(path)
    assert back.input_shape == model.input_shape
    x = rng.uniform(-2, 2, (17, *shape)).astype(np.float32)
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=1e-6, atol=1e-7)
    # also from the in-memory proto and from bytes
    np.testing.assert_array_equal(fonnx.from_onnx(proto).predict(x), back.predict(x))
    np.testing.assert_array_equal(fonnx.from_onnx(proto.SerializeToString()).predict(x),
                                  back.predict(x))


def test_dynamic_batch_dimension_is_symbolic():
    require("onnx")
    model = MODELS[0][1]
    proto = fonnx.to_onnx(model)
    for vi in (proto.graph.input[0], proto.graph.output[0]):
        d0 = vi.type.tensor_type.shape.dim[0]
        assert d0.dim_param == "batch" and not d0.HasField("dim_value")


@pytest.mark.parametrize("opset", [13, 17])
def test_opsets(tmp_path, opset):
    require("onnx")
    model = MODELS[1][1]
    proto = fonnx.to_onnx(model, tmp_path / "m.onnx", opset=opset)
    assert proto.opset_import[0].version == opset
    x = np.random.default_rng(1).uniform(0, 255, (5, 3, 5)).astype(np.float32)
    np.testing.assert_allclose(_ort(tmp_path / "m.onnx").run(None, {"input": x})[0],
                               model.predict(x), rtol=1e-5, atol=1e-6)


def test_bad_opset_and_unbuilt_model():
    require("onnx")
    with pytest.raises(ValueError, match="opset"):
        fonnx.to_onnx(MODELS[0][1], opset=3)
    with pytest.raises(ValueError, match="not built"):
        fonnx.to_onnx(fm.Sequential([fm.Dense(3)]))


def test_from_onnx_refuses_other_graphs_listing_ops(tmp_path):
    onnx = require("onnx")
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2]),
             helper.make_node("Relu", ["p"], ["y"])]
    g = helper.make_graph(nodes, "cnn",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          initializer=[w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "cnn.onnx"
    onnx.save(m, str(path))
    with pytest.raises(ValueError, match=r"unsupported ops: Conv, MaxPool"):
        fonnx.from_onnx(path)


def test_from_onnx_refuses_branches(tmp_path):
    require("onnx")
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Add", ["a", "r"], ["y"])]  # a residual connection
    g = helper.make_graph(nodes, "res",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
                          initializer=[w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ValueError, match="chain"):
        fonnx.from_onnx(m)


def test_from_onnx_gemm_transposed_and_scaled():
    require("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)
    W = rng.standard_normal((3, 4)).astype(np.float32)  # [out, in] as PyTorch exports
    b = rng.standard_normal(3).astype(np.float32)
    nodes = [helper.make_node("Div", ["x", "s"], ["d"]),
             helper.make_node("Gemm", ["d", "W", "b"], ["g"], transB=1, alpha=0.5, beta=2.0),
             helper.make_node("Reshape", ["g", "shape"], ["y"])]
    g = helper.make_graph(nodes, "t",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
                          initializer=[numpy_helper.from_array(W, "W"),
                                       numpy_helper.from_array(b, "b"),
                                       numpy_helper.from_array(np.float32(4.0), "s"),
                                       numpy_helper.from_array(np.array([0, -1], np.int64),
                                                               "shape")])
    m = fonnx.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    x = rng.standard_normal((6, 4)).astype(np.float32)
    np.testing.assert_allclose(m.predict(x), 0.5 * (x / 4) @ W.T + 2 * b, rtol=1e-5, atol=1e-6)


def test_sklearn_to_onnx_in_onnxruntime(tmp_path):
    """A scikit-learn MLP -> fastmlp -> ONNX keeps predict_proba."""
    require("onnx")
    require("sklearn")
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    from fastmlp.interop import from_sklearn
    X, y = load_iris(return_X_y=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier((8,), max_iter=50, random_state=0).fit(X, y)
    fonnx.to_onnx(from_sklearn(est), tmp_path / "s.onnx")
    got = _ort(tmp_path / "s.onnx").run(None, {"input": X.astype(np.float32)})[0]
    np.testing.assert_allclose(got, est.predict_proba(X), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not hasattr(fm.Sequential, "to_onnx") or not hasattr(fm, "from_onnx"),
                    reason="Sequential.to_onnx / fm.from_onnx not wired in yet (models.py, "
                           "__init__.py)")
def test_public_api_wiring(tmp_path):
    require("onnx")
    model = MODELS[0][1]
    model.to_onnx(tmp_path / "m.onnx", opset=17)
    x = np.random.default_rng(3).standard_normal((4, 9)).astype(np.float32)
    np.testing.assert_allclose(fm.from_onnx(tmp_path / "m.onnx").predict(x), model.predict(x),
                               rtol=1e-6, atol=1e-7)


def test_optional_helper_skips_or_fails_under_ci(monkeypatch):
    """tests/_optional.require: skip where a dependency is missing, fail when $CI is set."""
    import _optional
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _optional.require("fastmlp_no_such_module")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI"):
        _optional.require("fastmlp_no_such_module")
    with pytest.raises(pytest.fail.Exception, match="older"):
        _optional.require("numpy", "999.0")
    assert _optional.require("numpy", "1.0") is np
