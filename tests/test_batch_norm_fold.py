"""The inference fold of BatchNormalization into the Dense before it (issue 11): predict and
evaluate of Dense -> BN -> activation models against a float64 NumPy reference of the
unfolded layers, on every tier; a row alone gives the bits it gets in a batch, on any
thread count; the fold follows the weights (set_weights, training)."""
import math

import numpy as np
import pytest

import fastmlp as fm
from _np_reference import np_activation

ROWS = (1, 3, 4, 5, 37, 300)  # the few-row path (<= 4 rows) and the packed GEMM


def _model(act="relu", use_bias=True, center=True, scale=True, tail="dense", seed=0):
    layers = [fm.Dense(24, use_bias=use_bias),
              fm.BatchNormalization(center=center, scale=scale, epsilon=1e-3)]
    if act is not None:
        layers.append(fm.Activation(act))
    if tail == "dense":
        layers += [fm.Dense(5), fm.Softmax()]
    return fm.Sequential(layers, input_shape=(11,), seed=seed)


def _randomize(m, rng):
    """Random weights, and moving statistics far from (0, 1) so the fold matters."""
    ws = []
    for w, name in zip(m.get_weights(), _names(m)):
        if name == "moving_variance":
            ws.append(rng.uniform(0.2, 3.0, w.shape).astype(np.float32))
        elif name == "moving_mean":
            ws.append(rng.normal(0, 2, w.shape).astype(np.float32))
        elif name == "gamma":
            ws.append(rng.normal(1, 0.5, w.shape).astype(np.float32))
        else:
            ws.append(rng.normal(0, 0.5, w.shape).astype(np.float32))
    m.set_weights(ws)


def _names(m):
    out = []
    for layer in m.layers:
        if isinstance(layer, fm.BatchNormalization):
            out += (["gamma"] if layer.scale else []) + (["beta"] if layer.center else []) \
                + ["moving_mean", "moving_variance"]
        elif isinstance(layer, fm.Dense):
            out += ["kernel"] + (["bias"] if layer.use_bias else [])
    return out


_ACTS = {  # beside _np_reference.np_activation's
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": lambda z: z * 0.5 * (1 + np.vectorize(math.erf)(z / np.sqrt(2))),
}


def _reference(m, x, act):
    """Dense then BN (moving statistics) then act then the tail, in float64."""
    vals = [w.astype(np.float64) for w in m.get_weights()]
    names = _names(m)
    it = iter(zip(names, vals))
    h = x.astype(np.float64)
    for layer in m.layers:
        if isinstance(layer, fm.Dense):
            _, W = next(it)
            h = h @ W
            if layer.use_bias:
                h = h + next(it)[1]
        elif isinstance(layer, fm.BatchNormalization):
            ws = {}
            for _ in range(int(layer.scale) + int(layer.center) + 2):
                n, v = next(it)
                ws[n] = v
            h = (h - ws["moving_mean"]) / np.sqrt(ws["moving_variance"] + 1e-3)
            h = h * ws.get("gamma", 1.0) + ws.get("beta", 0.0)
        elif isinstance(layer, fm.Activation):
            h = _ACTS[act](h) if act in _ACTS else np_activation(act, h)
        elif isinstance(layer, fm.Softmax):
            e = np.exp(h - h.max(1, keepdims=True))
            h = e / e.sum(1, keepdims=True)
    return h


@pytest.mark.parametrize("act,use_bias,center,scale", [
    ("relu", True, True, True), ("tanh", False, True, True), ("relu", True, False, False),
    ("gelu", True, True, False), (None, False, False, True), ("elu", True, True, True)])
