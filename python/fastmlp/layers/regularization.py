"""Regularization layers: ``Dropout`` and ``GaussianNoise``. Active in training only; in
inference the engine skips them (they export to ONNX as nothing; Dropout to PyTorch as
``nn.Dropout``)."""
from __future__ import annotations

import math
import numbers

from .core import EngineSpec, Layer

__all__ = ["Dropout", "GaussianNoise"]


def _check_seed(layer, seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or not 0 <= seed < 2**64):
        raise ValueError(f"{layer} seed: expected None or an int in [0, 2**64), got {seed!r}")


class Dropout(Layer):
    """Inverted dropout (Keras semantics): in training each value is set to 0 with
    probability ``rate`` and the others are scaled by ``1 / (1 - rate)``; in inference
    (``predict``, ``evaluate``) the layer does nothing.

    The mask is drawn in C++ from ``(seed, training step, position in the batch)``, so
    training is bitwise reproducible for any thread count and resumes exactly after
    ``save``/``load_model``. ``rate`` is applied in steps of 1/65536. ``seed=None`` takes
    one from the model's seed (``Sequential(seed=...)``).
    """

    def __init__(self, rate, noise_shape=None, seed=None, name: str | None = None):
        super().__init__(name)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) \
                or not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout rate: expected a number in [0, 1), got {rate!r} "
                             "(the fraction of values dropped: Dropout(0.2) drops 20%)")
        if noise_shape is not None:
            raise ValueError(f"Dropout noise_shape: only None is supported (one draw per "
                             f"value), got {noise_shape!r}")
        _check_seed("Dropout", seed)
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)
        self._model_seed = None  # the model's share, once it is known (seed=None)

    def engine_specs(self, width, seed):
        """One ``dropout`` layer (its seed: ``seed=`` if given, else the model's share)."""
        if self.seed is None:
            self._model_seed = seed
        return (EngineSpec("dropout", width, width, rate=self.rate,
                           seed=self.seed if self.seed is not None else seed),)

    def get_config(self):
        """Constructor arguments: ``rate``, ``seed`` (the one in use: with ``seed=None``,
        the model's share once the model was built, so a saved model resumes exactly)
        and ``name``."""
        return {"rate": self.rate, "seed": self.seed if self.seed is not None
                else self._model_seed, "name": self.name}


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` in training (Keras
    semantics); the identity in inference. Drawn in C++ from ``(seed, training step,
    position in the batch)``, as Dropout."""

    def __init__(self, stddev, seed=None, name: str | None = None):
        super().__init__(name)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) \
                or not math.isfinite(stddev) or stddev < 0:
            raise ValueError(f"GaussianNoise stddev: expected a finite number >= 0, got "
                             f"{stddev!r}")
        _check_seed("GaussianNoise", seed)
        self.stddev = float(stddev)
        self.seed = None if seed is None else int(seed)
        self._model_seed = None

    def engine_specs(self, width, seed):
        """One ``gaussian_noise`` layer."""
        if self.seed is None:
            self._model_seed = seed
        return (EngineSpec("gaussian_noise", width, width, stddev=self.stddev,
                           seed=self.seed if self.seed is not None else seed),)

    def get_config(self):
        """Constructor arguments: ``stddev``, ``seed`` (the one in use) and ``name``."""
        return {"stddev": self.stddev, "seed": self.seed if self.seed is not None
                else self._model_seed, "name": self.name}
