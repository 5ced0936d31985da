"""I1 (784-128-10) and I2 (784-512-512-10) inference at batch 1, 64, 1024.

Backends: fastmlp ``Sequential.predict``, PyTorch (inference_mode; the network from
``model.to_torch()``), ONNX Runtime (the graph from ``model.to_onnx()``: Gemm + Relu ...,
Softmax; sequential execution, intra_op_num_threads pinned), JAX jit, NumPy. Same weights
everywhere; every backend's output is checked against a float64 reference. samples/s in
extra_info["samples_per_s"]. Side-by-side ratios: ``python -m bench.report --only infer``.
"""
from __future__ import annotations

import numpy as np
import pytest

from bench import _common as C

BACKENDS = ["fastmlp", "torch", "onnxruntime", "jax", "numpy"]
MODELS = {"I1": C.I1, "I2": C.I2}
BATCHES = [1, 64, 1024]

_CACHE: dict = {}


def _predictor(model, backend, threads):
    key = (model, backend, threads)
    if key not in _CACHE:
        sizes = MODELS[model]
        weights = C.mlp_weights(sizes, seed=0)
        if backend == "fastmlp":
            if not C.has_sequential():
                pytest.skip("fastmlp.Sequential not available yet")
            fn = C.fastmlp_mlp(sizes, weights).predict
        elif backend == "torch":
            torch = pytest.importorskip("torch")
            tm = C.torch_mlp(sizes, weights).eval()

            def fn(x):
                with torch.inference_mode():
                    return tm(torch.from_numpy(x)).numpy()
        elif backend == "onnxruntime":
            pytest.importorskip("onnx")
            pytest.importorskip("onnxruntime")
            fn = C.ort_predict(C.ort_session(C.onnx_mlp_bytes(sizes, weights), threads))
        elif backend == "jax":
            pytest.importorskip("jax")
            fn = C.jax_mlp_predict(weights)
        else:
            fn = C.numpy_mlp_predict(weights)
        _CACHE[key] = (fn, weights)
    return _CACHE[key]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch", BATCHES, ids=[f"b{b}" for b in BATCHES])
@pytest.mark.parametrize("model", list(MODELS))
def test_inference(benchmark, model, batch, backend, pin):
    with C.pinned_threads(pin):  # re-pin: thread pools created while building the backend
        fn, weights = _predictor(model, backend, pin)
    x = C.inference_input(batch, MODELS[model][0])
    ref = C.mlp_reference(weights, x)
    benchmark.group = f"{model} {'-'.join(map(str, MODELS[model]))} batch={batch} threads={pin}"
    benchmark.extra_info.update(model=model, batch=batch, threads=pin, backend=backend)
    for _ in range(3):  # warm up outside the timing: JIT compile, first touch, pools
        fn(x)
    y = benchmark(fn, x)
    y = np.asarray(y)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=0, atol=2e-5)
    C.record_rate(benchmark, "samples_per_s", batch)
