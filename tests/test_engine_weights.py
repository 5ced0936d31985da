"""Engine weights: pre-packed for inference and re-packed whenever they change; the views
Python sees are read-only (writes go through set_weights, which the engine sees); one row
predicted alone equals that row of a batch, bit for bit; memory is reported."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _core


def _model(seed=0, hidden=32, inputs=20, outputs=5, softmax=True):
    layers = [fm.Dense(hidden, activation="relu"), fm.Dense(outputs)]
    if softmax:
        layers.append(fm.Softmax())
    return fm.Sequential(layers, input_shape=(inputs,), seed=seed)


def _numpy_forward(model, x):
    w = model.get_weights()
    h = np.maximum(x.astype(np.float64) @ w[0] + w[1], 0)
    z = h @ w[2] + w[3]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _bits_equal(a, b):
    return np.array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32))


def test_set_weights_then_predict_sees_new_weights(rng):
    m = _model()
    x = rng.standard_normal((300, 20)).astype(np.float32)
    before = m.predict(x)  # packs the weights
    np.testing.assert_allclose(before, _numpy_forward(m, x), rtol=1e-4, atol=1e-6)
    w = m.get_weights()
    w[0] = rng.standard_normal(w[0].shape).astype(np.float32)
    w[3] = w[3] + 1.0
    m.set_weights(w)
    after = m.predict(x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, _numpy_forward(m, x), rtol=1e-4, atol=1e-6)
    # a single layer's set_weights reaches the engine too
    m.layers[1].set_weights([np.zeros((32, 5), np.float32), np.zeros(5, np.float32)])
    np.testing.assert_array_equal(m.predict(x), np.full((300, 5), 0.2, np.float32))


def test_weights_version_bumps_on_every_update_path(rng):
    m = _model()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    net = m._net
    x = rng.standard_normal((64, 20)).astype(np.float32)
    y = rng.integers(0, 5, 64)
    v = net.weights_version
    m.predict(x)
    assert net.weights_version == v  # reading does not change the version
    p0 = m.predict(x)
    m.train_on_batch(x, y)
    assert net.weights_version > v
    v = net.weights_version
    p1 = m.predict(x)
    assert not np.array_equal(p0, p1)  # the re-packed weights were used
    np.testing.assert_allclose(p1, _numpy_forward(m, x), rtol=1e-4, atol=1e-6)
    m.fit(x, y, batch_size=1, epochs=1, verbose=0)  # fused batch-1 path
    assert net.weights_version >= v + 64
    v = net.weights_version
    np.testing.assert_allclose(m.predict(x), _numpy_forward(m, x), rtol=1e-4, atol=1e-6)
    m.set_weights(m.get_weights())
    assert net.weights_version > v
    ev = m.evaluate(x, y)
    ref = _numpy_forward(m, x)
    assert ev["loss"] == pytest.approx(float(-np.log(ref[np.arange(64), y]).mean()), rel=1e-4)


def test_in_place_writes_raise_clear_error():
    m = _model()
    m.predict(np.zeros((1, 20), np.float32))
    k, b = m.layers[0].kernel, m.layers[0].bias
    assert not k.flags.writeable and not b.flags.writeable
    for write in (lambda: k.__setitem__((0, 0), 1.0), lambda: b.__setitem__(..., 0.0),
                  lambda: np.add(k, 1, out=k)):
        with pytest.raises(ValueError, match="set_weights"):
            write()
    with pytest.raises(ValueError, match="set_weights"):
        m.layers[0].kernel += 1
    with pytest.raises(ValueError):
        k.setflags(write=True)
    with pytest.raises(ValueError):
        np.copyto(k, 0.0)
    # reading and arithmetic give ordinary arrays
    assert type(k * 2) is np.ndarray and type(np.asarray(k)) is np.ndarray
    assert repr(b).startswith("array(")
    w = m.get_weights()[0]
    assert w.flags.writeable and type(w) is np.ndarray and np.array_equal(w, k)
    w[...] = 0  # a copy: the model is unchanged
    assert not np.array_equal(w, m.layers[0].kernel)


def test_raw_param_views_are_read_only():
    net = _core.Network([{"kind": 0, "inputs": 3, "outputs": 2, "use_bias": True}], 3)
    with pytest.raises(ValueError, match="read-only"):
        net.param(0)[0, 0] = 1.0
    net.set_param(0, np.arange(6, dtype=np.float32).reshape(3, 2))
    np.testing.assert_array_equal(net.param(0), np.arange(6).reshape(3, 2))
    with pytest.raises(ValueError, match="shape"):
        net.set_param(0, np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="float32"):
        net.set_param(1, np.zeros(2, np.float64))
    with pytest.raises(IndexError):
        net.set_param(2, np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="expected 2 arrays"):
        net.set_params([np.zeros((3, 2), np.float32)])


def test_tier_switch_repacks(rng):
    """The packed layout is private to a tier: switching tiers must re-pack."""
    from conftest import TIERS
    if len(TIERS) < 2:
        pytest.skip("one ISA tier only")
    before = _core.get_isa()
    try:
        m = _model(hidden=40)
        x = rng.standard_normal((100, 20)).astype(np.float32)
        ref = _numpy_forward(m, x)
        for t in TIERS + TIERS[:1]:
            _core.set_isa(t)
            np.testing.assert_allclose(m.predict(x), ref, rtol=1e-4, atol=1e-6, err_msg=t)
    finally:
        _core.set_isa(before)


@pytest.mark.parametrize("dims", [(20, 32, 5), (784, 128, 10), (600, 97, 3)])
def test_one_row_equals_batch_row_bitwise(isa, rng, dims):
    n_in, hidden, n_out = dims
    m = _model(inputs=n_in, hidden=hidden, outputs=n_out, seed=1)
    x = rng.standard_normal((300, n_in)).astype(np.float32)
    batch = m.predict(x)
    for i in (0, 1, 7, 255, 256, 299):
        assert _bits_equal(m.predict(x[i:i + 1]), batch[i:i + 1]), f"row {i}"
    for lo, hi in ((3, 5), (10, 14), (250, 262)):
        assert _bits_equal(m.predict(x[lo:hi]), batch[lo:hi]), f"rows {lo}:{hi}"
    u8 = rng.integers(0, 256, (40, n_in), dtype=np.uint8)
    mu = fm.Sequential([fm.Rescaling(1 / 255)] + [fm.Dense(hidden, activation="tanh"),
                                                 fm.Dense(n_out)], input_shape=(n_in,), seed=2)
    bu = mu.predict(u8)
    for i in (0, 5, 39):
        assert _bits_equal(mu.predict(u8[i:i + 1]), bu[i:i + 1])


def test_strided_rows_are_read_in_place(rng):
    m = _model()
    big = rng.standard_normal((50, 40)).astype(np.float32)
    x = big[::2, 5:25]  # rows strided, each row contiguous
    ref = m.predict(np.ascontiguousarray(x))
    assert _bits_equal(m.predict(x), ref)
    assert _bits_equal(m.predict(np.ascontiguousarray(x)[::-1]), ref[::-1])
    row = big[:1, :20]
    assert _bits_equal(m.predict(np.broadcast_to(row, (7, 20))), np.repeat(m.predict(row), 7, 0))
    assert _bits_equal(m.predict(big[:, :20:1].T[:20].T), m.predict(big[:, :20].copy()))
    colmajor = np.asfortranarray(big[:, :20])
    assert _bits_equal(m.predict(colmajor), m.predict(big[:, :20].copy()))


def test_memory_bytes_reported(rng, capsys):
    m = _model(hidden=64)
    n_params = m.count_params()
    assert m.memory_bytes() == 4 * n_params  # before the engine exists: weights only
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    d = m.memory_bytes(detail=True)
    assert d["weights"] == 4 * n_params
    assert d["optimizer"] == 2 * 4 * n_params  # Adam: m and v
    assert d["total"] == sum(d[k] for k in ("weights", "optimizer", "packed", "workspace"))
    m.predict(rng.standard_normal((10_000, 20)).astype(np.float32))
    d2 = m.memory_bytes(detail=True)
    assert d2["packed"] >= 4 * n_params
    # workspaces are tiles, not proportional to the 10,000 rows predicted
    assert d2["workspace"] < 16 * 256 * (20 + 64 + 5 + 5 + 5) * 4 * 2
    assert m.memory_bytes() == d2["total"]
    m.summary()
    out = capsys.readouterr().out
    assert "Memory:" in out and "optimizer state" in out


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("n", [1, 3, 300])
def test_nonfinite_input_rows_predict_nan_and_evaluate_raises(rng, bad, n):
    m = _model(hidden=16)  # ReLU hidden layer: would turn NaN into 0 without the check
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((n, 20)).astype(np.float32)
    clean = m.predict(x)
    r = n // 2
    x[r, 7] = bad
    out = m.predict(x)
    assert np.isnan(out[r]).all()
    others = np.arange(n) != r
    assert _bits_equal(out[others], clean[others])
    with pytest.raises(ValueError, match=rf"NaN or inf \(at index \({r}, 7\)"):
        m.evaluate(x, np.zeros(n, np.int32))


@pytest.mark.parametrize("first", ["relu", "sigmoid", "tanh", "relu_layer_first"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("n", [1, 13, 300])
def test_nonfinite_rows_whatever_the_first_layer(rng, first, bad, n):
    """Batches of more than a few rows learn of a non-finite input from layer 0's GEMM
    (its pre-activations), not from a pass over the input: a sigmoid / tanh would map
    +-inf to a finite value, a ReLU maps -inf to 0, and the bad input's weights may be 0
    (inf * 0 is NaN). A model that starts with an activation layer checks the input."""
    if first == "relu_layer_first":
        layers = [fm.ReLU(), fm.Dense(16, activation="relu"), fm.Dense(4)]
    else:
        layers = [fm.Dense(16, activation=first), fm.Dense(4)]
    m = fm.Sequential(layers, input_shape=(20,), seed=1)
    w = m.get_weights()
    w[0][7, ::2] = 0.0  # half of input 7's weights are zero
    m.set_weights(w)
    x = rng.standard_normal((n, 20)).astype(np.float32)
    clean = m.predict(x)
    r = n - 1 - n // 3
    x[r, 7] = bad
    out = m.predict(x)
    assert np.isnan(out[r]).all()
    others = np.arange(n) != r
    assert _bits_equal(out[others], clean[others])
    assert _bits_equal(m.predict(x[r:r + 1]), out[r:r + 1])


@pytest.mark.parametrize("n", [2, 13, 300])
def test_overflowing_finite_rows_are_not_taken_for_nonfinite_input(rng, n):
    """A finite row whose pre-activations overflow to inf sets layer 0's non-finite flag;
    the row-by-row check then finds its input finite and leaves its output as computed:
    each row equals that row predicted alone (the few-row path checks the input itself)."""
    m = _model(hidden=16, softmax=False)
    w = m.get_weights()
    w[0][:2] = -1.0  # inputs 0 and 1 drive every hidden unit to -inf, which ReLU makes 0
    m.set_weights(w)
    x = rng.standard_normal((n, 20)).astype(np.float32)
    x[n // 2, :2] = 3e38
    out = m.predict(x)
    np.testing.assert_array_equal(out[n // 2], w[3])  # all hidden units 0: the last bias
    for r in (0, n // 2, n - 1):
        assert _bits_equal(m.predict(x[r:r + 1]), out[r:r + 1]), r


def test_one_input_feature_kernel_stays_2d(rng):
    """A Dense with one input has a kernel of shape (1, units), not a bias-like vector."""
    m = fm.Sequential([fm.Dense(7, activation="tanh"), fm.Dense(3)], input_shape=(1,), seed=0)
    m.compile(optimizer="adam", loss="mse")
    assert m.layers[0].kernel.shape == (1, 7) and m.layers[0].bias.shape == (7,)
    w = [a + 0.5 for a in m.get_weights()]
    assert [a.shape for a in w] == [(1, 7), (7,), (7, 3), (3,)]
    m.set_weights(w)
    x = rng.standard_normal((9, 1)).astype(np.float32)
    ref = np.tanh(x.astype(np.float64) @ w[0] + w[1]) @ w[2] + w[3]
    np.testing.assert_allclose(m.predict(x), ref, rtol=1e-5, atol=1e-5)
    loss, grads = m._net.compute_gradients(x, rng.standard_normal((9, 3)).astype(np.float32))
    assert [g.shape for g in grads] == [a.shape for a in w]


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_fit_stops_at_nonfinite_input_before_touching_weights(rng, batch):
    m = _model(hidden=16)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((200, 20)).astype(np.float32)
    y = rng.integers(0, 5, 200)
    x[123, 4] = np.inf if batch == 7 else np.nan
    w0 = m.get_weights()
    # fit checks all of x first: nothing trains
    with pytest.raises(ValueError, match=r"NaN or inf \(at index \(123, 4\).*Nothing was trained"):
        m.fit(x, y, batch_size=batch, epochs=2, seed=3, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), w0))
    m2 = _model(hidden=16)
    m2.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="NaN or inf"):
        m2.train_on_batch(x[120:130], y[120:130])
    assert all(np.array_equal(a, b) for a, b in zip(m2.get_weights(), w0))
    # The engine itself (train_batches, called by fit per chunk with the GIL released, so
    # x could change under it) checks each batch it gathers: it stops before the bad one,
    # whose loss is NaN; the batches before it trained exactly as one call each would.
    m3 = _model(hidden=16)
    m3.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m4 = _model(hidden=16)
    m4.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    xs = np.nan_to_num(x, nan=0.0, posinf=0.0)
    xs[123, 4] = np.nan
    nb, bad_batch = 200 // batch, 123 // batch
    losses, accs = np.zeros(nb, np.float32), np.zeros(nb, np.float32)
    net = m3._ensure_net()
    got = net.train_batches(xs, m3._prep_y(y, 200), np.arange(200, dtype=np.int32), batch,
                            0, nb, losses, accs)
    assert got == bad_batch + 1 and net.bad_input_row == 123 and np.isnan(losses[bad_batch])
    for b in range(bad_batch):
        m4.train_on_batch(xs[b * batch:(b + 1) * batch], y[b * batch:(b + 1) * batch])
    assert all(np.array_equal(a, b) for a, b in zip(m3.get_weights(), m4.get_weights()))
    m3.fit(np.nan_to_num(xs), y, batch_size=batch, epochs=1, verbose=0)
    assert m3._net.bad_input_row == -1


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_rescaling_overflow_is_refused_before_anything_trains(dtype):
    """x finite, but the model's Rescaling makes row 5 inf: fit (x or validation x),
    train_on_batch and evaluate raise a ValueError naming the row and the Rescaling;
    nothing trains; predict gives that row NaN."""
    scale = 1e37 if dtype == np.uint8 else 1e30
    m = fm.Sequential([fm.Rescaling(scale), fm.Dense(8, activation="relu"), fm.Dense(3)],
                      input_shape=(4,), seed=0)
    m.compile(optimizer="adam", loss=fm.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.zeros((40, 4), dtype)
    x[5, 2] = 200 if dtype == np.uint8 else 1e10  # 2e39 / 1e40 after Rescaling
    y = np.zeros(40, int)
    clean = np.zeros((40, 4), dtype)
    w0 = m.get_weights()
    msg = r"x\[5\] holds values that become inf after the model's Rescaling"
    for call in (lambda: m.fit(x, y, batch_size=1, verbose=0),
                 lambda: m.fit(clean, y, validation_data=(x, y), verbose=0),
                 lambda: m.train_on_batch(x[:8], y[:8]), lambda: m.evaluate(x, y)):
        with pytest.raises(ValueError, match=msg):
            call()
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), w0))
    p = m.predict(x)
    assert np.isnan(p[5]).all() and np.isfinite(np.delete(p, 5, axis=0)).all()


def test_values_beyond_float32_range_are_refused_by_name():
    """float64 input whose finite values would become inf as float32 is a ValueError
    naming the value and where it is, for every entry point; nothing trains."""
    m = _model(hidden=8)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.zeros((6, 20))
    x[4, 3] = -1e39
    w0 = m.get_weights()
    calls = [lambda: m.fit(x, np.zeros(6, int), verbose=0), lambda: m.predict(x),
             lambda: m.evaluate(x, np.zeros(6, int)),
             lambda: m.train_on_batch(x, np.zeros(6, int))]
    for call in calls:
        with pytest.raises(ValueError, match=r"x holds -1e\+39 at index \(4, 3\), beyond the "
                                             r"float32 range"):
            call()
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), w0))


def test_nonfinite_matrix_input_names_the_index():
    """np.matrix x (rows stay 2-D when indexed) with inf: a ValueError naming the index,
    not an IndexError while building the message (found by fuzzing)."""
    m = fm.Sequential([fm.Dense(2)], input_shape=(1,), seed=0)
    m.compile(optimizer="sgd", loss=fm.losses.SparseCategoricalCrossentropy(from_logits=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        x = np.matrix([[np.inf], [3e38]], dtype=np.float32)
    for call in (lambda: m.fit(x, np.zeros(2, int), batch_size=1, verbose=0),
                 lambda: m.evaluate(x, np.zeros(2, int))):
        with pytest.raises(ValueError, match=r"NaN or inf \(at index \(0, 0\): inf\)"):
            call()
