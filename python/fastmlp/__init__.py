"""fastmlp: fast multilayer perceptrons on the CPU.

C++ kernels (SIMD with runtime ISA dispatch, OpenMP threads) behind a Keras-like API.
"""
from __future__ import annotations

from . import _core
from ._runtime import cpu_info, get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = ["cpu_info", "get_num_threads", "set_num_threads", "__version__"]
