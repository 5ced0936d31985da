"""Activation layers: ``Activation(name)`` and the named ones (``ReLU``, ``LeakyReLU``,
``Sigmoid``, ``Tanh``). Right after a linear ``Dense``, the engine applies one in that
layer's GEMM epilogue.
"""
from __future__ import annotations

import math
import numbers

from ._activation_names import check_activation, default_alpha
from .core import EngineSpec, Layer

__all__ = ["Activation", "ReLU", "LeakyReLU", "Sigmoid", "Tanh"]


class _Activation(Layer):
    """An elementwise activation as a layer (fused into a preceding linear Dense's GEMM
    epilogue by the engine)."""
    act_name = "linear"

    def _alpha(self):
        return default_alpha(self.act_name)

    def engine_specs(self, width, seed):
        """One ``activation`` layer."""
        return (EngineSpec("activation", width, width, act=self.act_name,
                           alpha=self._alpha()),)


class Activation(_Activation):
    """``Activation(name)``: any activation by name (Keras' ``Activation`` layer), e.g.
    ``Activation("relu")``; ``"softmax"`` gives a :class:`Softmax` layer's function."""

    def __init__(self, activation, name: str | None = None):
        super().__init__(name)
        self.activation = check_activation(activation, "Activation", allow_softmax=True)
        self.act_name = self.activation

    def engine_specs(self, width, seed):
        """One ``activation`` layer (``softmax``: one ``softmax`` layer)."""
        if self.activation == "softmax":
            return (EngineSpec("softmax", width, width),)
        return super().engine_specs(width, seed)

    def get_config(self):
        """Constructor arguments: ``activation`` and ``name``."""
        return {"activation": self.activation, "name": self.name}


class ReLU(_Activation):
    """``max(x, 0)``."""
    act_name = "relu"


class LeakyReLU(_Activation):
    """``x if x > 0 else alpha * x`` (default ``alpha=0.3`` as in Keras)."""
    act_name = "leaky_relu"

    def __init__(self, alpha: float = 0.3, name: str | None = None):
        super().__init__(name)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha):
            raise ValueError(f"LeakyReLU alpha: expected a finite number, got {alpha!r}")
        self.alpha = float(alpha)

    def _alpha(self):
        return self.alpha

    def get_config(self):
        """Constructor arguments: ``alpha`` and ``name``."""
        return {"alpha": self.alpha, "name": self.name}


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))``."""
    act_name = "sigmoid"


class Tanh(_Activation):
    """``tanh(x)``."""
    act_name = "tanh"
