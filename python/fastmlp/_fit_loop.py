"""The training loop of ``Sequential.fit``: argument checks, validation data, callbacks,
the chunks of batches the C++ engine trains between progress updates and Ctrl-C checks,
divergence handling, and the epoch index streams."""
from __future__ import annotations

import numbers
import time

import numpy as np

from . import _core
from . import random as _random
from ._divergence import DEFAULT_DIVERGENCE_FACTOR, DivergenceGuard
from ._metric_logs import EpochBatches, evaluate_logs
from ._model_checks import check_int as _check_int, nonfinite_input as _nonfinite_input
from ._progress import EpochProgress
from ._sample_weights import check_sample_weight, row_weights
from .callbacks import Callback, History, TerminateOnNaN

_perf = time.perf_counter
_CHUNK_SECONDS = 0.1  # progress updates and Ctrl-C checks happen between chunks


def fit(model, x, y, batch_size, epochs, steps_per_epoch, validation_data,
        validation_split, shuffle, seed, verbose, callbacks, initial_epoch, sample_weight,
        class_weight) -> History:
    """``model.fit`` (see Sequential.fit) on a compiled model."""
    batch_size = 32 if batch_size is None else _check_int("batch_size", batch_size, 1)
    epochs = _check_int("epochs", epochs, 0)
    initial_epoch = _check_int("initial_epoch", initial_epoch, 0)
    steps_per_epoch = _check_int("steps_per_epoch", steps_per_epoch, 1, allow_none=True)
    if verbose == "auto":
        verbose = 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) \
            or not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split: expected a fraction in [0, 1), got "
                         f"{validation_split!r}")
    seed = _random.draw_seed() if seed is None else _random._check_seed(seed)
    x, y = model._prep_xy(x, y)
    net = model._net
    w = row_weights(sample_weight, class_weight, y, model.loss, len(x))
    xv = yv = wv = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected a tuple (x_val, y_val) or (x_val, "
                             f"y_val, sample_weight_val), got {type(validation_data).__name__}"
                             + (f" of length {len(validation_data)}"
                                if isinstance(validation_data, (tuple, list)) else ""))
        xv, yv = model._prep_xy(validation_data[0], validation_data[1], "validation x",
                                "validation y")
        if len(validation_data) == 3:
            wv = check_sample_weight(validation_data[2], len(xv),
                                     "validation sample_weight")
    elif validation_split > 0.0:
        split_at = int(len(x) * (1.0 - validation_split))
        if split_at < 1 or split_at >= len(x):
            raise ValueError(f"validation_split={validation_split} leaves no training or "
                             f"no validation examples out of {len(x)}")
        # like Keras: the last fraction, taken before shuffling
        x, xv, y, yv = x[:split_at], x[split_at:], y[:split_at], y[split_at:]
        if w is not None:
            w, wv = w[:split_at], w[split_at:]
    n = len(x)
    batch_size = min(batch_size, n)  # a batch never exceeds the data (as Keras)
    last_rows = batch_size if steps_per_epoch is not None or n % batch_size == 0 \
        else n % batch_size
    model._check_batch_rows(min(batch_size, last_rows), "fit")
    if steps_per_epoch is None:
        nb = (n + batch_size - 1) // batch_size
    else:
        nb = steps_per_epoch
    stream = _IndexStream(n, seed, bool(shuffle))

    history = History()
    cbs = [history] + list(callbacks or [])
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks: expected fastmlp.callbacks.Callback instances, "
                            f"got {type(cb).__name__}")
        cb.set_model(model)
        cb.set_params({"epochs": epochs, "steps": nb, "verbose": verbose,
                       "batch_size": batch_size})
    # Divergence: fit raises FloatingPointError; a TerminateOnNaN callback makes it stop
    # quietly instead and sets the bound (see fastmlp/_divergence.py for the rule).
    quiet = [cb for cb in cbs if isinstance(cb, TerminateOnNaN)]
    guard = DivergenceGuard(net, model.loss, y,
                            quiet[-1].divergence_factor if quiet
                            else DEFAULT_DIVERGENCE_FACTOR)
    batch_hooks = [cb for cb in cbs
                   if type(cb).on_train_batch_end is not Callback.on_train_batch_end
                   or "on_train_batch_end" in vars(cb)]
    model.history = history
    model.stop_training = False
    names = [m.name for m in model.metrics]
    params = sum(l.count_params() for l in model._layers)
    # first chunk: a guess from the arithmetic (6 flops per weight per example)
    t_batch = 6.0 * params * batch_size / 2e10 + 5e-6
    rows = np.full(nb, batch_size, dtype=np.float64)
    if steps_per_epoch is None:
        rows[-1] = n - (nb - 1) * batch_size
    for cb in cbs:
        cb.on_train_begin()
    progress = None
    try:
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            model.optimizer._apply_rate(net)
            guard.maybe_snapshot(epoch)
            idx = stream.epoch(epoch) if steps_per_epoch is None else \
                stream.take(nb * batch_size)
            eb = EpochBatches(names, rows, batch_size, w, idx)
            losses = eb.losses
            progress = EpochProgress(epoch, epochs, nb, verbose)
            done, t_train, diverged = 0, 0.0, False
            while done < nb:
                k = min(nb - done, max(1, int(_CHUNK_SECONDS / t_batch)))
                if guard.needs_first_loss:
                    k = 1  # its loss, at the starting weights, sets the bound
                t0 = _perf()
                got = net.train_batches(x, y, idx, batch_size, done, k, losses[done:],
                                        eb.values[done:], guard.limit, w)
                dt = _perf() - t0
                t_train += dt
                guard.trained(dt)
                t_batch = max(dt / max(got, 1), 1e-7)
                last = done + got - 1
                if guard.needs_first_loss and got:
                    guard.first_loss(float(losses[last]))
                if net.bad_input_row >= 0:
                    raise _nonfinite_input(x, net.bad_input_row, "x",
                                           f" Training stopped before epoch {epoch + 1}, "
                                           f"batch {last + 1} (of {nb}).")
                if got < k or (got and not float(losses[last]) <= guard.limit):
                    back = guard.restore(epoch, last)
                    msg = guard.message(float(losses[last]), epoch, last, nb, back,
                                        model.optimizer._rate_at(net.step))
                    if not quiet:
                        raise FloatingPointError(msg)
                    for cb in quiet:
                        cb._diverged(msg, epoch, last, float(losses[last]), back)
                    model.stop_training = diverged = True
                    break
                for cb in batch_hooks:
                    for b in range(done, done + got):
                        cb.on_train_batch_end(b, eb.batch(b))
                done += got
                if verbose == 1:
                    progress.update(done, eb.mean(done))
            if diverged:  # TerminateOnNaN stopped training mid-epoch
                if verbose:
                    print()
                break
            total = rows.sum()
            logs = eb.mean()
            if xv is not None:  # xv was checked before training
                logs.update(evaluate_logs(names, net.evaluate(xv, yv, wv), len(xv), "val_"))
            logs["examples_per_sec"] = float(total / t_train) if t_train > 0 else 0.0
            history._add_batches(eb)
            progress.close(logs)
            progress = None
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    except KeyboardInterrupt:
        # Training stops at a chunk boundary: the network is consistent (every batch
        # either fully applied or not started).
        history.interrupted = True
        if progress is not None and verbose:
            print()
        for cb in cbs:
            cb.on_train_end()
        raise
    finally:
        guard.close()
    for cb in cbs:
        cb.on_train_end()
    return history


class _IndexStream:
    """Index lists per epoch: a fresh permutation per pass over the data (seeded by
    (seed, pass)), or, with steps_per_epoch, a running stream through such passes."""

    def __init__(self, n, seed, shuffle):
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self._pass = 0
        self._buf = None
        self._pos = 0

    def _perm(self, p):
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int32)
        s = (self.seed * 0x9E3779B97F4A7C15 + p * 0xD1B54A32D192ED03 + 1) % (1 << 64)
        return _core.shuffled_indices(self.n, s)

    def epoch(self, e):
        return self._perm(e)

    def take(self, m):
        parts = []
        while m > 0:
            if self._buf is None or self._pos >= self.n:
                self._buf = self._perm(self._pass)
                self._pass += 1
                self._pos = 0
            k = min(m, self.n - self._pos)
            parts.append(self._buf[self._pos:self._pos + k])
            self._pos += k
            m -= k
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.int32)
