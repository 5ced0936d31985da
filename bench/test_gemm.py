"""G1: fp32 GEMM, fastmlp per ISA tier vs NumPy (OpenBLAS), 1 and all threads.

One pytest-benchmark group per shape; GFLOP/s in extra_info["gflops"]; every result is
checked against a float64 reference. The backward shapes of the MLPs are X^T dY (dW,
trans_a) and dY W^T (dX, trans_b). Side-by-side ratios: ``python -m bench.report --only gemm``.
"""
from __future__ import annotations

import numpy as np
import pytest

from bench._common import (GEMM_BACKWARD, GEMM_FORWARD, GEMM_SLOW, fastmlp_gemm_fn,
                           fastmlp_isa, fastmlp_module, fastmlp_tiers, gemm_operands,
                           gemm_reference, gemm_shape_id, gemm_tolerance, numpy_gemm_fn,
                           record_rate)

SHAPES = GEMM_FORWARD + GEMM_BACKWARD
BACKENDS = ["numpy"] + [f"fastmlp-{t}" for t in fastmlp_tiers()]
if fastmlp_module() is None:
    BACKENDS.append("fastmlp-missing")

_REF_CACHE: dict = {}


def _case(spec):
    name, m, k, n, ta, tb = spec
    if name not in _REF_CACHE:
        a, b = gemm_operands(m, k, n, ta, tb)
        _REF_CACHE.clear()  # keep one shape's operands alive at a time
        _REF_CACHE[name] = (a, b, gemm_reference(a, b, ta, tb))
    return _REF_CACHE[name]


def _params():
    out = []
    for spec in SHAPES:
        for be in BACKENDS:
            marks = []
            if spec[0] in GEMM_SLOW or (be == "fastmlp-generic" and spec[1] * spec[2] * spec[3] > 1e8):
                marks.append(pytest.mark.slow)
            out.append(pytest.param(spec, be, id=f"{gemm_shape_id(spec)}-{be}", marks=marks))
    return out


@pytest.mark.parametrize("spec,backend", _params())
def test_gemm(benchmark, spec, backend, pin):
    if backend == "fastmlp-missing":
        pytest.skip("fastmlp not importable")
    name, m, k, n, ta, tb = spec
    a, b, ref = _case(spec)
    out = np.full((m, n), np.nan, dtype=np.float32)  # poisoned: every element must be written
    benchmark.group = f"G1 gemm {gemm_shape_id(spec)} threads={pin}"
    benchmark.extra_info.update(shape=(m, k, n), trans_a=ta, trans_b=tb, threads=pin,
                                backend=backend)
    if backend == "numpy":
        fn = numpy_gemm_fn(a, b, ta, tb, out)
        fn()  # warm up: first touch, thread pool start
        benchmark(fn)
    else:
        tier = backend.split("-", 1)[1]
        with fastmlp_isa(tier):
            fn = fastmlp_gemm_fn(a, b, ta, tb, out)
            fn()
            benchmark(fn)
    err = float(np.max(np.abs(out.astype(np.float64) - ref)))
    assert np.isfinite(out).all(), "output has non-finite entries (not fully written?)"
    assert err <= gemm_tolerance(k), f"max abs error {err} > {gemm_tolerance(k)}"
    gflops = record_rate(benchmark, "gflops", 2.0 * m * k * n / 1e9)
    if gflops is not None:
        benchmark.extra_info["gflops"] = round(gflops, 2)
