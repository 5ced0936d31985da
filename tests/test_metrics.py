"""compile(metrics=[...]): Keras 3's metric names and formulas, computed per batch in the
C++ loop and over all rows by evaluate. Each against a float64 NumPy reference (top-k with
ties, binary accuracy on probabilities and on logits, mae / mse of the probabilities), the
keys of History / evaluate / callbacks' logs / progress, per-batch values, errors, and
the compile state through get_config and save / load_model."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import metrics as M

D = 6


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _model(loss, units, metrics, head=None, W=None, b=None, seed=0, optimizer="sgd"):
    layers = [fm.layers.Dense(units, activation="sigmoid" if head == "sigmoid" else None)]
    if head == "softmax":
        layers.append(fm.layers.Softmax())
    m = fm.Sequential(layers, input_shape=(D,), seed=seed)
    m.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    rng = np.random.default_rng(seed + 7)
    W = rng.normal(size=(D, units)).astype(np.float32) if W is None else W
    b = rng.normal(scale=0.3, size=units).astype(np.float32) if b is None else b
    m.set_weights([W, b])
    return m, W.astype(np.float64), b.astype(np.float64)


def _x(n, seed=1):
    return np.random.default_rng(seed).normal(size=(n, D)).astype(np.float32)


def _in_top_k(p, label, k):
    """Keras 3's in_top_k: fewer than k outputs strictly above the label's."""
    return ((p > p[np.arange(len(p)), label][:, None]).sum(axis=1) < k).astype(np.float64)


def test_categorical_metrics_match_reference():
    n, C = 200, 10
    x = _x(n)
    rng = np.random.default_rng(2)
    y = np.eye(C, dtype=np.float32)[rng.integers(0, C, n)]
    m, W, b = _model("categorical_crossentropy", C,
                     ["accuracy", "categorical_accuracy", "top_k_categorical_accuracy",
                      M.TopKCategoricalAccuracy(k=2, name="top2"), "mae", "mse"],
                     head="softmax")
    p = _softmax(x.astype(np.float64) @ W + b)
    lab = y.argmax(axis=1)
    got = m.evaluate(x, y)
    acc = (p.argmax(axis=1) == lab).mean()
    assert got["accuracy"] == got["categorical_accuracy"] == pytest.approx(acc, abs=1e-12)
    assert got["top_k_categorical_accuracy"] == pytest.approx(_in_top_k(p, lab, 5).mean())
    assert got["top2"] == pytest.approx(_in_top_k(p, lab, 2).mean())
    assert got["mae"] == pytest.approx(np.abs(p - y).mean(), rel=1e-5)
    assert got["mse"] == pytest.approx(((p - y) ** 2).mean(), rel=1e-5)
    assert 0 < acc < got["top2"] < got["top_k_categorical_accuracy"] < 1  # distinct values
    assert list(got) == ["loss", "accuracy", "categorical_accuracy",
                         "top_k_categorical_accuracy", "top2", "mae", "mse"]


def test_sparse_top_k_with_ties_counts_the_tied_label_in():
    C = 5
    W = np.zeros((D, C), np.float32)
    b = np.array([1.0, 1.0, 1.0, 0.0, -1.0], np.float32)  # every row: three tied maxima
    m, _, _ = _model("sparse_categorical_crossentropy", C,
                     [M.SparseTopKCategoricalAccuracy(k=1, name="top1"),
                      M.SparseTopKCategoricalAccuracy(k=3, name="top3"),
                      "sparse_top_k_categorical_accuracy", "sparse_categorical_accuracy"],
                     head="softmax", W=W, b=b)
    x = _x(5)
    y = np.arange(5)  # labels 0..4: the tied ones (0, 1, 2), then 3 (4th), 4 (5th)
    got = m.evaluate(x, y)
    # k=1: labels 0, 1, 2 have no output strictly above them: in the top 1 (Keras)
    assert got["top1"] == pytest.approx(3 / 5)
    assert got["top3"] == pytest.approx(3 / 5)  # label 3 has 3 outputs above it
    assert got["sparse_top_k_categorical_accuracy"] == pytest.approx(1.0)
    assert got["sparse_categorical_accuracy"] == pytest.approx(1 / 5)  # argmax: first max
    p = _softmax(np.tile(b.astype(np.float64), (5, 1)))
    assert got["top1"] == pytest.approx(_in_top_k(p, y, 1).mean())


def test_binary_accuracy_on_probabilities_and_on_logits():
    n = 300
    x = _x(n, 3)
    y = (np.random.default_rng(4).random(n) < 0.5).astype(np.float32)
    metrics = ["accuracy", "binary_accuracy", M.BinaryAccuracy(threshold=0.7, name="b07")]
    # a sigmoid output (fused with the loss in the engine): thresholds on probabilities
    m, W, b = _model("binary_crossentropy", 1, metrics, head="sigmoid")
    z = (x.astype(np.float64) @ W + b)[:, 0]
    p = _sigmoid(z)
    got = m.evaluate(x, y)
    assert got["accuracy"] == got["binary_accuracy"] == pytest.approx(((p > 0.5) == y).mean())
    assert got["b07"] == pytest.approx(((p > 0.7) == y).mean())
    assert got["b07"] != got["accuracy"]
    # logits (from_logits=True): "accuracy" thresholds at probability 0.5 (logit 0); the
    # binary_accuracy metric compares the model's outputs, the logits, with 0.5 as Keras
    ml, W, b = _model(fm.losses.BinaryCrossentropy(from_logits=True), 1, metrics)
    z = (x.astype(np.float64) @ W + b)[:, 0]
    got = ml.evaluate(x, y)
    assert got["accuracy"] == pytest.approx(((z > 0) == y).mean())
    assert got["binary_accuracy"] == pytest.approx(((z > 0.5) == y).mean())
    assert got["b07"] == pytest.approx(((z > 0.7) == y).mean())
    assert got["accuracy"] != got["binary_accuracy"]


def test_multilabel_binary_accuracy_averages_outputs():
    n, C = 50, 3
    x = _x(n, 5)
    y = (np.random.default_rng(6).random((n, C)) < 0.5).astype(np.float32)
    m, W, b = _model("binary_crossentropy", C, ["accuracy", "mse"], head="sigmoid")
    p = _sigmoid(x.astype(np.float64) @ W + b)
    got = m.evaluate(x, y)
    assert got["accuracy"] == pytest.approx(((p > 0.5) == y).mean())
    assert got["mse"] == pytest.approx(((p - y) ** 2).mean(), rel=1e-5)


def test_regression_metrics_and_accuracy():
    n = 80
    x = _x(n, 7)
    y = np.random.default_rng(8).normal(size=(n, 2)).astype(np.float32)
    m, W, b = _model("mse", 2, ["mae", "mean_squared_error", "accuracy"])
    o = x.astype(np.float64) @ W + b
    got = m.evaluate(x, y)
    assert got["mae"] == pytest.approx(np.abs(o - y).mean(), rel=1e-5)
    assert got["mean_squared_error"] == pytest.approx(got["loss"], rel=1e-5)
    assert got["accuracy"] == pytest.approx((o.argmax(1) == y.argmax(1)).mean())


def test_per_batch_metrics_in_the_loop_and_log_names():
    """fit's per-batch values (weights frozen: learning rate 1e-30 rounds away in float32)
    against the reference, and the keys of History, callbacks' logs and the progress."""
    n, C, bs = 40, 6, 16
    x = _x(n, 9)
    y = np.random.default_rng(10).integers(0, C, n)
    m, W, b = _model("sparse_categorical_crossentropy", C,
                     ["acc", M.SparseTopKCategoricalAccuracy(k=2)], head="softmax",
                     optimizer=fm.optimizers.SGD(learning_rate=1e-30))
    p = _softmax(x.astype(np.float64) @ W + b)
    hit, top2 = (p.argmax(1) == y).astype(float), _in_top_k(p, y, 2)
    seen = []
    cb = fm.callbacks.LambdaCallback(on_train_batch_end=lambda i, logs: seen.append(logs))
    h = m.fit(x, y, batch_size=bs, epochs=2, shuffle=False, verbose=0, callbacks=[cb],
              validation_data=(x, y))
    assert set(h.history) == {"loss", "acc", "sparse_top_k_categorical_accuracy", "val_loss",
                              "val_acc", "val_sparse_top_k_categorical_accuracy",
                              "examples_per_sec"}
    want = [hit[s:s + bs].mean() for s in range(0, n, bs)] * 2
    np.testing.assert_allclose(h.batch_metrics["acc"], want, rtol=1e-6)
    np.testing.assert_allclose(h.batch_accuracy, want, rtol=1e-6)
    np.testing.assert_allclose(h.batch_metrics["sparse_top_k_categorical_accuracy"],
                               [top2[s:s + bs].mean() for s in range(0, n, bs)] * 2, rtol=1e-6)
    assert h.history["acc"][0] == pytest.approx(hit.mean())
    assert h.history["val_sparse_top_k_categorical_accuracy"][0] == pytest.approx(top2.mean())
    assert [list(l) for l in seen[:1]] == [["loss", "acc", "sparse_top_k_categorical_accuracy"]]
    assert seen[1]["acc"] == pytest.approx(want[1])
    assert m.train_on_batch(x, y).keys() == {"loss", "acc", "sparse_top_k_categorical_accuracy"}


