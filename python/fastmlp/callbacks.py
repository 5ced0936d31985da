"""Callbacks for :meth:`fastmlp.Sequential.fit`.

Training runs in C++ chunks of batches (a slice sized for about 0.1 s); per-batch hooks
(``on_train_batch_end``) are called after each chunk, in batch order, with that batch's
logs: ``"loss"`` and each of compile's metrics (``"accuracy"`` by default). Set
``self.model.stop_training = True`` to stop after the
current epoch.

Keras 3 callbacks with Keras' semantics and defaults: :class:`EarlyStopping`,
:class:`ModelCheckpoint`, :class:`ReduceLROnPlateau`, :class:`LearningRateScheduler`,
:class:`CSVLogger`, :class:`TerminateOnNaN`, :class:`LambdaCallback`. ``fit`` sets the
engine's learning rate from ``model.optimizer.learning_rate`` at the start of every epoch,
so a change made in ``on_epoch_begin`` applies to that epoch and one made in
``on_epoch_end`` to the next.
"""
from __future__ import annotations

import csv
import inspect
import math
import numbers
import os
import string
import tempfile
import warnings

import numpy as np

from ._divergence import DEFAULT_DIVERGENCE_FACTOR, check_divergence_factor

__all__ = ["Callback", "History", "EarlyStopping", "LambdaCallback", "TerminateOnNaN",
           "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger"]


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
        """Called after training batch ``batch`` with its logs: ``"loss"`` and each of
        compile's metrics."""


class History(Callback):
    """``history`` maps ``loss``, each metric of compile (``accuracy``, ``mae``, ...),
    ``val_loss``, ``val_`` + each metric and ``examples_per_sec`` to per-epoch lists;
    ``batch_loss`` / ``batch_metrics[name]`` (``batch_accuracy``: the ``accuracy`` or
    ``acc`` metric) are float32 arrays with every trained batch of every epoch."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self._batch_loss: list[np.ndarray] = []
        self._batch_values: list[np.ndarray] = []  # [batches, metrics] per epoch
        self._metric_names: list[str] = []
        self.interrupted = False

    def on_epoch_end(self, epoch, logs=None):
        """Record ``epoch`` and append each value of ``logs`` to ``history``."""
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def _add_batches(self, batches):
        """An epoch's per-batch values (fastmlp._metric_logs.EpochBatches)."""
        self._batch_loss.append(np.array(batches.losses, dtype=np.float32))
        self._batch_values.append(np.array(batches.values, dtype=np.float32))
        self._metric_names = batches.names

    @property
    def batch_loss(self) -> np.ndarray:
        """Loss of every trained batch of every epoch (float32, empty before training)."""
        return np.concatenate(self._batch_loss) if self._batch_loss else np.zeros(0, np.float32)

    @property
    def batch_metrics(self) -> dict:
        """Each metric's value on every trained batch of every epoch (float32 arrays)."""
        if not self._batch_values:
            return {}
        values = np.concatenate(self._batch_values)
        return {name: values[:, j] for j, name in enumerate(self._metric_names)}

    @property
    def batch_accuracy(self) -> np.ndarray:
        """Accuracy (the ``accuracy`` or ``acc`` metric) of every trained batch of every
        epoch (float32; empty before training or without that metric)."""
        m = self.batch_metrics
        return m.get("accuracy", m.get("acc", np.zeros(0, np.float32)))


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


# ------------------------------------------------------------------ Keras 3 callbacks
# (shared argument checks; every error names the argument, what was expected and got)

_MAX_NAMES = ("acc", "auc", "precision", "recall", "f1", "fmeasure")


def _check_mode(owner, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner} mode: expected 'auto', 'min' or 'max', got {mode!r}")
    return mode


def _resolve_mode(mode, monitor):
    """'min' or 'max': ``auto`` maximises accuracy/AUC-like names (``acc``, ``auc``,
    ``precision``, ``recall``, ``f1``, with or without ``val_``), minimises the rest."""
    if mode != "auto":
        return mode
    name = monitor.lower()
    if name.startswith("val_"):
        name = name[4:]
    return "max" if any(k in name for k in _MAX_NAMES) else "min"


def _check_str(owner, name, value):
    if not isinstance(value, str):
        raise TypeError(f"{owner} {name}: expected a str, got {type(value).__name__} "
                        f"{value!r}")
    return value


def _check_path(owner, name, value):
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{owner} {name}: expected a str or os.PathLike path, got "
                        f"{type(value).__name__} {value!r}")
    value = os.fspath(value)
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not value:
        raise ValueError(f"{owner} {name}: expected a non-empty path, got {value!r}")
    return value


def _check_real(owner, name, value, lo=None, lo_open=False, hi=None, hi_open=False,
                expected=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner} {name}: expected {expected or 'a number'}, got "
                        f"{type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v) or (lo is not None and (v < lo or (lo_open and v == lo))) \
            or (hi is not None and (v > hi or (hi_open and v == hi))):
        raise ValueError(f"{owner} {name}: expected {expected or 'a finite number'}, "
                         f"got {value!r}")
    return v


