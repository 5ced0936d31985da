"""Runs: training on a worker thread, the live log the event stream reads, and the runs kept
on disk (``<data dir>/runs/<id>/run.json`` + ``model.npz``).

The training thread only appends to lists (``LiveLog``); the event stream reads them on
the server's loop. The engine releases the GIL while it trains, so the server stays
responsive and the stream costs training next to nothing.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time

import numpy as np

from .._runtime import get_num_threads, set_num_threads
from ..callbacks import Callback
from ._errors import StudioError

log = logging.getLogger("fastmlp.studio")
SAVED_POINTS = 2000  # batch points kept in run.json (bucket means beyond that)


class _Stop(KeyboardInterrupt):
    """Raised from a batch hook to stop mid-epoch: fit's Ctrl-C path, which stops at a chunk
    boundary with every batch either applied or not (a consistent model)."""


class LiveLog(Callback):
    """fit's callbacks -> the run's lists; honours the stop request."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_train_batch_end(self, batch, logs=None):
        run = self.run
        run.batch.append((logs["loss"], logs["accuracy"]))
        if run.stop_requested:
            self.model.stop_training = True  # ends fit at the epoch end ...
            raise _Stop()                     # ... or now, mid-epoch, as Ctrl-C does

    def on_epoch_end(self, epoch, logs=None):
        self.run.epochs.append({"epoch": epoch + 1, "batches": len(self.run.batch),
                                **{k: float(v) for k, v in (logs or {}).items()}})


def bucket_means(points, start, stop, limit):
    """``[[batch index, loss, accuracy]]`` for points[start:stop], at most ``limit`` rows
    (means of equal buckets when there are more)."""
    new = np.asarray(points[start:stop], dtype=np.float64).reshape(-1, 2)
    n = len(new)
    if n == 0:
        return []
    size = -(-n // limit)
    rows = []
    for a in range(0, n, size):
        chunk = new[a:a + size]
        m = chunk.mean(axis=0)
        rows.append([start + a + (len(chunk) - 1) / 2, float(m[0]), float(m[1])])
    return rows


class Run:
    """One training run: its record (saved as run.json) and, while it lives, its model."""

    def __init__(self, record, directory, model=None):
        self.record = record
        self.dir = directory
        self.model = model
        self.batch: list = []
        self.epochs: list = list(record.get("history", {}).get("epochs", []))
        self.stop_requested = False
        self.done = threading.Event()
        self.probs = None  # test-set probabilities, for inspect
        self.lock = threading.Lock()
        if record["status"] != "training":
            self.done.set()

    @property
    def id(self):
        return self.record["id"]

    @property
    def model_path(self):
        return os.path.join(self.dir, "model.npz")

    def history(self):
        saved = self.record.get("history", {})
        points = bucket_means(self.batch, 0, len(self.batch), SAVED_POINTS) if self.batch else saved.get("batch", [])
        return {"epochs": self.epochs, "batch": points}

    def public(self, full=False):
        out = {k: v for k, v in self.record.items() if k != "history"}
        if full:
            out["history"] = self.history()
        return out

    def save(self):
        self.record["history"] = self.history()
        path = os.path.join(self.dir, "run.json")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.record, f)
        os.replace(tmp, path)  # a crash leaves the previous record, never half of one

    def get_model(self):
        from ..saving import load_model
        with self.lock:
            if self.model is None:
                if not os.path.isfile(self.model_path):
                    raise StudioError(f"run {self.id} has no model file (it did not finish)", 409)
                self.model = load_model(self.model_path)
            return self.model


def model_key(record) -> str:
    """A model's identity: its dataset and its layers (the same architecture on the same data;
    its training settings may differ)."""
    return json.dumps({"dataset": record["dataset"], "layers": record["layers"]},
                      sort_keys=True)


