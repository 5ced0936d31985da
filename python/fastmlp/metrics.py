"""Metrics for ``compile(metrics=[...])``, with Keras 3's names and formulas.

The engine computes them per batch inside its C++ training loop and over all rows in
``evaluate`` (csrc/engine/metrics.cpp); this module names them, checks their settings and
hands the engine their codes. Strings and objects mix freely::

    model.compile("adam", "categorical_crossentropy",
                  metrics=["accuracy", fm.metrics.TopKCategoricalAccuracy(k=3), "mae"])

A metric reported under its string (``"acc"`` logs as ``acc``, ``"mae"`` as ``mae``) or
under an object's ``name`` (``top_k_categorical_accuracy`` by default), prefixed ``val_``
for validation data, as in Keras. With sample weights a metric is their weighted mean:
``sum(w_i m_i) / sum(w_i)`` (0 when the weights sum to 0).

``"accuracy"`` / ``"acc"`` picks the accuracy that fits the loss, as Keras does: sparse
categorical accuracy for ``sparse_categorical_crossentropy``, categorical accuracy for
``categorical_crossentropy`` (and regression losses with several outputs), binary
accuracy at 0.5 for ``binary_crossentropy`` and single-output regression. With
``binary_crossentropy(from_logits=True)`` it thresholds the logits at 0 (probability
0.5), where Keras would compare the logits with 0.5; ``BinaryAccuracy(threshold=...)``
always compares the model's outputs with its threshold, as in Keras.

Targets of binary accuracy count as 1 above 0.5 (0/1 labels: Keras's result exactly).
"""
from __future__ import annotations

import math
import numbers

from ._config_value import ConfigValue

__all__ = ["Metric", "BinaryAccuracy", "SparseCategoricalAccuracy", "CategoricalAccuracy",
           "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanAbsoluteError",
           "MeanSquaredError", "get", "serialize", "deserialize"]

# Engine codes (csrc/engine/types.h MetricKind).
_BINARY, _SPARSE_CAT, _CAT, _SPARSE_TOP_K, _TOP_K, _MAE, _MSE = range(7)
_SPARSE_LOSS = 0  # fastmlp.losses: SparseCategoricalCrossentropy.code


class Metric(ConfigValue):
    """Base class: ``name`` is the key the metric is reported under; ``get_config()`` /
    ``from_config()`` round-trip its settings (saved with the model's compile state)."""

    default_name = ""
    code = -1
    sparse = False  # compares integer labels (sparse_categorical_crossentropy's targets)
    _settings: tuple = ()  # attributes the engine reads too (its MetricConfig fields)

    def __init__(self, name=None):
        if name is None:
            name = self.default_name
        if not isinstance(name, str) or not name:
            raise TypeError(f"{type(self).__name__}: name must be a non-empty string, got "
                            f"{name!r}")
        self.name = name

    def get_config(self) -> dict:
        return {"name": self.name, **{k: getattr(self, k) for k in self._settings}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _engine_spec(self, loss, outputs) -> dict:
        return {"kind": self.code, **{k: getattr(self, k) for k in self._settings}}


class BinaryAccuracy(Metric):
    """Fraction of outputs with ``(output > threshold) == (target > 0.5)``, averaged over
    a row's outputs (multi-label rows), then over the rows."""

    default_name = "binary_accuracy"
    code = _BINARY
    _settings = ("threshold",)

    def __init__(self, name=None, threshold=0.5):
        super().__init__(name)
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or \
                not math.isfinite(float(threshold)):
            raise ValueError(f"{type(self).__name__}: threshold must be a finite number, "
                             f"got {threshold!r}")
        self.threshold = float(threshold)


class SparseCategoricalAccuracy(Metric):
    """Fraction of rows whose largest output is at the integer label."""

    default_name = "sparse_categorical_accuracy"
    code = _SPARSE_CAT
    sparse = True


class CategoricalAccuracy(Metric):
    """Fraction of rows whose largest output is at the target row's largest value."""

    default_name = "categorical_accuracy"
    code = _CAT


class _TopK(Metric):
    _settings = ("k",)

    def __init__(self, k=5, name=None):
        super().__init__(name)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"{type(self).__name__}: k must be an integer >= 1, got {k!r}")
        self.k = int(k)


class TopKCategoricalAccuracy(_TopK):
    """Fraction of rows whose target class (the target row's argmax) is among the ``k``
    largest outputs; outputs tied with it count as below it (Keras's ``in_top_k``)."""

    default_name = "top_k_categorical_accuracy"
    code = _TOP_K


class SparseTopKCategoricalAccuracy(_TopK):
    """Fraction of rows whose integer label is among the ``k`` largest outputs (ties as in
    :class:`TopKCategoricalAccuracy`)."""

    default_name = "sparse_top_k_categorical_accuracy"
    code = _SPARSE_TOP_K
    sparse = True


class MeanAbsoluteError(Metric):
    """Mean over a row's outputs of ``|output - target|``, then over the rows."""

    default_name = "mean_absolute_error"
    code = _MAE


