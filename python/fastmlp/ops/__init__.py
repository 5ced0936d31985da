"""fastmlp.ops: the NumPy-level backend API.

Thin, validated wrappers over the C++ kernels (the active ISA tier, OpenMP threads, the
GIL released around every kernel call). float32 C-contiguous arrays are used without
copies; other float dtypes and layouts are converted; anything else raises a TypeError or
ValueError that names the argument, what was expected and what was received.

    >>> import numpy as np, fastmlp.ops as ops
    >>> x = np.random.rand(64, 784).astype(np.float32)
    >>> w = np.random.rand(784, 128).astype(np.float32); b = np.zeros(128, np.float32)
    >>> h = ops.dense_forward(x, w, b, activation="relu")
    >>> loss, dh = ops.softmax_cross_entropy(h, np.zeros(64, np.int64))
    >>> dx, dw, db = ops.dense_backward(x, w, dh, y=h, activation="relu")
"""
from __future__ import annotations

from ._activations import (
    activation_backward,
    activation_forward,
    elu,
    gelu,
    hard_sigmoid,
    leaky_relu,
    log_softmax,
    mish,
    relu,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from ._dense import dense_backward, dense_forward
from ._gemm import gemm
from ._losses import softmax_cross_entropy
from ._optimizers import adam_update, sgd_update
from ._validate import ACTIVATIONS

__all__ = [
    "ACTIVATIONS",
    "activation_backward",
    "activation_forward",
    "adam_update",
    "dense_backward",
    "dense_forward",
    "elu",
    "gemm",
    "gelu",
    "hard_sigmoid",
    "leaky_relu",
    "log_softmax",
    "mish",
    "relu",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softmax_cross_entropy",
    "softplus",
    "sgd_update",
    "tanh",
]
