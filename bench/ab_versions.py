"""Two builds of fastmlp side by side on the standard workloads (PERFORMANCE.md: E1, T1,
T2, I1, I2): is a change within a few percent of the commit before it?

Each build is a directory holding a ``fastmlp`` package with its compiled ``_core``. Two
builds cannot share a process (one extension module name), so every measurement is a
fresh ``python -S`` process with that directory first on the path; rounds alternate the
builds (A B, B A, ...) so both see the same machine load, and the ratio B / A is taken per
round and reported as the median with its spread. Uses the public API only.

    python -m bench.ab_versions --a /tmp/base_pkg --b /tmp/new_pkg [--rounds 5]
        [--threads 2] [--workloads E1,T1-64,I1-1024] [--block 1.0] [--clock wall|cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
from pathlib import Path

WORKLOADS = ("E1", "T1-1", "T1-16", "T1-64", "T2", "I1-1", "I1-64", "I1-1024", "I2-1",
             "I2-64", "I2-1024")
_ROOT = Path(__file__).resolve().parent.parent


def run_one(pkg_dir: str, workload: str, threads: int, block_s: float,
            clock: str = "wall") -> float:
    """Seconds per unit of `workload` (an epoch, a step, a predict) with the build in
    `pkg_dir`, measured in a fresh process."""
    site = sysconfig.get_paths()["purelib"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([pkg_dir, site, str(_ROOT)]))
    cmd = [sys.executable, "-S", "-m", "bench._ab_worker", workload, str(threads),
           str(block_s), clock]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                         cwd=str(_ROOT))
    if out.returncode != 0:
        raise SystemExit(f"{workload} with {pkg_dir} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", required=True, help="directory of the base build")
    p.add_argument("--b", required=True, help="directory of the changed build")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--block", type=float, default=1.0, help="seconds per measurement")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: process CPU time (robust to a shared VM's stolen time)")
    a = p.parse_args(argv)
    names = a.workloads.split(",")
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        raise SystemExit(f"--workloads: unknown {unknown}; known: {', '.join(WORKLOADS)}")
    print(f"B/A {a.clock} time ratio (< 1: B faster), {a.rounds} rounds, {a.threads} threads; "
          f"A={a.a} B={a.b}")
    for w in names:
        ratios, ta, tb = [], [], []
        for r in range(a.rounds):
            order = (a.a, a.b) if r % 2 == 0 else (a.b, a.a)
            t = {d: run_one(d, w, a.threads, a.block, a.clock) for d in order}
            ta.append(t[a.a])
            tb.append(t[a.b])
            ratios.append(t[a.b] / t[a.a])
        print(f"{w:8s} A {statistics.median(ta) * 1e3:9.3f} ms  B "
              f"{statistics.median(tb) * 1e3:9.3f} ms  B/A median {statistics.median(ratios):.3f}"
              f"  (min {min(ratios):.3f}, max {max(ratios):.3f})", flush=True)


if __name__ == "__main__":
    main()
