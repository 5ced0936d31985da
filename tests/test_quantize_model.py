"""Sequential.quantize("int8" | "bf16"): which layers, predict against NumPy references
built from the quantized weights (bit for bit for int8), every tier, threads, save/load,
get/set_weights, summary, ONNX export run by onnxruntime, training refused, bad input;
and on real Fashion-MNIST the accuracy targets (argmax agreement >= 99.5%, <= 0.3 points
lost)."""
import os

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.ops as ops


def model(hidden=(48, 24), act="relu", seed=0, shape=(30,)):
    layers = [fm.Flatten()] if len(shape) > 1 else []
    layers += [fm.Dense(h, activation=act) for h in hidden]
    layers += [fm.Dense(5, activation="softmax")]
    return fm.Sequential(layers, input_shape=shape, seed=seed)


def int8_reference(kernel, scale, bias, x, act="relu", static=None):
    """The int8 Dense's output in NumPy: 7-bit row codes (or the static ones), exact
    integer sums, then the engine's float32 epilogue."""
    if static is None:
        q, sa, z = ops.quantize_per_row(x, bits=7)
    else:
        q, sa, z = ops.quantize_per_row(x, bits=8, scale=static[0], zero_point=static[1])
        q = np.minimum(q, 127)
    acc = q.astype(np.int64) @ kernel.astype(np.int64) - z[:, None] * \
        kernel.astype(np.int64).sum(0)[None, :]
    v = acc.astype(np.float32) * (sa[:, None] * scale[None, :]).astype(np.float32) + bias
    return np.maximum(v, np.float32(0)) if act == "relu" else v


def test_quantize_int8_which_layers_and_weights(rng):
    m = model()
    w = m.get_weights()
    m.quantize("int8")
    assert m.dtype_policy == "int8"
    pol = [getattr(l, "dtype_policy", None) for l in m.layers]
    assert pol == ["int8", "int8", "float32"]  # the last Dense stays float32
    got = m.get_weights()
    assert [a.dtype for a in got[:6]] == [np.int8, np.float32, np.float32] * 2
    q, s = ops.quantize_per_channel(w[0])
    np.testing.assert_array_equal(got[0], q)
    np.testing.assert_array_equal(got[2], s)
    np.testing.assert_array_equal(got[1], w[1])
    np.testing.assert_array_equal(got[6], w[4])  # the float output layer is untouched
    assert m.count_params() == sum(a.size for a in got)


def test_single_dense_is_quantized():
    m = fm.Sequential([fm.Dense(3)], input_shape=(4,), seed=0)
    m.quantize("int8")
    assert m.layers[0].dtype_policy == "int8"


def test_int8_predict_bits_against_numpy(isa, rng):
    m = fm.Sequential([fm.Dense(40, activation="relu")], input_shape=(33,), seed=1)
    m.quantize("int8")
    x = (rng.standard_normal((37, 33)) * 2).astype(np.float32)
    k, b, s = m.get_weights()
    np.testing.assert_array_equal(m.predict(x), int8_reference(k, s, b, x))
    np.testing.assert_array_equal(m.predict(x[5:6]), m.predict(x)[5:6])  # row independent


def test_int8_static_predict_bits_against_numpy(isa, rng):
    m = fm.Sequential([fm.Dense(40, activation="relu")], input_shape=(33,), seed=1)
    cal = rng.random((200, 33), dtype=np.float32)
    m.quantize("int8", calibration_data=cal)
    static = m.layers[0].input_quantization
    assert static[0] == pytest.approx(float(cal.max()) / 127, rel=1e-6) and static[1] == 0
    x = rng.random((20, 33), dtype=np.float32) * 1.5  # beyond the range: saturates
    k, b, s = m.get_weights()
    np.testing.assert_array_equal(m.predict(x), int8_reference(k, s, b, x, static=static))


def test_quantized_predict_close_to_float_every_tier(isa, rng):
    x = rng.random((64, 30), dtype=np.float32)
    for mode in ("int8", "bf16"):
        m = model(act="gelu")
        p32 = m.predict(x)
        m.quantize(mode)
        p = m.predict(x)
        assert np.abs(p - p32).max() < (0.02 if mode == "int8" else 0.005)