class RunManager:
    """The runs of one data dir; one run trains at a time per model (different models train
    side by side, each on its own worker thread, the engine releasing the GIL)."""

    def __init__(self, data_dir):
        self.root = os.path.abspath(os.path.join(data_dir, "runs"))
        os.makedirs(self.root, exist_ok=True)
        self.runs: dict = {}
        self.training: dict = {}  # model_key -> the Run training that model
        self._lock = threading.Lock()
        # OpenMP's thread count is per thread: the worker takes the one set where the server
        # was made (`fastmlp --threads N studio`), not the runtime's default
        self.threads = get_num_threads()
        self._load()

    def _load(self):
        for name in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, name, "run.json")
            try:
                with open(path, encoding="utf-8") as f:
                    record = json.load(f)
                if record.get("status") == "training":  # the server stopped during training
                    record["status"] = "interrupted"
                self.runs[record["id"]] = Run(record, os.path.dirname(path))
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("skipping unreadable run %s", path)

    def get(self, run_id) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise StudioError(f"run {run_id!r} does not exist", 404, field="run")
        return run

    def start(self, record, model, data) -> Run:
        """Start training ``model`` on a worker thread; 409 while a run of the same model
        (dataset and layers) trains."""
        key = model_key(record)
        with self._lock:
            busy = self.training.get(key)
            if busy is not None and not busy.done.is_set():
                raise StudioError(f"this model (the same dataset and layers) is already "
                                  f"training as run {busy.id}; stop it or wait for it to "
                                  "finish, or change the model (one run trains at a time per "
                                  "model)", 409)
            rid = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
            directory = os.path.join(self.root, rid)
            os.makedirs(directory)
            record.update(id=rid, created=time.time(), status="training", results=None,
                          error=None)
            run = Run(record, directory, model)
            self.runs[rid] = run
            self.training[key] = run
        run.save()
        threading.Thread(target=_train, args=(run, data, self.threads), name=f"studio-{rid}",
                         daemon=True).start()
        return run

    def stop(self, run_id) -> Run:
        run = self.get(run_id)
        if run.done.is_set():
            raise StudioError(f"run {run_id} is not training (it is {run.record['status']})", 409)
        run.stop_requested = True
        return run

    def active(self) -> list:
        """The ids of the runs training now, oldest first."""
        with self._lock:
            return sorted(r.id for r in self.training.values() if not r.done.is_set())

    def shutdown(self, timeout=60.0):
        """Stop the training runs and wait for them (their models and records are saved)."""
        with self._lock:
            busy = [r for r in self.training.values() if not r.done.is_set()]
        for run in busy:
            run.stop_requested = True
        t_end = time.monotonic() + timeout
        for run in busy:
            run.done.wait(max(t_end - time.monotonic(), 0.0))

    def listing(self):
        return [r.public() for r in sorted(self.runs.values(), key=lambda r: r.id)]


def _examples(run, n_fit):
    """Training examples fit went through (whole passes plus the batches of a partial one)."""
    p = run.record["params"]
    bs = min(p["batch_size"], n_fit)
    if p["steps_per_epoch"]:
        return len(run.batch) * bs
    per_pass = -(-n_fit // bs)
    full = len(run.batch) // per_pass
    return full * n_fit + (len(run.batch) - full * per_pass) * bs


def _train(run, data, threads):
    from ..cli.main import _predict_rate  # the CLI's inferences/s measure
    set_num_threads(threads)
    (xtr, ytr), (xte, yte) = data
    p = run.record["params"]
    model = run.model
    status, error = "done", None
    t0 = time.perf_counter()
    try:
        model.fit(xtr, ytr, batch_size=p["batch_size"], epochs=p["epochs"],
                  steps_per_epoch=p["steps_per_epoch"], validation_split=p["validation_split"],
                  seed=p["seed"], verbose=0, callbacks=[LiveLog(run)])
    except _Stop:
        status = "stopped"
    except (ValueError, TypeError, FloatingPointError, MemoryError) as exc:
        status, error = "failed", str(exc)
    except Exception as exc:  # never a silent dead thread: the page shows it
        log.exception("run %s failed", run.id)
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    fit_s = time.perf_counter() - t0
    results = {"train_seconds": fit_s, "threads": threads}
    try:
        n_fit = int(len(xtr) * (1 - p["validation_split"]))
        examples = _examples(run, n_fit)
        results.update(examples=examples, examples_per_sec=examples / fit_s if fit_s > 0 else 0.0)
        if status != "failed" and run.batch:
            res = model.evaluate(xte, yte)
            run.probs = model.predict(xte)
            results.update(test_loss=float(res["loss"]), test_accuracy=float(res["accuracy"]),
                           inferences_per_sec=_predict_rate(model, xte))
            model.save(run.model_path)
    except Exception as exc:
        log.exception("run %s: evaluation failed", run.id)
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    run.record.update(status=status, error=error, results=results)
    try:
        run.save()
    finally:
        run.done.set()
