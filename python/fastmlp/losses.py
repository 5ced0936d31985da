"""Losses: ``sparse_categorical_crossentropy`` (integer labels),
``categorical_crossentropy`` (one-hot or probability targets) and ``mse``.

Cross-entropy treats the model's last outputs as logits, except that a final ``Softmax``
layer is fused with it (computed as one stable log-softmax); ``predict`` still returns what
the layers compute.
"""
from __future__ import annotations

__all__ = ["Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy",
           "MeanSquaredError", "get"]


class Loss:
    name = ""
    code = -1  # engine code (csrc/engine/network.h LossKind)
    is_crossentropy = False

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


class SparseCategoricalCrossentropy(Loss):
    name = "sparse_categorical_crossentropy"
    code = 0
    is_crossentropy = True


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"
    code = 1
    is_crossentropy = True


class MeanSquaredError(Loss):
    name = "mse"
    code = 2


_ALIASES = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
}


def get(identifier) -> Loss:
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    raise ValueError(f"loss: expected one of {sorted(_ALIASES)} or a fastmlp.losses.Loss, "
                     f"got {identifier!r}")
