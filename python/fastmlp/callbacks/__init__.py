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

The package holds one module per job: ``base`` (Callback, History, LambdaCallback),
``stopping`` (EarlyStopping, TerminateOnNaN), ``checkpoint`` (ModelCheckpoint),
``learning_rate`` (ReduceLROnPlateau, LearningRateScheduler), ``csv_logger`` (CSVLogger).
"""
from __future__ import annotations

from .base import Callback, History, LambdaCallback
from .checkpoint import ModelCheckpoint
from .csv_logger import CSVLogger
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .stopping import EarlyStopping, TerminateOnNaN

__all__ = ["Callback", "History", "EarlyStopping", "LambdaCallback", "TerminateOnNaN",
           "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger"]
