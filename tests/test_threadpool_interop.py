"""fastmlp beside PyTorch and scikit-learn in one process.

Each library may bring its own OpenMP runtime (PyTorch and scikit-learn wheels bundle a
libgomp, and so does a repaired fastmlp wheel). The checks run in a fresh interpreter per
import order, because what matters is what happens when the runtimes are loaded together:

* the import works in either order and all three compute correct results;
* threadpoolctl lists the OpenMP runtime that fastmlp's extension actually loaded, and
  ``threadpool_limits(1)`` reaches fastmlp (``get_num_threads() == 1``, restored after);
* no oversubscription: under the limit a large fastmlp GEMM starts no thread at all, and
  without it fastmlp never runs more threads than it reports (at most the CPUs it may use).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from _optional import require

_SCRIPT = textwrap.dedent(
    r"""
    import importlib, json, os, sys

    def tasks():
        return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else -1

    def gomp_maps():
        if not os.path.exists("/proc/self/maps"):
            return set()
        with open("/proc/self/maps") as f:
            return {os.path.realpath(l.split()[-1]) for l in f
                    if "gomp" in l or "libomp" in l or "iomp" in l}

    order = sys.argv[1].split(",")
    before = gomp_maps()
    mods = {}
    fastmlp_omp = set()
    for name in order:
        mods[name] = importlib.import_module(name)
        if name == "fastmlp":
            fastmlp_omp = gomp_maps() - before  # the runtime fastmlp's _core pulled in
            if not fastmlp_omp:  # already loaded by an earlier import: same file, reused
                fastmlp_omp = before
        before = gomp_maps()
    import numpy as np, threadpoolctl, torch, sklearn
    import fastmlp, fastmlp.ops as ops
    from sklearn.linear_model import LogisticRegression
    from sklearn.cluster import KMeans

    out = {"order": order, "openmp": fastmlp.cpu_info()["openmp"],
           "fastmlp_omp": sorted(fastmlp_omp)}
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 384)).astype(np.float32)
    b = rng.standard_normal((384, 256)).astype(np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)

    info = threadpoolctl.threadpool_info()
    out["omp_paths"] = sorted(os.path.realpath(d["filepath"]) for d in info
                              if d["user_api"] == "openmp")

    # Under threadpool_limits(1): every OpenMP runtime, fastmlp's included, runs one thread;
    # a GEMM big enough to be parallel otherwise must start no thread.
    out["default_num_threads"] = fastmlp.get_num_threads()
    fastmlp.set_num_threads(2)
    with threadpoolctl.threadpool_limits(limits=1):
        out["limited_num_threads"] = fastmlp.get_num_threads()
        t0 = tasks()
        y = ops.gemm(a, b)
        out["limited_new_threads"] = tasks() - t0
        out["limited_err"] = float(np.max(np.abs(y - ref)))
    out["restored_num_threads"] = fastmlp.get_num_threads()

    # Unlimited: all three libraries compute, correctly.
    t0 = tasks()
    y = ops.gemm(a, b)
    out["fastmlp_new_threads"] = tasks() - t0
    out["fastmlp_num_threads"] = fastmlp.get_num_threads()
    out["fastmlp_err"] = float(np.max(np.abs(y - ref)))
    out["torch_err"] = float(np.max(np.abs(
        (torch.from_numpy(a) @ torch.from_numpy(b)).numpy() - ref)))
    x = rng.standard_normal((300, 8))
    lab = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    out["sklearn_acc"] = float(LogisticRegression().fit(x, lab).score(x, lab))
    out["kmeans_inertia"] = float(KMeans(n_clusters=3, n_init=2, random_state=0).fit(x).inertia_)
    out["model_ok"] = bool(np.isfinite(
        fastmlp.Sequential([fastmlp.Dense(4, activation="relu"), fastmlp.Dense(2)])
        .predict(x.astype(np.float32)[:10])).all()) if hasattr(fastmlp, "Dense") else True
    try:
        out["cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        out["cpus"] = os.cpu_count()
    out["threads_total"] = tasks()
    print("RESULT " + json.dumps(out))
    """
)


def _run(order: str) -> dict:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, order], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, f"import order {order} failed:\n{proc.stderr[-3000:]}"
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.parametrize("order", ["fastmlp,torch,sklearn", "torch,sklearn,fastmlp"])
def test_fastmlp_torch_sklearn_one_process(order):
    require("torch")
    require("sklearn")
    r = _run(order)
    # everything computes, correctly
    assert r["fastmlp_err"] < 1e-3 and r["limited_err"] < 1e-3
    assert r["torch_err"] < 1e-3
    assert r["sklearn_acc"] > 0.9 and r["kmeans_inertia"] > 0
    assert r["model_ok"]
    if not r["openmp"]:
        pytest.skip("fastmlp built without OpenMP")
    # threadpoolctl sees the very runtime fastmlp's extension loaded ...
    if sys.platform.startswith("linux"):
        assert r["fastmlp_omp"], "no OpenMP runtime mapped after importing fastmlp"
        missing = set(r["fastmlp_omp"]) - set(r["omp_paths"])
        assert not missing, f"threadpoolctl does not list {missing}; it sees {r['omp_paths']}"
    # ... and its limit reaches fastmlp, and is undone afterwards
    assert r["limited_num_threads"] == 1
    assert r["restored_num_threads"] == 2
    # no oversubscription: nothing spawned under the limit, and never more threads than
    # fastmlp reports (its team is at most the CPUs it may run on)
    if r["threads_total"] >= 0:
        assert r["limited_new_threads"] == 0, r
        assert r["fastmlp_new_threads"] <= max(0, r["fastmlp_num_threads"] - 1), r
    assert 1 <= r["default_num_threads"] <= r["cpus"], r
