"""Dropout (issue 11): inverted dropout in training only, a counter-based mask (bitwise the
same for 1 and 2 threads, recomputed in backward), the identity in inference, saved and
exported. Checked through the engine's gradients against a float64 NumPy reference."""
import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _core
from _np_reference import assert_gradients_match_fd


def _grad_model(rate, width=50, seed=3):
    # Dropout -> Dense(1, linear, no bias) with W = 0 and mse: dL/dW_j is
    # -2/N * sum_r mask[r, j] * scale * x[r, j] * y[r], so the gradient shows the mask.
    m = fm.Sequential([fm.Dropout(rate, seed=seed), fm.Dense(1, use_bias=False)],
                      input_shape=(width,), seed=0)
    m.compile(optimizer="sgd", loss="mse")
    m.set_weights([np.zeros((width, 1), np.float32)])
    return m


def test_mask_keeps_one_minus_rate_and_scales_the_kept():
    n, width, rate = 4000, 50, 0.3
    m = _grad_model(rate, width)
    x = np.ones((n, width), np.float32)
    y = np.ones((n, 1), np.float32)
    loss, (g,) = m._net.compute_gradients(x, y)
    q = round(rate * 65536) / 65536  # the rate as applied, in steps of 1/65536
    kept = -g[:, 0] * n / (2 / (1 - q))  # kept rows per column
    np.testing.assert_allclose(kept, np.round(kept), rtol=1e-4)  # whole counts (float32 sums)
    frac = kept.sum() / (n * width)
    sd = np.sqrt(rate * (1 - rate) / (n * width))
    assert abs(frac - (1 - rate)) < 5 * sd, frac
    assert np.isclose(loss, 1.0)  # W = 0: the prediction is 0 whatever the mask


def test_backward_matches_a_float64_reference_with_the_same_mask():
    # a whole model holding Dropout: the engine's gradients against finite differences of
    # the loss, which compute_gradients evaluates with the very same mask (same step)
    rng = np.random.default_rng(0)
    m = fm.Sequential([fm.Dense(12, activation="tanh"), fm.Dropout(0.4, seed=7),
                       fm.Dense(3)], input_shape=(5,), seed=1)
    m.compile(optimizer="sgd", loss="mse")
    x = rng.normal(size=(9, 5)).astype(np.float32)
    y = rng.normal(size=(9, 3)).astype(np.float32)
    # entries of the two kernels, W0 [5, 12] and W2 [12, 3]
    assert_gradients_match_fd(m, x, y, [(0, (0, 0)), (0, (1, 2)), (0, (3, 1)), (0, (4, 0)),
                                        (2, (0, 0)), (2, (5, 2)), (2, (11, 1))], tol=2e-3)


def test_inference_is_the_identity():
    rng = np.random.default_rng(1)
    a = fm.Sequential([fm.Dense(16, activation="relu"), fm.Dropout(0.5), fm.Dense(4),
                       fm.Dropout(0.2), fm.Softmax()], input_shape=(8,), seed=2)
    b = fm.Sequential([fm.Dense(16, activation="relu"), fm.Dense(4), fm.Softmax()],
                      input_shape=(8,), seed=2)
    b.set_weights(a.get_weights())
    for rows in (1, 3, 64, 300):
        x = rng.normal(size=(rows, 8)).astype(np.float32)
        np.testing.assert_array_equal(a.predict(x), b.predict(x))
    a.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    b.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.normal(size=(50, 8)).astype(np.float32)
    y = rng.integers(0, 4, 50)
    assert a.evaluate(x, y) == b.evaluate(x, y)


def _train(threads, dropout=True, epochs=2):
    before = fm.get_num_threads()
    fm.set_num_threads(threads)
    try:
        rng = np.random.default_rng(5)
        x = rng.normal(size=(600, 40)).astype(np.float32)
        y = rng.integers(0, 5, 600)
        layers = [fm.Dense(64, activation="relu")] + ([fm.Dropout(0.25)] if dropout else []) \
            + [fm.Dense(5), fm.Softmax()]
        m = fm.Sequential(layers, input_shape=(40,), seed=4)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=32, epochs=epochs, seed=9, verbose=0)
        return m
    finally:
        fm.set_num_threads(before)


def test_training_is_bitwise_the_same_on_one_and_two_threads():
    w1 = _train(1).get_weights()
    w2 = _train(2).get_weights()
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    w0 = _train(1, dropout=False).get_weights()
    assert not np.array_equal(w0[0], w1[0])  # dropout does change training


def test_save_and_load_resume_training_exactly(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(200, 10)).astype(np.float32)
    y = rng.integers(0, 3, 200)

    def model():
        m = fm.Sequential([fm.Dense(16, activation="relu"), fm.Dropout(0.3), fm.Dense(3),
                           fm.Softmax()], input_shape=(10,), seed=11)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return m

    a = model()
    a.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    b = model()
    b.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    b.save(tmp_path / "m.npz")
    c = fm.load_model(tmp_path / "m.npz")
    assert isinstance(c.layers[1], fm.Dropout) and c.layers[1].rate == 0.3
    c.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for p, q in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "0.2", True, None])
def test_rate_is_checked(bad):
    with pytest.raises(ValueError, match=r"Dropout rate: expected a number in \[0, 1\)"):
        fm.Dropout(bad)


def test_other_arguments_are_checked():
    with pytest.raises(ValueError, match="noise_shape: only None"):
        fm.Dropout(0.1, noise_shape=(1, 4))
    with pytest.raises(ValueError, match="Dropout seed"):
        fm.Dropout(0.1, seed=-1)


def test_summary_config_and_engine_kind():
    m = fm.Sequential([fm.Dense(4), fm.Dropout(0.5, seed=3), fm.Dense(2)], input_shape=(3,))
    lines = []
    m.summary(print_fn=lines.append)
    assert any("dropout" in l and l.rstrip().endswith("0") for l in lines), lines
    assert m.get_config()["layers"][1] == {"class_name": "Dropout",
                                          "config": {"rate": 0.5, "seed": 3,
                                                     "name": m.layers[1].name}}
    assert "dropout" in _core.LAYER_KINDS


def test_exports_torch_dropout_and_onnx_nothing():
    torch = pytest.importorskip("torch")
    m = fm.Sequential([fm.Dense(8, activation="relu"), fm.Dropout(0.3), fm.Dense(3),
                       fm.Softmax()], input_shape=(6,), seed=0)
    t = m.to_torch()
    assert [type(x).__name__ for x in t] == ["Linear", "ReLU", "Dropout", "Linear", "Softmax"]
    assert t[2].p == pytest.approx(0.3)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(t(torch.from_numpy(x)).numpy(), m.predict(x), atol=1e-6)
    back = fm.from_torch(t)
    assert [type(l).__name__ for l in back.layers] == ["Dense", "ReLU", "Dropout", "Dense",
                                                       "Softmax"]
    pytest.importorskip("onnx")
    proto = m.to_onnx()
    assert "Dropout" not in {n.op_type for n in proto.graph.node}
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], m.predict(x), atol=1e-5)
