"""Data-parallel training loops: synchronous gradient all-reduce and local SGD."""
from __future__ import annotations

import math
import numbers
import sys
import time

import numpy as np

from .. import _core
from .._metric_logs import evaluate_logs
from ..callbacks import History
from ..models import Sequential
from ..quantization import refuse_training
from . import _backend
from ._bn_stats import MovingStats
from ._params import FlatParams, broadcast_state, check_identical, moving_stat_indices


def _check_int(name, v, lo, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int >= {lo}" + (" or None" if allow_none else "")
                        + f", got {type(v).__name__} {v!r}")
    if v < lo:
        raise ValueError(f"{name}: expected an int >= {lo}" + (" or None" if allow_none else "")
                         + f", got {v!r}")
    return int(v)


def check_model(model):
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a compiled fastmlp.Sequential, got "
                        f"{type(model).__name__}")
    if not model._compiled:
        raise ValueError("model: expected a compiled fastmlp.Sequential (call "
                         "model.compile(optimizer=..., loss=...) first), got one that is not "
                         "compiled")
    refuse_training(model, "fastmlp.distributed.fit")
    return model


class _Clock:
    """Seconds spent computing and communicating (the scaling report's split)."""

    def __init__(self):
        self.compute = self.comm = 0.0


def fit(model, x, y, *, backend=None, batch_size=64, epochs=1, sync_every=None,
        shuffle=True, seed=None, validation_data=None, verbose=1, timeout=None):
    """Data-parallel ``fit``; see :mod:`fastmlp.distributed` for the strategies."""
    check_model(model)
    batch_size = _check_int("batch_size", batch_size, 1)
    epochs = _check_int("epochs", epochs, 0)
    sync_every = _check_int("sync_every", sync_every, 1, allow_none=True)
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    if seed is not None:
        seed = _check_int("seed", seed, 0)
    comm = _backend.current(backend, timeout)
    if batch_size < comm.size:
        raise ValueError(f"batch_size: expected at least one row per rank (the global "
                         f"batch is split across {comm.size} ranks), got {batch_size}")
    x, y = model._prep_xy(x, y)
    net = model._net
    xv = yv = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data: expected a tuple (x_val, y_val), got "
                             f"{type(validation_data).__name__}")
        xv, yv = model._prep_xy(*validation_data, "validation x", "validation y")
    # every rank must hold the same data (each takes its shard of every batch)
    n_all = comm.gather_values([len(x)])[:, 0]
    if np.any(n_all != n_all[0]):
        raise ValueError(f"x: every rank must pass the same data (each trains on its shard "
                         f"of it), got {n_all.astype(np.int64).tolist()} rows on ranks "
                         f"0..{comm.size - 1}")
    seed_buf = np.array([np.random.SeedSequence().entropy % 2**62 if seed is None else seed],
                        np.float64)
    comm.broadcast(seed_buf)  # one shuffling order for every rank: rank 0's
    seed = int(seed_buf[0])
    broadcast_state(comm, net)
    if sync_every is None:
        loop = _SyncLoop(model, net, comm, x, y, batch_size)
    else:
        loop = _LocalSgdLoop(model, net, comm, x, y, batch_size, sync_every)
    history = History()
    history.set_model(model)
    history.on_train_begin()
    model.history = history
    for epoch in range(epochs):
        model.optimizer._apply_rate(net)
        n = len(x)
        perm = (_core.shuffled_indices(n, (seed + 7919 * epoch) % 2**63) if shuffle
                else np.arange(n, dtype=np.int32))
        clock = _Clock()
        t0 = time.perf_counter()
        logs = loop.epoch(perm, clock, epoch)
        wall = time.perf_counter() - t0
        check_identical(comm, net, f"after epoch {epoch + 1}")
        if xv is not None:
            logs.update(_evaluate(comm, net, xv, yv, [m.name for m in model.metrics]))
        logs["examples_per_sec"] = n / wall if wall > 0 else 0.0
        logs["comm_fraction"] = clock.comm / wall if wall > 0 else 0.0
        history.on_epoch_end(epoch, logs)
        if verbose and comm.rank == 0:
            shown = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            print(f"Epoch {epoch + 1}/{epochs} - {shown}", file=sys.stdout, flush=True)
    history.on_train_end()
    return history


def _evaluate(comm, net, xv, yv, names):
    """Validation logs (loss and compile's metrics), each rank evaluating a slice: the
    sums Network.evaluate returns are all-reduced, then turned into means."""
    lo, hi = len(xv) * comm.rank // comm.size, len(xv) * (comm.rank + 1) // comm.size
    sums = np.zeros(2 + len(names), np.float64)  # loss, weight, then each metric
    if hi > lo:
        ls, ms, ws, _ = net.evaluate(xv[lo:hi], yv[lo:hi])  # xv was checked before training
        sums[0], sums[1], sums[2:] = ls, ws, ms
    comm.allreduce_sum(sums)
    return evaluate_logs(names, (sums[0], sums[2:], sums[1], -1), len(xv), "val_")


