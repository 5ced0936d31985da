"""Layers of a :class:`fastmlp.Sequential` model, one module per concern: ``core``
(Layer, Dense, Flatten, Rescaling, Softmax), ``activations``, ``regularization``
(Dropout, GaussianNoise), ``normalization`` (BatchNormalization, LayerNormalization). Layers describe the network; ``compile`` (or the first ``predict``) turns the
stack into one C++ network from each layer's ``engine_specs``.
"""
from __future__ import annotations

from ._activation_names import ACTIVATIONS
from .activations import Activation, LeakyReLU, ReLU, Sigmoid, Tanh
from .core import Dense, EngineSpec, Flatten, Layer, Rescaling, Softmax, WeightView
from .normalization import BatchNormalization, LayerNormalization
from .regularization import Dropout, GaussianNoise

__all__ = ["Layer", "Dense", "Flatten", "Rescaling", "Softmax", "Activation", "ReLU",
           "LeakyReLU", "Sigmoid", "Tanh", "Dropout", "GaussianNoise", "BatchNormalization",
           "LayerNormalization", "WeightView", "EngineSpec",
           "ACTIVATIONS", "get"]

# The layer classes load_model can rebuild: one line per class.
_CLASSES = {c.__name__: c for c in (Dense, Flatten, Rescaling, Softmax, Activation, ReLU,
                                    LeakyReLU, Sigmoid, Tanh, Dropout, GaussianNoise,
                                    BatchNormalization, LayerNormalization)}


def get(class_name: str, config: dict) -> Layer:
    """Rebuild a layer from ``(class_name, get_config())`` (used by ``load_model``)."""
    if class_name not in _CLASSES:
        raise ValueError(f"unknown layer class {class_name!r}; known: {sorted(_CLASSES)}")
    return _CLASSES[class_name].from_config(dict(config))
