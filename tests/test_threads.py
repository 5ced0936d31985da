"""Threads: results are bitwise identical with 1 and 2 threads (same tier), the thread
count API works, OMP_NUM_THREADS is honoured and threadpoolctl sees and limits the
OpenMP runtime the kernels use."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import threadpoolctl  # a test dependency (the `test` extra): required, not optional

import fastmlp
import fastmlp.ops as ops
from fastmlp import _core


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint32)


def _with_threads(n, fn):
    fastmlp.set_num_threads(n)
    assert fastmlp.get_num_threads() == n
    return fn()


def _assert_invariant(fn, what):
    """fn() returns a tuple of arrays / floats; compare 1 vs 2 threads bit for bit."""
    one = _with_threads(1, fn)
    two = _with_threads(2, fn)
    for i, (a, b) in enumerate(zip(one, two)):
        if isinstance(a, np.ndarray):
            assert a.shape == b.shape
            diff = _bits(a) != _bits(b)
            assert not diff.any(), (
                f"{what}[{i}]: {int(diff.sum())} elements differ between 1 and 2 threads; "
                f"first at {np.argwhere(diff)[0]}"
            )
        else:
            assert a == b or (np.isnan(a) and np.isnan(b)), f"{what}[{i}]: {a!r} != {b!r}"


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,n,k", [(256, 257, 300), (3, 4099, 513), (611, 37, 129),
                                   (64, 1024, 784)])
def test_gemm_thread_invariant(isa, restore_threads, rng, m, n, k, ta, tb):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = rng.standard_normal((m, n)).astype(np.float32)

    def run():
        out = c.copy()
        ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=0.7, beta=0.3, out=out)
        return (ops.gemm(a, b, trans_a=ta, trans_b=tb), out)

    _assert_invariant(run, f"gemm {m}x{n}x{k} ta={ta} tb={tb}")


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh"])
def test_dense_thread_invariant(isa, restore_threads, rng, act):
    x = rng.standard_normal((512, 300)).astype(np.float32)
    w = (rng.standard_normal((300, 257)) * 0.1).astype(np.float32)
    b = rng.standard_normal(257).astype(np.float32)
    dy = rng.standard_normal((512, 257)).astype(np.float32)

    def run():
        y = ops.dense_forward(x, w, b, activation=act)
        return (y,) + ops.dense_backward(x, w, dy, y=y, activation=act)

    _assert_invariant(run, f"dense {act}")


def test_colsum_thread_invariant(isa, restore_threads, rng):
    x = rng.standard_normal((4001, 1003)).astype(np.float32)

    def run():
        out = np.full(1003, np.nan, np.float32)
        _core.colsum(x, out)
        return (out,)

    _assert_invariant(run, "colsum")
    out = run()[0]
    np.testing.assert_allclose(out, x.astype(np.float64).sum(axis=0),
                               atol=4001 * 6e-8 * np.abs(x).sum(axis=0).max())


def test_sce_softmax_thread_invariant(isa, restore_threads, rng):
    x = (rng.standard_normal((3000, 517)) * 5).astype(np.float32)
    labels = rng.integers(0, 517, 3000)

    def run():
        loss, d = ops.softmax_cross_entropy(x, labels)
        return (loss, d, ops.softmax(x), ops.log_softmax(x))

    _assert_invariant(run, "sce/softmax")


def test_elementwise_and_optimizers_thread_invariant(isa, restore_threads, rng):
    n = 1 << 20
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)

    def run():
        p = x.copy()
        v = np.zeros_like(p)
        ops.sgd_update(p, g, v, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
        q = x.copy()
        m1, v1 = np.zeros_like(q), np.zeros_like(q)
        ops.adam_update(q, g, m1, v1, step=3, lr=1e-3, weight_decay=1e-2)
        return (ops.sigmoid(x), ops.tanh(x), ops.activation_backward("tanh", ops.tanh(x), g),
                p, v, q, m1, v1)

    _assert_invariant(run, "elementwise/optimizers")


# --------------------------------------------------------------------------- thread API


def test_set_get_num_threads(restore_threads):
    for n in (1, 2, 3):
        fastmlp.set_num_threads(n)
        assert fastmlp.get_num_threads() == n
        assert fastmlp.cpu_info()["num_threads"] == n


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                     ("2", TypeError), (None, TypeError)])
def test_set_num_threads_rejects(restore_threads, bad, exc):
    with pytest.raises(exc, match="n"):
        fastmlp.set_num_threads(bad)
    assert fastmlp.get_num_threads() == restore_threads


@pytest.mark.parametrize("value", ["1", "2"])
def test_omp_num_threads_honoured(value):
    if not fastmlp.cpu_info()["openmp"]:
        pytest.skip("built without OpenMP: always one thread")
    env = dict(os.environ, OMP_NUM_THREADS=value)
    proc = subprocess.run([sys.executable, "-c", "import fastmlp; print(fastmlp.get_num_threads())"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == value


def test_threadpoolctl_sees_and_limits_openmp(restore_threads):
    if not fastmlp.cpu_info()["openmp"]:
        pytest.skip("built without OpenMP: there is no runtime to see")
    fastmlp.set_num_threads(2)
    info = threadpoolctl.threadpool_info()
    omp = [d for d in info if d["user_api"] == "openmp"]
    assert omp, f"threadpoolctl found no OpenMP runtime: {info}"
    if sys.platform.startswith("linux"):
        assert any("gomp" in d["filepath"] for d in omp), omp
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastmlp.get_num_threads() == 1
        # and the kernels still run (single-threaded) under the limit
        a = np.ones((300, 300), np.float32)
        assert ops.gemm(a, a)[0, 0] == 300.0
    assert fastmlp.get_num_threads() == 2


def test_concurrent_python_threads(isa, rng):
    """Kernels run with the GIL released from several Python threads at once (each with
    its own thread-local packing buffers): every result equals the sequential one."""
    import concurrent.futures

    jobs = []
    for i in range(8):
        m, n, k = 37 + 13 * i, 129 - 7 * i, 300 + 31 * i
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        jobs.append((a, b, i % 2 == 1))

    def work(job):
        a, b, transposed = job
        if transposed:
            y = ops.gemm(a, np.ascontiguousarray(b.T), trans_b=True)
        else:
            y = ops.dense_forward(a, b, activation="tanh")
        loss, d = ops.softmax_cross_entropy(y, np.zeros(y.shape[0], np.int64))
        return y, d, loss

    sequential = [work(j) for j in jobs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            concurrent_results = list(pool.map(work, jobs))
            for (y1, d1, l1), (y2, d2, l2) in zip(sequential, concurrent_results):
                assert np.array_equal(_bits(y1), _bits(y2))
                assert np.array_equal(_bits(d1), _bits(d2))
                assert l1 == l2
