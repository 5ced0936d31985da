"""EarlyStopping and TerminateOnNaN: callbacks that end training."""
from __future__ import annotations

import math
import warnings

from .._divergence import DEFAULT_DIVERGENCE_FACTOR, check_divergence_factor
from .base import Callback


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


# ------------------------------------------------------------------ Keras 3 callbacks
# (shared argument checks; every error names the argument, what was expected and got)