def _diverged(loss, epoch, batch, where):
    return FloatingPointError(f"training diverged: the loss became {loss} in epoch "
                              f"{epoch + 1}, {where} {batch + 1}; lower the learning rate")


class _SyncLoop:
    """(a) Each global batch is split across the ranks; each computes the mean-loss
    gradient of its shard, the gradients are averaged (weighted by rows) in one
    all-reduce of one flat buffer, and every rank applies the same update."""

    def __init__(self, model, net, comm, x, y, batch_size):
        self.net, self.comm, self.x, self.y, self.batch = net, comm, x, y, batch_size
        self.flat = FlatParams(net, extra=1)  # + the batch loss
        self.stats = moving_stat_indices(model)
        self.bn = MovingStats(model, self.stats) if self.stats else None
        model._check_batch_rows(max(1, batch_size // comm.size), "fit")

    def epoch(self, perm, clock, epoch):
        net, comm, flat = self.net, self.comm, self.flat
        n, b, r, w = len(perm), self.batch, comm.rank, comm.size
        nb = (n + b - 1) // b
        losses = np.zeros(nb, np.float64)
        for j in range(nb):
            t0 = time.perf_counter()
            rows = perm[j * b:(j + 1) * b]
            mine = rows[len(rows) * r // w:len(rows) * (r + 1) // w]
            share = len(mine) / len(rows)  # weights the mean: shards may differ by a row
            if len(mine):
                loss, grads = net.compute_gradients(self.x[mine], self.y[mine])
                flat.fill(grads, share)
                flat.buf[-1] = loss * share
                if self.bn is not None:  # carried in the (zero) gradient slots of the stats
                    for i, s in zip(self.stats, self.bn.after_step(net, self.x, self.y, mine)):
                        np.multiply(s, share, out=flat.views[i])
            else:
                flat.buf[:] = 0.0
            t1 = time.perf_counter()
            comm.allreduce_sum(flat.buf)
            t2 = time.perf_counter()
            loss = float(flat.buf[-1])
            if not math.isfinite(loss):
                raise _diverged(loss, epoch, j, "batch")
            net.apply_gradients(flat.views)  # moving statistics: never given to the optimizer
            for i in self.stats:
                net.set_param(i, flat.views[i])
            losses[j] = loss
            clock.compute += t1 - t0 + time.perf_counter() - t2
            clock.comm += t2 - t1
        sizes = np.minimum(b, n - np.arange(nb) * b)
        return {"loss": float(np.dot(losses, sizes) / n)}


class _LocalSgdLoop:
    """(b) Local SGD: each rank trains ``sync_every`` batches of its shard in the engine,
    then the ranks average their weights (moving statistics included; the optimizer state
    stays local) in one all-reduce; again at the end of every epoch."""

    def __init__(self, model, net, comm, x, y, batch_size, sync_every):
        self.net, self.comm, self.x, self.y = net, comm, x, y
        self.local = max(1, batch_size // comm.size)
        self.k = sync_every
        self.flat = FlatParams(net, extra=2)  # + loss and accuracy sums
        model._check_batch_rows(self.local, "fit")

    def epoch(self, perm, clock, epoch):
        net, comm, flat = self.net, self.comm, self.flat
        w = comm.size
        # rank r trains rows r, r + w, ... of the permutation, the same count on every rank
        mine = np.ascontiguousarray(perm[comm.rank::w][:len(perm) // w], dtype=np.int32)
        if len(mine) == 0:
            raise ValueError(f"x: {len(perm)} rows cannot be shared by {w} ranks")
        b = self.local
        nb = (len(mine) + b - 1) // b
        losses = np.zeros(nb, np.float32)
        accs = np.zeros(nb, np.float32)
        done = 0
        while done < nb:
            k = min(self.k, nb - done)
            t0 = time.perf_counter()
            got = net.train_batches(self.x, self.y, mine, b, done, k, losses[done:],
                                    accs[done:])
            if got < k or not math.isfinite(float(losses[done + got - 1])):
                raise _diverged(float(losses[done + got - 1]), epoch, done + got - 1,
                                f"local batch (rank {comm.rank})")
            done += k
            flat.fill(net.get_params(), 1.0 / w)
            sizes = np.minimum(b, len(mine) - np.arange(done) * b)
            flat.buf[-2:] = 0.0
            if done == nb:  # the epoch's loss and accuracy ride along with the last average
                flat.buf[-2] = np.dot(losses, sizes) / len(mine) / w
                flat.buf[-1] = np.dot(accs, sizes) / len(mine) / w
            t1 = time.perf_counter()
            comm.allreduce_sum(flat.buf)
            t2 = time.perf_counter()
            net.set_params(flat.views)
            clock.compute += t1 - t0 + time.perf_counter() - t2
            clock.comm += t2 - t1
        return {"loss": float(flat.buf[-2]), "accuracy": float(flat.buf[-1])}
