"""fastmlp: fast multilayer perceptrons on the CPU.

C++ kernels (SIMD with runtime ISA dispatch, OpenMP threads) behind a Keras-like API.
"""
from __future__ import annotations

from . import _core
from ._runtime import cpu_info, get_num_threads, set_num_threads

# Models (issue 3): Keras-like Sequential API over the C++ network engine.
from . import callbacks, initializers, layers, losses, optimizers
from .layers import Dense, Flatten, LeakyReLU, ReLU, Rescaling, Sigmoid, Softmax, Tanh
from .models import Sequential
from .random import set_random_seed
from .saving import load_model

__version__ = "0.1.0"

__all__ = ["cpu_info", "get_num_threads", "set_num_threads", "__version__",
           "Sequential", "Dense", "Flatten", "Rescaling", "ReLU", "LeakyReLU", "Sigmoid",
           "Tanh", "Softmax", "callbacks", "initializers", "layers", "losses", "optimizers",
           "load_model", "set_random_seed"]
