"""E1: one epoch of real Fashion-MNIST (60,000 images), 784-256-128-10, Adam 1e-3, batch 64.

fastmlp ``fit`` straight from the uint8 images (Rescaling(1/255) fused into the first layer)
vs PyTorch eager (torch.optim.Adam), scikit-learn MLPClassifier (``partial_fit``: one epoch;
max_iter=1) and a JAX jit step. The anchors get the images converted to float32/255 outside
the timing (conservative). Skipped when the dataset is missing (Debian package
``dataset-fashion-mnist``). examples/s in extra_info["examples_per_s"].
Side-by-side ratios: ``python -m bench.report --only epoch``.
"""
from __future__ import annotations

import pytest

from bench import _common as C

BACKENDS = ["fastmlp", "torch", "sklearn", "jax"]


@pytest.fixture(scope="module")
def fashion():
    data = C.load_fashion_mnist()
    if data is None:
        pytest.skip("Fashion-MNIST not found (apt-get install dataset-fashion-mnist)")
    return data


@pytest.mark.parametrize("backend", BACKENDS)
def test_epoch(benchmark, fashion, backend, pin):
    with C.pinned_threads(pin):
        backends, missing = C.e1_backends(fashion, pin, only=(backend,))
    if backend not in backends:
        pytest.skip(missing.get(backend, "backend missing"))
    fn = backends[backend]
    fn()  # warm-up epoch (JIT compiles, workspaces)
    n = len(fashion[0][0])
    benchmark.group = f"E1 fashion-mnist epoch 784-256-128-10 adam b64 threads={pin}"
    benchmark.extra_info.update(backend=backend, threads=pin, examples=n)
    benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=0)
    C.record_rate(benchmark, "examples_per_s", n)
