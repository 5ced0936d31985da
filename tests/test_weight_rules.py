"""Regularizers (L1, L2, L1L2) and the MaxNorm constraint: the penalty in the loss that
fit, train_on_batch and evaluate report, its gradient, the constraint after each update
(float64 references), their configs, and bad input."""
import numpy as np
import pytest

import fastmlp as fm
from fastmlp import constraints as C
from fastmlp import regularizers as R


def _data(rows=16, seed=2):
    r = np.random.default_rng(seed)
    return (r.normal(size=(rows, 6)).astype(np.float32),
            r.integers(0, 3, size=rows).astype(np.int32))


def _model(opt="sgd", seed=0, **dense_kw):
    m = fm.Sequential([fm.Dense(9, activation="relu", **dense_kw),
                       fm.Dense(3, activation="softmax")], input_shape=(6,), seed=seed)
    m.compile(opt, "sparse_categorical_crossentropy")
    return m


RULES = [R.L1(0.01), R.L2(0.02), R.L1L2(0.003, 0.05)]


def _penalty64(rule, w):
    w = w.astype(np.float64)
    return rule.l1 * np.abs(w).sum() + rule.l2 * (w * w).sum()


@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_penalty_counts_in_every_reported_loss(rule):
    x, y = _data()
    plain, reg = _model(), _model(kernel_regularizer=rule, bias_regularizer=rule)
    k, b = reg.get_weights()[:2]
    b = b + 0.1  # a nonzero bias, so that its penalty counts
    reg.set_weights([k, b] + reg.get_weights()[2:])
    plain.set_weights(reg.get_weights())
    pen = _penalty64(rule, k) + _penalty64(rule, b)
    assert rule(k) + rule(b) == pytest.approx(pen, rel=1e-12)
    assert reg._ensure_net().penalty() == pytest.approx(pen, rel=1e-6)
    assert reg.evaluate(x, y)["loss"] == pytest.approx(plain.evaluate(x, y)["loss"] + pen,
                                                       rel=1e-5)
    got = reg.train_on_batch(x, y)["loss"]
    assert got == pytest.approx(plain.train_on_batch(x, y)["loss"] + pen, rel=1e-5)


@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_penalty_gradient(isa, rule):
    x, y = _data()
    plain, reg = _model(), _model(kernel_regularizer=rule)
    plain.set_weights(reg.get_weights())
    loss_p, gp = plain._ensure_net().compute_gradients(x, y)
    loss_r, gr = reg._ensure_net().compute_gradients(x, y)
    k = reg.get_weights()[0].astype(np.float64)
    assert loss_r == pytest.approx(loss_p + _penalty64(rule, k), rel=1e-6)
    np.testing.assert_allclose(gr[0], gp[0] + rule.l1 * np.sign(k) + 2 * rule.l2 * k,
                               rtol=1e-5, atol=1e-7)
    for a, b in zip(gr[1:], gp[1:]):  # no rule on the others
        assert np.array_equal(a, b)


def test_penalty_gradient_by_finite_differences():
    """d(loss)/dW of the whole model, penalty included, against central differences in
    float64 of the loss evaluate reports (a smooth model: tanh, L2 only)."""
    x, y = _data(8)
    m = fm.Sequential([fm.Dense(4, activation="tanh", kernel_regularizer=R.L2(0.3)),
                       fm.Dense(3, activation="softmax")], input_shape=(6,), seed=3)
    m.compile("sgd", "sparse_categorical_crossentropy")
    _, g = m._ensure_net().compute_gradients(x, y)
    w = m.get_weights()
    h = 1e-2
    for (i, j) in [(0, 0), (2, 3), (5, 1)]:
        losses = []
        for s in (1, -1):
            w2 = [a.copy() for a in w]
            w2[0][i, j] += s * h
            m.set_weights(w2)
            losses.append(m.evaluate(x, y)["loss"])
        assert g[0][i, j] == pytest.approx((losses[0] - losses[1]) / (2 * h), rel=2e-2, abs=1e-4)