# (widths around the bf16 kernels' 16-column panels and 32-element K tiles; 1, 3 and 50
# rows: the few-row path, the VNNI tiles' tails, AMX row blocks)
@pytest.mark.parametrize("rows", [1, 3, 50])
def test_bf16_predict_against_numpy(isa, rng, rows):
    m = model(hidden=(33, 17), shape=(70,))
    w = m.get_weights()
    m.quantize("bf16")
    x = rng.standard_normal((rows, 70)).astype(np.float32)
    h = x
    for i in range(2):
        k = ops.round_bfloat16(w[2 * i])
        np.testing.assert_array_equal(m.get_weights()[2 * i], k)
        h = np.maximum(ops.round_bfloat16(h).astype(np.float64) @ k + w[2 * i + 1], 0)
    logits = h @ w[4] + w[5]
    ref = np.exp(logits - logits.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(m.predict(x), ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode", ["int8", "bf16"])
def test_thread_invariant(isa, rng, restore_threads, mode):
    m = model(hidden=(300, 200), shape=(256,))
    m.quantize(mode)
    x = rng.random((700, 256), dtype=np.float32)
    outs = []
    for nt in (1, 2):
        fm.set_num_threads(nt)
        outs.append(m.predict(x))
        outs.append(m.predict(x[:3]))
    np.testing.assert_array_equal(outs[0], outs[2])
    np.testing.assert_array_equal(outs[1], outs[3])
    # a row's output does not depend on the rows passed with it
    np.testing.assert_array_equal(outs[1], outs[0][:3])


def test_nonfinite_rows_give_nan(rng):
    m = model()
    m.quantize("int8")
    x = rng.random((6, 30), dtype=np.float32)
    x[2, 4] = np.nan
    x[4, 0] = -np.inf
    p = m.predict(x)
    assert np.isnan(p[[2, 4]]).all() and np.isfinite(p[[0, 1, 3, 5]]).all()


@pytest.mark.parametrize("mode,cal", [("int8", False), ("int8", True), ("bf16", False)])
def test_save_load_round_trip(tmp_path, rng, mode, cal):
    m = model(shape=(5, 6))
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.random((40, 5, 6), dtype=np.float32)
    m.quantize(mode, calibration_data=x if cal else None)
    path = os.fspath(tmp_path / "q.npz")
    m.save(path)
    with np.load(path) as z:
        dtypes = [z[k].dtype for k in sorted(z.files) if k.startswith("weight_")]
    assert dtypes.count(np.int8) == (2 if mode == "int8" else 0)
    r = fm.load_model(path)
    assert r.dtype_policy == mode
    assert [getattr(l, "input_quantization", None) for l in r.layers] == \
        [getattr(l, "input_quantization", None) for l in m.layers]
    np.testing.assert_array_equal(r.predict(x), m.predict(x))
    y = rng.integers(0, 5, 40)
    assert r.evaluate(x, y) == m.evaluate(x, y)


def test_summary_shows_policy():
    m = model()
    m.quantize("int8")
    lines = []
    m.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(Dense, int8)" in text and "Dtype policy: int8" in text


def test_to_onnx_runs_in_onnxruntime_and_agrees(rng):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    x = rng.random((200, 5, 6), dtype=np.float32)
    for mode, cal in (("int8", None), ("int8", x[:50]), ("bf16", None)):
        m = model(shape=(5, 6), act="leaky_relu")
        m.quantize(mode, calibration_data=cal)
        proto = m.to_onnx()
        ops_used = {n.op_type for n in proto.graph.node}
        if mode == "int8":
            assert {"QuantizeLinear", "DequantizeLinear", "MatMul"} <= ops_used
        sess = ort.InferenceSession(proto.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        got = sess.run(None, {"input": x})[0]
        np.testing.assert_allclose(got, m.predict(x), rtol=1e-4, atol=1e-6)


def test_training_refused_and_other_errors(rng):
    m = model()
    m.compile("adam", "sparse_categorical_crossentropy")
    x, y = rng.random((8, 30), dtype=np.float32), rng.integers(0, 5, 8)
    m.quantize("int8")
    for call in (lambda: m.fit(x, y, verbose=0), lambda: m.train_on_batch(x, y)):
        with pytest.raises(ValueError, match="train the float32 model, then"):
            call()
    from fastmlp.distributed._fit import check_model
    with pytest.raises(ValueError, match="serves inference only"):
        check_model(m)  # fastmlp.distributed.fit's first check
    with pytest.raises(ValueError, match="already quantized"):
        m.quantize("int8")
    if pytest.importorskip("torch"):
        with pytest.raises(ValueError, match="quantized"):
            m.to_torch()
    with pytest.raises(ValueError, match="'int8', 'bf16'"):
        model().quantize("int4")
    with pytest.raises(ValueError, match=r"shape \(rows >= 1, 30\)"):
        model().quantize("int8", calibration_data=np.ones((4, 29), np.float32))
    with pytest.raises(ValueError, match="only applies to mode='int8'"):
        model().quantize("bf16", calibration_data=np.ones((4, 30), np.float32))
    with pytest.raises(ValueError, match="NaN or inf"):
        model().quantize("int8", calibration_data=np.full((4, 30), np.nan, np.float32))
    with pytest.raises(ValueError, match="not built"):
        fm.Sequential([fm.Dense(3)]).quantize("int8")
    with pytest.raises(ValueError, match="dtype_policy"):
        fm.Dense(3, dtype_policy="float16")
    with pytest.raises(ValueError, match="only an int8 layer"):
        fm.Dense(3, input_quantization=(0.1, 0))
    with pytest.raises(ValueError, match=r"zero point must be an int in \[0, 127\]"):
        fm.Dense(3, dtype_policy="int8", input_quantization=(0.1, 300))


def test_set_weights_checks_int8_kernel():
    m = model()
    m.quantize("int8")
    w = m.get_weights()
    bad = [a.copy() for a in w]
    bad[0] = bad[0].astype(np.float32) + 0.5
    with pytest.raises(ValueError, match="integers in"):
        m.set_weights(bad)
    bad[0] = np.full(w[0].shape, 200.0, np.float32)
    with pytest.raises(ValueError, match=r"\[-127, 127\]"):
        m.set_weights(bad)
    bad = [a.copy() for a in w]
    bad[2][0] = 0.0
    with pytest.raises(ValueError, match="kernel_scale must be finite and > 0"):
        m.set_weights(bad)
    m.set_weights(w)  # good weights go back in unchanged
    np.testing.assert_array_equal(m.get_weights()[0], w[0])


@pytest.fixture(scope="module")
def trained_fashion(fashion):
    xtr, ytr, xte, yte = fashion
    m = fm.Sequential([fm.Rescaling(1 / 255), fm.Flatten(), fm.Dense(256, activation="relu"),
                       fm.Dense(128, activation="relu"), fm.Dense(10, activation="softmax")],
                      input_shape=(28, 28), seed=3)
    m.compile(fm.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(xtr, ytr, batch_size=64, epochs=3, verbose=0, seed=0)
    return m


@pytest.mark.parametrize("mode,cal", [("int8", False), ("int8", True), ("bf16", False)],
                         ids=["int8-dynamic", "int8-static", "bf16"])
def test_fashion_mnist_accuracy_kept(trained_fashion, fashion, tmp_path, mode, cal):
    xtr, _, xte, yte = fashion
    path = os.fspath(tmp_path / "f.npz")
    trained_fashion.save(path)
    q = fm.load_model(path)
    q.quantize(mode, calibration_data=xtr[:2000] if cal else None)
    p32 = trained_fashion.predict(xte).argmax(1)
    pq = q.predict(xte).argmax(1)
    acc32, accq = (p32 == yte).mean(), (pq == yte).mean()
    assert acc32 > 0.86
    assert (pq == p32).mean() >= 0.995
    assert accq >= acc32 - 0.003
