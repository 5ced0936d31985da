"""pytest configuration for the fastmlp benchmarks.

Options:
  --bench-threads=1,2   thread counts to parametrize over (default: 1 and all CPUs)
  --slow                also run the slow cases (2048^3 GEMM, generic-tier GEMM at big shapes)

Threads are pinned per test with ``bench._common.pinned_threads`` (threadpoolctl, fastmlp,
torch, and CPU affinity of the whole process for counts below the CPUs available).

JAX/XLA: the XLA flags must be set before jax is imported, so this file sets
``XLA_FLAGS`` (the one-thread flags of PERFORMANCE.md) when only one thread is asked for
(``--bench-threads=1``) and XLA_FLAGS is not already set. On jax 0.10 these flags do not
actually limit XLA's matmul threads; the CPU affinity pin does, so JAX is measured at every
thread count.

OpenBLAS: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are read when OpenBLAS loads, before this
file runs, so unset them on the command line: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
python -m pytest bench/ --benchmark-only``. A warning is printed when they are set.
"""
from __future__ import annotations

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))


def pytest_addoption(parser):
    g = parser.getgroup("fastmlp-bench")
    g.addoption("--bench-threads", default=None,
                help="comma-separated thread counts (default: 1 and the CPU count)")
    g.addoption("--slow", action="store_true", default=False,
                help="also run slow benchmarks (2048^3 GEMM, generic tier on big shapes)")


def _threads(config):
    from bench._common import max_threads

    opt = config.getoption("--bench-threads")
    mx = max_threads()
    if opt:
        ts = sorted({int(t) for t in opt.split(",") if t.strip()})
    else:
        ts = sorted({1, mx})
    return ts


def pytest_configure(config):
    ts = _threads(config)
    if ts == [1] and "XLA_FLAGS" not in os.environ and "jax" not in sys.modules:
        from bench._common import XLA_ONE_THREAD_FLAGS

        os.environ["XLA_FLAGS"] = XLA_ONE_THREAD_FLAGS
    from bench._common import OPENBLAS_BAD_VARS, preload_backends

    preload_backends()  # after XLA_FLAGS; so the per-test thread pins reach every pool

    bad = [v for v in OPENBLAS_BAD_VARS if v in os.environ]
    if bad:
        sys.stderr.write(f"bench: warning: {', '.join(bad)} set; NumPy/OpenBLAS may be slowed. "
                         "Run with env -u " + " -u ".join(bad) + "\n")


def pytest_generate_tests(metafunc):
    if "threads" in metafunc.fixturenames:
        ts = _threads(metafunc.config)
        metafunc.parametrize("threads", ts, ids=[f"t{t}" for t in ts])


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow benchmark; run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def pin(threads):
    """Pin every library to ``threads`` threads for the test."""
    from bench._common import pinned_threads

    with pinned_threads(threads):
        yield threads

