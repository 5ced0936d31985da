"""Mini-batch training (Adam at any batch size, SGD up to fused_max_rows) steps W straight from the GEMM tiles of x^T dz (gemm_update's
blocked path: one K block, the gradient never written to memory). Checked against a
float64 NumPy step, against the dW-matrix path (fused_max_rows = 0), and 1 vs 2 threads."""
import numpy as np
import pytest

import fastmlp as fm
from _np_reference import assert_runs_bitwise_equal

OPTS = {
    "sgd": (lambda: fm.optimizers.SGD(0.05), dict(kind="sgd", mom=0.0, nest=False)),
    "momentum": (lambda: fm.optimizers.SGD(0.05, momentum=0.9, weight_decay=0.01),
                 dict(kind="sgd", mom=0.9, nest=False, wd=0.01)),
    "nesterov": (lambda: fm.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                 dict(kind="sgd", mom=0.9, nest=True)),
    "adam": (lambda: fm.optimizers.Adam(0.01, weight_decay=0.01), dict(kind="adam", wd=0.01)),
}


def _model(fin, width, opt, seed=0):
    m = fm.Sequential([fm.Dense(width, activation="relu"), fm.Dense(10), fm.Softmax()],
                      input_shape=(fin,), seed=seed)
    m.compile(optimizer=OPTS[opt][0](), loss="sparse_categorical_crossentropy")
    return m


def _ref_step(w, x, y, state, t, kind, mom=0.0, nest=False, wd=0.0):
    W0, b0, W1, b1 = w
    x = x.astype(np.float64)
    z = x @ W0 + b0
    h = np.maximum(z, 0)
    lo = h @ W1 + b1
    p = np.exp(lo - lo.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d1 = p.copy()
    d1[np.arange(len(y)), y] -= 1
    d1 /= len(y)
    d0 = (d1 @ W1.T) * (z > 0)
    grads = [x.T @ d0, d0.sum(0), h.T @ d1, d1.sum(0)]
    out = []
    for i, (q, g) in enumerate(zip(w, grads)):
        g = g + wd * q
        if kind == "sgd":
            if mom:
                v = mom * state.get(i, 0.0) + g
                state[i] = v
                q = q - 0.05 * (g + mom * v if nest else v)
            else:
                q = q - 0.05 * g
        else:
            m = 0.9 * state.get((i, "m"), 0.0) + 0.1 * g
            vv = 0.999 * state.get((i, "v"), 0.0) + 0.001 * g * g
            state[(i, "m")], state[(i, "v")] = m, vv
            q = q - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(vv / (1 - 0.999 ** t)) + 1e-7)
        out.append(q)
    return out


@pytest.mark.parametrize("opt", list(OPTS))
# SGD takes the tile path up to fused_max_rows (8) rows, Adam at any batch size.
@pytest.mark.parametrize("fin,width,batch", [(100, 40, 8), (100, 40, 20), (37, 64, 64),
                                             (30, 13, 600)])
def test_tile_update_matches_float64_reference(opt, fin, width, batch):
    r = np.random.default_rng(1)
    x = r.normal(size=(batch * 2, fin)).astype(np.float32)
    y = r.integers(0, 10, size=batch * 2)
    m = _model(fin, width, opt)
    w = [p.astype(np.float64) for p in m.get_weights()]
    m.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    state = {}
    for s in range(2):
        sl = slice(s * batch, (s + 1) * batch)
        w = _ref_step(w, x[sl], y[sl], state, s + 1, **OPTS[opt][1])
    for got, want in zip(m.get_weights(), w):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("opt", ["momentum", "adam"])
def test_tile_update_close_to_dw_matrix_path(opt):
    r = np.random.default_rng(2)
    x = r.normal(size=(256, 60)).astype(np.float32)
    y = r.integers(0, 10, size=256)
    a, b = _model(60, 50, opt), _model(60, 50, opt)
    b._net.fused_max_rows = 0
    a.fit(x, y, batch_size=8, epochs=2, seed=4, verbose=0)
    b.fit(x, y, batch_size=8, epochs=2, seed=4, verbose=0)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5)


