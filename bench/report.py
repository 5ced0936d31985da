"""Side-by-side ratio report: fastmlp vs NumPy / PyTorch / ONNX Runtime / JAX / scikit-learn.

    python -m bench.report                      # everything, 1 thread and all threads
    python -m bench.report --only gemm          # one workload (gemm, infer, train, epoch, scaling)
    python -m bench.report --only infer,train --threads 1 --repeats 9
    python -m bench.report --quick              # smoke: fewer shapes/rounds, short blocks
    python -m bench.report --json out.json      # also write every measurement

Each thread count runs in a fresh child process whose environment has OPENBLAS_CORETYPE /
OPENBLAS_L2_SIZE removed (they slow NumPy here; removed in that child only), OMP_NUM_THREADS
set, XLA_FLAGS set to the one-thread flags of PERFORMANCE.md for one thread (set before jax
is imported), and its CPU affinity restricted to N CPUs (the pin XLA actually obeys). Inside,
every backend is pinned with threadpoolctl / set_num_threads / intra_op_num_threads, and all
backends of one case are timed interleaved (rotated order, median over rounds of the paired
ratio). Only ratios are meaningful on a shared machine; absolute rates are shown for scale.

Targets are those of issue 2 (G1) and issue 3 (I1, I2, T1, T2, E1, and "more threads never
make small work slower": the scaling workload times fastmlp on all threads against itself on
one, interleaved, on calls of a few microseconds).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):  # run as a file: python bench/report.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "bench"

WORKLOADS = ("gemm", "infer", "train", "epoch", "scaling")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# ========================================================================================
# Child: measure
# ========================================================================================

def _rec(workload, case, threads, unit, units_per_call, times, extra=None):
    return {"workload": workload, "case": case, "threads": threads, "unit": unit,
            "units_per_call": units_per_call, "times": times, "extra": extra or {}}


def run_gemm(args, threads, out):
    import numpy as np

    from bench import _common as C
    from bench._timing import interleaved

    fm = C.fastmlp_module()
    tiers = C.fastmlp_tiers(include_generic=args.generic)
    tiers = sorted(tiers, key=lambda t: {"avx512": 0, "avx2": 1}.get(t, 2))
    shapes = list(C.GEMM_FORWARD) + list(C.GEMM_BACKWARD)
    if not args.slow:
        shapes = [s for s in shapes if s[0] not in C.GEMM_SLOW]
    if args.quick:
        shapes = shapes[:3] + C.GEMM_BACKWARD[:2]
    for spec in shapes:
        name, m, k, n, ta, tb = spec
        a, b = C.gemm_operands(m, k, n, ta, tb)
        ref = C.gemm_reference(a, b, ta, tb)
        outs, fns, before = {}, {}, {}
        outs["numpy"] = np.full((m, n), np.nan, np.float32)
        fns["numpy"] = C.numpy_gemm_fn(a, b, ta, tb, outs["numpy"])
        for t in tiers:
            key = f"fastmlp-{t}"
            outs[key] = np.full((m, n), np.nan, np.float32)
            fns[key] = C.fastmlp_gemm_fn(a, b, ta, tb, outs[key])
            before[key] = (lambda t=t: fm.set_isa(t))
        old_isa = fm.get_isa() if fm is not None else None
        try:
            times = _measure(args, threads, fns, repeats=args.repeats, block_s=args.block,
                             before=before)
        finally:
            if old_isa is not None:
                fm.set_isa(old_isa)
        tol = C.gemm_tolerance(k)
        errs = {be: float(np.nanmax(np.abs(o.astype(np.float64) - ref))) if np.isfinite(o).all()
                else float("inf") for be, o in outs.items()}
        out.append(_rec("gemm", C.gemm_shape_id(spec), threads, "GFLOP", 2e-9 * m * k * n,
                        times, {"errors": errs, "tolerance": tol,
                                "backward": spec in C.GEMM_BACKWARD,
                                "shape": [m, k, n, ta, tb]}))
        log(f"  gemm {C.gemm_shape_id(spec)} t{threads}: " + ", ".join(
            f"{be} {2e-9 * m * k * n / _med(ts):.1f}" for be, ts in times.items()))


def _cpu_clock(args, threads):
    """Process CPU time for one thread (steady under load), wall time for several."""
    return args.clock == "cpu" or (args.clock == "auto" and threads == 1)


def _measure(args, threads, fns, **kw):
    """interleaved() with this run's settle pause, returning the times of the chosen clock."""
    from bench._timing import interleaved

    cpu = {}
    wall = interleaved(fns, settle_s=_settle(args, threads), cpu_out=cpu, **kw)
    return cpu if _cpu_clock(args, threads) else wall


