"""Interleaved side-by-side timing for noisy shared machines.

Each backend is a zero-argument callable doing one unit of work (one GEMM, one predict, one
train step, one epoch). ``interleaved`` calibrates a block of iterations per backend
(about ``block_s`` seconds), then runs ``repeats`` rounds; in each round every backend runs
one block, in a rotated order, so all backends see the same machine load. Ratios are taken
per round (paired, neighbours in time) and the median over rounds is reported.
"""
from __future__ import annotations

import gc
import statistics
import time
from typing import Callable, Dict, List, Optional

Fn = Callable[[], object]


def _time_block(fn: Fn, n: int, sync: Optional[Fn] = None) -> float:
    return _time_block2(fn, n, sync)[0]


def _time_block2(fn: Fn, n: int, sync: Optional[Fn] = None):
    """(wall seconds per call, process CPU seconds per call) over a block of n calls."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    if sync is not None:
        sync()
    t1 = time.perf_counter()
    c1 = time.process_time()
    return (t1 - t0) / n, (c1 - c0) / n


def calibrate(fn: Fn, block_s: float, sync: Optional[Fn] = None, max_n: int = 1 << 20) -> int:
    """Iterations per block so one block takes about ``block_s`` (at least 1)."""
    n = 1
    while True:
        t = _time_block(fn, n, sync) * n
        if t >= block_s / 4 or n >= max_n:
            break
        n *= 4
    per = t / n
    return max(1, min(max_n, int(round(block_s / per)) if per > 0 else max_n))


def interleaved(backends: Dict[str, Fn], repeats: int = 5, block_s: float = 0.05,
                warmup: int = 2, syncs: Optional[Dict[str, Fn]] = None,
                before: Optional[Dict[str, Fn]] = None,
                fixed_iters: Optional[int] = None,
                settle_s: float = 0.0,
                cpu_out: Optional[Dict[str, List[float]]] = None) -> Dict[str, List[float]]:
    """Seconds per call for each backend, one value per round (rounds interleaved).

    ``syncs[name]`` runs at the end of each timed block (e.g. JAX block_until_ready);
    ``before[name]`` runs before each block, untimed (e.g. switching fastmlp's ISA tier);
    ``fixed_iters`` skips calibration (e.g. 1 for whole epochs);
    ``settle_s`` sleeps before each block (untimed) so that idle worker threads of the
    previous backend (OpenBLAS spins ~0.1 s, libgomp and ONNX Runtime spin too) stop
    burning the cores the next backend needs: without it, multi-threaded blocks on a
    small machine measure the previous library's spin-wait, not the library under test;
    ``cpu_out``, when given, receives the process CPU seconds per call of every block
    (all threads of the process). With one thread pinned to one CPU that is the wall time
    minus the time other processes held the CPU: a far steadier clock on a loaded machine.
    """
    syncs = syncs or {}
    before = before or {}
    names = list(backends)

    def prep(name):
        b = before.get(name)
        if b is not None:
            b()

    for name in names:  # warm up: JIT compiles, first-touch, caches, thread pools
        prep(name)
        for _ in range(warmup):
            backends[name]()
        s = syncs.get(name)
        if s is not None:
            s()
    iters = {}
    for name in names:
        prep(name)
        if settle_s > 0 and not fixed_iters:
            time.sleep(settle_s)
        iters[name] = fixed_iters or calibrate(backends[name], block_s, syncs.get(name))
    times: Dict[str, List[float]] = {name: [] for name in names}
    gc_was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(repeats):
            k = r % len(names)
            order = names[k:] + names[:k]
            if r % 2:
                order = order[::-1]
            for name in order:
                prep(name)
                if settle_s > 0:
                    time.sleep(settle_s)
                wall, cpu = _time_block2(backends[name], iters[name], syncs.get(name))
                times[name].append(wall)
                if cpu_out is not None:
                    cpu_out.setdefault(name, []).append(cpu)
    finally:
        if gc_was:
            gc.enable()
    return times


def median(xs: List[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def paired_speedup(t_fast: List[float], t_anchor: List[float]) -> float:
    """Median over rounds of anchor_time / fastmlp_time (> 1: fastmlp faster)."""
    rs = [a / f for f, a in zip(t_fast, t_anchor) if f > 0]
    return median(rs)
