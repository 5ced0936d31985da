"""ReduceLROnPlateau and LearningRateScheduler: callbacks that set the learning rate."""
from __future__ import annotations

import inspect
import math
import numbers
import warnings

import numpy as np

from .base import Callback
from ._checks import _check_count, _check_mode, _check_real, _check_str, _log_learning_rate, _resolve_mode


class ReduceLROnPlateau(Callback):
    """Reduce the learning rate when ``monitor`` has stopped improving.

    After ``patience`` epochs without an improvement of more than ``min_delta``, sets
    ``model.optimizer.learning_rate = max(lr * factor, min_lr)`` (used from the next
    epoch), then waits ``cooldown`` epochs before counting again. As Keras 3, it puts the
    learning rate of the epoch that ended in ``logs["learning_rate"]`` (and so in
    ``History.history["learning_rate"]``), before any reduction.

    Args:
        monitor: the log key watched (default ``"val_loss"``); missing from the logs, a
            ``RuntimeWarning`` and no change.
        factor: the factor the learning rate is multiplied by, ``0 < factor < 1``.
        patience: epochs without improvement before a reduction (int >= 0).
        verbose: 0 (quiet) or 1 (a line at each reduction).
        mode: ``"auto"``, ``"min"`` or ``"max"`` (auto: ``max`` for accuracy/AUC-like
            names, else ``min``).
        min_delta: the least change (>= 0) that counts as an improvement.
        cooldown: epochs to wait after a reduction before resuming normal operation.
        min_lr: lower bound (>= 0) on the learning rate.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        owner = "ReduceLROnPlateau"
        self.monitor = _check_str(owner, "monitor", monitor)
        if isinstance(factor, numbers.Real) and not isinstance(factor, bool) \
                and factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0: "
                             f"expected 0 < factor < 1, got factor={factor!r}")
        self.factor = _check_real(owner, "factor", factor, lo=0.0, lo_open=True, hi=1.0,
                                  hi_open=True, expected="a number with 0 < factor < 1")
        self.patience = _check_count(owner, "patience", patience)
        self.verbose = verbose
        self.mode = _check_mode(owner, mode)
        self.min_delta = _check_real(owner, "min_delta", min_delta, lo=0.0,
                                     expected="a finite number >= 0")
        self.cooldown = _check_count(owner, "cooldown", cooldown)
        self.min_lr = _check_real(owner, "min_lr", min_lr, lo=0.0,
                                  expected="a finite number >= 0")
        self._reset()

    def _reset(self):
        self._mode = _resolve_mode(self.mode, self.monitor)
        self.best = math.inf if self._mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _improved(self, current):
        if self._mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def in_cooldown(self):
        """Whether the callback is waiting out ``cooldown`` after a reduction."""
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        """Reset the best value, the wait and the cooldown counters."""
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        """Log the learning rate, then count the epoch and maybe reduce it."""
        logs = {} if logs is None else logs
        _log_learning_rate(self.model, epoch, logs)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau: learning rate reduction is conditioned on "
                          f"metric {self.monitor!r} which is not available (available: "
                          f"{sorted(logs)})", RuntimeWarning, stacklevel=2)
            return
        current = float(current)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(self.model.optimizer.learning_rate)
                # compared in float32 as Keras (the engine's precision)
                if np.float32(old_lr) > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    if new_lr > 0.0:  # min_lr=0: never round down to an invalid 0
                        self.model.optimizer.learning_rate = new_lr
                        if self.verbose > 0:
                            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing "
                                  f"learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch from ``schedule``.

    Args:
        schedule: a function ``schedule(epoch, lr) -> new_lr`` taking the 0-based epoch
            index and the current learning rate (a float); a one-argument
            ``schedule(epoch)`` is accepted too (as Keras' old API). It must return a
            finite number > 0, else ``ValueError`` naming the schedule, the epoch and
            the value.
        verbose: 0 (quiet) or 1 (a line per epoch).

    The new rate applies to the epoch that starts. As Keras 3, the rate of each epoch is
    put in ``logs["learning_rate"]`` (and so in ``History.history["learning_rate"]``).
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler schedule: expected a callable "
                            f"schedule(epoch, lr) -> lr, got {type(schedule).__name__} "
                            f"{schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        self._two_args = self._takes_two_args(schedule)

    @staticmethod
    def _takes_two_args(fn):
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # a builtin without a signature: the new API
            return True
        try:
            sig.bind(0, 0.0)
            return True
        except TypeError:
            pass
        try:
            sig.bind(0)
            return False
        except TypeError:
            raise TypeError(f"LearningRateScheduler schedule: expected a callable "
                            f"schedule(epoch, lr) or schedule(epoch), got {fn!r} with "
                            f"signature {sig}") from None

    def on_epoch_begin(self, epoch, logs=None):
        """Call ``schedule`` and set ``model.optimizer.learning_rate`` to its result."""
        opt = getattr(self.model, "optimizer", None)
        if opt is None or not hasattr(opt, "learning_rate"):
            raise ValueError("LearningRateScheduler: the model has no optimizer with a "
                             "learning_rate (compile the model first)")
        lr = float(opt.learning_rate)
        new = self.schedule(epoch, lr) if self._two_args else self.schedule(epoch)
        if isinstance(new, np.ndarray) and new.ndim == 0:
            new = new[()]
        if isinstance(new, bool) or not isinstance(new, numbers.Real) \
                or not math.isfinite(float(new)) or float(new) <= 0.0:
            name = getattr(self.schedule, "__qualname__", None) or repr(self.schedule)
            raise ValueError(f"LearningRateScheduler: schedule {name}(epoch={epoch}, "
                             f"lr={lr!r}) returned {new!r} ({type(new).__name__}); "
                             f"expected a finite number > 0 (the new learning rate)")
        opt.learning_rate = float(new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(new)}.")

    def on_epoch_end(self, epoch, logs=None):
        """Put the epoch's learning rate in ``logs["learning_rate"]``."""
        _log_learning_rate(self.model, epoch, logs)
