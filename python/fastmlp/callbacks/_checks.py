"""Argument checks and helpers the callbacks share (Keras-style messages)."""
from __future__ import annotations

import math
import numbers
import os

from .base import History


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
