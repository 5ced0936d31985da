"""fastmlp: fast multilayer perceptrons on the CPU.

C++ kernels (SIMD with runtime ISA dispatch, OpenMP threads) behind a Keras-like API.
"""
from __future__ import annotations

import os as _os

# libgomp spins up to ~300k pause loops (milliseconds) before an idle worker sleeps; on a
# shared or oversubscribed machine those spinning workers steal the core the busy thread
# needs, and 2 threads end up slower than 1. A short spin still covers the gaps between
# the kernels of one training step. Read when libgomp starts, so set before _core loads;
# users' own OMP_WAIT_POLICY / GOMP_SPINCOUNT win.
if "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from . import _core
from ._runtime import cpu_info, get_isa, get_num_threads, set_isa, set_num_threads

# Models (issue 3): Keras-like Sequential API over the C++ network engine.
from . import (callbacks, constraints, initializers, layers, losses, metrics,
               mixed_precision, optimizers, regularizers)
from .layers import (Activation, BatchNormalization, Dense, Dropout, Flatten, GaussianNoise,
                     LayerNormalization, LeakyReLU, ReLU, Rescaling, Sigmoid, Softmax, Tanh)
from .models import Sequential
from .random import set_random_seed
from .saving import load_model

from . import datasets

# Interop (torch, onnx, scikit-learn are imported only when a converter is called).
from .interop import from_onnx, from_sklearn, from_torch

__version__ = "0.1.0"

# Submodules loaded on first attribute access, as numpy.linalg is reachable after a plain
# `import numpy`: `fm.ops.gemm(...)` works without `import fastmlp.ops`, and `import
# fastmlp` pays for neither the ops wrappers nor the plot code until they are used (nor
# for the scale-out modules: distributed training, Dask and Ray inference).
_LAZY_SUBMODULES = ("ops", "plot", "distributed", "dask", "ray")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")  # also binds fastmlp.<name>
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))

__all__ = ["cpu_info", "get_isa", "get_num_threads", "set_isa", "set_num_threads", "__version__",
           "Sequential", "Dense", "Flatten", "Rescaling", "ReLU", "LeakyReLU", "Sigmoid",
           "Tanh", "Softmax", "Activation", "Dropout", "GaussianNoise", "BatchNormalization",
           "LayerNormalization", "callbacks", "constraints", "initializers", "layers", "losses",
           "metrics", "mixed_precision", "optimizers", "regularizers",
           "load_model", "set_random_seed", "datasets", "ops", "plot", "from_sklearn", "from_onnx", "from_torch"]
