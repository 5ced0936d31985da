"""Elementwise / softmax / optimizer kernels against NumPy, interleaved, paired ratios.

    python -m bench.bench_elementwise [--threads 1 2] [--repeats 7] [--tiers avx512 avx2]

Each case runs NumPy's idiomatic expression and the public ``fastmlp.ops`` call on every
requested ISA tier, interleaved round by round (bench/_timing.py), and prints the median
time per call and the median paired speedup over NumPy (> 1: fastmlp faster). Results are
checked against NumPy before timing. Not collected by pytest (no ``test_`` prefix).
"""
from __future__ import annotations

import argparse

import numpy as np

import fastmlp
from fastmlp import ops

from ._common import pinned_threads
from ._timing import interleaved, median, paired_speedup


def _cases(rng):
    x = rng.standard_normal((1024, 128)).astype(np.float32)
    y = np.empty_like(x)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    th = np.tanh(x)
    s10 = (rng.standard_normal((1024, 10)) * 3).astype(np.float32)
    o10 = np.empty_like(s10)
    l64 = (rng.standard_normal((64, 10)) * 3).astype(np.float32)
    lab = rng.integers(0, 10, 64).astype(np.int32)
    sce_out = {}
    n = 100_000
    g = rng.standard_normal(n).astype(np.float32)
    p0 = rng.standard_normal(n).astype(np.float32)
    st = {k: np.zeros(n, np.float32) for k in ("p", "v", "m", "av", "np_p", "np_v", "np_m", "np_av")}
    st["p"][:] = p0
    st["np_p"][:] = p0
    r64 = np.arange(64)

    def np_sigmoid():
        np.negative(x, out=y)
        np.exp(y, out=y)
        np.add(y, 1, out=y)
        np.divide(1, y, out=y)

    def np_softmax():
        e = np.exp(s10 - s10.max(1, keepdims=True))
        e /= e.sum(1, keepdims=True)
        return e

    def np_sce():
        z = l64 - l64.max(1, keepdims=True)
        e = np.exp(z)
        s = e.sum(1, keepdims=True)
        loss = (np.log(s[:, 0]) - z[r64, lab]).sum()
        d = e / s
        d[r64, lab] -= 1
        d /= 64
        return loss, d

    def np_sgd():
        v, p = st["np_v"], st["np_p"]
        v *= 0.9
        v += g
        p -= 0.01 * v

    def np_adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        m, v, p = st["np_m"], st["np_av"], st["np_p"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        p -= (lr / (1 - b1)) * m / (np.sqrt(v / (1 - b2)) + eps)

    def fm_sce():
        sce_out["d"] = ops.softmax_cross_entropy(l64, lab)[1]

    return [
        ("relu 1024x128", lambda: np.maximum(x, 0, out=y), lambda: ops.relu(x, out=y),
         lambda: np.maximum(x, 0), lambda: y),
        ("sigmoid 1024x128", np_sigmoid, lambda: ops.sigmoid(x, out=y),
         lambda: 1 / (1 + np.exp(-x)), lambda: y),
        ("tanh 1024x128", lambda: np.tanh(x, out=y), lambda: ops.tanh(x, out=y),
         lambda: np.tanh(x), lambda: y),
        ("tanh' 1024x128", lambda: np.multiply(dy, 1 - th * th, out=y),
         lambda: ops.activation_backward("tanh", th, dy, out=y), lambda: dy * (1 - th * th),
         lambda: y),
        ("softmax 1024x10", np_softmax, lambda: ops.softmax(s10, out=o10),
         np_softmax, lambda: o10),
        ("log_softmax 1024x10",
         lambda: s10 - s10.max(1, keepdims=True) - np.log(np.exp(s10 - s10.max(1, keepdims=True)).sum(1, keepdims=True)),
         lambda: ops.log_softmax(s10, out=o10),
         lambda: np.log(np_softmax()), lambda: o10),
        ("sce 64x10", np_sce, fm_sce, lambda: np_sce()[1], lambda: sce_out["d"]),
        ("sgd+mom 100k", np_sgd,
         lambda: ops.sgd_update(st["p"], g, st["v"], lr=0.01, momentum=0.9),
         None, None),
        ("adam 100k", np_adam,
         lambda: ops.adam_update(st["p"], g, st["m"], st["av"], step=1, lr=1e-3),
         None, None),
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--block", type=float, default=0.03, help="seconds per timed block")
    ap.add_argument("--tiers", nargs="+", default=None)
    args = ap.parse_args(argv)
    info = fastmlp.cpu_info()
    tiers = args.tiers or [t for t in info["supported"] if t in info["compiled"]]
    start_isa = fastmlp.get_isa()
    cases = _cases(np.random.default_rng(0))
    # Correctness first (active tier of each backend).
    for name, _np, fm, ref, got in cases:
        if ref is None:
            continue
        for t in tiers:
            fastmlp.set_isa(t)
            fm()
            np.testing.assert_allclose(got(), ref(), rtol=2e-5, atol=2e-6, err_msg=f"{name} [{t}]")
    print(f"fastmlp {fastmlp.__version__}  tiers {tiers}  (median us/call; xN = NumPy time / fastmlp time)")
    for nt in args.threads:
        with pinned_threads(nt, affinity=False):
            for name, np_fn, fm_fn, _r, _g in cases:
                backends = {"numpy": np_fn}
                before = {}
                for t in tiers:
                    backends[t] = fm_fn
                    before[t] = (lambda t=t: fastmlp.set_isa(t))
                times = interleaved(backends, repeats=args.repeats, block_s=args.block,
                                    before=before)
                row = f"{name:20s} thr={nt}  numpy {median(times['numpy']) * 1e6:8.1f}"
                for t in tiers:
                    row += (f"  {t} {median(times[t]) * 1e6:7.1f}"
                            f" x{paired_speedup(times[t], times['numpy']):5.2f}")
                print(row, flush=True)
    fastmlp.set_isa(start_isa)


if __name__ == "__main__":
    main()
