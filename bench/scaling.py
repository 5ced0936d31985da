"""Scaling report of fastmlp.distributed: ``python bench/scaling.py`` (writes bench/SCALING.md).

Measures, on this machine, 784-256-128-10 (Adam) trained by ``fastmlp.distributed.fit``
with 1 and 2 processes, each backend ("mpi": mpirun, "torch": torchrun) and strategy
(synchronous all-reduce; local SGD with sync_every=8): examples/s, the share of each epoch
spent in collectives (History's ``comm_fraction``) and the efficiency against one plain
process; and all-reduce times for 4 KiB-4 MiB (``fastmlp.distributed.allreduce``), fitted
to latency + bytes/bandwidth. Then extrapolates step time to 8-64 ranks and to a 10 GbE
network with that model (assumptions written in the report). Each rank uses one thread.
Public API only: fastmlp and fastmlp.distributed.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS, EPOCHS, K = 32768, 3, 8
PARAMS = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10  # 235,146 floats = 0.94 MB


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((ROWS, 784), dtype=np.float32)
    y = (x[:, :10].argmax(1)).astype(np.int32)  # learnable labels
    return x, y


def _model():
    import fastmlp as fm
    m = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dense(128, activation="relu"),
                       fm.Dense(10, activation="softmax")], input_shape=(784,), seed=0)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


# ---------------------------------------------------------------- one rank
def worker(backend, strategy, batch):
    import fastmlp as fm
    import fastmlp.distributed as fmd
    fm.set_num_threads(1)
    fmd.init(backend)
    out = {}
    if strategy == "sync" and batch == 64:  # all-reduce sweep, once per backend and size
        sweep = {}
        for n in (1024, 16384, 131072, PARAMS, 1048576):
            a = np.ones(n, np.float32)
            for _ in range(5):
                fmd.allreduce(a)
            times = []
            for _ in range(50 if n < 200000 else 20):
                fmd.barrier()
                t0 = time.perf_counter()
                fmd.allreduce(a)
                times.append(time.perf_counter() - t0)
            # median and fastest: a shared machine deschedules a rank now and then; the
            # fastest call is the link itself, what the model below extrapolates
            sweep[4 * n] = (float(np.median(times)), float(np.min(times)))
        out["allreduce"] = sweep
    x, y = _data()
    h = fmd.fit(_model(), x, y, batch_size=batch, epochs=EPOCHS, seed=0, verbose=0,
                sync_every=None if strategy == "sync" else K)
    best = 1 + int(np.argmax(h.history["examples_per_sec"][1:]))  # epoch 0 warms up
    out.update(eps=h.history["examples_per_sec"][best], comm=h.history["comm_fraction"][best],
               loss=h.history["loss"][-1])
    if fmd.is_main():
        print("RESULT " + json.dumps(out), flush=True)
    fmd.shutdown()


# ---------------------------------------------------------------- driver
def _launch(backend, nproc, strategy, batch):
    py = [sys.executable] + (["-S"] if sys.flags.no_site else [])
    args = [os.path.abspath(__file__), "--worker", backend, strategy, str(batch)]
    if backend == "mpi":
        cmd = ["mpirun", "-n", str(nproc), "--oversubscribe", "--bind-to", "none"] + py + args
    else:
        cmd = py + ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                    str(nproc), "--no-python"] + py + args
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def _single_process():
    """One plain process, one thread, model.fit: the efficiency baseline."""
    import fastmlp as fm
    fm.set_num_threads(1)
    x, y = _data()
    h = _model().fit(x, y, batch_size=64, epochs=EPOCHS, seed=0, verbose=0)
    return max(h.history["examples_per_sec"][1:])


def _fit_link(sweep):
    """Least squares t = latency + bytes / bandwidth."""
    b = np.array([float(k) for k in sweep]), np.array([v[1] for v in sweep.values()])
    A = np.stack([np.ones_like(b[0]), b[0]], 1)
    (lat, inv_bw), *_ = np.linalg.lstsq(A, b[1], rcond=None)
    return max(lat, 1e-6), 1.0 / max(inv_bw, 1e-15)


def _ring(nbytes, ranks, lat, bw):
    """Ring all-reduce: 2(N-1) messages of nbytes/N each (reduce-scatter + all-gather)."""
    return 2 * (ranks - 1) * (lat + nbytes / ranks / bw) if ranks > 1 else 0.0


def main():
    import fastmlp as fm
    base = _single_process()
    rows, links = [], {}
    for backend in ("mpi", "torch"):
        for strategy in ("sync", "local"):
            for nproc, batch in ((1, 64), (2, 64), (2, 128)):
                r = _launch(backend, nproc, strategy, batch)
                if "allreduce" in r and nproc == 2:
                    links[backend] = r["allreduce"]
                rows.append((backend, strategy, nproc, batch, r))
                print(backend, strategy, nproc, batch, f"{r['eps']:.0f} ex/s",
                      f"comm {100 * r['comm']:.0f}%", flush=True)
    base = max(base, _single_process())  # again at the end: the faster of two (noise)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    md = ["# fastmlp.distributed scaling report", "",
          f"Generated by `python bench/scaling.py` on {cpu}, {os.cpu_count()} cores "
          f"(shared with other jobs: expect noise), ISA tier {fm.cpu_info()['isa']}, one "
          f"thread per rank. Model 784-256-128-10, Adam, {ROWS} random rows, "
          f"{EPOCHS} epochs (the fastest after the first reported; load average "
          f"{os.getloadavg()[0]:.1f} when the report was written). `batch` is the global batch "
          "(fastmlp.distributed splits it across the ranks). local = local SGD, "
          f"sync_every={K}.", "",
          f"One plain process (`model.fit`, batch 64, 1 thread, the faster of two runs): "
          f"**{base:,.0f} examples/s**.",
          "", "| backend | strategy | ranks | global batch | examples/s | comm share | "
          "efficiency |", "|---|---|---|---|---|---|---|"]
    for backend, strategy, nproc, batch, r in rows:
        eff = r["eps"] / (nproc * base)
        md.append(f"| {backend} | {strategy} | {nproc} | {batch} | {r['eps']:,.0f} | "
                  f"{100 * r['comm']:.0f}% | {100 * eff:.0f}% |")
    md += ["", "Efficiency = examples/s / (ranks x one plain process). The comm share "
           "includes waiting for the slower rank (two ranks on two shared cores).", "",
           "## All-reduce, 2 local ranks (fastmlp.distributed.allreduce, float32: median "
           "of 20-50 calls (fastest)); the fit uses the fastest calls", "",
           "| bytes | " + " | ".join(links) + " |", "|---|" + "---|" * len(links)]
    for nb in next(iter(links.values())):
        md.append(f"| {int(nb):,} | " + " | ".join(
            f"{1e3 * links[b][nb][0]:.3f} ms ({1e3 * links[b][nb][1]:.3f})"
            for b in links) + " |")
    fits = {b: _fit_link(s) for b, s in links.items()}
    md += [""] + [f"Fit {b}: latency {1e6 * lat:.0f} us, bandwidth {bw / 1e9:.2f} GB/s"
                  for b, (lat, bw) in fits.items()]
    # step-time model, per rank batch 64 (weak scaling)
    t1 = 64 / base  # seconds per 64-row step on one core
    grad = 4 * PARAMS
    md += ["", "## Simulated scaling (model, not measured)", "",
           "Assumptions: weak scaling, 64 rows per rank per step; compute per step = the "
           f"single-process step measured here ({1e3 * t1:.2f} ms for 64 rows, one core per "
           "rank, no contention); a ring all-reduce of the 0.94 MB of gradients (sync) or "
           f"weights (local SGD, once every {K} steps): 2(N-1) messages of bytes/N, each "
           "costing latency + size/bandwidth; no overlap of communication with compute "
           "(the engine's backward is one call). Links: 'local' = the MPI fit above "
           "(shared memory, one box; fastest calls); '10 GbE' = 1.25 GB/s at 50 us per message "
           "(typical TCP latency across a switch). Efficiency = compute / (compute + "
           "communication per step).", "",
           "| ranks | link | sync step ms | sync eff. | local SGD step ms | local eff. |",
           "|---|---|---|---|---|---|"]
    lat_l, bw_l = fits.get("mpi", next(iter(fits.values())))
    for ranks in (2, 8, 16, 32, 64):
        for name, lat, bw in (("local", lat_l, bw_l), ("10 GbE", 50e-6, 1.25e9)):
            c = _ring(grad, ranks, lat, bw)
            s, l_ = t1 + c, t1 + c / K
            md.append(f"| {ranks} | {name} | {1e3 * s:.2f} | {100 * t1 / s:.0f}% | "
                      f"{1e3 * l_:.2f} | {100 * t1 / l_:.0f}% |")
    md += ["", "Reading: the ring's bandwidth term tends to 2 x bytes / bandwidth "
           f"({1e3 * 2 * grad / 1.25e9:.1f} ms for 0.94 MB on 10 GbE, against a "
           f"{1e3 * t1:.2f} ms step) plus 2(N-1) latencies, so synchronous all-reduce stops "
           "scaling with N; local "
           "SGD divides that cost by sync_every, and larger per-rank batches raise compute "
           "per byte exchanged."]
    path = os.path.join(HERE, "SCALING.md")
    with open(path, "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
