"""fit(sample_weight=, class_weight=) and evaluate(sample_weight=) with Keras 3's meaning:
a batch's loss is sum(w_i l_i) / rows (sum_over_batch_size) and its gradient the gradient
of that; metrics are sum(w_i m_i) / sum(w_i). Checked against float64 NumPy references
(loss, gradients through compute_gradients, fit's and evaluate's logs), class_weight
against the sample_weight it implies, a weight of 2 against a duplicated row, and the
errors for bad weights."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm

N, D, C = 12, 5, 4


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _model(loss, units=C, head=None, seed=0, optimizer="sgd"):
    """One Dense layer (+ head: "softmax" layer or "sigmoid" activation) with known
    weights W, b (float64 copies returned)."""
    act = "sigmoid" if head == "sigmoid" else None
    layers = [fm.layers.Dense(units, activation=act)]
    if head == "softmax":
        layers.append(fm.layers.Softmax())
    m = fm.Sequential(layers, input_shape=(D,), seed=seed)
    m.compile(optimizer=optimizer, loss=loss)
    rng = np.random.default_rng(seed + 100)
    W = rng.normal(scale=0.5, size=(D, units)).astype(np.float32)
    b = rng.normal(scale=0.1, size=units).astype(np.float32)
    m.set_weights([W, b])
    return m, W.astype(np.float64), b.astype(np.float64)


def _data(loss, units=C, n=N, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype(np.float32)
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, n)
    elif loss == "categorical_crossentropy":
        y = np.eye(units, dtype=np.float32)[rng.integers(0, units, n)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (n, units)).astype(np.float32)
    else:
        y = rng.normal(size=(n, units)).astype(np.float32)
    return x, y


def _ref_rows(loss, z, y):
    """Per-row losses and d(row loss)/dz (float64) for logits z of one Dense layer."""
    if loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        t = np.eye(z.shape[1])[y] if y.ndim == 1 else y.astype(np.float64)
        p = _softmax(z)
        return -(t * np.log(p)).sum(axis=1), p - t
    if loss == "binary_crossentropy":
        p = _sigmoid(z)
        t = y.astype(np.float64)
        l = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=1)
        return l, (p - t) / z.shape[1]
    e = z - y  # mse
    return (e ** 2).mean(axis=1), 2 * e / z.shape[1]


CASES = [("sparse_categorical_crossentropy", C, "softmax"),
         ("categorical_crossentropy", C, "softmax"),
         ("binary_crossentropy", 1, "sigmoid"),
         ("binary_crossentropy", 3, "sigmoid"),
         ("mse", 2, None)]


@pytest.mark.parametrize("loss,units,head", CASES)
def test_weighted_loss_and_gradients_match_float64_reference(loss, units, head):
    m, W, b = _model(loss, units, head)
    x, y = _data(loss, units)
    w = np.random.default_rng(2).uniform(0, 3, N).astype(np.float32)
    w[3] = 0.0
    l_rows, dz = _ref_rows(loss, x.astype(np.float64) @ W + b, y)
    want = (w * l_rows).sum() / N  # sum_over_batch_size: divided by the rows, not sum(w)
    dz = dz * w[:, None] / N
    got, (gW, gb) = m._net.compute_gradients(m._prep_x(x), m._prep_y(y, N), w)
    assert got == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(gW, x.astype(np.float64).T @ dz, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gb, dz.sum(axis=0), rtol=1e-4, atol=1e-6)
    # evaluate: the same weighted loss over all rows
    assert m.evaluate(x, y, sample_weight=w)["loss"] == pytest.approx(want, rel=1e-5)


def test_weight_two_equals_a_duplicated_row():
    """Weight 2 on a row counts its loss twice, as a duplicated row does; with the
    sum_over_batch_size normalisation the weighted batch (N rows) divides by N and the
    duplicated one (N + 1 rows) by N + 1, so what is equal are the SUMS: loss * rows and
    gradient * rows."""
    loss = "sparse_categorical_crossentropy"
    m, _, _ = _model(loss, head="softmax")
    x, y = _data(loss)
    w = np.ones(N, np.float32)
    w[5] = 2.0
    xd, yd = np.concatenate([x, x[5:6]]), np.concatenate([y, y[5:6]])
    lw, gw = m._net.compute_gradients(m._prep_x(x), m._prep_y(y, N), w)
    ld, gd = m._net.compute_gradients(m._prep_x(xd), m._prep_y(yd, N + 1))
    assert lw * N == pytest.approx(ld * (N + 1), rel=1e-6)
    for a, b in zip(gw, gd):
        np.testing.assert_allclose(a * N, b * (N + 1), rtol=1e-5, atol=1e-7)
    assert lw != pytest.approx(ld, rel=1e-3)  # the means differ: the test can fail
    # metrics are weighted means: duplicating equals weighting exactly
    ew = m.evaluate(x, y, sample_weight=w)["accuracy"]
    assert ew == pytest.approx(m.evaluate(xd, yd)["accuracy"], abs=1e-12)


def test_zero_weight_rows_do_not_move_the_weights():
    loss = "mse"
    a, _, _ = _model(loss, 2)
    b, _, _ = _model(loss, 2)
    x, y = _data(loss, 2)
    w = np.ones(N, np.float32)
    y_bad = y.copy()
    y_bad[::3] += 100.0  # rows 0, 3, ... get weight 0: their targets must not matter
    w[::3] = 0.0
    a.fit(x, y, sample_weight=w, batch_size=4, epochs=2, shuffle=False, verbose=0)
    b.fit(x, y_bad, sample_weight=w, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_all_ones_weights_train_bitwise_like_no_weights():
    loss = "sparse_categorical_crossentropy"
    a, _, _ = _model(loss, head="softmax", optimizer="adam")
    b, _, _ = _model(loss, head="softmax", optimizer="adam")
    x, y = _data(loss, n=40)
    a.fit(x, y, batch_size=8, epochs=2, seed=3, verbose=0)
    b.fit(x, y, batch_size=8, epochs=2, seed=3, verbose=0, sample_weight=np.ones(40))
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


def _frozen(loss, units=C, head=None):
    """A model whose weights do not move in fit (learning rate 1e-30 rounds away in
    float32), so fit's logs can be compared with a reference at fixed weights."""
    m, W, b = _model(loss, units, head, optimizer=fm.optimizers.SGD(learning_rate=1e-30))
    return m, W, b