def _settle(args, threads):
    """Untimed pause before each block when several threads share the cores (see _timing)."""
    if args.settle is not None:
        return args.settle
    return 0.1 if threads > 1 else 0.0


def _med(ts):
    from bench._timing import median

    return median(ts)


def run_infer(args, threads, out):
    import numpy as np

    from bench import _common as C
    from bench._timing import interleaved

    cases = [("I1", C.I1), ("I2", C.I2)]
    batches = (1, 64, 1024)
    for label, sizes in cases:
        weights = C.mlp_weights(sizes, seed=0)
        backends, missing = C.inference_backends(sizes, weights, threads)
        for batch in batches:
            if args.quick and batch == 64:
                continue
            x = C.inference_input(batch, sizes[0])
            ref = C.mlp_reference(weights, x)
            errs = {}
            fns = {}
            for be, pred in backends.items():
                try:
                    y = np.asarray(pred(x))
                    errs[be] = float(np.max(np.abs(y.astype(np.float64) - ref)))
                    fns[be] = (lambda pred=pred: pred(x))
                except Exception as exc:  # a backend failing must not sink the report
                    missing[be] = f"error: {type(exc).__name__}: {exc}"[:200]
            times = _measure(args, threads, fns, repeats=args.repeats, block_s=args.block)
            out.append(_rec("infer", f"{label} b{batch}", threads, "samples", batch, times,
                            {"errors": errs, "tolerance": 2e-5, "missing": missing,
                             "sizes": list(sizes)}))
            log(f"  infer {label} b{batch} t{threads}: " + ", ".join(
                f"{be} {batch / _med(ts):,.0f}/s" for be, ts in times.items()))


TRAIN_CASES = [
    # label, sizes, optimizer, batch, batches per fastmlp fit call
    ("T1 b1", "I1", "sgd", 1, 256),
    ("T1 b16", "I1", "sgd", 16, 64),
    ("T1 b64", "I1", "sgd", 64, 32),
    ("T2 b128", "I2", "adam", 128, 16),
]


