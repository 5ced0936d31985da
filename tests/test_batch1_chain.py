"""Batch-1 fit chains each layer-0 update with the next example's layer-0 forward product
(Network::train_batches, KernelTable::dense_backward_update with x_next). It must give the
bits of the unchained path (train_on_batch runs one batch per call, so it never chains)
and match a float64 NumPy reference step."""
import numpy as np
import pytest

import fastmlp as fm
from _np_reference import assert_runs_bitwise_equal

OPTS = {
    "sgd": lambda: fm.optimizers.SGD(0.05),
    "sgd_momentum": lambda: fm.optimizers.SGD(0.05, momentum=0.9, weight_decay=0.01),
    "nesterov": lambda: fm.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: fm.optimizers.Adam(0.01, weight_decay=0.01),
}


def _model(width, act, opt, fin, u8, seed=0):
    layers = [fm.Rescaling(1 / 255)] if u8 else []
    if act == "split":  # a linear Dense followed by a stand-alone activation layer
        layers += [fm.Dense(width), fm.ReLU()]
    else:
        layers += [fm.Dense(width, activation=act)]
    layers += [fm.Dense(10), fm.Softmax()]
    m = fm.Sequential(layers, input_shape=(fin,), seed=seed)
    m.compile(optimizer=OPTS[opt](), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    return m


def _data(n, fin, u8, seed=3):
    r = np.random.default_rng(seed)
    if u8:
        x = r.integers(0, 256, size=(n, fin)).astype(np.uint8)
        x[:, : fin // 3] = 0  # zero inputs take the skip-row branch of plain SGD
    else:
        x = r.normal(size=(n, fin)).astype(np.float32)
    return x, r.integers(0, 10, size=n)


@pytest.mark.parametrize("opt", list(OPTS))
@pytest.mark.parametrize("width,act,u8", [(37, "relu", False), (128, "tanh", True),
                                          (300, "leaky_relu", False), (20, "split", True),
                                          (16, "sigmoid", False), (145, "linear", True)])
def test_chained_fit_equals_single_steps(opt, width, act, u8):
    fin, n = 50, 12
    x, y = _data(n, fin, u8)
    a = _model(width, act, opt, fin, u8)
    b = _model(width, act, opt, fin, u8)
    h = a.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
    losses = []
    for i in range(n):
        losses.append(b.train_on_batch(x[i:i + 1], y[i:i + 1])["loss"])
    assert np.array_equal(np.asarray(h.batch_loss, np.float32), np.asarray(losses, np.float32))
    for p, q in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(p, q)


def _np_reference_step(w, x, label, state, opt, t):
    """One float64 step of Dense(relu)-Dense-softmax-xent on one example."""
    W0, b0, W1, b1 = [p.astype(np.float64) for p in w]
    x = x.astype(np.float64).ravel()
    z = x @ W0 + b0
    h = np.maximum(z, 0)
    lo = h @ W1 + b1
    p = np.exp(lo - lo.max())
    p /= p.sum()
    loss = -np.log(p[label])
    d1 = p.copy()
    d1[label] -= 1
    d0 = (W1 @ d1) * (z > 0)
    grads = [np.outer(x, d0), d0, np.outer(h, d1), d1]
    new = []
    for i, (q, g) in enumerate(zip((W0, b0, W1, b1), grads)):
        if opt == "sgd_momentum":
            g = g + 0.01 * q
            v = 0.9 * state.get(i, 0.0) + g
            state[i] = v
            q = q - 0.05 * v
        else:  # adam
            g = g + 0.01 * q
            m = 0.9 * state.get((i, "m"), 0.0) + 0.1 * g
            vv = 0.999 * state.get((i, "v"), 0.0) + 0.001 * g * g
            state[(i, "m")], state[(i, "v")] = m, vv
            q = q - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(vv / (1 - 0.999 ** t)) + 1e-7)
        new.append(q)
    return new, loss


@pytest.mark.parametrize("opt", ["sgd_momentum", "adam"])
def test_chained_fit_matches_float64_reference(opt):
    fin, n = 40, 5
    x, y = _data(n, fin, False)
    m = _model(150, "relu", opt, fin, False)
    w = [p.astype(np.float64) for p in m.get_weights()]
    h = m.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
    state = {}
    for i in range(n):
        w, loss = _np_reference_step(w, x[i], y[i], state, opt, i + 1)
        np.testing.assert_allclose(h.batch_loss[i], loss, rtol=1e-4, atol=1e-6)
    for got, want in zip(m.get_weights(), w):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_chained_fit_thread_invariant():
    # 784 x 300 is large enough for the update pass to use two threads (column chunks).
    x, y = _data(6, 784, True)
    before = fm.get_num_threads()
    res = []
    try:
        for nt in (1, 2):
            fm.set_num_threads(nt)
            m = _model(300, "relu", "sgd_momentum", 784, True)
            h = m.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
            res.append((h.batch_loss, m.get_weights()))
    finally:
        fm.set_num_threads(before)
    assert_runs_bitwise_equal(res)


def test_chain_stops_at_nonfinite_input_with_weights_untouched():
    """The engine's batch-1 chain (train_batches, which fit calls per chunk: fit itself
    refuses NaN in x before training) stops before a bad example: the chained forward
    of example 3, made during example 2's update, is not applied."""
    x, y = _data(6, 50, False)
    x[3, 7] = np.nan
    a = _model(37, "relu", "sgd_momentum", 50, False)
    b = _model(37, "relu", "sgd_momentum", 50, False)
    losses, accs = np.zeros(6, np.float32), np.zeros(6, np.float32)
    net = a._ensure_net()
    got = net.train_batches(x, a._prep_y(y, 6), np.arange(6, dtype=np.int32), 1, 0, 6,
                            losses, accs)
    assert got == 4 and net.bad_input_row == 3 and np.isnan(losses[3])
    for i in range(3):
        b.train_on_batch(x[i:i + 1], y[i:i + 1])
    for p, q in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(p, q)