def test_fit_logs_are_weighted_like_keras():
    loss = "sparse_categorical_crossentropy"
    m, W, b = _frozen(loss, head="softmax")
    x, y = _data(loss, n=30)
    w = np.random.default_rng(5).uniform(0, 2, 30).astype(np.float32)
    z = x.astype(np.float64) @ W + b
    l_rows, _ = _ref_rows(loss, z, y)
    hit = (z.argmax(axis=1) == y).astype(np.float64)
    bs = 7  # batches of 7, 7, 7, 7, 2 rows
    h = m.fit(x, y, sample_weight=w, batch_size=bs, epochs=1, shuffle=False, verbose=0)
    starts = range(0, 30, bs)
    # a batch's loss: sum(w l) / rows; the epoch's: the batches weighted by their rows
    batch_loss = [(w[s:s + bs] * l_rows[s:s + bs]).sum() / len(w[s:s + bs]) for s in starts]
    np.testing.assert_allclose(h.batch_loss, batch_loss, rtol=1e-5)
    assert h.history["loss"][0] == pytest.approx((w * l_rows).sum() / 30, rel=1e-5)
    # metrics: sum(w m) / sum(w), per batch and over the epoch
    batch_acc = [(w[s:s + bs] * hit[s:s + bs]).sum() / w[s:s + bs].sum() for s in starts]
    np.testing.assert_allclose(h.batch_accuracy, batch_acc, rtol=1e-6)
    assert h.history["accuracy"][0] == pytest.approx((w * hit).sum() / w.sum(), rel=1e-6)
    assert (w * hit).sum() / w.sum() != pytest.approx(hit.mean(), rel=1e-3)