def _train_check(C, sizes, weights, opt, x, y, batch, steps=3):
    """Losses of the first steps from identical weights on identical batches, per backend."""
    import numpy as np

    losses, missing = {}, {}
    makers = {}
    if C.has_sequential():
        makers["fastmlp"] = C.FastmlpSteps
    if C.optional("torch") is not None:
        makers["torch"] = C.TorchSteps
    if C.optional("jax") is not None:
        makers["jax"] = C.JaxSteps
    for be, mk in makers.items():
        try:
            tr = mk(sizes, weights, opt, x, y, batch)
            losses[be] = [tr.loss_on(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
                          for i in range(steps)]
        except Exception as exc:
            missing[be] = f"error: {type(exc).__name__}: {exc}"[:200]
    return losses, missing, bool(np.isfinite(sum(sum(v) for v in losses.values())))


def run_train(args, threads, out):
    from bench import _common as C
    from bench._timing import interleaved

    for label, arch, optname, batch, nb in TRAIN_CASES:
        sizes = C.I1 if arch == "I1" else C.I2
        opt = C.SGD_T1 if optname == "sgd" else C.ADAM
        weights = C.mlp_weights(sizes, seed=0, bias_scale=0.0)
        x, y = C.training_data(batch * nb, sizes[0])
        losses, missing, _ = _train_check(C, sizes, weights, opt, x, y, batch)
        fns, syncs, units = {}, {}, {}
        try:
            if C.has_sequential():
                fs = C.FastmlpSteps(sizes, weights, opt, x, y, batch)
                fns["fastmlp-fit"] = fs.fit_block
                units["fastmlp-fit"] = batch * fs.nb
                fs2 = C.FastmlpSteps(sizes, weights, opt, x, y, batch)
                fns["fastmlp-step"] = fs2.step
                units["fastmlp-step"] = batch
            else:
                missing["fastmlp"] = "fastmlp.Sequential not available yet"
        except Exception as exc:
            missing["fastmlp"] = f"error: {type(exc).__name__}: {exc}"[:200]
            fns.pop("fastmlp-fit", None)
            fns.pop("fastmlp-step", None)
        if C.optional("torch") is not None:
            ts = C.TorchSteps(sizes, weights, opt, x, y, batch)
            fns["torch"] = ts.step
            units["torch"] = batch
        if C.optional("jax") is not None:
            js = C.JaxSteps(sizes, weights, opt, x, y, batch)
            fns["jax"] = js.step
            syncs["jax"] = js.sync
            units["jax"] = batch
        times = _measure(args, threads, fns, repeats=args.repeats,
                         block_s=max(args.block, 0.05), syncs=syncs)
        # normalise to seconds per example
        per_ex = {be: [t / units[be] for t in ts] for be, ts in times.items()}
        out.append(_rec("train", label, threads, "examples", 1, per_ex,
                        {"losses": losses, "missing": missing, "optimizer": optname,
                         "batch": batch, "sizes": list(sizes)}))
        log(f"  train {label} t{threads}: " + ", ".join(
            f"{be} {1 / _med(ts):,.0f} ex/s" for be, ts in per_ex.items()))


def run_epoch(args, threads, out):
    from bench import _common as C
    from bench._timing import interleaved

    data = C.load_fashion_mnist()
    if data is None:
        out.append(_rec("epoch", "E1", threads, "examples", 0, {},
                        {"missing": {"all": "Fashion-MNIST not found "
                                            "(apt-get install dataset-fashion-mnist)"}}))
        log("  epoch: Fashion-MNIST not found, skipped")
        return
    n = len(data[0][0])
    backends, missing = C.e1_backends(data, threads)
    # Warm-up epoch per backend (JIT compiles, workspaces), timed: a backend slower than
    # --epoch-cap seconds (e.g. OpenBLAS-threaded scikit-learn on an overloaded 2-core box,
    # measured at 60 s) is timed on one more epoch only, so the report stays bounded.
    fns, slow = {}, {}
    for be, fn in backends.items():
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        (slow if dt > args.epoch_cap else fns)[be] = fn
    times = _measure(args, threads, fns, repeats=args.epoch_repeats, warmup=0,
                     fixed_iters=1) if fns else {}
    notes = {}
    for be, fn in slow.items():
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        dt = (time.process_time() - c0) if _cpu_clock(args, threads) else \
            (time.perf_counter() - t0)
        times[be] = [dt] * max(1, args.epoch_repeats)
        notes[be] = f"slower than --epoch-cap {args.epoch_cap:g} s: timed once, not interleaved"
    out.append(_rec("epoch", "E1", threads, "examples", n, times,
                    {"missing": missing, "notes": notes}))
    log(f"  epoch E1 t{threads}: " + ", ".join(f"{be} {_med(ts):.2f} s"
                                              for be, ts in times.items()))


# Small work (microseconds per call) where an extra thread costs more than it can save:
# fastmlp must keep it on one thread. (label, make(np, fm) -> call)
def _scaling_cases():
    def model(np, fm, sizes, opt=None):
        layers = [fm.Dense(u, activation="relu") for u in sizes[1:-1]] + [fm.Dense(sizes[-1])]
        m = fm.Sequential(layers, input_shape=(sizes[0],), seed=0)
        if opt is not None:
            # the last Dense is linear: its outputs are logits
            m.compile(optimizer=opt, loss=fm.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    def predict(sizes, batch):
        def make(np, fm):
            m, x = model(np, fm, sizes), np.random.default_rng(0).random((batch, sizes[0]),
                                                                       dtype=np.float32)
            return lambda: m.predict(x)
        return make

    def step(sizes, batch, opt):
        def make(np, fm):
            m = model(np, fm, sizes, opt(fm))
            rng = np.random.default_rng(0)
            x = rng.random((batch, sizes[0]), dtype=np.float32)
            y = rng.integers(0, sizes[-1], batch)
            return lambda: m.train_on_batch(x, y)
        return make

    def op(name):
        def make(np, fm):
            import fastmlp.ops  # noqa: F401  (a submodule: not imported with fastmlp)

            rng = np.random.default_rng(0)
            a = rng.random((64, 64), dtype=np.float32)
            return {"gemm 64x64x64": lambda: fm.ops.gemm(a, a),
                    "relu 4096": lambda: fm.ops.relu(a),
                    "softmax 64x64": lambda: fm.ops.softmax(a)}[name]
        return make

    momentum = lambda fm: fm.optimizers.SGD(0.01, momentum=0.9)  # noqa: E731
    return [("predict 784-128-10 b1", predict((784, 128, 10), 1)),
            ("predict 784-128-10 b8", predict((784, 128, 10), 8)),
            ("predict 784-512-512-10 b1", predict((784, 512, 512, 10), 1)),
            ("predict 20-32-3 b64", predict((20, 32, 3), 64)),
            ("train_on_batch 784-128-10 b1", step((784, 128, 10), 1, momentum)),
            ("train_on_batch 784-128-10 b16", step((784, 128, 10), 16, momentum)),
            ("train_on_batch 20-32-3 b32", step((20, 32, 3), 32, lambda fm: "adam")),
            ("ops.gemm 64x64x64", op("gemm 64x64x64")),
            ("ops.relu 4096", op("relu 4096")),
            ("ops.softmax 64x64", op("softmax 64x64"))]


def run_scaling(args, threads, out):
    """fastmlp on `threads` threads against itself on one, interleaved, on small work."""
    if threads <= 1:
        return
    import numpy as np

    import fastmlp as fm

    many, one = f"fastmlp-{threads}t", "fastmlp-1t"
    for label, make in _scaling_cases():
        call = make(np, fm)
        before = {many: lambda: fm.set_num_threads(threads), one: lambda: fm.set_num_threads(1)}
        times = _measure(args, threads, {many: call, one: call}, repeats=args.repeats,
                         block_s=args.block, before=before)
        fm.set_num_threads(threads)
        out.append(_rec("scaling", label, threads, "calls", 1, times))
        log(f"  scaling {label}: " + ", ".join(f"{be} {_med(ts) * 1e6:.1f} us"
                                               for be, ts in times.items()))


class _Sink(list):
    """Result list that rewrites the child's output file after every case, so a child
    killed by --timeout still leaves the cases it finished."""

    def __init__(self, path, info):
        super().__init__()
        self.path, self.info = path, info

    def append(self, rec):
        super().append(rec)
        self.dump()

    def dump(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"info": self.info, "results": list(self)}, f)
        os.replace(tmp, self.path)


def child_main(args):
    threads = args.threads[0]
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cpus and threads < len(cpus):
        os.sched_setaffinity(0, set(cpus[:threads]))  # inherited by every thread created later
    from bench import _common as C

    C.preload_backends()  # XLA_FLAGS is already in this child's environment
    info = {"threads": threads, "cpus": cpus[:threads] if cpus else None,
            "env": {k: os.environ.get(k) for k in
                    ("XLA_FLAGS", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
            "versions": versions(),
            "clock": "cpu" if _cpu_clock(args, threads) else "wall"}
    results = _Sink(args.out, info)
    with C.pinned_threads(threads, affinity=False):
        for w in args.only:
            t0 = time.perf_counter()
            log(f"[t{threads}] {w} ...")
            try:
                {"gemm": run_gemm, "infer": run_infer, "train": run_train,
                 "epoch": run_epoch, "scaling": run_scaling}[w](args, threads, results)
            except Exception as exc:
                import traceback

                traceback.print_exc()
                results.append(_rec(w, "*", threads, "", 0, {},
                                    {"error": f"{type(exc).__name__}: {exc}"[:300]}))
            log(f"[t{threads}] {w} done in {time.perf_counter() - t0:.0f} s")
    results.dump()


def versions():
    from bench import _common as C

    v = {"python": platform.python_version()}
    for name in ("numpy", "torch", "onnxruntime", "jax", "sklearn"):
        m = sys.modules.get(name) or C.optional(name)
        v[name] = getattr(m, "__version__", None) if m is not None else None
    fm = C.fastmlp_module()
    if fm is not None:
        v["fastmlp"] = getattr(fm, "__version__", None)
        try:
            ci = fm.cpu_info()
            v["fastmlp_isa"] = ci.get("isa")
            v["fastmlp_supported"] = ci.get("supported")
        except Exception:
            pass
    return v


# ========================================================================================
# Parent: orchestrate, evaluate targets, print
# ========================================================================================

# (workload, case predicate, anchor backend, min ratio, thread predicate, label)
def targets_for(rec, best_tier):
    w, case, thr = rec["workload"], rec["case"], rec["threads"]
    T = []
    if w == "gemm":
        T.append((f"fastmlp-{best_tier}", "numpy", 0.95, "issue 2: >= 0.95x NumPy"))
        if best_tier != "avx2":
            T.append(("fastmlp-avx2", "numpy", 0.85 if thr == 1 else None,
                      "issue 2: AVX2 tier >= 0.85x NumPy (1 thread)"))
    elif w == "infer":
        goal = 2.0 if case == "I1 b1" else 1.0
        T.append(("fastmlp", "onnxruntime", goal, f"issue 3: >= {goal}x ONNX Runtime"))
        for a in ("torch", "jax", "numpy"):
            T.append(("fastmlp", a, None, ""))
    elif w == "train":
        goals = {"T1 b1": (8, 1.5), "T1 b16": (3, 1.3), "T1 b64": (1.8, 1.1),
                 "T2 b128": (1.4, None)}[case]
        T.append(("fastmlp", "torch", goals[0], f"issue 3: >= {goals[0]}x PyTorch"))
        T.append(("fastmlp", "jax", goals[1], f"issue 3: >= {goals[1]}x JAX" if goals[1] else ""))
    elif w == "epoch":
        g = 1.8 if thr == 1 else 2.5
        T.append(("fastmlp", "torch", g, f"issue 3: >= {g}x PyTorch"))
        T.append(("fastmlp", "sklearn", 2.5, "issue 3: >= 2.5x scikit-learn"))
        T.append(("fastmlp", "jax", None, ""))
    elif w == "scaling":
        T.append((f"fastmlp-{thr}t", "fastmlp-1t", 0.9,
                  "issue 3: more threads never slower on small work (>= 0.9x one thread)"))
    return T


def _fast_series(rec, fast):
    """Times of the fastmlp variant; for training take the faster of fit / train_on_batch."""
    times = rec["times"]
    if fast == "fastmlp" and rec["workload"] == "train":
        cands = [k for k in ("fastmlp-fit", "fastmlp-step") if k in times]
        if not cands:
            return None, None
        k = min(cands, key=lambda c: _med(times[c]))
        return k, times[k]
    return (fast, times[fast]) if fast in times else (None, None)


def evaluate(results):
    from bench._timing import median, paired_speedup

    rows = []
    best_tier = "avx512"
    tiers = {k.split("-", 1)[1] for r in results if r["workload"] == "gemm"
             for k in r["times"] if k.startswith("fastmlp-")}
    for t in ("avx512", "avx2", "neon", "generic"):
        if t in tiers:
            best_tier = t
            break
    for rec in results:
        if not rec["times"]:
            rows.append({"rec": rec, "fast": None, "anchor": None, "ratio": None, "goal": None,
                         "status": "SKIP", "note": json.dumps(rec["extra"].get("missing")
                                                              or rec["extra"].get("error"))})
            continue
        for fast, anchor, goal, label in targets_for(rec, best_tier):
            fk, ft = _fast_series(rec, fast)
            at = rec["times"].get(anchor)
            row = {"rec": rec, "fast": fk or fast, "anchor": anchor, "goal": goal,
                   "label": label, "ratio": None, "spread": None}
            if ft is None or at is None:
                row["status"] = "SKIP" if goal else "-"
                miss = rec["extra"].get("missing") or {}
                row["note"] = miss.get(fast.split("-")[0] if ft is None else anchor,
                                       "backend missing")
            else:
                per_round = [a / f for f, a in zip(ft, at) if f > 0]
                row["ratio"] = paired_speedup(ft, at)
                row["spread"] = (max(per_round) - min(per_round)) / row["ratio"] if per_round else 0
                row["min_ratio"] = min(at) / min(ft) if min(ft) > 0 else None
                row["fast_rate"] = rec["units_per_call"] / median(ft)
                row["anchor_rate"] = rec["units_per_call"] / median(at)
                row["status"] = ("PASS" if row["ratio"] >= goal else "FAIL") if goal else "info"
                row["note"] = "; ".join(f"{b}: {m}" for b, m in
                                        (rec["extra"].get("notes") or {}).items()
                                        if b in (fk, anchor))
                errs = rec["extra"].get("errors", {})
                tol = rec["extra"].get("tolerance")
                bad = [b for b in (fk, anchor) if b in errs and tol is not None and
                       not errs[b] <= tol]
                if bad:
                    row["status"] = "WRONG" if goal else "wrong"
                    row["note"] = "result error " + ", ".join(f"{b}={errs[b]:.2g}" for b in bad)
                losses = rec["extra"].get("losses") or {}
                if "fastmlp" in losses and anchor in losses:
                    lf, la = losses["fastmlp"], losses[anchor]
                    rel = max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(lf, la))
                    if not rel <= 2e-3:
                        row["note"] = (row["note"] + "; " if row["note"] else "") + (
                            f"first losses differ by {rel:.1e} (fastmlp {lf} vs {la})")
            rows.append(row)
        if rec["workload"] == "gemm" and rec["case"] == "256x784x1024" and rec["threads"] == 1:
            key = f"fastmlp-{best_tier}"
            if key in rec["times"]:
                g = rec["units_per_call"] / median(rec["times"][key])
                rows.append({"rec": rec, "fast": key, "anchor": "peak 117", "goal": 0.8,
                             "ratio": g / 117.0, "spread": None, "fast_rate": g,
                             "anchor_rate": 117.0,
                             "status": "PASS" if g >= 0.8 * 117 else "FAIL",
                             "note": "absolute: busy machines read low",
                             "label": "issue 2: >= 80% of 117 GFLOP/s"})
    return rows


def _fmt_rate(x, unit):
    if x is None:
        return "-"
    if unit == "GFLOP":
        return f"{x:.1f}"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def print_table(rows, file=sys.stdout):
    titles = {"gemm": "G1 GEMM (GFLOP/s; ratio = fastmlp tier / NumPy)",
              "infer": "I1 / I2 inference (samples/s; ratio = fastmlp / other)",
              "train": "T1 / T2 training step (examples/s; fastmlp = faster of fit / train_on_batch)",
              "epoch": "E1 Fashion-MNIST epoch (examples/s; ratio = fastmlp / other)",
              "scaling": "Small work on all threads vs one (calls/s; ratio = N threads / 1)"}
    order = {w: i for i, w in enumerate(WORKLOADS)}
    rows = sorted(rows, key=lambda r: (order.get(r["rec"]["workload"], 9), r["rec"]["threads"]))
    cur = None
    hdr = (f"{'case':<42} {'thr':>3} {'fastmlp':<15} {'rate':>8} {'anchor':<12} {'rate':>8} "
           f"{'ratio':>7} {'spread':>6} {'minrat':>6} {'target':>7}  status")
    for r in rows:
        w = r["rec"]["workload"]
        if w != cur:
            cur = w
            print(f"\n== {titles.get(w, w)} ==", file=file)
            print(hdr, file=file)
        unit = r["rec"]["unit"]
        ratio = "-"
        if r.get("ratio") is not None:
            ratio = f"{r['ratio']:.3f}x" if r["ratio"] < 10 else f"{r['ratio']:.1f}x"
        spread = f"{100 * r['spread']:.0f}%" if r.get("spread") is not None else ""
        goal = f">={r['goal']}" if r.get("goal") else ""
        mr = f"{r['min_ratio']:.2f}" if r.get("min_ratio") is not None else ""
        line = (f"{r['rec']['case']:<42} {r['rec']['threads']:>3} {str(r.get('fast') or '-'):<15} "
                f"{_fmt_rate(r.get('fast_rate'), unit):>8} {str(r.get('anchor') or '-'):<12} "
                f"{_fmt_rate(r.get('anchor_rate'), unit):>8} {ratio:>7} {spread:>6} {mr:>6} {goal:>7}  "
                f"{r['status']}")
        if r.get("note"):
            line += f"  ({r['note']})"
        print(line, file=file)
    n_pass = sum(r["status"] == "PASS" for r in rows)
    fails = [r for r in rows if r["status"] in ("FAIL", "WRONG")]
    skips = [r for r in rows if r["status"] == "SKIP"]
    print(f"\nTargets: {n_pass} PASS, {len(fails)} FAIL/WRONG, {len(skips)} SKIP", file=file)
    for r in fails:
        print(f"  {r['status']}: {r['rec']['workload']} {r['rec']['case']} t{r['rec']['threads']} "
              f"{r['fast']} vs {r['anchor']}: {r['ratio']:.3f}x < {r['goal']} ({r.get('label', '')})",
              file=file)


def child_env(threads):
    env = dict(os.environ)
    for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(v, None)
    env["OMP_NUM_THREADS"] = str(threads)
    from bench._common import XLA_ONE_THREAD_FLAGS

    if threads == 1 and "XLA_FLAGS" not in os.environ:
        env["XLA_FLAGS"] = XLA_ONE_THREAD_FLAGS
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    pp = env.get("PYTHONPATH")
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + pp if pp else "")
    return env


def parent_main(args):
    from bench._common import max_threads

    all_results, infos = [], []
    t_start = time.perf_counter()
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    for thr in args.threads:
        if thr > max_threads():
            log(f"skipping {thr} threads: only {max_threads()} CPUs available")
            continue
        with tempfile.TemporaryDirectory() as td:
            outp = os.path.join(td, "r.json")
            cmd = [sys.executable, "-m", "bench.report", "--child", "--out", outp,
                   "--threads", str(thr), "--only", ",".join(args.only),
                   "--repeats", str(args.repeats), "--epoch-repeats", str(args.epoch_repeats),
                   "--block", str(args.block), "--epoch-cap", str(args.epoch_cap),
                   "--clock", args.clock]
            if args.settle is not None:
                cmd += ["--settle", str(args.settle)]
            for flag in ("slow", "quick", "generic"):
                if getattr(args, flag):
                    cmd.append(f"--{flag}")
            log(f"== {thr} thread(s): {' '.join(cmd[1:4])} ...")
            try:
                proc = subprocess.run(cmd, env=child_env(thr), cwd=REPO_ROOT,
                                      timeout=args.timeout, stdout=sys.stderr)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
                log(f"child for {thr} thread(s) ran past --timeout {args.timeout:g} s: "
                    "keeping the cases it finished")
            if os.path.exists(outp):
                with open(outp) as f:
                    data = json.load(f)
                all_results.extend(data["results"])
                infos.append(data["info"])
            else:
                log(f"child for {thr} thread(s) failed (rc={rc}); no results")
    load1 = os.getloadavg() if hasattr(os, "getloadavg") else None
    rows = evaluate(all_results)
    v = infos[0]["versions"] if infos else {}
    print(f"fastmlp benchmark report  ({time.strftime('%Y-%m-%d %H:%M')}, "
          f"{time.perf_counter() - t_start:.0f} s, {platform.node()})")
    print("versions: " + ", ".join(f"{k}={val}" for k, val in v.items()))
    if load0 and load1:
        print(f"load average before/after: {load0[0]:.2f} / {load1[0]:.2f} on {os.cpu_count()} CPUs"
              + ("  (BUSY MACHINE: ratios noisy)" if load0[0] > 0.5 else ""))
    print("ratio = median over interleaved rounds of (anchor time / fastmlp time), > 1: fastmlp "
          "faster; spread = (max-min)/median of the per-round ratios; minrat = ratio of the "
          "best rounds (less sensitive to load); targets use ratio")
    print("clock: " + ", ".join(f"{i['threads']} thread(s): {i.get('clock', 'wall')} time"
                                for i in infos) +
          "  (cpu = process CPU time of the pinned one-thread child: excludes time other "
          "processes held its CPU)")
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"infos": infos, "results": all_results,
                       "rows": [{k: val for k, val in r.items() if k != "rec"} |
                                {"workload": r["rec"]["workload"], "case": r["rec"]["case"],
                                 "threads": r["rec"]["threads"]} for r in rows]}, f, indent=1)
        print(f"\nwrote {args.json}")
    return 1 if any(r["status"] == "WRONG" for r in rows) else 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(WORKLOADS),
                   help="comma-separated workloads: gemm, infer, train, epoch, scaling "
                        "(default: all; scaling runs only with more than one thread)")
    p.add_argument("--threads", default=None,
                   help="comma-separated thread counts (default: 1 and all CPUs)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 7)")
    p.add_argument("--epoch-repeats", type=int, default=None,
                   help="rounds for E1 whole epochs (default 3)")
    p.add_argument("--epoch-cap", type=float, default=30.0,
                   help="E1: a backend whose warm-up epoch takes longer is timed once more "
                        "instead of in every round (default 30 s)")
    p.add_argument("--block", type=float, default=None,
                   help="seconds per timed block (default 0.05)")
    p.add_argument("--settle", type=float, default=None,
                   help="untimed pause before each block so the previous backend's spinning "
                        "worker threads go idle (default 0.1 s with >1 thread, 0 with 1)")
    p.add_argument("--clock", choices=("auto", "cpu", "wall"), default="auto",
                   help="auto (default): process CPU time with 1 thread (the process is "
                        "pinned to one CPU, so this drops the time other processes held it), "
                        "wall time with more threads")
    p.add_argument("--slow", action="store_true", help="include the 2048^3 GEMM")
    p.add_argument("--generic", action="store_true", help="include fastmlp's generic tier")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: fewer cases, 3 rounds, 1 epoch round")
    p.add_argument("--json", default=None, help="write all measurements to this file")
    p.add_argument("--timeout", type=float, default=1200,
                   help="seconds per thread-count child (default 1200); a child past it is "
                        "killed and the cases it finished are still reported")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    aliases = {"g1": "gemm", "inference": "infer", "i1": "infer", "i2": "infer",
               "training": "train", "t1": "train", "t2": "train", "e1": "epoch"}
    only = []
    for w in args.only.split(","):
        w = aliases.get(w.strip().lower(), w.strip().lower())
        if w not in WORKLOADS:
            p.error(f"--only: unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
        if w not in only:
            only.append(w)
    args.only = only
    from bench._common import max_threads

    if args.threads:
        args.threads = sorted({int(t) for t in args.threads.split(",") if t.strip()})
    else:
        args.threads = sorted({1, max_threads()})
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
    if args.epoch_repeats is None:
        args.epoch_repeats = 1 if args.quick else 3
    if args.block is None:
        args.block = 0.02 if args.quick else 0.05
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        child_main(args)
        return 0
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
