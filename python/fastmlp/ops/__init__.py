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
from ._bf16 import round_bfloat16
from ._dense import dense_backward, dense_forward
from ._gemm import gemm
from ._int8 import (
    INT8_MAX_K,
    PackedInt8,
    dequantize_per_channel,
    gemm_int8,
    pack_int8,
    quantize_per_channel,
    quantize_per_row,
)
from ._losses import softmax_cross_entropy
from ._optimizers import adam_update, sgd_update
from ._validate import ACTIVATIONS

__all__ = [
    "ACTIVATIONS",
    "INT8_MAX_K",
    "PackedInt8",
    "activation_backward",
    "activation_forward",
    "adam_update",
    "dense_backward",
    "dense_forward",
    "dequantize_per_channel",
    "elu",
    "gemm",
    "gemm_int8",
    "gelu",
    "hard_sigmoid",
    "leaky_relu",
    "log_softmax",
    "mish",
    "pack_int8",
    "quantize_per_channel",
    "quantize_per_row",
    "relu",
    "round_bfloat16",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softmax_cross_entropy",
    "softplus",
    "sgd_update",
    "tanh",
]