def test_progress_names_the_metrics(capsys):
    m, _, _ = _model("categorical_crossentropy", 4, ["mae", M.TopKCategoricalAccuracy(k=3)],
                     head="softmax")
    y = np.eye(4, dtype=np.float32)[np.arange(20) % 4]
    m.fit(_x(20), y, epochs=1, verbose=2, validation_split=0.2)
    out = capsys.readouterr().out
    for key in ("loss: ", " mae: ", "top_k_categorical_accuracy: ", "val_mae: ",
                "val_top_k_categorical_accuracy: "):
        assert key in out, out
    assert " accuracy:" not in out


def test_default_and_empty_metric_lists():
    x, y = _x(20), np.arange(20) % 3
    m, _, _ = _model("sparse_categorical_crossentropy", 3, None, head="softmax")
    assert list(m.evaluate(x, y)) == ["loss", "accuracy"]  # fastmlp's default, as before
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=[])
    assert list(m.evaluate(x, y)) == ["loss"]
    h = m.fit(x, y, verbose=0)
    assert set(h.history) == {"loss", "examples_per_sec"} and len(h.batch_accuracy) == 0


def test_bad_metrics_are_refused():
    m = fm.Sequential([fm.layers.Dense(3)], input_shape=(D,))
    with pytest.raises(ValueError, match=r"metrics: unknown metric 'auc'; expected one of "
                                         r"'accuracy', 'acc', .*'mse', 'mean_squared_error'"):
        m.compile("sgd", "mse", metrics=["auc"])
    with pytest.raises(ValueError, match=r"metrics: 'categorical_accuracy' compares the "
                                         r"outputs with target rows, but loss="
                                         r"'sparse_categorical_crossentropy' takes integer"):
        m.compile("sgd", "sparse_categorical_crossentropy", metrics=["categorical_accuracy"])
    with pytest.raises(ValueError, match=r"metrics: 'sparse_top_k_categorical_accuracy' "
                                         r"compares integer labels, but loss="
                                         r"'categorical_crossentropy'"):
        m.compile("sgd", "categorical_crossentropy",
                  metrics=["sparse_top_k_categorical_accuracy"])
    with pytest.raises(ValueError, match="two metrics would be reported as 'mae'"):
        m.compile("sgd", "mse", metrics=["mae", M.MeanAbsoluteError(name="mae")])
    with pytest.raises(TypeError, match="metrics: expected a list"):
        m.compile("sgd", "mse", metrics="mae")
    with pytest.raises(TypeError, match="metrics: expected a metric name .*got int 3"):
        m.compile("sgd", "mse", metrics=[3])
    with pytest.raises(ValueError, match=r"TopKCategoricalAccuracy: k must be an integer >= "
                                         r"1, got 0"):
        M.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match="BinaryAccuracy: threshold must be a finite number"):
        M.BinaryAccuracy(threshold=float("nan"))
    # a refused compile keeps the previous settings
    m.compile("sgd", "mse", metrics=["mae"])
    with pytest.raises(ValueError):
        m.compile("sgd", "sparse_categorical_crossentropy", metrics=["mse"])
    assert [x.name for x in m.metrics] == ["mae"] and m.loss.name == "mse"