class MeanSquaredError(Metric):
    """Mean over a row's outputs of ``(output - target)**2``, then over the rows."""

    default_name = "mean_squared_error"
    code = _MSE


class _LossAccuracy(Metric):
    """``"accuracy"`` / ``"acc"``: the accuracy that fits the loss (module docstring)."""

    default_name = "accuracy"

    def _resolved(self, loss, outputs) -> Metric:
        if loss.code == _SPARSE_LOSS:
            return SparseCategoricalAccuracy()
        if loss.code == 3:  # binary_crossentropy
            return BinaryAccuracy(threshold=0.0 if loss.from_logits else 0.5)
        if loss.is_crossentropy or (outputs or 2) > 1:
            return CategoricalAccuracy()
        return BinaryAccuracy()

    def _engine_spec(self, loss, outputs):
        return self._resolved(loss, outputs)._engine_spec(loss, outputs)


_CLASSES = {c.__name__: c for c in (BinaryAccuracy, SparseCategoricalAccuracy,
                                    CategoricalAccuracy, TopKCategoricalAccuracy,
                                    SparseTopKCategoricalAccuracy, MeanAbsoluteError,
                                    MeanSquaredError)}
_STRINGS = {"accuracy": _LossAccuracy, "acc": _LossAccuracy,
            "binary_accuracy": BinaryAccuracy,
            "sparse_categorical_accuracy": SparseCategoricalAccuracy,
            "categorical_accuracy": CategoricalAccuracy,
            "top_k_categorical_accuracy": TopKCategoricalAccuracy,
            "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
            "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
            "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError}


def get(identifier) -> Metric:
    """A metric from its Keras string (reported under that string) or a :class:`Metric`
    instance (returned as is). Raises ValueError for an unknown string (listing the known
    ones), TypeError for anything else."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        cls = _STRINGS.get(identifier)
        if cls is None:
            raise ValueError(f"metrics: unknown metric {identifier!r}; expected one of "
                             f"{', '.join(repr(s) for s in _STRINGS)}, or a "
                             f"fastmlp.metrics.Metric instance")
        m = cls(name=identifier)
        m._string = identifier
        return m
    raise TypeError(f"metrics: expected a metric name (e.g. 'accuracy') or a "
                    f"fastmlp.metrics.Metric instance, got {type(identifier).__name__} "
                    f"{identifier!r}")


def get_list(metrics) -> list:
    """compile's ``metrics`` as a list of Metric (None: ``["accuracy"]``, fastmlp's default
    since before metric lists). Names must differ: they are the keys of the logs."""
    if metrics is None:
        return [get("accuracy")]
    if isinstance(metrics, (str, Metric)) or not isinstance(metrics, (list, tuple)):
        raise TypeError(f"metrics: expected a list, e.g. metrics=['accuracy'], got "
                        f"{type(metrics).__name__} {metrics!r}")
    out = [get(m) for m in metrics]
    seen = set()
    for m in out:
        if m.name in seen or m.name == "loss":
            raise ValueError(f"metrics: two metrics would be reported as {m.name!r}"
                             if m.name != "loss" else
                             "metrics: a metric cannot be named 'loss' (the loss's key)")
        seen.add(m.name)
    return out


def engine_specs(metrics, loss, outputs) -> list:
    """The engine's metric dicts for ``loss`` and ``outputs`` output units (None when not
    known yet: only checks). A metric that cannot read this loss's targets is a
    ValueError saying which to use."""
    sparse_loss = loss.code == _SPARSE_LOSS
    specs = []
    for m in metrics:
        eff = m._resolved(loss, outputs) if isinstance(m, _LossAccuracy) else m
        if eff.sparse != sparse_loss:
            if sparse_loss:
                raise ValueError(
                    f"metrics: {m.name!r} compares the outputs with target rows, but "
                    f"loss={loss.name!r} takes integer labels; use "
                    f"'sparse_categorical_accuracy', 'sparse_top_k_categorical_accuracy' or "
                    f"'accuracy', or a loss with one-hot targets")
            raise ValueError(
                f"metrics: {m.name!r} compares integer labels, but loss={loss.name!r} takes "
                f"target rows; use 'categorical_accuracy', 'top_k_categorical_accuracy' or "
                f"'accuracy', or loss='sparse_categorical_crossentropy'")
        specs.append(m._engine_spec(loss, outputs))
    return specs


def serialize(metric) -> object:
    """A metric made from a string stays that string; an object becomes
    ``{"class_name", "config"}``."""
    s = getattr(metric, "_string", None)
    if s is not None:
        return s
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(entry) -> Metric:
    """Inverse of :func:`serialize`."""
    if isinstance(entry, str):
        return get(entry)
    if not isinstance(entry, dict) or set(entry) != {"class_name", "config"} or \
            not isinstance(entry["config"], dict):
        raise ValueError(f"metrics: expected a metric name or a dict with 'class_name' and "
                         f"'config', got {entry!r}")
    cls = _CLASSES.get(entry["class_name"])
    if cls is None:
        raise ValueError(f"metrics: unknown class {entry['class_name']!r}; expected one of "
                         f"{', '.join(sorted(_CLASSES))}")
    return cls.from_config(entry["config"])