def test_class_weight_equals_the_sample_weight_it_implies():
    cw = {0: 0.5, 2: 3.0}  # class 1 and 3 weigh 1, as in Keras
    for loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        x, y = _data(loss, n=40)
        labels = y if y.ndim == 1 else y.argmax(axis=1)
        sw = np.array([cw.get(int(c), 1.0) for c in labels], np.float32)
        runs = []
        for kw in ({"class_weight": cw}, {"sample_weight": sw}):
            m, _, _ = _model(loss, head="softmax", optimizer="adam")
            h = m.fit(x, y, batch_size=8, epochs=2, seed=1, verbose=0, **kw)
            runs.append((m.get_weights(), h.history["loss"]))
        for p, q in zip(runs[0][0], runs[1][0]):
            np.testing.assert_array_equal(p, q)
        assert runs[0][1] == runs[1][1]
    # both given: they multiply
    x, y = _data("sparse_categorical_crossentropy", n=40)
    sw = np.random.default_rng(0).uniform(0.5, 2, 40).astype(np.float32)
    both = sw * np.array([cw.get(int(c), 1.0) for c in y], np.float32)
    a, _, _ = _model("sparse_categorical_crossentropy", head="softmax", optimizer="adam")
    b, _, _ = _model("sparse_categorical_crossentropy", head="softmax", optimizer="adam")
    a.fit(x, y, batch_size=8, seed=1, verbose=0, class_weight=cw, sample_weight=sw)
    b.fit(x, y, batch_size=8, seed=1, verbose=0, sample_weight=both)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_class_weight_of_a_single_sigmoid_output():
    x, y = _data("binary_crossentropy", 1, n=40)
    sw = np.where(y[:, 0] > 0.5, 4.0, 1.0).astype(np.float32)
    a, _, _ = _model("binary_crossentropy", 1, "sigmoid", optimizer="adam")
    b, _, _ = _model("binary_crossentropy", 1, "sigmoid", optimizer="adam")
    a.fit(x, y[:, 0], batch_size=8, seed=1, verbose=0, class_weight={1: 4.0})
    b.fit(x, y, batch_size=8, seed=1, verbose=0, sample_weight=sw)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_validation_weights_from_tuple_and_split():
    loss = "sparse_categorical_crossentropy"
    m, _, _ = _frozen(loss, head="softmax")
    x, y = _data(loss, n=40)
    w = np.random.default_rng(4).uniform(0, 2, 40).astype(np.float32)
    h = m.fit(x[:30], y[:30], validation_data=(x[30:], y[30:], w[30:]), verbose=0)
    ev = m.evaluate(x[30:], y[30:], sample_weight=w[30:])
    assert h.history["val_loss"][0] == pytest.approx(ev["loss"], rel=1e-6)
    assert h.history["val_accuracy"][0] == pytest.approx(ev["accuracy"], rel=1e-6)
    assert ev != m.evaluate(x[30:], y[30:])  # the weights matter here
    # validation_split takes the last 25% of the weights with the rows (as Keras)
    h2 = m.fit(x, y, sample_weight=w, validation_split=0.25, verbose=0)
    assert h2.history["val_loss"][0] == pytest.approx(ev["loss"], rel=1e-6)
    assert h2.history["val_accuracy"][0] == pytest.approx(ev["accuracy"], rel=1e-6)


def test_evaluate_weighted_metrics_match_reference():
    loss = "categorical_crossentropy"
    m, W, b = _model(loss, head="softmax")
    m.compile(optimizer="sgd", loss=loss, metrics=["accuracy", "mae"])
    x, y = _data(loss, n=50)
    w = np.random.default_rng(6).uniform(0, 2, 50)
    p = _softmax(x.astype(np.float64) @ W + b)
    hit = (p.argmax(axis=1) == y.argmax(axis=1)).astype(np.float64)
    mae = np.abs(p - y).mean(axis=1)
    got = m.evaluate(x, y, sample_weight=w)
    assert got["accuracy"] == pytest.approx((w * hit).sum() / w.sum(), rel=1e-6)
    assert got["mae"] == pytest.approx((w * mae).sum() / w.sum(), rel=1e-5)
    # every weight 0: the metrics are 0 (Keras's divide-no-nan), the loss 0
    zero = m.evaluate(x, y, sample_weight=np.zeros(50))
    assert zero == {"loss": 0.0, "accuracy": 0.0, "mae": 0.0}


