"""The callback base class, the History that fit returns, and LambdaCallback."""
from __future__ import annotations

import numpy as np


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
