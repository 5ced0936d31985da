"""Losses, with Keras 3's names, arguments, defaults and formulas (computed in C++,
``csrc/engine/losses.cpp``):

* ``BinaryCrossentropy(from_logits=False, label_smoothing=0.0)``
  (``"binary_crossentropy"``): targets ``[N, C]`` of 0/1 labels or probabilities in
  [0, 1] (several labels per example allowed); the loss of a row is the mean over its C
  outputs; accuracy is binary accuracy (each output's prediction > 0.5 against the
  target > 0.5, averaged over the outputs).
* ``CategoricalCrossentropy(from_logits=False, label_smoothing=0.0)``
  (``"categorical_crossentropy"``): one-hot or probability targets ``[N, C]``.
* ``SparseCategoricalCrossentropy(from_logits=False)``
  (``"sparse_categorical_crossentropy"``): integer labels ``[N]``.
* ``MeanSquaredError()`` (``"mse"``, ``"mean_squared_error"``), ``MeanAbsoluteError()``
  (``"mae"``, ``"mean_absolute_error"``), ``Huber(delta=1.0)`` (``"huber"``): the mean over
  the outputs of e**2, |e|, and 0.5 e**2 for |e| <= delta, delta (|e| - delta / 2) beyond.

``from_logits=False`` (the default) takes the model's outputs as probabilities, as Keras:
a model ending in ``Softmax`` (categorical CEs) or a sigmoid (a ``Sigmoid`` layer or
``Dense(..., activation="sigmoid")``, binary CE) is fused with its loss in training, which
then reads the logits (one stable log-softmax / log-sigmoid; ``predict`` still returns the
probabilities); any other output is clipped to [1e-7, 1 - 1e-7] (categorical CEs first
divide each row by its sum). ``from_logits=True`` takes them as logits: the model must
then not end with Softmax or a sigmoid (compile and fit refuse it).

Label smoothing (Keras): targets become ``t * (1 - ls) + ls / C`` (categorical),
``t * (1 - ls) + 0.5 * ls`` (binary).
"""
from __future__ import annotations

import math

import numpy as np

from ._config_value import ConfigValue

__all__ = ["Loss", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "MeanSquaredError", "MeanAbsoluteError", "Huber",
           "get", "serialize", "deserialize"]


def _check_bool(value, name, owner):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{owner}: {name} must be True or False, got {type(value).__name__} "
                    f"{value!r}")


def _check_real(value, name, owner):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__} "
                        f"{value!r}")
    return float(value)


class Loss(ConfigValue):
    """Base class of the losses. ``name``: the string alias (``"mse"``, ...); ``code``: the
    engine's loss code (``csrc/engine/types.h`` LossKind). The loss itself is computed in
    C++; ``get_config`` returns the constructor arguments (Keras: ``from_config`` rebuilds
    the loss from them)."""

    name = ""
    code = -1  # engine code (csrc/engine/types.h LossKind)
    is_crossentropy = False  # the categorical cross-entropies (one output per class)
    from_logits = False
    label_smoothing = 0.0
    delta = 1.0

    def get_config(self) -> dict:
        """Constructor arguments (``{}`` for a loss without any)."""
        return {}

    @classmethod
    def from_config(cls, config):
        """The loss built from ``get_config()``'s dict."""
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config: expected a dict, got "
                            f"{type(config).__name__}")
        return cls(**config)

    def _engine_args(self) -> dict:
        """Keyword arguments of ``_core.Network.set_loss``."""
        return {"loss": self.code, "from_logits": bool(self.from_logits),
                "label_smoothing": float(self.label_smoothing), "delta": float(self.delta)}


class _CrossentropyBase(Loss):
    def __init__(self, from_logits=False, label_smoothing=0.0):
        owner = type(self).__name__
        self.from_logits = _check_bool(from_logits, "from_logits", owner)
        ls = _check_real(label_smoothing, "label_smoothing", owner)
        if not 0.0 <= ls <= 1.0:  # NaN fails too
            raise ValueError(f"{owner}: label_smoothing must be in [0, 1], got "
                             f"{label_smoothing!r}")
        self.label_smoothing = ls

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_CrossentropyBase):
    """Binary cross-entropy per output (``"binary_crossentropy"``): multi-label targets
    ``[N, C]`` of 0/1 or probabilities; the row loss is the mean over the C outputs.

    Parameters
    ----------
    from_logits : bool, default False
        False: the outputs are probabilities (a final sigmoid is fused with the loss;
        other outputs are clipped to [1e-7, 1 - 1e-7]). True: they are logits (the model
        must not end with a sigmoid).
    label_smoothing : float in [0, 1], default 0
        Targets become ``t * (1 - label_smoothing) + 0.5 * label_smoothing``.
    """

    name = "binary_crossentropy"
    code = 3