@pytest.mark.parametrize("axis", [0, 1])
def test_max_norm_after_each_update(isa, axis):
    x, y = _data()
    c = C.MaxNorm(0.4, axis=axis)
    m = _model(fm.optimizers.SGD(0.5), kernel_constraint=c, bias_constraint=C.MaxNorm(0.05))
    for _ in range(3):
        w0 = [a.astype(np.float64) for a in m.get_weights()]
        _, g = m._ensure_net().compute_gradients(x, y)
        m.train_on_batch(x, y)
        k = w0[0] - 0.5 * g[0]
        norms = np.sqrt((k * k).sum(axis=axis, keepdims=True))
        ref_k = k * np.minimum(norms, 0.4) / (1e-7 + norms)
        b = w0[1] - 0.5 * g[1]
        ref_b = b * min(np.linalg.norm(b), 0.05) / (1e-7 + np.linalg.norm(b))
        got = m.get_weights()
        np.testing.assert_allclose(got[0], ref_k, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got[1], ref_b, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got[2], w0[2] - 0.5 * g[2], rtol=1e-5, atol=1e-7)
    # the caps bind (else this would not test them) and hold
    got = m.get_weights()
    assert np.sqrt((got[0].astype(np.float64) ** 2).sum(axis=axis)).max() <= 0.4 * (1 + 1e-6)
    assert np.linalg.norm(got[1]) <= 0.05 * (1 + 1e-6)
    assert np.allclose(np.linalg.norm(got[1]), 0.05, rtol=1e-5)


def test_max_norm_numpy_call_matches_engine():
    x, y = _data()
    m = _model(fm.optimizers.SGD(1.0), kernel_constraint=C.MaxNorm(0.3))
    m.train_on_batch(x, y)
    k = m.get_weights()[0]
    np.testing.assert_allclose(C.MaxNorm(0.3)(k), k, rtol=1e-5, atol=1e-7)


def test_rules_keep_working_with_batch_norm():
    """Training with a rule runs every layer's backward on whole gradients; a
    BatchNormalization layer still updates its moving statistics, and they are never
    given to the optimizer (weight decay would shrink them)."""
    x, y = _data(64)
    m = fm.Sequential([fm.Dense(8, kernel_regularizer=R.L2(1e-3)), fm.BatchNormalization(),
                       fm.Dense(3, activation="softmax")], input_shape=(6,), seed=1)
    m.compile(fm.optimizers.RMSprop(weight_decay=0.5), "sparse_categorical_crossentropy")
    ref = fm.Sequential([fm.Dense(8), fm.BatchNormalization(),
                         fm.Dense(3, activation="softmax")], input_shape=(6,), seed=1)
    ref.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=0)
    ref.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=0)
    bn, bn_ref = m.layers[1].get_weights(), ref.layers[1].get_weights()
    # moving mean / variance follow the batches (momentum 0.99 from 0 and 1)
    assert not np.allclose(bn[2], 0) and not np.allclose(bn[3], 1)
    # ... the same batches through the same first Dense in both models at step 1, so the
    # first update of the statistics agrees; after 4 steps they stay close
    np.testing.assert_allclose(bn[2], bn_ref[2], rtol=0.2, atol=1e-3)


def test_dense_config_round_trip():
    d = fm.Dense(4, kernel_regularizer="l2", bias_regularizer=R.L1(0.5),
                 kernel_constraint=C.MaxNorm(3, axis=1), bias_constraint="max_norm")
    again = fm.Dense.from_config(d.get_config())
    assert again.kernel_regularizer == R.L2(0.01)
    assert again.bias_regularizer == R.L1(0.5)
    assert again.kernel_constraint == C.MaxNorm(3, axis=1)
    assert again.bias_constraint == C.MaxNorm(2.0)
    assert again.get_config() == d.get_config()


def test_no_bias_ignores_bias_rules():
    x, y = _data()
    m = _model(use_bias=False, bias_regularizer=R.L2(10.0))
    assert m._ensure_net().penalty() == 0.0
    m.train_on_batch(x, y)


@pytest.mark.parametrize("make, match", [
    (lambda: R.L2(-1), r"l2: expected a value >= 0.0, got -1.0"),
    (lambda: R.L1(float("inf")), "l1: expected a finite number"),
    (lambda: fm.Dense(3, kernel_regularizer="l3"), "kernel_regularizer: expected None, 'l1'"),
    (lambda: fm.Dense(3, bias_regularizer=0.01), "bias_regularizer: .*got 0.01"),
    (lambda: C.MaxNorm(0), "max_value: expected a value > 0"),
    (lambda: C.MaxNorm(2, axis=2), "MaxNorm axis: expected 0"),
    (lambda: fm.Dense(3, kernel_constraint="unit_norm"), "kernel_constraint: expected None"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_engine_refuses_bad_spec_values():
    from fastmlp import _core
    spec = {"kind": 0, "inputs": 3, "outputs": 2, "kernel_l2": -1.0}
    with pytest.raises(ValueError, match="penalties and max norms"):
        _core.Network([spec], 3, 1.0, 0.0)
    spec = {"kind": 0, "inputs": 3, "outputs": 2, "kernel_max_norm_axis": 3}
    with pytest.raises(ValueError, match="axis"):
        _core.Network([spec], 3, 1.0, 0.0)
