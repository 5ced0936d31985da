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
    """Base class of the losses; ``name`` is the string alias, ``code`` the engine's
    loss code. The loss itself is computed in C++."""

    name = ""
    code = -1  # engine code (csrc/engine/network.h LossKind)
    is_crossentropy = False

    def get_config(self):
        """Constructor arguments (none: ``{}``)."""
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class labels (``"sparse_categorical_crossentropy"``)."""

    name = "sparse_categorical_crossentropy"
    code = 0
    is_crossentropy = True


class CategoricalCrossentropy(Loss):
    """Cross-entropy with one-hot or probability targets (``"categorical_crossentropy"``)."""

    name = "categorical_crossentropy"
    code = 1
    is_crossentropy = True


class MeanSquaredError(Loss):
    """Mean squared error (``"mse"`` or ``"mean_squared_error"``)."""

    name = "mse"
    code = 2


_ALIASES = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
}


def get(identifier) -> Loss:
    """Resolve a loss.

    Parameters
    ----------
    identifier : str, Loss or Loss subclass
        A name (``"sparse_categorical_crossentropy"``, ``"categorical_crossentropy"``,
        ``"mse"``, ``"mean_squared_error"``), a loss instance (returned as is) or a
        ``Loss`` subclass (instantiated).

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
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    raise ValueError(f"loss: expected one of {sorted(_ALIASES)} or a fastmlp.losses.Loss, "
                     f"got {identifier!r}")
