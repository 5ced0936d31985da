"""Losses with Keras 3 semantics: BinaryCrossentropy, CategoricalCrossentropy,
SparseCategoricalCrossentropy (from_logits, label_smoothing), MeanSquaredError,
MeanAbsoluteError, Huber(delta).

Each loss's value and gradient (``Network.compute_gradients``) against a float64 NumPy
reference written from Keras's formulas (finite differences on the whole model), with the
final Softmax / sigmoid fused or not and with ``from_logits``; Keras's documented example
values; PyTorch's losses where installed; binary accuracy; a multi-label model training;
argument and target checks; save / load of every loss's config (and old files); the
divergence guard's chance loss per kind.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _core, _divergence
from fastmlp import losses as L

from _optional import require

EPS = 1e-7  # Keras's epsilon(): probabilities are clipped to [EPS, 1 - EPS]


# ------------------------------------------------------------------ the reference
def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def ref_loss(loss, out, y, logits):
    """Keras 3's mean loss of outputs ``out`` [N, C] (float64) against targets ``y``;
    ``logits``: the cross-entropies read ``out`` as logits (else as probabilities)."""
    C = out.shape[1]
    kind = type(loss).__name__
    if kind in ("SparseCategoricalCrossentropy", "CategoricalCrossentropy"):
        t = np.eye(C)[np.asarray(y)] if kind.startswith("Sparse") else np.asarray(y, np.float64)
        ls = getattr(loss, "label_smoothing", 0.0)
        t = t * (1.0 - ls) + ls / C
        if logits:
            logp = _log_softmax(out)
        else:
            logp = np.log(np.clip(out / out.sum(axis=1, keepdims=True), EPS, 1.0 - EPS))
        return float(np.mean(-(t * logp).sum(axis=1)))
    t = np.asarray(y, np.float64).reshape(out.shape)
    if kind == "BinaryCrossentropy":
        ls = loss.label_smoothing
        t = t * (1.0 - ls) + 0.5 * ls
        if logits:
            per = np.maximum(out, 0.0) - out * t + np.log1p(np.exp(-np.abs(out)))
        else:
            p = np.clip(out, EPS, 1.0 - EPS)
            per = -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p))
        return float(np.mean(per.mean(axis=1)))
    e = out - t
    if kind == "MeanSquaredError":
        per = e ** 2
    elif kind == "MeanAbsoluteError":
        per = np.abs(e)
    else:
        d = loss.delta
        a = np.abs(e)
        per = np.where(a <= d, 0.5 * e ** 2, d * a - 0.5 * d * d)
    return float(np.mean(per.mean(axis=1)))


# The model's head: what follows x @ W + b.
_HEADS = {
    "linear": lambda C: [fm.Dense(C)],
    "dense_sigmoid": lambda C: [fm.Dense(C, activation="sigmoid")],
    "sigmoid_layer": lambda C: [fm.Dense(C), fm.Sigmoid()],
    "dense_softmax": lambda C: [fm.Dense(C, activation="softmax")],
    "softmax_layer": lambda C: [fm.Dense(C), fm.Softmax()],
}
_FUSES = {"sigmoid": ("dense_sigmoid", "sigmoid_layer"),
          "softmax": ("dense_softmax", "softmax_layer")}


def _head_out(head, z):
    if head in _FUSES["sigmoid"]:
        return _sigmoid(z)
    if head in _FUSES["softmax"]:
        return np.exp(_log_softmax(z))
    return z


def _fused(loss, head):
    if getattr(loss, "from_logits", False):
        return False
    if isinstance(loss, L.BinaryCrossentropy):
        return head in _FUSES["sigmoid"]
    if loss.is_crossentropy:
        return head in _FUSES["softmax"]
    return False


def _reads_logits(loss, head):
    return getattr(loss, "from_logits", False) or _fused(loss, head)


def model_loss(loss, head, x, y, W, b):
    """The reference loss of the one-Dense model ``head`` with weights W, b (float64)."""
    z = x @ W + b
    if _reads_logits(loss, head):
        return ref_loss(loss, z, y, logits=True)
    return ref_loss(loss, _head_out(head, z), y, logits=False)


def make_targets(loss, n, C, rng):
    if isinstance(loss, L.SparseCategoricalCrossentropy):
        return rng.integers(0, C, n)
    if isinstance(loss, L.CategoricalCrossentropy):
        t = rng.random((n, C)) + 0.05
        t = t / t.sum(axis=1, keepdims=True)
        t[: n // 2] = np.eye(C)[rng.integers(0, C, n // 2)]  # one-hot rows and soft rows
        return t.astype(np.float32)
    if isinstance(loss, L.BinaryCrossentropy):
        t = (rng.random((n, C)) < 0.4).astype(np.float32)
        t[-2:] = rng.random((2, C))  # probabilities too
        return t.astype(np.float32)
    return rng.normal(size=(n, C)).astype(np.float32)


def build(loss, head, C=3, D=5, seed=0):
    m = fm.Sequential(_HEADS[head](C), input_shape=(D,), seed=seed)
    rng = np.random.default_rng(seed + 100)
    W = (rng.normal(size=(D, C)) * 0.6).astype(np.float32)
    b = (rng.normal(size=C) * 0.2).astype(np.float32)
    m.set_weights([W, b])
    m.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    return m, W.astype(np.float64), b.astype(np.float64)


CASES = [
    # (loss, head): logits, fused probabilities, unfused probabilities
    (L.SparseCategoricalCrossentropy(from_logits=True), "linear"),
    (L.SparseCategoricalCrossentropy(), "softmax_layer"),
    (L.SparseCategoricalCrossentropy(), "dense_softmax"),
    (L.SparseCategoricalCrossentropy(), "dense_sigmoid"),       # o / sum(o), clipped
    (L.CategoricalCrossentropy(from_logits=True), "linear"),
    (L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), "linear"),
    (L.CategoricalCrossentropy(), "softmax_layer"),
    (L.CategoricalCrossentropy(label_smoothing=0.1), "dense_softmax"),
    (L.CategoricalCrossentropy(), "dense_sigmoid"),
    (L.CategoricalCrossentropy(label_smoothing=0.3), "sigmoid_layer"),
    (L.BinaryCrossentropy(from_logits=True), "linear"),
    (L.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), "linear"),
    (L.BinaryCrossentropy(), "dense_sigmoid"),
    (L.BinaryCrossentropy(label_smoothing=0.1), "sigmoid_layer"),
    (L.BinaryCrossentropy(), "dense_softmax"),                  # probabilities, clipped
    (L.BinaryCrossentropy(label_smoothing=0.4), "softmax_layer"),
    (L.MeanSquaredError(), "linear"),
    (L.MeanSquaredError(), "dense_sigmoid"),
    (L.MeanAbsoluteError(), "linear"),
    (L.MeanAbsoluteError(), "sigmoid_layer"),
    (L.Huber(), "linear"),
    (L.Huber(delta=0.3), "linear"),
    (L.Huber(delta=2.5), "dense_softmax"),
]


def _id(case):
    loss, head = case
    return f"{loss!r}-{head}".replace(" ", "")


@pytest.mark.parametrize("loss,head", CASES, ids=[_id(c) for c in CASES])
def test_value_and_gradient_match_float64_reference(loss, head):
    rng = np.random.default_rng(3)
    n, C, D = 7, 3, 5
    m, W, b = build(loss, head, C, D)
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = make_targets(loss, n, C, rng)
    x64 = x.astype(np.float64)
    got, grads = m._net.compute_gradients(m._prep_x(x), m._prep_y(y, n))
    want = model_loss(loss, head, x64, y, W, b)
    assert got == pytest.approx(want, rel=2e-6, abs=1e-7)
    # evaluate: the same loss (inference pass), the mean of the row losses
    assert m.evaluate(x, y)["loss"] == pytest.approx(want, rel=2e-6, abs=1e-7)
    h = 1e-6
    for gi, (g, p) in enumerate(zip(grads, [W, b])):
        fd = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            pp, pm = p.copy(), p.copy()
            pp[idx] += h
            pm[idx] -= h
            args_p = (pp, b) if gi == 0 else (W, pp)
            args_m = (pm, b) if gi == 0 else (W, pm)
            fd[idx] = (model_loss(loss, head, x64, y, *args_p)
                       - model_loss(loss, head, x64, y, *args_m)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-3, atol=2e-6, err_msg=f"param {gi}")


@pytest.mark.parametrize("loss", [L.CategoricalCrossentropy(), L.SparseCategoricalCrossentropy(),
                                  L.BinaryCrossentropy()])
def test_fused_final_activation_is_exact_where_clipping_would_not_be(loss):
    """A fused Softmax / sigmoid reads the logits: saturated outputs keep their true loss
    and gradient (a clipped probability would give -log(1e-7) and no gradient)."""
    head = "dense_sigmoid" if isinstance(loss, L.BinaryCrossentropy) else "softmax_layer"
    m, W, b = build(loss, head, C=3, D=2)
    m.set_weights([np.array([[30.0, -30.0, 0.0], [0.0, 0.0, 0.0]], np.float32),
                   np.zeros(3, np.float32)])
    x = np.array([[1.0, 0.0]], np.float32)
    y = (np.array([1]) if isinstance(loss, L.SparseCategoricalCrossentropy)
         else np.array([[0.0, 1.0, 0.0]], np.float32))
    got, grads = m._net.compute_gradients(x, m._prep_y(y, 1))
    z = np.array([[30.0, -30.0, 0.0]])
    want = ref_loss(loss, z, y, logits=True)
    assert want > -math.log(EPS)  # beyond what a clipped probability could give
    assert got == pytest.approx(want, rel=1e-6)
    assert np.abs(grads[1]).max() > 0.1
    p = m.predict(x)  # predict still returns the probabilities
    np.testing.assert_allclose(p, _head_out(head, z), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ Keras's examples
def _identity_model(C, loss):
    m = fm.Sequential([fm.Dense(C)], input_shape=(C,), seed=0)
    m.set_weights([np.eye(C, dtype=np.float32), np.zeros(C, np.float32)])
    m.compile(optimizer="sgd", loss=loss)
    return m


@pytest.mark.parametrize("loss,y_true,y_pred,want", [
    (L.BinaryCrossentropy(from_logits=True), [[0, 1, 0, 0]], [[-18.6, 0.51, 2.94, -12.8]],
     0.865),
    (L.BinaryCrossentropy(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.815),
    (L.CategoricalCrossentropy(), [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
     1.177),
    (L.SparseCategoricalCrossentropy(), [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], 1.177),
    (L.MeanSquaredError(), [[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]], 0.5),
    (L.MeanAbsoluteError(), [[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]], 0.5),
    (L.Huber(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.155),
])
def test_keras_documented_values(loss, y_true, y_pred, want):
    y_pred = np.asarray(y_pred, np.float32)
    y_true = np.asarray(y_true, np.int64 if y_pred.ndim != np.ndim(y_true) else np.float32)
    m = _identity_model(y_pred.shape[1], loss)
    got = m.evaluate(y_pred, y_true)["loss"]
    assert got == pytest.approx(want, abs=1e-3)
    assert got == pytest.approx(ref_loss(loss, y_pred.astype(np.float64), y_true,
                                         getattr(loss, "from_logits", False)), rel=1e-6)


def test_binary_accuracy_counts_each_output():
    m = _identity_model(3, L.BinaryCrossentropy())
    p = np.array([[0.6, 0.4, 0.9], [0.2, 0.7, 0.1]], np.float32)
    t = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    assert m.evaluate(p, t)["accuracy"] == pytest.approx(5 / 6)
    # from logits: a logit > 0 is a probability > 0.5
    ml = _identity_model(3, L.BinaryCrossentropy(from_logits=True))
    assert ml.evaluate(np.log(p / (1 - p)), t)["accuracy"] == pytest.approx(5 / 6)
    # soft targets count as their side of 0.5; training reports the same accuracy
    ts = np.array([[0.8, 0.3, 0.3], [0.1, 0.9, 0.2]], np.float32)
    assert m.evaluate(p, ts)["accuracy"] == pytest.approx(5 / 6)
    assert m.train_on_batch(p, t)["accuracy"] == pytest.approx(5 / 6, rel=1e-6)


def test_multi_label_model_trains_with_bce():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype(np.float32)
    A = rng.normal(size=(8, 4))
    y = (x @ A > 0.3).astype(np.float32)  # several labels per example
    assert (y.sum(axis=1) > 1).mean() > 0.3
    m = fm.Sequential([fm.Dense(32, activation="relu"), fm.Dense(4, activation="sigmoid")],
                      input_shape=(8,), seed=1)
    m.compile(optimizer=fm.optimizers.Adam(0.01), loss="binary_crossentropy",
              metrics=["accuracy"])
    before = m.evaluate(x, y)
    h = m.fit(x, y, batch_size=32, epochs=15, verbose=0, seed=0)
    after = m.evaluate(x, y)
    assert after["loss"] < 0.5 * before["loss"] and after["loss"] < 0.2
    assert after["accuracy"] > 0.92
    assert h.history["loss"][-1] < h.history["loss"][0]
    p = m.predict(x)
    assert ((p >= 0) & (p <= 1)).all()
    W0, b0, W1, b1 = (w.astype(np.float64) for w in m.get_weights())
    z = np.maximum(x @ W0 + b0, 0.0) @ W1 + b1  # the loss reads the logits (fused)
    np.testing.assert_allclose(p, _sigmoid(z), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(after["loss"], ref_loss(m.loss, z, y, True), rtol=1e-4)


def test_bce_training_is_bitwise_the_same_on_1_and_2_threads():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = (rng.random((300, 3)) < 0.5).astype(np.float32)

    def run():
        m = fm.Sequential([fm.Dense(16, activation="relu"), fm.Dense(3), fm.Sigmoid()],
                          input_shape=(6,), seed=2)
        m.compile("adam", fm.losses.BinaryCrossentropy(label_smoothing=0.1))
        m.fit(x, y, batch_size=64, epochs=2, verbose=0, seed=0)
        return m.get_weights(), m.evaluate(x, y)

    old = fm.get_num_threads()
    try:
        fm.set_num_threads(1)
        w1, e1 = run()
        fm.set_num_threads(2)
        w2, e2 = run()
    finally:
        fm.set_num_threads(old)
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    assert e1 == e2


@pytest.mark.parametrize("hidden", [False, True])
def test_batch1_training_with_a_fused_dense_sigmoid_follows_plain_sgd(hidden):
    """Batch 1 chains the next example's first layer into the update; with the top
    Dense run as its linear twin (BCE fused) the steps are those of plain SGD on the
    logits' gradient (sigmoid(z) - t) / C."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    y = (rng.random((6, 3)) < 0.5).astype(np.float32)
    layers = ([fm.Dense(5, activation="tanh")] if hidden else []) + \
        [fm.Dense(3, activation="sigmoid")]
    m = fm.Sequential(layers, input_shape=(4,), seed=0)
    m.compile(fm.optimizers.SGD(0.5), "binary_crossentropy")
    w = [a.astype(np.float64) for a in m.get_weights()]
    m.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
    for i in range(6):
        h = np.tanh(x[i:i + 1] @ w[0] + w[1]) if hidden else x[i:i + 1].astype(np.float64)
        W, b = w[-2], w[-1]
        g = (_sigmoid(h @ W + b) - y[i:i + 1]) / 3
        if hidden:
            gh = (g @ W.T) * (1 - h * h)
            w[0] -= 0.5 * x[i:i + 1].T @ gh
            w[1] -= 0.5 * gh[0]
        W -= 0.5 * h.T @ g
        b -= 0.5 * g[0]
    for got, want in zip(m.get_weights(), w):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ against PyTorch