# ------------------------------------------------------------------ errors
def _fit_error(exc, match, loss="sparse_categorical_crossentropy", units=C, y=None, **kw):
    m, _, _ = _model(loss, units, "softmax" if units > 1 and "cross" in loss else None)
    x, y0 = _data(loss, units)
    with pytest.raises(exc, match=match):
        m.fit(x, y0 if y is None else y, verbose=0, **kw)
    return m


def test_bad_sample_weights_are_refused():
    _fit_error(ValueError, r"sample_weight: expected one weight per example, shape \(12,\), "
               r"got shape \(11,\)", sample_weight=np.ones(11))
    _fit_error(ValueError, r"sample_weight: .*shape \(12,\), got shape \(12, 2\)",
               sample_weight=np.ones((12, 2)))
    for bad in (-1.0, np.nan, np.inf):
        w = np.ones(12)
        w[4] = bad
        _fit_error(ValueError, r"sample_weight: weights must be finite and >= 0 .*at index 4",
                   sample_weight=w)
    _fit_error(TypeError, "sample_weight: expected numeric weights", sample_weight=["a"] * 12)
    m, _, _ = _model("mse", 2)
    x, y = _data("mse", 2)
    with pytest.raises(ValueError, match=r"validation sample_weight: .*shape \(4,\), got "
                                         r"shape \(3,\)"):
        m.fit(x[:8], y[:8], validation_data=(x[8:], y[8:], np.ones(3)), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight: .*at index 0"):
        m.evaluate(x, y, sample_weight=-np.ones(12))
    with pytest.raises(ValueError, match=r"validation_data: expected a tuple .*length 4"):
        m.fit(x, y, validation_data=(x, y, None, None), verbose=0)


def test_bad_class_weights_are_refused():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])  # class 3 never occurs
    _fit_error(ValueError, r"class_weight: class 3 does not occur in y \(its classes are "
               r"0, 1, 2\)", y=y, class_weight={0: 1.0, 3: 2.0})
    _fit_error(ValueError, r"class_weight: class 7 does not occur", y=y,
               class_weight={7: 1.0})
    _fit_error(ValueError, r"class_weight: the weight of class 1 must be a finite number "
               r">= 0, got -2", class_weight={1: -2})
    _fit_error(ValueError, r"class_weight: the weight of class 1 .*got nan",
               class_weight={1: float("nan")})
    _fit_error(TypeError, r"class_weight: keys must be integer class indices, got str 'a'",
               class_weight={"a": 1.0})
    _fit_error(TypeError, r"class_weight: expected a dict", class_weight=[1.0, 2.0])
    _fit_error(ValueError, r"class_weight: needs a classification loss .*loss='mse'",
               loss="mse", units=2, class_weight={0: 1.0})
    _fit_error(ValueError, r"class_weight: with loss='binary_crossentropy' it needs a single "
               r"sigmoid output .*3 columns", loss="binary_crossentropy", units=3,
               class_weight={0: 1.0})


def test_train_on_batch_takes_the_weights_of_fit():
    loss = "sparse_categorical_crossentropy"
    x, y = _data(loss)
    cw = {1: 3.0}
    a, _, _ = _model(loss, head="softmax", optimizer="adam")
    b, _, _ = _model(loss, head="softmax", optimizer="adam")
    la = a.train_on_batch(x, y, class_weight=cw)
    lb = b.fit(x, y, batch_size=N, shuffle=False, verbose=0, class_weight=cw).history
    assert la["loss"] == pytest.approx(lb["loss"][0], rel=1e-6)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)
    c, _, _ = _model(loss, head="softmax", optimizer="adam")
    assert c.train_on_batch(x, y)["loss"] != pytest.approx(la["loss"], rel=1e-4)