def _check_count(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner} {name}: expected an int >= 0, got "
                        f"{type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{owner} {name}: expected an int >= 0, got {value!r}")
    return int(value)


def _log_learning_rate(model, epoch, logs):
    """Put the optimizer's learning rate in ``logs["learning_rate"]`` as Keras 3 does.

    ``fit``'s History runs before the user's callbacks, so it has already copied this
    epoch's logs: the value is also appended to ``model.history.history["learning_rate"]``
    (once per epoch, however many callbacks log it)."""
    if logs is None or model is None or getattr(model, "optimizer", None) is None:
        return
    lr = float(model.optimizer.learning_rate)
    logs["learning_rate"] = lr
    hist = getattr(model, "history", None)
    if isinstance(hist, History) and hist.epoch and hist.epoch[-1] == epoch:
        col = hist.history.setdefault("learning_rate", [])
        if len(col) == len(hist.epoch) - 1:
            col.append(lr)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) at the end of every epoch, or only when
    ``monitor`` improves.

    Args:
        filepath: str or os.PathLike, the file to write. It may hold ``str.format``
            fields: ``{epoch}`` (1-based, as Keras: ``{epoch:02d}`` gives ``01`` for the
            first epoch) and any key of the epoch's logs (``{val_loss:.2f}``,
            ``{accuracy:.3f}``, ...). The file is written at exactly the formatted path
            (missing directories are created), in fastmlp's ``.npz`` format: name it
            ``*.npz``. Keras' ``.keras`` / ``.h5`` / ``.hdf5`` names are refused with a
            ``ValueError`` (fastmlp cannot write those formats).
        monitor: the log key compared by ``save_best_only`` (default ``"val_loss"``).
        verbose: 0 (quiet) or 1 (one line per save / non-improvement).
        save_best_only: save only when ``monitor`` is better than the best value so far
            (strictly, as Keras; the best is kept across ``fit`` calls). If ``monitor``
            is not in the logs, a ``RuntimeWarning`` is raised and nothing is saved.
        save_weights_only: False: ``model.save(path)``, a full model file that
            ``fastmlp.load_model`` reads and resumes training from. True: only the
            ``model.get_weights()`` arrays, written with ``np.savez`` as ``weight_00000``,
            ``weight_00001``, ... (load them with ``d = np.load(path);
            model.set_weights([d[k] for k in sorted(d.files)])``). Either file is written
            to a temporary and renamed over the path, so it is never half-written.
        mode: ``"auto"``, ``"min"`` or ``"max"``; auto maximises accuracy/AUC-like names
            (``acc``, ``auc``, ``precision``, ``recall``, ``f1``) and minimises others.
        save_freq: only ``"epoch"``: ``fit`` trains batches in C++ chunks, so there is no
            per-batch point to save at (an int is a ``ValueError``).
        initial_value_threshold: None or a float, the initial "best" value that
            ``save_best_only`` must beat.

    Raises:
        TypeError / ValueError: for a bad argument (naming it, the expected and the
        received value). ``KeyError`` at the end of an epoch if ``filepath`` names a
        field that is not in the logs (as Keras).
    """

    _REFUSED_EXT = (".keras", ".h5", ".hdf5")

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        owner = "ModelCheckpoint"
        filepath = _check_path(owner, "filepath", filepath)
        if filepath.lower().endswith(self._REFUSED_EXT):
            raise ValueError(
                f"{owner} filepath: fastmlp saves models as NumPy .npz files, not Keras "
                f"{os.path.splitext(filepath)[1]!r} files; got {filepath!r} (use e.g. "
                f"'ckpt_{{epoch:02d}}.npz')")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(filepath) if f is not None]
        except ValueError as e:
            raise ValueError(f"{owner} filepath: not a valid format string ({e}); got "
                             f"{filepath!r} (write a literal brace as '{{{{' or '}}}}')") from None
        if any(f == "" or f.isdigit() for f in fields):
            raise ValueError(f"{owner} filepath: expected named fields such as '{{epoch:02d}}'"
                             f" or '{{val_loss:.2f}}', got positional fields in {filepath!r}")
        self.filepath = filepath
        self.monitor = _check_str(owner, "monitor", monitor)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if isinstance(save_freq, bool) or save_freq != "epoch":
            raise ValueError(
                f"{owner} save_freq: only 'epoch' is supported (fit trains batches in C++ "
                f"chunks, so there is no per-batch save point); got {save_freq!r}")
        self.save_freq = save_freq
        self.mode = _resolve_mode(_check_mode(owner, mode), monitor)
        if initial_value_threshold is None:
            self.best = math.inf if self.mode == "min" else -math.inf
        else:
            self.best = _check_real(owner, "initial_value_threshold",
                                    initial_value_threshold,
                                    expected="a finite number or None")
        self.initial_value_threshold = initial_value_threshold
        self.last_saved = None  # path of the last file written

    def _better(self, current):
        return current < self.best if self.mode == "min" else current > self.best

    def _get_file_path(self, epoch, logs):
        try:
            return self.filepath.format(**{**logs, "epoch": epoch + 1})
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint: cannot format filepath {self.filepath!r}: "
                           f"no log key {e.args[0]!r} (available: epoch, "
                           f"{', '.join(sorted(logs))})") from None

    def on_epoch_end(self, epoch, logs=None):
        """Save to ``filepath`` formatted with ``epoch + 1`` and ``logs`` (see the class)."""
        logs = logs or {}
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save the best model only with "
                              f"{self.monitor!r} available (available: {sorted(logs)}); "
                              f"skipping", RuntimeWarning, stacklevel=2)
                return
            current = float(current)
            if not self._better(current):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            path = self._get_file_path(epoch, logs)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} "
                      f"to {current:.5f}, saving model to {path}")
            self.best = current
        else:
            path = self._get_file_path(epoch, logs)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
        self._save(path)

    def _save(self, path):
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if not self.save_weights_only:
            self.model.save(path)
        else:
            arrays = {f"weight_{i:05d}": np.ascontiguousarray(w)
                      for i, w in enumerate(self.model.get_weights())}
            fd, tmp = tempfile.mkstemp(prefix=".fastmlp-weights-", suffix=".tmp",
                                       dir=directory or ".")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez(f, **arrays)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        self.last_saved = path


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


class CSVLogger(Callback):
    """Stream the epoch results to a CSV file.

    The first row is the header: ``epoch`` then the sorted keys of the first epoch's logs
    (``accuracy, examples_per_sec, loss, val_accuracy, val_loss``, plus
    ``learning_rate`` when a learning-rate callback placed before this one logs it);
    then one row per epoch, ``epoch`` 0-based as in Keras, a key missing from a later
    epoch's logs written as ``NA``. Lines end with ``\\n``.

    The file is created (or truncated) in ``on_train_begin``, then opened, written,
    flushed and closed again for every row: it is complete and closed after each epoch,
    whatever ends training (an exception, Ctrl-C, a crash).

    Args:
        filename: str or os.PathLike, the CSV file.
        separator: the one-character field delimiter (default ``","``).
        append: True: continue an existing file; a non-empty file keeps its header (not
            written again) and its columns: rows follow that header's keys.
            False: overwrite the file.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = _check_path("CSVLogger", "filename", filename)
        if not isinstance(separator, str):
            raise TypeError(f"CSVLogger separator: expected a one-character str, got "
                            f"{type(separator).__name__} {separator!r}")
        if len(separator) != 1 or separator in "\r\n\"":
            raise ValueError(f"CSVLogger separator: expected one character other than a "
                             f"quote or a line break, got {separator!r}")
        self.sep = separator
        self.append = bool(append)
        self.keys = None
        self._write_header = True
        self._started = False

    def _dialect(self):
        class _Dialect(csv.excel):
            delimiter = self.sep
            lineterminator = "\n"
        return _Dialect

    def on_train_begin(self, logs=None):
        """Create or truncate the file (``append=False``), or read the existing header."""
        self.keys = None
        self._write_header = True
        self._started = True
        if self.append and os.path.isfile(self.filename):
            with open(self.filename, newline="", encoding="utf-8") as f:
                first = f.readline()
                if first:
                    self._write_header = False
                    row = next(csv.reader([first], dialect=self._dialect()), [])
                    if row and row[0] == "epoch":
                        self.keys = row[1:]
            with open(self.filename, "rb") as f:
                f.seek(0, os.SEEK_END)
                ends_open = False
                if f.tell():  # a file cut after its last value: end that line first
                    f.seek(-1, os.SEEK_END)
                    ends_open = f.read(1) not in (b"\n", b"\r")
            if ends_open:
                with open(self.filename, "a", newline="", encoding="utf-8") as f:
                    f.write("\n")
        else:
            with open(self.filename, "a" if self.append else "w", encoding="utf-8"):
                pass

    @staticmethod
    def _value(v):
        if isinstance(v, np.ndarray) and v.ndim == 0:
            v = v.item()
        if isinstance(v, str):
            return v
        if isinstance(v, (list, tuple, np.ndarray)):
            return f"[{', '.join(map(str, v))}]"
        return v

    def on_epoch_end(self, epoch, logs=None):
        """Append this epoch's row (and the header first, on a new file)."""
        if not self._started:
            self.on_train_begin()
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        with open(self.filename, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, dialect=self._dialect())
            if self._write_header:
                writer.writerow(["epoch"] + list(self.keys))
                self._write_header = False
            writer.writerow([epoch] + [self._value(logs.get(k, "NA")) for k in self.keys])
            f.flush()

    def on_train_end(self, logs=None):
        """Nothing to close (each row closes the file); resets the state for a new fit."""
        self._started = False