def test_predict_matches_the_unfolded_float64_reference(isa, rng, act, use_bias, center,
                                                        scale):
    m = _model(act, use_bias, center, scale)
    _randomize(m, rng)
    for rows in ROWS:
        x = rng.normal(size=(rows, 11)).astype(np.float32)
        np.testing.assert_allclose(m.predict(x), _reference(m, x, act), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("act", ["relu", "sigmoid", None])
def test_fold_at_the_top_of_the_model(isa, rng, act):
    m = _model(act, tail=None)
    _randomize(m, rng)
    x = rng.normal(size=(70, 11)).astype(np.float32)
    np.testing.assert_allclose(m.predict(x), _reference(m, x, act), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(m.predict(x[:2]), _reference(m, x[:2], act), rtol=2e-5,
                               atol=2e-6)
    if act == "sigmoid":  # the sigmoid is fused into the loss: the fold runs linear
        m.compile(optimizer="sgd", loss="binary_crossentropy")
        y = (rng.uniform(size=(70, 24)) < 0.5).astype(np.float32)
        p = np.clip(_reference(m, x, act), 1e-7, 1 - 1e-7)
        ref = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        assert np.isclose(m.evaluate(x, y)["loss"], ref, rtol=1e-4)


# (784 -> 256: on 2 threads a few-row predict splits the folded Dense's columns)
@pytest.mark.parametrize("inputs,units", [(11, 24), (784, 256)])
def test_a_row_alone_gives_its_bits_in_a_batch_on_any_thread_count(isa, rng, restore_threads,
                                                                  inputs, units):
    m = fm.Sequential([fm.Dense(units), fm.BatchNormalization(), fm.ReLU(), fm.Dense(5),
                       fm.Softmax()], input_shape=(inputs,), seed=0)
    _randomize(m, rng)
    x = rng.normal(size=(300, inputs)).astype(np.float32)
    fm.set_num_threads(1)
    ref = m.predict(x)
    for threads in (1, 2):
        fm.set_num_threads(threads)
        np.testing.assert_array_equal(m.predict(x), ref)
        for r in (0, 7, 299):
            np.testing.assert_array_equal(m.predict(x[r:r + 1]), ref[r:r + 1])
        np.testing.assert_array_equal(m.predict(x[5:8]), ref[5:8])
        np.testing.assert_array_equal(m.predict(x[:64]), ref[:64])


def test_the_fold_follows_the_weights(isa, rng):
    m = _model("relu")
    _randomize(m, rng)
    x = rng.normal(size=(50, 11)).astype(np.float32)
    y = rng.integers(0, 5, 50)
    for rows in (2, 50):  # both inference paths hold a fold of the old weights now
        m.predict(x[:rows])
    _randomize(m, rng)  # set_weights
    for rows in (2, 50):
        np.testing.assert_allclose(m.predict(x[:rows]), _reference(m, x[:rows], "relu"),
                                   rtol=2e-5, atol=2e-6)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = m.get_weights()
    m.fit(x, y, batch_size=10, epochs=1, verbose=0, seed=0)  # moves W, gamma, beta and
    after = m.get_weights()                                   # the moving statistics
    assert all(not np.array_equal(a, b) for a, b in zip(before[:6], after[:6]))
    for rows in (2, 50):
        np.testing.assert_allclose(m.predict(x[:rows]), _reference(m, x[:rows], "relu"),
                                   rtol=2e-5, atol=2e-6)
    p = _reference(m, x, "relu")  # (the softmax is fused with the loss: no clipping)
    ref = -np.mean(np.log(p[np.arange(50), y]))
    assert np.isclose(m.evaluate(x, y)["loss"], ref, rtol=1e-5)


def test_training_is_unchanged_by_the_fold(rng):
    # training runs the layers unfolded: the loss compute_gradients reports is Dense then
    # BN with the batch's statistics, whatever predict has folded meanwhile
    m = _model("relu")
    _randomize(m, rng)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.normal(size=(16, 11)).astype(np.float32)
    y = rng.integers(0, 5, 16).astype(np.int32)
    before = m._net.compute_gradients(x, y)
    m.predict(x)
    after = m._net.compute_gradients(x, y)
    assert before[0] == after[0]
    for a, b in zip(before[1], after[1]):
        np.testing.assert_array_equal(a, b)


def test_unfolded_batch_norm_predicts_with_moving_statistics(isa, rng):
    # BN after a non-linear Dense (no fold): scale and shift computed once per version
    m = fm.Sequential([fm.Dense(9, activation="tanh"), fm.BatchNormalization(), fm.Dense(3)],
                      input_shape=(4,), seed=1)
    ws = m.get_weights()
    ws[4] = rng.normal(0, 1, 9).astype(np.float32)
    ws[5] = rng.uniform(0.5, 2, 9).astype(np.float32)
    for rows in (1, 40):
        x = rng.normal(size=(rows, 4)).astype(np.float32)
        m.set_weights(ws)
        W0, b0, g, b, mm, mv, W1, b1 = [w.astype(np.float64) for w in ws]
        h = np.tanh(x @ W0 + b0)
        ref = (g * (h - mm) / np.sqrt(mv + 1e-3) + b) @ W1 + b1
        np.testing.assert_allclose(m.predict(x), ref, rtol=2e-5, atol=2e-6)
        ws[5] = ws[5] * 1.5  # the next round changes the variance


def test_the_fold_is_what_inference_holds():
    # a few-row predict holds the folded W' and b' only (no packs); an unfolded BN holds
    # its scale and shift
    m = _model("relu")
    m.predict(np.ones((2, 11), np.float32))
    assert m._net.memory()["packed"] == (11 * 24 + 24) * 4
    u = fm.Sequential([fm.Dense(24, activation="tanh"), fm.BatchNormalization()],
                      input_shape=(11,))
    u.predict(np.ones((2, 11), np.float32))
    assert u._net.memory()["packed"] == 2 * 24 * 4
