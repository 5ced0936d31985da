"""Callbacks for :meth:`fastmlp.Sequential.fit`.

Training runs in C++ chunks of batches (a slice sized for about 0.1 s); per-batch hooks
(``on_train_batch_end``) are called after each chunk, in batch order, with that batch's
``{"loss", "accuracy"}``. Set ``self.model.stop_training = True`` to stop after the
current epoch.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ._divergence import DEFAULT_DIVERGENCE_FACTOR, check_divergence_factor

__all__ = ["Callback", "History", "EarlyStopping", "LambdaCallback", "TerminateOnNaN"]


class Callback:
    """Base class for training callbacks; override the ``on_*`` hooks you need.

    ``fit`` sets ``model`` (the model being trained) and ``params`` (``epochs``,
    ``steps`` per epoch, ``verbose``, ...) before training starts.
    """

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model):
        """Set the model the callback is attached to (called by ``fit``)."""
        self.model = model

    def set_params(self, params):
        """Set the training parameters dict (called by ``fit``)."""
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once at the start of training."""

    def on_train_end(self, logs=None):
        """Called once at the end of training."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of epoch ``epoch`` with that epoch's metrics in ``logs``."""

    def on_train_batch_begin(self, batch, logs=None):
        """Hook for the start of a training batch; ``fit`` does not call it (batches run
        in C++ chunks; see ``on_train_batch_end``)."""

    def on_train_batch_end(self, batch, logs=None):
        """Called after training batch ``batch`` with its ``{"loss", "accuracy"}``."""


class History(Callback):
    """``history`` maps ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
    ``examples_per_sec`` to per-epoch lists; ``batch_loss`` / ``batch_accuracy`` are
    float32 arrays with every trained batch of every epoch."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self._batch_loss: list[np.ndarray] = []
        self._batch_acc: list[np.ndarray] = []
        self.interrupted = False

    def on_epoch_end(self, epoch, logs=None):
        """Record ``epoch`` and append each value of ``logs`` to ``history``."""
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def _add_batches(self, loss, acc):
        self._batch_loss.append(np.array(loss, dtype=np.float32))
        self._batch_acc.append(np.array(acc, dtype=np.float32))

    @property
    def batch_loss(self) -> np.ndarray:
        """Loss of every trained batch of every epoch (float32, empty before training)."""
        return np.concatenate(self._batch_loss) if self._batch_loss else np.zeros(0, np.float32)

    @property
    def batch_accuracy(self) -> np.ndarray:
        """Accuracy of every trained batch of every epoch (float32, empty before training)."""
        return np.concatenate(self._batch_acc) if self._batch_acc else np.zeros(0, np.float32)


class LambdaCallback(Callback):
    """Callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda e, l: ...)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_end=None):
        super().__init__()
        if on_epoch_begin: self.on_epoch_begin = on_epoch_begin
        if on_epoch_end: self.on_epoch_end = on_epoch_end
        if on_train_begin: self.on_train_begin = on_train_begin
        if on_train_end: self.on_train_end = on_train_end
        if on_train_batch_end: self.on_train_batch_end = on_train_batch_end


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; ``restore_best_weights`` puts back the weights of the best epoch."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping mode: expected 'auto', 'min' or 'max', got {mode!r}")
        if patience < 0:
            raise ValueError(f"EarlyStopping patience: expected >= 0, got {patience}")
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        if mode == "auto":
            mode = "max" if ("acc" in monitor) else "min"
        self.mode = mode
        self.stopped_epoch = 0
        self.best_epoch = 0

    def _better(self, a, b):
        if self.mode == "min":
            return a < b - self.min_delta
        return a > b + self.min_delta

    def on_train_begin(self, logs=None):
        """Reset the wait count, the best value (to ``baseline`` if given) and the best weights."""
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        if self.baseline is not None:
            self.best = float(self.baseline)
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        """Compare ``logs[monitor]`` with the best value so far; set
        ``model.stop_training`` after ``patience`` epochs without improvement.

        Warns (``RuntimeWarning``) and does nothing if ``monitor`` is not in ``logs``;
        epochs before ``start_from_epoch`` are ignored.
        """
        logs = logs or {}
        if self.monitor not in logs:
            warnings.warn(f"EarlyStopping: metric {self.monitor!r} is not available "
                          f"(available: {sorted(logs)})", RuntimeWarning, stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        cur = float(logs[self.monitor])
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._better(cur, self.best):
            self.best = cur
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        """If training was stopped early: restore the best weights (with
        ``restore_best_weights``) and, if ``verbose``, print the stopping epoch."""
        if self.stopped_epoch and self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping "
                  f"(best {self.monitor} {self.best:.4f} at epoch {self.best_epoch + 1})")


class TerminateOnNaN(Callback):
    """Stop training quietly when the loss diverges, instead of raising.

    Without this callback ``fit`` raises ``FloatingPointError`` when a batch's loss is
    NaN/inf or exceeds ``divergence_factor`` times its reference: ``max(1, the loss at the
    weights fit starts from, ln(outputs) for cross-entropy or mean(y**2) for mse)``. With
    it, fit stops at that batch and returns its History; either way the weights and
    optimizer state are put back to those at the start of the last epoch whose loss was
    sane (no update of a diverged batch is ever applied). ``divergence_factor=None``
    stops only on NaN/inf losses, as Keras' TerminateOnNaN does.

    After a stop, ``diverged`` holds ``{"epoch", "batch", "loss", "restored_epoch",
    "message"}`` (0-based epoch and batch); it is None while training went well.
    """

    def __init__(self, divergence_factor=DEFAULT_DIVERGENCE_FACTOR, verbose=1):
        super().__init__()
        self.divergence_factor = check_divergence_factor(divergence_factor)
        self.verbose = verbose
        self.diverged = None

    def on_train_begin(self, logs=None):
        self.diverged = None

    def _diverged(self, message, epoch, batch, loss, restored_epoch):
        """Called by fit at the diverged batch, after the weights were restored."""
        self.diverged = {"epoch": epoch, "batch": batch, "loss": loss,
                         "restored_epoch": restored_epoch, "message": message}
        if self.verbose:
            print(f"TerminateOnNaN: {message}")
