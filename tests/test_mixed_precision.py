"""The mixed_bfloat16 policy: bf16 GEMM operands with float32 sums in forward and
backward, float32 master weights and updates. Against float64 NumPy references on every
tier, thread invariance, the policy API, saving and export, and real Fashion-MNIST
accuracy next to float32."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.ops as ops


def bf(a):
    return ops.round_bfloat16(np.asarray(a, np.float32)).astype(np.float64)


def model(policy="mixed_bfloat16", hidden=33, act="relu", out_act="softmax", n_in=70,
          n_out=5, seed=0):
    return fm.Sequential([fm.Dense(hidden, activation=act), fm.Dense(n_out, activation=out_act)],
                         input_shape=(n_in,), seed=seed, dtype_policy=policy)


def reference_gradients(w, x, y, n_out):
    """Sparse CE gradients of Dense(relu) -> Dense(softmax), every GEMM on bf16 operands
    (float64 sums), the bias sums and the loss in float64."""
    k1, b1, k2, b2 = (np.asarray(v, np.float64) for v in w)
    h = np.maximum(bf(x) @ bf(k1) + b1, 0)
    logits = bf(h) @ bf(k2) + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d2 = (p - np.eye(n_out)[y]) / len(x)
    g_k2, g_b2 = bf(h).T @ bf(d2), d2.sum(0)
    d1 = (bf(d2) @ bf(k2).T) * (h > 0)
    g_k1, g_b1 = bf(x).T @ bf(d1), d1.sum(0)
    bounds = [np.abs(bf(x)).T @ np.abs(bf(d1)), None, np.abs(bf(h)).T @ np.abs(bf(d2)), None]
    return [g_k1, g_b1, g_k2, g_b2], bounds


@pytest.mark.parametrize("rows", [1, 7, 64])
def test_one_step_gradients_against_numpy(isa, rng, rows):
    """SGD(lr) moves each weight by lr * its gradient: the engine's gradients, read off
    one step, against the bf16-operand reference; and farther from the float32 ones."""
    lr = 0.5
    grads = {}
    for policy in ("mixed_bfloat16", "float32"):
        m = model(policy)
        m.compile(fm.optimizers.SGD(lr), "sparse_categorical_crossentropy")
        if policy == "mixed_bfloat16":
            x = rng.standard_normal((rows, 70)).astype(np.float32)
            y = rng.integers(0, 5, rows)
        w0 = m.get_weights()
        m.train_on_batch(x, y)
        grads[policy] = [(a.astype(np.float64) - b) / lr for a, b in zip(w0, m.get_weights())]
    ref, bounds = reference_gradients(w0, x, y, 5)
    err_ref = err_f32 = 0.0
    for g, g32, r, bnd in zip(grads["mixed_bfloat16"], grads["float32"], ref, bounds):
        # (float32 sums; a bf16 operand that the float64 reference rounds the other way,
        # from a float32-vs-float64 difference, moves a product by 2^-8 of its size)
        tol = 2.0 ** -7 * (bnd if bnd is not None else np.abs(r)) + 1e-6
        assert np.all(np.abs(g - r) <= tol)
        err_ref += np.abs(g - r).sum()
        err_f32 += np.abs(g - g32).sum()
    assert err_ref < err_f32 / 4, "the mixed step looks like the float32 one"


def test_predict_against_numpy(isa, rng):
    m = model()
    x = rng.standard_normal((50, 70)).astype(np.float32)
    k1, b1, k2, b2 = m.get_weights()
    h = np.maximum(bf(x) @ bf(k1) + b1, 0)
    logits = bf(h) @ bf(k2) + b2
    ref = np.exp(logits - logits.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    p = m.predict(x)
    np.testing.assert_allclose(p, ref, rtol=2e-3, atol=1e-5)
    np.testing.assert_array_equal(m.predict(x[:3]), p[:3])  # rows do not see each other


def test_training_thread_invariant(isa, rng, restore_threads):
    x = rng.standard_normal((300, 70)).astype(np.float32)
    y = rng.integers(0, 5, 300)
    weights = []
    for nt in (1, 2):
        fm.set_num_threads(nt)
        # (70 x 1000 weights: past the size at which the sliced update splits over threads)
        m = model(hidden=1000)
        m.compile(fm.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=32, epochs=2, verbose=0, seed=1)
        weights.append(m.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_fit_learns_with_sigmoid_output_and_gelu(rng):
    """A final sigmoid fused with binary cross-entropy (the Dense's linear twin) and an
    activation whose derivative needs its input (split off the Dense) under the policy."""
    x = rng.standard_normal((256, 10)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)[:, None]
    m = model(act="gelu", out_act="sigmoid", n_in=10, n_out=1)
    m.compile(fm.optimizers.Adam(1e-2), "binary_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, batch_size=32, epochs=15, verbose=0, seed=0).history
    assert h["loss"][-1] < 0.5 * h["loss"][0] and h["accuracy"][-1] > 0.9


def test_policy_api(rng):
    assert fm.mixed_precision.global_policy() == "float32"
    try:
        fm.mixed_precision.set_global_policy("mixed_bfloat16")
        assert fm.Dense(3).dtype_policy == "mixed_bfloat16"
        assert fm.Dense(3, dtype_policy="float32").dtype_policy == "float32"
    finally:
        fm.mixed_precision.set_global_policy("float32")
    assert fm.Dense(3).dtype_policy == "float32"
    with pytest.raises(ValueError, match="'float32', 'mixed_bfloat16'.*'mixed_float16'"):
        fm.mixed_precision.set_global_policy("mixed_float16")
    with pytest.raises(ValueError, match="dtype_policy.*'int8'.*quantize"):
        fm.Sequential([fm.Dense(2)], dtype_policy="int8")
    m = model()
    assert m.dtype_policy == "mixed_bfloat16"
    assert all(l.dtype_policy == "mixed_bfloat16" for l in m.layers)
    lines = []
    m.summary(print_fn=lines.append)
    assert "Dtype policy: mixed_bfloat16" in lines and \
        not any("inference only" in s for s in lines)
    assert "(Dense, mixed_bfloat16)" in "\n".join(lines)


def test_save_load_quantize_and_export(tmp_path, rng):
    x = rng.standard_normal((40, 70)).astype(np.float32)
    y = rng.integers(0, 5, 40)
    m = model()
    m.compile(fm.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=2, verbose=0)
    p = m.predict(x)
    path = tmp_path / "mixed.fastmlp"
    m.save(path)
    m2 = fm.load_model(path)
    assert m2.dtype_policy == "mixed_bfloat16"
    np.testing.assert_array_equal(m2.predict(x), p)
    m2.fit(x, y, epochs=1, verbose=0)  # still trainable after loading
    # ONNX: Cast to bfloat16 and back around every Dense, the kernels rounded
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    sess = ort.InferenceSession(m.to_onnx().SerializeToString(),
                                providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, p, rtol=1e-4, atol=1e-6)
    # a mixed model quantizes like a float one
    m.quantize("int8")
    assert m.dtype_policy == "int8"
    with pytest.raises(ValueError, match="quantized"):
        m.fit(x, y, epochs=1, verbose=0)


def test_fashion_mnist_epoch_close_to_float32(fashion):
    """E1 (784-256-128-10, Adam 1e-3, batch 64, one epoch) under mixed_bfloat16 ends
    within 0.3 points of test accuracy of the float32 run."""
    xtr, ytr, xte, yte = fashion
    acc = {}
    for policy in ("float32", "mixed_bfloat16"):
        m = fm.Sequential([fm.Rescaling(1 / 255), fm.Flatten(), fm.Dense(256, activation="relu"),
                           fm.Dense(128, activation="relu"), fm.Dense(10, activation="softmax")],
                          input_shape=(28, 28), seed=0, dtype_policy=policy)
        m.compile(fm.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        m.fit(xtr, ytr, batch_size=64, epochs=1, verbose=0, seed=0)
        acc[policy] = m.evaluate(xte, yte, verbose=0)["accuracy"]
    assert acc["float32"] > 0.82
    assert abs(acc["mixed_bfloat16"] - acc["float32"]) <= 0.003, acc


@pytest.mark.parametrize("opt", [lambda: fm.optimizers.SGD(0.05, momentum=0.9),
                                 lambda: fm.optimizers.RMSprop(1e-2, clipnorm=1.0),
                                 lambda: fm.optimizers.Nadam(1e-2)],
                         ids=["sgd-momentum", "rmsprop-clipnorm", "nadam"])
def test_whole_gradient_optimizers_and_penalties(rng, opt):
    """Optimizers that need every gradient first (param_update) and an L2 penalty train a
    mixed model as they train a float one."""
    x = rng.standard_normal((256, 20)).astype(np.float32)
    y = (x[:, :3].sum(1) > 0).astype(np.int32)
    losses = {}
    for policy in ("float32", "mixed_bfloat16"):
        m = fm.Sequential([fm.Dense(32, activation="relu",
                                    kernel_regularizer=fm.regularizers.L2(1e-3)),
                           fm.Dense(2, activation="softmax")], input_shape=(20,), seed=2,
                          dtype_policy=policy)
        m.compile(opt(), "sparse_categorical_crossentropy")
        h = m.fit(x, y, batch_size=32, epochs=10, verbose=0, seed=0).history["loss"]
        assert h[-1] < 0.6 * h[0]
        losses[policy] = h[-1]
    assert abs(losses["mixed_bfloat16"] - losses["float32"]) < 0.05 + 0.2 * losses["float32"]


def test_weight_pack_reuse_is_exact(isa, rng):
    """The bf16 pack of the weights that each update leaves for the next forward: training
    straight through equals training step by step with the weights set again between
    steps (which makes every forward pack afresh), bit for bit."""
    x = rng.standard_normal((96, 70)).astype(np.float32)
    y = rng.integers(0, 5, 96)
    a, b = model(hidden=64), model(hidden=64)
    for m in (a, b):
        m.compile(fm.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    a.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    for i in range(0, 96, 32):
        b.train_on_batch(x[i:i + 32], y[i:i + 32])
        b.set_weights(b.get_weights())
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
