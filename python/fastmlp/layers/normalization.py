"""Normalization layers: ``BatchNormalization`` and ``LayerNormalization`` (Keras 3
semantics and defaults, last axis)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .core import EngineSpec, Layer

__all__ = ["BatchNormalization", "LayerNormalization"]


def _check_real(what, v, lo, hi, lo_open=False, hi_open=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) \
            or v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
        lo_s, hi_s = ("(" if lo_open else "[") + f"{lo}", f"{hi}" + (")" if hi_open else "]")
        raise ValueError(f"{what}: expected a number in {lo_s}, {hi_s}, got {v!r}")
    return float(v)


class _Norm(Layer):
    """Shared by both: gamma / beta parameters of the feature width."""

    def __init__(self, epsilon, center, scale, name):
        super().__init__(name)
        self.epsilon = _check_real(f"{type(self).__name__} epsilon", epsilon, 0.0, math.inf,
                                   lo_open=True, hi_open=True)
        self.center = bool(center)
        self.scale = bool(scale)
        self.gamma = self.beta = None
        self._engine = None

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} expects flat examples of shape "
                f"(features,), got {tuple(input_shape)}; add fm.Flatten() before it")
        return tuple(input_shape)

    def _gamma_beta_names(self):
        return (("gamma",) if self.scale else ()) + (("beta",) if self.center else ())

    def build(self, input_shape, rng):
        out = super().build(input_shape, rng)
        n = int(input_shape[0])
        if self.gamma is None or self.gamma.shape != (n,):
            self.gamma = np.ones(n, np.float32)
            self.beta = np.zeros(n, np.float32)
            self._init_state(n)
            self._engine = None
        return out

    def _init_state(self, n):
        pass


class BatchNormalization(_Norm):
    """Normalises each feature over the batch in training (``(x - mean) / sqrt(var +
    epsilon)``, then ``* gamma + beta``) and with its moving statistics in inference;
    ``moving = moving * momentum + batch * (1 - momentum)`` after each training step.

    Weights, in Keras order: ``gamma`` (with ``scale=True``), ``beta`` (``center=True``),
    ``moving_mean``, ``moving_variance``; only gamma and beta are trained. Training needs at
    least 2 rows per batch.
    """

    min_batch_rows = 2  # one row's variance is 0: its output would be beta alone

    def __init__(self, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 name: str | None = None, axis=-1):
        if axis not in (-1, 1):
            raise ValueError(f"BatchNormalization axis: only the feature axis (-1) is "
                             f"supported, got {axis!r}")
        super().__init__(epsilon, center, scale, name)
        self.momentum = _check_real("BatchNormalization momentum", momentum, 0.0, 1.0)
        self.moving_mean = self.moving_variance = None

    def _init_state(self, n):
        self.moving_mean = np.zeros(n, np.float32)
        self.moving_variance = np.ones(n, np.float32)

    def _weight_names(self):
        return self._gamma_beta_names() + ("moving_mean", "moving_variance")

    def engine_specs(self, width, seed):
        """One ``batch_norm`` layer."""
        return (EngineSpec("batch_norm", width, width, momentum=self.momentum,
                           epsilon=self.epsilon, center=self.center, use_gamma=self.scale),)

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    def get_config(self):
        """Constructor arguments: momentum, epsilon, center, scale, name."""
        return {"momentum": self.momentum, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "name": self.name}


class LayerNormalization(_Norm):
    """Normalises each example over its features: ``(x - mean) / sqrt(var + epsilon) *
    gamma + beta``, the same in training and inference. Weights: ``gamma`` (with
    ``scale=True``), ``beta`` (``center=True``)."""

    def __init__(self, epsilon=1e-3, center=True, scale=True, name: str | None = None,
                 axis=-1):
        if axis not in (-1, 1):
            raise ValueError(f"LayerNormalization axis: only the feature axis (-1) is "
                             f"supported, got {axis!r}")
        super().__init__(epsilon, center, scale, name)

    def _weight_names(self):
        return self._gamma_beta_names()

    def engine_specs(self, width, seed):
        """One ``layer_norm`` layer."""
        return (EngineSpec("layer_norm", width, width, epsilon=self.epsilon,
                           center=self.center, use_gamma=self.scale),)

    def get_config(self):
        """Constructor arguments: epsilon, center, scale, name."""
        return {"epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "name": self.name}
