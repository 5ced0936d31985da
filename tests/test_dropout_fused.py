"""Dropout fused into the Dense before it (issue 11): after a linear, relu or leaky_relu
Dense the GEMM applies the mask and the Dense's backward takes the mask with the
activation's derivative. Checked on every tier against a NumPy model of the counter-based
mask (the Dropout layer's bits: the same (seed, step, row, column) keeps or drops), a
float64 reference of forward and backward, finite differences, and 1 vs 2 threads."""
import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _core
from fastmlp._engine_plan import plan
from _np_reference import assert_gradients_match_fd, np_activation

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
FUSED_ACTS = ("relu", "linear", "leaky_relu")


def _mix64(z):
    z = np.asarray(z, np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _mix32(h):
    h = np.asarray(h, np.uint32)
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def keep_mask(seed, step, rows, cols, rate):
    """The Dropout layer's keep mask of one training step (engine/layers/counter_rng.h)."""
    k = _mix64(np.uint64(seed) ^ _mix64(np.uint64(step)))
    key = np.uint32(int(k ^ (k >> np.uint64(32))) & 0xFFFFFFFF)
    i = np.arange(rows * cols, dtype=np.uint64)
    with np.errstate(over="ignore"):
        ctr = (i >> np.uint64(1)).astype(np.uint32) * np.uint32(0x9E3779B9) + key
    h = _mix32(ctr)
    half = np.where(i & np.uint64(1), h >> np.uint32(16), h & np.uint32(0xFFFF))
    return (half >= min(round(rate * 65536), 65535)).reshape(rows, cols)


def _dact(name, z, alpha=0.3):
    return {"relu": (z > 0) * 1.0, "linear": np.ones_like(z),
            "leaky_relu": np.where(z > 0, 1.0, alpha)}[name]


def _dense(act, units, **kw):
    if act == "leaky_relu":
        return [fm.Dense(units, **kw), fm.LeakyReLU(0.3)]
    return [fm.Dense(units, activation=act, **kw)]


def _model(act, rate=0.4, seed=7):
    m = fm.Sequential(_dense(act, 12) + [fm.Dropout(rate, seed=seed), fm.Dense(3)],
                      input_shape=(5,), seed=1)
    m.compile(optimizer="sgd", loss="mse")
    return m


@pytest.mark.parametrize("act", FUSED_ACTS + ("tanh",))
def test_plan_fuses_dropout_after_sign_determined_activations(act):
    m = _model(act)
    kinds = [_core.LAYER_KINDS[s["kind"]] for s in plan(m._layers, m._input_shape, 0)[0]]
    assert ("dropout" in kinds) == (act == "tanh"), kinds


@pytest.mark.parametrize("act", FUSED_ACTS)
def test_loss_and_gradients_match_a_float64_reference_with_the_same_mask(isa, act):
    rng = np.random.default_rng(0)
    m = _model(act)
    x = rng.normal(size=(9, 5)).astype(np.float32)
    y = rng.normal(size=(9, 3)).astype(np.float32)
    W0, b0, W1, b1 = [w.astype(np.float64) for w in m.get_weights()]
    loss, (g0, gb0, g1, gb1) = m._net.compute_gradients(x, y)
    # compute_gradients draws the mask of the next update: step 1 for a fresh model
    q = round(0.4 * 65536) / 65536
    mask = keep_mask(7, 1, 9, 12, 0.4) / (1 - q)
    z = x @ W0 + b0
    h = np_activation(act, z, 0.3) * mask
    out = h @ W1 + b1
    d_out = 2 * (out - y) / out.size
    dz = (d_out @ W1.T) * mask * _dact(act, z)
    assert np.isclose(loss, np.mean((out - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(g1, h.T @ d_out, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gb1, d_out.sum(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g0, x.T @ dz, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gb0, dz.sum(0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("act", FUSED_ACTS)
def test_gradients_match_finite_differences(isa, act):
    rng = np.random.default_rng(2)
    m = _model(act, rate=0.3, seed=11)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = rng.normal(size=(8, 3)).astype(np.float32)
    assert_gradients_match_fd(m, x, y, [(0, (0, 0)), (0, (2, 5)), (0, (4, 11)), (1, 3),
                                        (1, 8), (2, (6, 1))], eps=1e-3)


def test_mask_bits_and_keep_rate(isa):
    # Dense(linear, W = I, no bias) -> Dropout -> Dense(1, W = 0) with mse and x = y = 1:
    # dL/dW1_j = -2/N * sum_r mask[r, j] * scale, so the gradient counts the kept values
    n, width, rate = 3000, 40, 0.3
    m = fm.Sequential([fm.Dense(width, use_bias=False), fm.Dropout(rate, seed=5),
                       fm.Dense(1, use_bias=False)], input_shape=(width,), seed=0)
    m.compile(optimizer="sgd", loss="mse")
    m.set_weights([np.eye(width, dtype=np.float32), np.zeros((width, 1), np.float32)])
    x = np.ones((n, width), np.float32)
    _, (_, g) = m._net.compute_gradients(x, np.ones((n, 1), np.float32))
    q = round(rate * 65536) / 65536
    kept = -g[:, 0] * n / (2 / (1 - q))
    mask = keep_mask(5, 1, n, width, rate)
    np.testing.assert_allclose(kept, mask.sum(0), rtol=1e-4)
    frac = mask.mean()
    assert abs(frac - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / mask.size), frac


@pytest.mark.parametrize("act", FUSED_ACTS)
@pytest.mark.parametrize("batch", [1, 3, 32])
def test_training_is_bitwise_the_same_on_one_and_two_threads(isa, restore_threads, act,
                                                              batch):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 40)).astype(np.float32)
    y = rng.integers(0, 5, 200)
    weights = []
    for threads in (1, 2):
        fm.set_num_threads(threads)
        m = fm.Sequential(_dense(act, 64) + [fm.Dropout(0.25)] + _dense(act, 32)
                          + [fm.Dropout(0.5), fm.Dense(5), fm.Softmax()],
                          input_shape=(40,), seed=4)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=batch, epochs=1, seed=9, verbose=0)
        weights.append(m.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_batch_one_sgd_matches_a_float64_reference():
    # batch 1: the first Dense's fused mask takes each step's own draws, also when the
    # batch-1 chain computes the next example's output early (with the next step's mask)
    rng = np.random.default_rng(3)
    m = fm.Sequential([fm.Dense(6, activation="relu"), fm.Dropout(0.5, seed=3), fm.Dense(2)],
                      input_shape=(4,), seed=2)
    m.compile(optimizer=fm.optimizers.SGD(0.1), loss="mse")
    x = rng.normal(size=(5, 4)).astype(np.float32)
    y = rng.normal(size=(5, 2)).astype(np.float32)
    W0, b0, W1, b1 = [w.astype(np.float64) for w in m.get_weights()]
    for step in range(1, 6):
        xr, yr = x[step - 1:step].astype(np.float64), y[step - 1:step]
        mask = keep_mask(3, step, 1, 6, 0.5) * 2.0
        z = xr @ W0 + b0
        h = np.maximum(z, 0) * mask
        d_out = 2 * (h @ W1 + b1 - yr) / 2
        dz = (d_out @ W1.T) * mask * (z > 0)
        W1, b1 = W1 - 0.1 * h.T @ d_out, b1 - 0.1 * d_out.sum(0)
        W0, b0 = W0 - 0.1 * xr.T @ dz, b0 - 0.1 * dz.sum(0)
    m.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
    for got, ref in zip(m.get_weights(), (W0, b0, W1, b1)):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
