"""T1 (784-128-10, SGD momentum 0.9, batch 1/16/64) and T2 (784-512-512-10, Adam, batch 128).

Backends: fastmlp via ``fit`` over many batches in one call (``fastmlp-fit``, the intended
fast path: one C++ call per chunk) and via ``train_on_batch`` (``fastmlp-step``), PyTorch
eager with torch.optim, JAX jit (value_and_grad + the same optimizer step, donated
buffers). Loss is sparse categorical cross-entropy over a softmax output. examples/s in
extra_info["examples_per_s"]. ``test_training_agrees`` checks the backends compute the
same first losses from identical weights. Ratios: ``python -m bench.report --only train``.
"""
from __future__ import annotations

import numpy as np
import pytest

from bench import _common as C

CASES = {
    # name: (sizes, optimizer, batch, batches per fastmlp fit call)
    "T1-b1": (C.I1, C.SGD_T1, 1, 256),
    "T1-b16": (C.I1, C.SGD_T1, 16, 64),
    "T1-b64": (C.I1, C.SGD_T1, 64, 32),
    "T2-b128": (C.I2, C.ADAM, 128, 16),
}
BACKENDS = ["fastmlp-fit", "fastmlp-step", "torch", "jax"]


def _trainer(backend, sizes, opt, x, y, batch):
    if backend.startswith("fastmlp"):
        if not C.has_sequential():
            pytest.skip("fastmlp.Sequential not available yet")
        return C.FastmlpSteps(sizes, C.mlp_weights(sizes, bias_scale=0.0), opt, x, y, batch)
    if backend == "torch":
        pytest.importorskip("torch")
        return C.TorchSteps(sizes, C.mlp_weights(sizes, bias_scale=0.0), opt, x, y, batch)
    pytest.importorskip("jax")
    return C.JaxSteps(sizes, C.mlp_weights(sizes, bias_scale=0.0), opt, x, y, batch)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_training(benchmark, case, backend, pin):
    sizes, opt, batch, nb = CASES[case]
    x, y = C.training_data(batch * nb, sizes[0])
    with C.pinned_threads(pin):
        tr = _trainer(backend, sizes, opt, x, y, batch)
    if backend == "fastmlp-fit":
        fn, per_call = tr.fit_block, batch * tr.nb
    elif backend == "jax":
        def fn():
            tr.step()
            tr.sync()
        per_call = batch
    else:
        fn, per_call = tr.step, batch
    for _ in range(2):  # warm up (JIT compile, workspaces)
        fn()
    benchmark.group = f"{case} {'-'.join(map(str, sizes))} {opt.kind} threads={pin}"
    benchmark.extra_info.update(case=case, batch=batch, threads=pin, backend=backend,
                                examples_per_call=per_call)
    benchmark(fn)
    C.record_rate(benchmark, "examples_per_s", per_call)


@pytest.mark.parametrize("case", list(CASES))
def test_training_agrees(case):
    """First 3 losses from identical weights on identical batches agree across backends."""
    sizes, opt, batch, _ = CASES[case]
    x, y = C.training_data(batch * 3, sizes[0])
    w = C.mlp_weights(sizes, bias_scale=0.0)
    makers = {"torch": C.TorchSteps} if C.optional("torch") else {}
    if C.optional("jax"):
        makers["jax"] = C.JaxSteps
    if C.has_sequential():
        makers["fastmlp"] = C.FastmlpSteps
    if "fastmlp" not in makers or len(makers) < 2:
        pytest.skip("needs fastmlp.Sequential and another backend")
    losses = {}
    for name, mk in makers.items():
        tr = mk(sizes, w, opt, x, y, batch)
        losses[name] = [tr.loss_on(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
                        for i in range(3)]
    for name, ls in losses.items():
        np.testing.assert_allclose(ls, losses["fastmlp"], rtol=2e-3,
                                   err_msg=f"{name} vs fastmlp losses: {losses}")