def test_config_round_trip_and_save_load(tmp_path):
    objs = [M.BinaryAccuracy(threshold=0.3), M.CategoricalAccuracy(name="cat"),
            M.TopKCategoricalAccuracy(k=3), M.MeanAbsoluteError(), M.MeanSquaredError()]
    for o in objs + [M.SparseTopKCategoricalAccuracy(k=2), M.SparseCategoricalAccuracy()]:
        back = M.deserialize(M.serialize(o))
        assert back == o and back.get_config() == o.get_config()
    assert M.serialize(M.get("acc")) == "acc"
    n, C = 30, 4
    x = _x(n)
    y = np.eye(C, dtype=np.float32)[np.arange(n) % C]
    m, _, _ = _model("categorical_crossentropy", C, ["acc"] + objs[1:], head="softmax")
    m.save(tmp_path / "m.npz")
    loaded = fm.load_model(tmp_path / "m.npz")
    assert [type(a) for a in loaded.metrics] == [type(a) for a in m.metrics]
    assert [a.get_config() for a in loaded.metrics] == [a.get_config() for a in m.metrics]
    assert loaded.evaluate(x, y) == m.evaluate(x, y)
    assert list(loaded.evaluate(x, y)) == ["loss", "acc", "cat", "top_k_categorical_accuracy",
                                           "mean_absolute_error", "mean_squared_error"]
    # the default and the empty list survive too
    for metrics, keys in ((None, ["loss", "accuracy"]), ([], ["loss"])):
        m.compile("sgd", "categorical_crossentropy", metrics=metrics)
        m.save(tmp_path / "d.npz")
        assert list(fm.load_model(tmp_path / "d.npz").evaluate(x, y)) == keys