def test_tile_update_thread_invariant():
    # 784 x 300 at batch 64: the blocked GEMM splits A panels over two threads.
    r = np.random.default_rng(3)
    x = r.integers(0, 256, size=(256, 784)).astype(np.uint8)
    y = r.integers(0, 10, size=256)
    before = fm.get_num_threads()
    res = []
    try:
        for nt in (1, 2):
            fm.set_num_threads(nt)
            m = fm.Sequential([fm.Rescaling(1 / 255), fm.Dense(300, activation="relu"),
                               fm.Dense(10), fm.Softmax()], input_shape=(784,), seed=0)
            m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            h = m.fit(x, y, batch_size=64, epochs=1, seed=1, verbose=0)
            res.append((h.batch_loss, m.get_weights()))
    finally:
        fm.set_num_threads(before)
    assert_runs_bitwise_equal(res)


@pytest.mark.parametrize("opt", ["momentum", "nesterov", "adam"])
@pytest.mark.parametrize("batch", [1, 4, 64])
def test_tiny_state_is_stored_as_zero(opt, batch):
    """Velocity / Adam moments of a weight whose input stays 0 decay geometrically; below
    2^-100 they are stored as 0 (lr * state would be subnormal: a microcode assist per
    value on x86), above it they decay exactly. Every update path: batch 1 (the chained
    row update), the GEMM tile update and (momentum at batch 64) the dW-matrix path."""
    m = fm.Sequential([fm.Dense(16, activation="relu"), fm.Dense(10), fm.Softmax()],
                      input_shape=(12,), seed=0)
    m.compile(optimizer={"momentum": fm.optimizers.SGD(0.05, momentum=0.9),
                         "nesterov": fm.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                         "adam": fm.optimizers.Adam(0.01)}[opt],
              loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 12)).astype(np.float32)
    x[:, 3] = 0.0  # input 3 is 0 (no weight decay): row 3 of W0 gets a zero gradient
    y = rng.integers(0, 10, batch)
    m.train_on_batch(x, y)
    step, state = m._optimizer_state()
    state = [tuple(None if a is None else a.copy() for a in s) for s in state]
    decay = 0.9  # momentum and Adam's beta_1 (Adam's beta_2 is 0.999)
    for s in state[0]:
        if s is not None:
            s[3, :8] = 1e-31   # decays below 2^-100 (7.9e-31): stored as 0
            s[3, 8:] = 1e-29   # stays above it
    m._set_optimizer_state(step, state)
    m.train_on_batch(x, y)
    _, after = m._optimizer_state()
    for j, s in enumerate(after[0]):
        if s is None:
            continue
        k = decay if j == 0 else (0.999 if opt == "adam" else decay)
        assert np.all(s[3, :8] == 0.0), (j, s[3, :8])
        np.testing.assert_allclose(s[3, 8:], 1e-29 * k, rtol=1e-6)


@pytest.mark.parametrize("batch", [4, 64])
def test_consecutive_float_rows_read_in_place_match_a_gathered_copy(batch):
    """train_on_batch / unshuffled fit read consecutive float32 rows of x in place (no
    copy); a strided view of the same values goes through the gather. Same bits, and a
    read-only x stays untouched."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3 * batch, 30)).astype(np.float32)
    y = rng.integers(0, 10, 3 * batch)
    wide = np.zeros((3 * batch, 31), np.float32)
    wide[:, :30] = x
    strided = wide[:, :30]  # row stride 31: gathered
    x.flags.writeable = False
    a, b = _model(30, 16, "adam"), _model(30, 16, "adam")
    for m, xx in ((a, x), (b, strided)):
        m.train_on_batch(xx[:batch], y[:batch])
        m.fit(xx, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    for p, q in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(p, q)
    np.testing.assert_array_equal(x, wide[:, :30])