def _torch_grads(torch, W, b, x, fn):
    lin = torch.nn.Linear(W.shape[0], W.shape[1]).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W.T.copy()))
        lin.bias.copy_(torch.from_numpy(b))
    out = fn(lin(torch.from_numpy(x)))
    out.backward()
    return out.item(), lin.weight.grad.numpy().T, lin.bias.grad.numpy()


@pytest.mark.parametrize("case", ["bce_logits", "bce_fused", "bce_smooth", "ce_smooth",
                                  "ce_fused_smooth", "sparse_ce", "huber", "huber_small",
                                  "l1", "mse"])
def test_matches_torch(case):
    torch = require("torch")
    rng = np.random.default_rng(7)
    n, C, D = 9, 4, 5
    x = rng.normal(size=(n, D)).astype(np.float32)
    labels = rng.integers(0, C, n)
    onehot = np.eye(C, dtype=np.float32)[labels]
    multi = (rng.random((n, C)) < 0.5).astype(np.float32)
    reg = rng.normal(size=(n, C)).astype(np.float32)
    t = torch.from_numpy
    spec = {
        # (fastmlp loss, head, fastmlp targets, torch loss of the logits / outputs)
        "bce_logits": (L.BinaryCrossentropy(from_logits=True), "linear", multi,
                       lambda z: torch.nn.BCEWithLogitsLoss()(z, t(multi).double())),
        "bce_fused": (L.BinaryCrossentropy(), "dense_sigmoid", multi,
                      lambda z: torch.nn.BCEWithLogitsLoss()(z, t(multi).double())),
        "bce_smooth": (L.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), "linear",
                       multi, lambda z: torch.nn.BCEWithLogitsLoss()(
                           z, t(multi * 0.8 + 0.1).double())),
        "ce_smooth": (L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.15),
                      "linear", onehot, lambda z: torch.nn.CrossEntropyLoss(
                          label_smoothing=0.15)(z, t(labels))),
        "ce_fused_smooth": (L.CategoricalCrossentropy(label_smoothing=0.3), "softmax_layer",
                            onehot, lambda z: torch.nn.CrossEntropyLoss(
                                label_smoothing=0.3)(z, t(labels))),
        "sparse_ce": (L.SparseCategoricalCrossentropy(from_logits=True), "linear", labels,
                      lambda z: torch.nn.CrossEntropyLoss()(z, t(labels))),
        "huber": (L.Huber(), "linear", reg,
                  lambda z: torch.nn.HuberLoss()(z, t(reg).double())),
        "huber_small": (L.Huber(delta=0.25), "linear", reg,
                        lambda z: torch.nn.HuberLoss(delta=0.25)(z, t(reg).double())),
        "l1": (L.MeanAbsoluteError(), "linear", reg,
               lambda z: torch.nn.L1Loss()(z, t(reg).double())),
        "mse": (L.MeanSquaredError(), "linear", reg,
                lambda z: torch.nn.MSELoss()(z, t(reg).double())),
    }
    loss, head, y, tfn = spec[case]
    m, W, b = build(loss, head, C, D, seed=4)
    got, grads = m._net.compute_gradients(x, m._prep_y(y, n))
    want, gW, gb = _torch_grads(torch, W, b, x.astype(np.float64), tfn)
    assert got == pytest.approx(want, rel=2e-6, abs=1e-7)
    np.testing.assert_allclose(grads[0], gW, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads[1], gb, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ the API
def test_names_defaults_and_configs():
    assert isinstance(L.get("binary_crossentropy"), L.BinaryCrossentropy)
    assert isinstance(L.get("mae"), L.MeanAbsoluteError)
    assert isinstance(L.get("mean_absolute_error"), L.MeanAbsoluteError)
    assert isinstance(L.get("huber"), L.Huber) and L.get("huber").delta == 1.0
    assert isinstance(L.get(L.Huber), L.Huber)
    assert L.BinaryCrossentropy().get_config() == {"from_logits": False, "label_smoothing": 0.0}
    assert L.CategoricalCrossentropy().get_config() == {"from_logits": False,
                                                        "label_smoothing": 0.0}
    assert L.SparseCategoricalCrossentropy().get_config() == {"from_logits": False}
    assert L.Huber(0.5).get_config() == {"delta": 0.5}
    assert L.MeanSquaredError().get_config() == {} == L.MeanAbsoluteError().get_config()
    for loss in (L.BinaryCrossentropy(True, 0.25), L.CategoricalCrossentropy(label_smoothing=1),
                 L.SparseCategoricalCrossentropy(from_logits=True), L.Huber(delta=3),
                 L.MeanAbsoluteError(), L.MeanSquaredError()):
        again = type(loss).from_config(loss.get_config())
        assert again == loss and L.deserialize(L.serialize(loss)) == loss
        assert L.get(L.serialize(loss)) == loss
        assert repr(loss).startswith(type(loss).__name__ + "(")
    assert L.Huber(0.5) != L.Huber(0.6)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: L.BinaryCrossentropy(label_smoothing=1.5), ValueError,
     r"BinaryCrossentropy: label_smoothing must be in \[0, 1\], got 1.5"),
    (lambda: L.CategoricalCrossentropy(label_smoothing=-0.1), ValueError,
     r"label_smoothing must be in \[0, 1\], got -0.1"),
    (lambda: L.CategoricalCrossentropy(label_smoothing=float("nan")), ValueError,
     "label_smoothing"),
    (lambda: L.BinaryCrossentropy(label_smoothing="0.1"), TypeError,
     "label_smoothing must be a number, got str '0.1'"),
    (lambda: L.BinaryCrossentropy(label_smoothing=True), TypeError, "label_smoothing"),
    (lambda: L.BinaryCrossentropy(from_logits="yes"), TypeError,
     "from_logits must be True or False, got str 'yes'"),
    (lambda: L.SparseCategoricalCrossentropy(from_logits=1), TypeError, "from_logits"),
    (lambda: L.SparseCategoricalCrossentropy(label_smoothing=0.1), TypeError,
     "label_smoothing"),
    (lambda: L.Huber(delta=0), ValueError, r"Huber: delta must be a finite number > 0, got 0"),
    (lambda: L.Huber(delta=-1.0), ValueError, "delta"),
    (lambda: L.Huber(delta=float("inf")), ValueError, "delta"),
    (lambda: L.Huber(delta="1"), TypeError, "delta must be a number"),
    (lambda: L.get("bce"), ValueError, "binary_crossentropy"),
    (lambda: L.deserialize({"class_name": "Nope", "config": {}}), ValueError, "Nope"),
    (lambda: L.deserialize({"class_name": "Huber", "config": {"delta": -2}}), ValueError,
     "delta"),
])
def test_bad_arguments_are_refused_by_name(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_engine_set_loss_checks_its_arguments():
    net = fm.Sequential([fm.Dense(3)], input_shape=(2,))._ensure_net()
    with pytest.raises(ValueError, match="loss code out of range"):
        net.set_loss(6)
    with pytest.raises(ValueError, match="label_smoothing"):
        net.set_loss(3, label_smoothing=2.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        net.set_loss(0, label_smoothing=0.1)
    with pytest.raises(ValueError, match="delta"):
        net.set_loss(5, delta=0.0)
    net.set_loss(5, delta=0.5)


@pytest.mark.parametrize("layers,what,drop", [
    (lambda: [fm.Dense(3), fm.Softmax()], r"Softmax \(layer 1 of 2\)", "the final Softmax"),
    (lambda: [fm.Dense(3, activation="softmax")], r"Dense\(3, activation='softmax'\)",
     r"the final softmax \(make it Dense\(3\)\)"),
    (lambda: [fm.Dense(3), fm.Activation("softmax")], r"Activation\('softmax'\)",
     r"the final Activation\('softmax'\)"),
    (lambda: [fm.Dense(3, activation="sigmoid")], r"Dense\(3, activation='sigmoid'\)",
     r"the final sigmoid \(make it Dense\(3\)\)"),
    (lambda: [fm.Dense(4, activation="relu"), fm.Dense(3), fm.Sigmoid()],
     r"Sigmoid \(layer 2 of 3\)", "the final Sigmoid"),
])
@pytest.mark.parametrize("loss", [L.CategoricalCrossentropy(from_logits=True),
                                  L.SparseCategoricalCrossentropy(from_logits=True),
                                  L.BinaryCrossentropy(from_logits=True)])
def test_from_logits_refuses_a_final_softmax_or_sigmoid(layers, what, drop, loss):
    m = fm.Sequential(layers(), input_shape=(2,))
    msg = (f"takes the model's outputs as logits, but the model ends with {what}.*drop "
           f"{drop}, or use from_logits=False")
    with pytest.raises(ValueError, match=msg):
        m.compile("adam", loss)
    assert not m._compiled
    # compiled before the input shape is known: fit says so (and again on a retry)
    m = fm.Sequential(layers())
    m.compile("adam", loss)
    x = np.zeros((4, 2), np.float32)
    y = np.zeros(4, int) if loss.code == 0 else np.zeros((4, 3), np.float32)
    for _ in range(2):
        with pytest.raises(ValueError, match=msg):
            m.fit(x, y, verbose=0)


def test_failed_compile_keeps_the_previous_settings():
    m = fm.Sequential([fm.Dense(3), fm.Softmax()], input_shape=(2,), seed=0)
    m.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    y = np.arange(8) % 3
    m.fit(x, y, verbose=0)
    step = m._net.step
    with pytest.raises(ValueError, match="from_logits"):
        m.compile("sgd", L.SparseCategoricalCrossentropy(from_logits=True))
    assert m.loss == L.SparseCategoricalCrossentropy() and type(m.optimizer).__name__ == "Adam"
    assert m._net.step == step  # the optimizer state is kept too
    m.fit(x, y, verbose=0)


def test_from_logits_false_without_a_final_activation_takes_probabilities():
    """As Keras: the outputs of a linear Dense are read as probabilities (clipped)."""
    m = _identity_model(3, "categorical_crossentropy")
    p = np.array([[0.2, 0.3, 0.5], [2.0, 1.0, 1.0]], np.float32)  # row 2 sums to 4
    t = np.array([[0, 0, 1], [1, 0, 0]], np.float32)
    want = -(math.log(0.5) + math.log(0.5)) / 2
    assert m.evaluate(p, t)["loss"] == pytest.approx(want, rel=1e-6)
    mb = _identity_model(2, "binary_crossentropy")
    assert mb.evaluate(np.array([[0.0, 1.0]], np.float32),
                       np.array([[1.0, 1.0]], np.float32))["loss"] == pytest.approx(
        (-math.log(EPS) - math.log(1 - EPS)) / 2, rel=1e-6)


@pytest.mark.parametrize("y,match", [
    (np.array([[0.0, 1.5, 0.0]] * 4, np.float32),
     r"binary_crossentropy expects targets in \[0, 1\] .*got values from 0 to 1.5"),
    (np.array([[0.0, -0.5, 1.0]] * 4, np.float32), r"from -0.5 to 1"),
    (np.zeros((4, 2), np.float32), r"binary_crossentropy expects targets .* of shape \(4, 3\)"
                                   r" to match the model's 3 outputs, got \(4, 2\)"),
    (np.zeros(4, np.int64), r"of shape \(4, 3\).*got \(4,\)"),
    (np.full((4, 3), np.nan, np.float32), "NaN or inf"),
])
def test_bad_binary_targets_are_refused(y, match):
    m = fm.Sequential([fm.Dense(3, activation="sigmoid")], input_shape=(2,), seed=0)
    m.compile("adam", "binary_crossentropy")
    x = np.zeros((4, 2), np.float32)
    for call in (lambda: m.fit(x, y, verbose=0), lambda: m.evaluate(x, y),
                 lambda: m.train_on_batch(x, y)):
        with pytest.raises(ValueError, match=match):
            call()


def test_single_output_binary_classifier_takes_1d_labels():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    m = fm.Sequential([fm.Dense(1, activation="sigmoid")], input_shape=(3,), seed=0)
    m.compile(fm.optimizers.Adam(0.05), "binary_crossentropy", ["accuracy"])
    m.fit(x, y, epochs=20, verbose=0, seed=0)
    assert m.evaluate(x, y)["accuracy"] > 0.95
    assert m.evaluate(x, y[:, None])["loss"] == m.evaluate(x, y)["loss"]


# ------------------------------------------------------------------ saving
@pytest.mark.parametrize("loss,head", [
    (L.BinaryCrossentropy(label_smoothing=0.2), "dense_sigmoid"),
    (L.BinaryCrossentropy(from_logits=True), "linear"),
    (L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), "linear"),
    (L.SparseCategoricalCrossentropy(from_logits=True), "linear"),
    (L.SparseCategoricalCrossentropy(), "softmax_layer"),
    (L.Huber(delta=0.7), "linear"),
    (L.MeanAbsoluteError(), "linear"),
])
def test_loss_config_survives_save_and_load(tmp_path, loss, head):
    rng = np.random.default_rng(5)
    m, _, _ = build(loss, head, C=3, D=4)
    x = rng.normal(size=(20, 4)).astype(np.float32)
    y = make_targets(loss, 20, 3, rng)
    m.fit(x, y, epochs=1, verbose=0, seed=0)
    m.save(tmp_path / "m.npz")
    c = fm.load_model(tmp_path / "m.npz")
    assert type(c.loss) is type(loss) and c.loss.get_config() == loss.get_config()
    assert c.evaluate(x, y) == m.evaluate(x, y)
    m.fit(x, y, epochs=1, verbose=0, seed=1)
    c.fit(x, y, epochs=1, verbose=0, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), c.get_weights()))


