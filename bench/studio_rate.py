"""Does the studio's live streaming slow training? The same fit, trained (a) by a
``fastmlp studio`` server started as a user starts it, followed over its event stream as the
page follows it, and (b) by ``model.fit`` called from Python; interleaved rounds, training
examples/s from the wall time of the fit call on both sides. Target: (a) >= 90% of (b).

    python -m bench.studio_rate [--dataset fashion-mnist] [--epochs 2] [--rounds 3] [--threads 1]

Public API only: fastmlp's, and the studio's HTTP API.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import fastmlp as fm

LAYERS = [{"type": "Rescaling", "scale": 1 / 255}, {"type": "Flatten"},
          {"type": "Dense", "units": 256, "activation": "relu"},
          {"type": "Dense", "units": 128, "activation": "relu"},
          {"type": "Dense", "units": 10, "activation": "softmax"}]
TARGET = 0.90


def python_rate(dataset, settings):
    (x, y), _ = fm.datasets.load(dataset)
    model = fm.Sequential([getattr(fm.layers, l["type"])(**{k: v for k, v in l.items()
                                                            if k != "type"}) for l in LAYERS],
                          input_shape=x.shape[1:], seed=settings["seed"])
    model.compile(optimizer=fm.optimizers.Adam(learning_rate=settings["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=settings["batch_size"], epochs=settings["epochs"],
              validation_split=settings["validation_split"], seed=settings["seed"], verbose=0)
    dt = time.perf_counter() - t0
    return settings["epochs"] * int(len(x) * (1 - settings["validation_split"])) / dt


class Studio:
    """``fastmlp studio --no-browser --port 0`` in a subprocess; its URL and token."""

    def __init__(self, data_dir, threads):
        self.proc = subprocess.Popen(
            [sys.executable, *(["-S"] if sys.flags.no_site else []), "-m", "fastmlp",
             "--threads", str(threads), "studio", "--no-browser", "--port", "0",
             "--data-dir", data_dir], stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        for line in self.proc.stdout:
            m = re.search(r"(http://\S+)/\?token=(\S+)", line)
            if m:
                self.base, self.token = m.groups()
                break
        else:
            raise RuntimeError("fastmlp studio printed no URL")
        for _ in range(100):  # until it listens
            try:
                self.get("/api/info")
                return
            except OSError:
                time.sleep(0.1)

    def get(self, path, body=None):
        req = urllib.request.Request(self.base + path, headers={
            "X-Studio-Token": self.token, "Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode())
        return urllib.request.urlopen(req, timeout=600)

    def train(self, dataset, settings):
        with self.get("/api/runs", {"dataset": dataset, "layers": LAYERS, **settings}) as r:
            run = json.load(r)
        with self.get(f"/api/runs/{run['id']}/events") as stream:  # as the page follows it
            for line in stream:
                if line.startswith(b"data: "):
                    update = json.loads(line[6:])
                    if "run" in update:
                        return update["run"]["results"]["examples_per_sec"]
        raise RuntimeError("the event stream ended before the run")

    def close(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default=None, help="default: fashion-mnist if found, else sample")
    p.add_argument("--epochs", type=int, default=None, help="default: 2 (sample: 40)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1,
                   help="kernel threads on both sides (default 1: steadier on a busy machine)")
    args = p.parse_args(argv)
    fm.set_num_threads(args.threads)
    dataset = args.dataset
    if dataset is None:
        try:
            fm.datasets.load_fashion_mnist(download=False)
            dataset = "fashion-mnist"
        except fm.datasets.DatasetNotFoundError:
            dataset = "sample"
    epochs = args.epochs or (2 if dataset != "sample" else 40)
    settings = {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": args.batch_size,
                "epochs": epochs, "seed": 0, "validation_split": 0.1}
    print(f"fastmlp {fm.__version__}, {fm.get_num_threads()} thread(s); {dataset}, "
          f"784-256-128-10, batch {args.batch_size}, {epochs} epochs, {args.rounds} rounds")
    studio = Studio(tempfile.mkdtemp(prefix="studio-bench-"), args.threads)
    py, st = [], []
    try:
        for r in range(args.rounds):  # interleaved: the machine's load hits both alike
            py.append(python_rate(dataset, settings))
            st.append(studio.train(dataset, settings))
            print(f"round {r + 1}: python {py[-1]:,.0f}  studio {st[-1]:,.0f} examples/s  "
                  f"ratio {st[-1] / py[-1]:.3f}", flush=True)
    finally:
        studio.close()
    # the median of the paired rounds' ratios: a shared machine's load changes between
    # rounds, much less within one
    ratio = statistics.median(s / p for s, p in zip(st, py))
    print(f"best: python {max(py):,.0f}, studio {max(st):,.0f} examples/s; median studio / "
          f"python = {ratio:.3f}  ({'PASS' if ratio >= TARGET else 'FAIL'}, target >= {TARGET})")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
