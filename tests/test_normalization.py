"""BatchNormalization, LayerNormalization and GaussianNoise layers (issue 11) against a
float64 NumPy reference: training forward (the loss compute_gradients reports), backward
(finite differences of that loss on whole models), moving statistics, inference, saving
and export."""
import numpy as np
import pytest

import fastmlp as fm
from _np_reference import assert_gradients_match_fd as _fd_check


def _bn_ref(z, g, b, eps):
    mu, var = z.mean(0), z.var(0)
    return g * (z - mu) / np.sqrt(var + eps) + b, mu, var


def _ln_ref(z, g, b, eps):
    mu, var = z.mean(1, keepdims=True), z.var(1, keepdims=True)
    return g * (z - mu) / np.sqrt(var + eps) + b


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(24, 6)).astype(np.float32), rng.normal(size=(24, 3)).astype(np.float32)


def _randomize(m, rng):
    m.set_weights([rng.normal(0.5, 0.3, size=w.shape).astype(np.float32)
                   if w.ndim == 1 else w for w in m.get_weights()])


def test_batch_norm_training_loss_and_gradients(data):
    x, y = data
    m = fm.Sequential([fm.Dense(7), fm.BatchNormalization(epsilon=1e-3), fm.Tanh(),
                       fm.Dense(3)], input_shape=(6,), seed=1)
    m.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    W0, b0, g, beta, mm, mv, W1, b1 = m.get_weights()
    g, beta = rng.normal(1, 0.2, 7).astype(np.float32), rng.normal(0, 0.2, 7).astype(np.float32)
    m.set_weights([W0, b0, g, beta, mm, mv, W1, b1])
    z = x.astype(np.float64) @ W0 + b0
    h, _, _ = _bn_ref(z, g, beta, 1e-3)
    out = np.tanh(h) @ W1 + b1
    loss, _ = m._net.compute_gradients(x, y)
    assert np.isclose(loss, np.mean((out - y) ** 2), rtol=1e-5)
    _fd_check(m, x, y, [(0, (0, 0)), (0, (5, 6)), (1, 3), (2, 1), (3, 4), (6, (2, 1))])


def test_batch_norm_moving_statistics_and_inference(data):
    x, y = data
    m = fm.Sequential([fm.BatchNormalization(momentum=0.9), fm.Dense(3)], input_shape=(6,),
                      seed=2)
    m.compile(optimizer=fm.optimizers.SGD(learning_rate=1e-9), loss="mse")
    m.train_on_batch(x, y)
    g, b, mm, mv = m.get_weights()[:4]
    xd = x.astype(np.float64)
    np.testing.assert_allclose(mm, 0.1 * xd.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mv, 0.9 + 0.1 * xd.var(0), rtol=1e-5)
    # inference uses the moving statistics, not the batch's
    W, bias = m.get_weights()[4:]
    ref = (g * (xd - mm) / np.sqrt(mv + 1e-3) + b) @ W + bias
    np.testing.assert_allclose(m.predict(x), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.predict(x[:1]), ref[:1], rtol=1e-5, atol=1e-5)
    # compute_gradients never moves them
    m._net.compute_gradients(x, y)
    np.testing.assert_array_equal(m.get_weights()[2], mm)


def test_batch_norm_refuses_one_row_batches(data):
    x, y = data
    m = fm.Sequential([fm.Dense(4), fm.BatchNormalization(), fm.Dense(3)], input_shape=(6,))
    m.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="needs at least 2 rows per training batch"):
        m.train_on_batch(x[:1], y[:1])
    with pytest.raises(ValueError, match="batch_size"):
        m.fit(x[:9], y[:9], batch_size=4, verbose=0)  # a last batch of 1 row
    m.fit(x[:8], y[:8], batch_size=4, verbose=0)


def test_layer_norm_forward_backward_and_inference(data):
    x, y = data
    m = fm.Sequential([fm.Dense(8, activation="relu"), fm.LayerNormalization(epsilon=1e-5),
                       fm.Dense(3)], input_shape=(6,), seed=3)
    m.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(3)
    W0, b0, g, b, W1, b1 = m.get_weights()
    g, b = rng.normal(1, 0.2, 8).astype(np.float32), rng.normal(0, 0.2, 8).astype(np.float32)
    m.set_weights([W0, b0, g, b, W1, b1])
    h = np.maximum(x.astype(np.float64) @ W0 + b0, 0)
    out = _ln_ref(h, g, b, 1e-5) @ W1 + b1
    np.testing.assert_allclose(m.predict(x), out, rtol=1e-5, atol=1e-5)
    loss, _ = m._net.compute_gradients(x, y)
    assert np.isclose(loss, np.mean((out - y) ** 2), rtol=1e-5)
    _fd_check(m, x, y, [(0, (1, 2)), (2, 0), (2, 7), (3, 5), (4, (3, 2))])