class CategoricalCrossentropy(_CrossentropyBase):
    """Cross-entropy with one-hot or probability targets (``"categorical_crossentropy"``).

    Parameters
    ----------
    from_logits : bool, default False
        False: the outputs are probabilities (a final Softmax is fused with the loss;
        other outputs are divided by their row's sum and clipped to [1e-7, 1 - 1e-7]).
        True: they are logits (the model must not end with Softmax).
    label_smoothing : float in [0, 1], default 0
        Targets become ``t * (1 - label_smoothing) + label_smoothing / C``.
    """

    name = "categorical_crossentropy"
    code = 1
    is_crossentropy = True


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class labels (``"sparse_categorical_crossentropy"``).

    Parameters
    ----------
    from_logits : bool, default False
        As for :class:`CategoricalCrossentropy`. There is no label smoothing (as in Keras:
        use ``CategoricalCrossentropy`` with one-hot targets).
    """

    name = "sparse_categorical_crossentropy"
    code = 0
    is_crossentropy = True

    def __init__(self, from_logits=False):
        self.from_logits = _check_bool(from_logits, "from_logits", type(self).__name__)

    def get_config(self):
        return {"from_logits": self.from_logits}


class MeanSquaredError(Loss):
    """Mean squared error (``"mse"`` or ``"mean_squared_error"``)."""

    name = "mse"
    code = 2


class MeanAbsoluteError(Loss):
    """Mean absolute error (``"mae"`` or ``"mean_absolute_error"``)."""

    name = "mae"
    code = 4


class Huber(Loss):
    """Huber loss (``"huber"``): per output 0.5 e**2 where |e| <= delta, else
    delta * (|e| - 0.5 * delta); the mean over the outputs.

    Parameters
    ----------
    delta : float > 0, default 1.0
    """

    name = "huber"
    code = 5

    def __init__(self, delta=1.0):
        d = _check_real(delta, "delta", "Huber")
        if not (d > 0 and math.isfinite(d)):
            raise ValueError(f"Huber: delta must be a finite number > 0, got {delta!r}")
        self.delta = d

    def get_config(self):
        return {"delta": self.delta}


_ALIASES = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
}
_CLASSES = {c.__name__: c for c in (SparseCategoricalCrossentropy, CategoricalCrossentropy,
                                    BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError,
                                    Huber)}


def serialize(loss) -> dict:
    """``{"class_name": ..., "config": loss.get_config()}`` (what model files store)."""
    loss = get(loss)
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config) -> Loss:
    """The loss from :func:`serialize`'s dict.

    Raises
    ------
    ValueError
        If the class is unknown or the dict malformed; TypeError / ValueError from the
        constructor for bad arguments.
    """
    if not isinstance(config, dict) or set(config) - {"class_name", "config"} \
            or "class_name" not in config:
        raise ValueError(f"loss: expected {{'class_name': ..., 'config': {{...}}}}, got "
                         f"{config!r}")
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"loss: unknown class {config['class_name']!r}; expected one of "
                         f"{sorted(_CLASSES)}")
    return cls.from_config(config.get("config") or {})


def get(identifier) -> Loss:
    """Resolve a loss.

    Parameters
    ----------
    identifier : str, Loss, Loss subclass or dict
        A name (``"sparse_categorical_crossentropy"``, ``"categorical_crossentropy"``,
        ``"binary_crossentropy"``, ``"mse"`` / ``"mean_squared_error"``, ``"mae"`` /
        ``"mean_absolute_error"``, ``"huber"``: the loss with its defaults), a loss
        instance (returned as is), a ``Loss`` subclass (instantiated) or a
        :func:`serialize` dict.

    Returns
    -------
    Loss

    Raises
    ------
    ValueError
        If ``identifier`` is not recognised.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss) and identifier.code >= 0:
        return identifier()
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"loss: expected one of {sorted(_ALIASES)} or a fastmlp.losses.Loss, "
                     f"got {identifier!r}")


def _final_activation(layers, input_shape):
    """``(kind, what, index)`` of the activation the model's output ends with: kind
    ``"softmax"`` or ``"sigmoid"`` (None otherwise), ``what`` naming the layer as the user
    wrote it, ``index`` its position."""
    from ._engine_plan import layer_specs  # (import cycle: layers -> losses is fine)
    items = layer_specs(layers, input_shape) if input_shape is not None else []
    if not items:
        return None, None, None
    spec, layer, i = items[-1]
    if spec.kind == "softmax":
        kind = "softmax"
    elif spec.kind in ("activation", "dense") and spec.act == "sigmoid":
        kind = "sigmoid"
    else:
        return None, None, None
    act = getattr(layer, "activation", None)
    if type(layer).__name__ == "Dense":
        what = f"Dense({layer.units}, activation={act!r})"
    elif type(layer).__name__ == "Activation":
        what = f"Activation({act!r})"
    else:
        what = type(layer).__name__
    return kind, what, i


def _logits_conflict(loss, layers, input_shape):
    """The message refusing ``from_logits=True`` on a model that ends with a Softmax or
    sigmoid (None when there is no conflict)."""
    if not loss.from_logits:
        return None
    kind, what, i = _final_activation(layers, input_shape)
    if kind is None:
        return None
    layer = layers[i]
    if type(layer).__name__ == "Dense":
        drop = f"the final {kind} (make it Dense({layer.units}))"
    else:
        drop = f"the final {what}"
    return (f"loss={loss!r} takes the model's outputs as logits, but the model ends with "
            f"{what} (layer {i} of {len(layers)}), which makes them probabilities: drop "
            f"{drop}, or use from_logits=False")


def _from_saved(entry, layers, input_shape) -> Loss:
    """The loss a model file's compile entry names. Files before losses had arguments
    store the name only, and their cross-entropies read outputs that were not a final
    Softmax as logits: they load with ``from_logits=True`` then, so that they train and
    evaluate as before."""
    loss = get(entry)
    if isinstance(entry, str) and loss.is_crossentropy and \
            _final_activation(layers, input_shape)[0] != "softmax":
        loss = type(loss)(from_logits=True)
    return loss

