"""Every activation as Dense(activation=...) and as Activation(name) in a model: predict
against a float64 reference, gradients by finite differences (the ones whose derivative
needs the input run as a separate engine layer), and export to PyTorch and ONNX."""
import math

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.layers import ACTIVATIONS

_erf = np.vectorize(math.erf)
SELU_A, SELU_S = 1.6732632423543772, 1.0507009873554805
REF = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x)),
    "softplus": lambda x: np.logaddexp(0, x),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
}


def test_every_engine_activation_has_a_reference():
    assert set(ACTIVATIONS) == set(REF)


def _model(act, as_layer):
    hidden = [fm.Dense(9), fm.Activation(act)] if as_layer else [fm.Dense(9, activation=act)]
    return fm.Sequential(hidden + [fm.Dense(2)], input_shape=(4,), seed=3)


@pytest.mark.parametrize("as_layer", [False, True])
@pytest.mark.parametrize("act", sorted(REF))
def test_predict_and_gradients(act, as_layer):
    rng = np.random.default_rng(0)
    x = rng.normal(scale=1.5, size=(13, 4)).astype(np.float32)
    y = rng.normal(size=(13, 2)).astype(np.float32)
    m = _model(act, as_layer)
    m.compile(optimizer="sgd", loss="mse")
    W0, b0, W1, b1 = [w.astype(np.float64) for w in m.get_weights()]
    ref = REF[act](x @ W0 + b0) @ W1 + b1
    np.testing.assert_allclose(m.predict(x), ref, rtol=2e-5, atol=2e-5)
    loss, grads = m._net.compute_gradients(x, y)
    assert np.isclose(loss, np.mean((ref - y) ** 2), rtol=1e-4)
    w = m.get_weights()
    eps = 1e-3
    for i, idx in [(0, (0, 0)), (0, (3, 8)), (1, 4), (2, (5, 1))]:
        hi, lo = [a.copy() for a in w], [a.copy() for a in w]
        hi[i][idx] += eps
        lo[i][idx] -= eps
        m.set_weights(hi)
        lh = float(m._net.compute_gradients(x, y)[0])
        m.set_weights(lo)
        ll = float(m._net.compute_gradients(x, y)[0])
        fd = (lh - ll) / (2 * eps)
        assert abs(fd - grads[i][idx]) < 1e-2 * max(1.0, abs(fd)), (act, i, idx, fd,
                                                                  grads[i][idx])


@pytest.mark.parametrize("act", ["gelu", "silu", "mish", "elu", "softplus"])
def test_trains(act):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 4)).astype(np.float32)
    y = (x[:, :2] ** 2).astype(np.float32)
    m = _model(act, False)
    m.compile(optimizer=fm.optimizers.Adam(learning_rate=1e-2), loss="mse")
    h = m.fit(x, y, batch_size=32, epochs=15, verbose=0)
    assert h.history["loss"][-1] < 0.6 * h.history["loss"][0]


@pytest.mark.parametrize("act", sorted(REF))
def test_exports(act):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).normal(size=(7, 4)).astype(np.float32)
    m = _model(act, True)
    with torch.no_grad():
        got = m.to_torch()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, m.predict(x), rtol=1e-5, atol=1e-5)
    back = fm.from_torch(m.to_torch())
    np.testing.assert_allclose(back.predict(x), m.predict(x), rtol=1e-6, atol=1e-6)
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(m.to_onnx().SerializeToString(),
                                providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], m.predict(x), rtol=1e-5,
                               atol=1e-5)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Activation: expected one of \['linear', 'relu'.*"
                                         r"'mish'.*'swish'.*got 'swoosh'"):
        fm.Activation("swoosh")
    assert fm.Activation("swish").activation == "silu"
