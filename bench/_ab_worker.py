"""One measurement for bench/ab_versions.py, in a fresh process: seconds per unit of a
standard workload (PERFORMANCE.md), with whichever fastmlp is first on the path. Prints
one JSON line {"seconds": ...}. Old builds must run it too, so it uses only the API that
every version has (Sequential, Dense, Softmax, Rescaling, Flatten, compile, fit, predict).

    python -S -m bench._ab_worker E1|T1-<batch>|T2|I1-<batch>|I2-<batch> THREADS BLOCK_S [wall|cpu]
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from ._common import fastmlp_mlp, inference_input, load_fashion_mnist, training_data

SIZES = {"T1": (784, 128, 10), "T2": (784, 512, 512, 10), "I1": (784, 128, 10),
         "I2": (784, 512, 512, 10)}


# The clock: wall time, or the process's CPU time ("cpu": on a shared VM it leaves out
# the time the host takes the vCPU away; with one thread it is the compute time).
_clock = time.perf_counter


def _timed(fn, block_s):
    """Seconds per call of fn over a block of about block_s (after one warm-up call)."""
    fn()
    n, t = 1, 0.0
    while True:
        t0 = _clock()
        for _ in range(n):
            fn()
        t = _clock() - t0
        if t >= block_s:
            return t / n
        n = max(n + 1, int(n * 1.5 * block_s / max(t, 1e-4)))


def unit(workload: str, block_s: float) -> float:
    import fastmlp as fm
    name, _, batch = workload.partition("-")
    if name == "E1":
        (x, y), _ = load_fashion_mnist()
        m = fastmlp_mlp((784, 256, 128, 10), rescale=1 / 255, input_shape=(28, 28))
        m.compile(optimizer=fm.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        m.fit(x[:6400], y[:6400], batch_size=64, epochs=1, verbose=0)  # warm-up
        t0 = _clock()
        m.fit(x, y, batch_size=64, epochs=1, verbose=0)
        return _clock() - t0
    sizes = SIZES[name]
    if name in ("T1", "T2"):
        b = int(batch) if batch else 128
        steps = max(8, 4096 // b)
        x, y = training_data(b * steps)
        m = fastmlp_mlp(sizes, softmax=True)
        opt = (fm.optimizers.SGD(0.01, momentum=0.9) if name == "T1"
               else fm.optimizers.Adam(1e-3))
        m.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        return _timed(lambda: m.fit(x, y, batch_size=b, epochs=1, shuffle=False, verbose=0),
                      block_s) / steps
    x = inference_input(int(batch))
    m = fastmlp_mlp(sizes, softmax=True)
    return _timed(lambda: m.predict(x), block_s)


def main():
    global _clock
    workload, threads, block_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if len(sys.argv) > 4 and sys.argv[4] == "cpu":
        _clock = time.process_time
    import fastmlp as fm
    fm.set_num_threads(threads)
    print(json.dumps({"seconds": unit(workload, block_s)}))


if __name__ == "__main__":
    main()