def _as_old_file(path):
    """Rewrite a model file's loss entry as files before losses had arguments did."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    config = json.loads(arrays["config"].tobytes().decode())
    config["compile"]["loss"] = fm.losses.deserialize(config["compile"]["loss"]).name
    arrays["config"] = np.frombuffer(json.dumps(config).encode(), np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("head,from_logits", [("linear", True), ("softmax_layer", False),
                                              ("dense_softmax", False)])
def test_old_files_load_with_the_meaning_they_had(tmp_path, head, from_logits):
    """Before from_logits, a cross-entropy read outputs that were not a final Softmax as
    logits: such a file loads with from_logits=True, and evaluates as it did."""
    rng = np.random.default_rng(6)
    m, _, _ = build(L.SparseCategoricalCrossentropy(from_logits=from_logits), head, C=3, D=4)
    x = rng.normal(size=(20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    path = tmp_path / "old.npz"
    m.save(path)
    _as_old_file(path)
    with np.load(path) as z:
        assert json.loads(z["config"].tobytes())["compile"]["loss"] == \
            "sparse_categorical_crossentropy"
    c = fm.load_model(path)
    assert c.loss == L.SparseCategoricalCrossentropy(from_logits=from_logits)
    assert c.evaluate(x, y) == m.evaluate(x, y)


# ------------------------------------------------------------------ divergence reference
class _Net:
    output_dim = 5


@pytest.mark.parametrize("loss,want", [
    (L.SparseCategoricalCrossentropy(), math.log(5)),
    (L.CategoricalCrossentropy(label_smoothing=0.1), math.log(5)),
    (L.BinaryCrossentropy(), math.log(2)),
    (L.MeanSquaredError(), (1 + 4 + 0.25 + 9) / 4),
    (L.MeanAbsoluteError(), (1 + 2 + 0.5 + 3) / 4),
    (L.Huber(), (0.5 + 1.5 + 0.125 + 2.5) / 4),
    (L.Huber(delta=2.0), (0.5 + 2.0 + 0.125 + 4.0) / 4),
])
def test_divergence_reference_is_the_chance_loss_of_each_kind(loss, want):
    y = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    g = _divergence.DivergenceGuard(_Net(), loss, y, 1e4)
    assert g.chance_loss() == pytest.approx(want)
    g.first_loss(0.1)
    assert g.reference == pytest.approx(max(1.0, want))
    assert _divergence.DivergenceGuard(_Net(), loss.code, y, 1e4).chance_loss() == \
        pytest.approx(want if loss.code != 5 else (0.5 + 1.5 + 0.125 + 2.5) / 4)


def test_core_reports_the_new_loss_codes():
    assert [type(L.get(n)).code for n in ("sparse_categorical_crossentropy",
                                          "categorical_crossentropy", "mse",
                                          "binary_crossentropy", "mae", "huber")] == \
        list(range(6))
    assert _core.Network.set_loss.__doc__ and "huber" in _core.Network.set_loss.__doc__