def test_layer_norm_matches_torch(data):
    torch = pytest.importorskip("torch")
    x, _ = data
    m = fm.Sequential([fm.Dense(8), fm.LayerNormalization(), fm.Dense(3)], input_shape=(6,),
                      seed=4)
    _randomize(m, np.random.default_rng(4))
    t = m.to_torch()
    assert [type(l).__name__ for l in t] == ["Linear", "LayerNorm", "Linear"]
    with torch.no_grad():
        np.testing.assert_allclose(t(torch.from_numpy(x)).numpy(), m.predict(x), rtol=1e-5,
                                   atol=1e-5)
    back = fm.from_torch(t)
    np.testing.assert_allclose(back.predict(x), m.predict(x), rtol=1e-6, atol=1e-6)


def test_batch_norm_exports_to_torch_and_onnx(data):
    torch = pytest.importorskip("torch")
    x, y = data
    m = fm.Sequential([fm.Dense(8), fm.BatchNormalization(), fm.ReLU(), fm.Dense(3),
                       fm.Softmax()], input_shape=(6,), seed=5)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(x, np.arange(24) % 3, batch_size=8, epochs=3, verbose=0)
    t = m.to_torch()
    bn = t[1]
    assert type(bn).__name__ == "BatchNorm1d" and bn.momentum == pytest.approx(0.01)
    with torch.no_grad():
        np.testing.assert_allclose(t(torch.from_numpy(x)).numpy(), m.predict(x), atol=1e-5)
    back = fm.from_torch(t)
    np.testing.assert_allclose(back.predict(x), m.predict(x), atol=1e-6)
    assert back.layers[1].momentum == pytest.approx(0.99)
    ort = pytest.importorskip("onnxruntime")
    proto = m.to_onnx()
    assert "BatchNormalization" in {n.op_type for n in proto.graph.node}
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], m.predict(x), atol=1e-5)


def test_save_and_load_keep_moving_statistics(tmp_path, data):
    x, y = data
    m = fm.Sequential([fm.Dense(5), fm.BatchNormalization(center=False),
                       fm.LayerNormalization(scale=False), fm.Dense(3)], input_shape=(6,),
                      seed=6)
    m.compile(optimizer="adam", loss="mse")
    m.fit(x, y, batch_size=8, epochs=2, verbose=0)
    m.save(tmp_path / "m.npz")
    back = fm.load_model(tmp_path / "m.npz")
    for a, b in zip(m.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.predict(x), m.predict(x))
    assert [w.shape for w in m.layers[1].weights] == [(5,), (5,), (5,)]  # gamma, mean, var


def test_gaussian_noise_trains_with_noise_and_predicts_without(data):
    x, y = data
    m = fm.Sequential([fm.GaussianNoise(0.5, seed=1), fm.Dense(3, use_bias=False)],
                      input_shape=(6,), seed=7)
    m.compile(optimizer="sgd", loss="mse")
    w = np.random.default_rng(7).normal(size=(6, 3)).astype(np.float32)
    m.set_weights([w])
    np.testing.assert_allclose(m.predict(x), x @ w, rtol=1e-5, atol=1e-6)
    clean = np.mean((x.astype(np.float64) @ w - y) ** 2)
    noisy, _ = m._net.compute_gradients(x, y)
    # E[noisy loss] = clean + 0.25 * sum_j w_j^2 / 3 (noise variance through W)
    expect = clean + 0.25 * np.sum(w.astype(np.float64) ** 2) / 3
    assert abs(noisy - expect) < 0.35 * expect, (noisy, expect)
    a, _ = m._net.compute_gradients(x, y)
    assert a == noisy  # the same step: the same noise


@pytest.mark.parametrize("make, match", [
    (lambda: fm.BatchNormalization(momentum=1.5), "momentum"),
    (lambda: fm.BatchNormalization(epsilon=0), "epsilon"),
    (lambda: fm.BatchNormalization(axis=0), "axis"),
    (lambda: fm.LayerNormalization(epsilon=-1), "epsilon"),
    (lambda: fm.GaussianNoise(-0.1), "stddev"),
    (lambda: fm.GaussianNoise(0.1, seed=1.5), "seed"),
])
def test_arguments_are_checked(make, match):
    with pytest.raises(ValueError, match=match):
        make()
