"""What quantization means for a Dense layer (its ``dtype_policy``):

* ``"float32"``: the float layer (``kernel``, ``bias``).
* ``"int8"``: Keras 3's int8 Dense: weights ``kernel`` (int8 ``[in, out]``), ``bias``
  (float32) and ``kernel_scale`` (float32 ``[out]``, symmetric per output column: the
  layer's weight is ``kernel * kernel_scale``); inputs quantized to 7-bit codes with a
  zero point, per row at run time, or with one calibrated ``(scale, zero_point)``
  (``input_quantization``). The engine's ``dense_int8`` kind (csrc/engine/layers/
  dense_int8.cpp) computes it. Inference only.
* ``"bf16"``: the float layer with its kernel rounded to bfloat16 and its inputs rounded
  to bfloat16 in every pass (float32 accumulation): bf16 numerics. Inference only.
* ``"mixed_bfloat16"`` (not a quantization: ``fastmlp.mixed_precision``): float32
  weights, every GEMM of training and inference on bf16-rounded operands with float32
  sums. Trainable.

The engine's ``dense_bf16`` kind (csrc/engine/layers/dense_bf16.cpp) computes both bf16
policies.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

POLICIES = ("float32", "int8", "bf16", "mixed_bfloat16")
QUANTIZE_MODES = ("int8", "bf16")
# The policies a layer trains under (the others are inference only).
TRAINING_POLICIES = ("float32", "mixed_bfloat16")
# The 7-bit input codes of the int8 kind (dense_int8.cpp: kCodeMax).
INPUT_CODE_MAX = 127


def check_policy(policy, what="Dense dtype_policy"):
    if policy is None:
        from ..mixed_precision import global_policy
        return global_policy()
    if not isinstance(policy, str) or policy not in POLICIES:
        raise ValueError(f"{what}: expected one of {', '.join(map(repr, POLICIES))}, got "
                         f"{policy!r}")
    return policy


def check_input_quantization(value):
    """None (dynamic, per row) or ``(scale > 0, zero_point in [0, 127])``."""
    if value is None:
        return None
    try:
        scale, zero = value
    except (TypeError, ValueError):
        raise ValueError(f"Dense input_quantization: expected None or (scale, zero_point), "
                         f"got {value!r}") from None
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or \
            not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"Dense input_quantization: the scale must be finite and > 0, got "
                         f"{scale!r}")
    if isinstance(zero, bool) or not isinstance(zero, numbers.Integral) or \
            not 0 <= zero <= INPUT_CODE_MAX:
        raise ValueError(f"Dense input_quantization: the zero point must be an int in "
                         f"[0, {INPUT_CODE_MAX}], got {zero!r}")
    return (float(scale), int(zero))


def weight_names(policy, use_bias):
    base = ("kernel", "bias") if use_bias else ("kernel",)
    return base + ("kernel_scale",) if policy == "int8" else base


def empty_int8(layer, fan_in):
    """Placeholders for an int8 layer built from its config (load_model fills them)."""
    layer.kernel = np.zeros((fan_in, layer.units), np.int8)
    layer.kernel_scale = np.ones(layer.units, np.float32)
    if layer.use_bias:
        layer.bias = np.zeros(layer.units, np.float32)


def check_weight(layer, name, w):
    """The float32 array the engine holds for weight ``name`` of a quantized layer."""
    if layer.dtype_policy == "int8" and name == "kernel":
        if w.dtype.kind == "f" and not (np.isfinite(w).all() and np.array_equal(w, np.rint(w))):
            raise ValueError(f"layer {layer.name!r}: an int8 Dense kernel holds integers in "
                             "[-127, 127]; got non-integer values. Quantize float weights "
                             "with fm.ops.quantize_per_channel, or set them on the float "
                             "layer before model.quantize")
        if w.size and (w.min() < -127 or w.max() > 127):
            raise ValueError(f"layer {layer.name!r}: an int8 Dense kernel holds integers in "
                             f"[-127, 127]; got values in [{w.min()}, {w.max()}]")
    if layer.dtype_policy == "int8" and name == "kernel_scale":
        if not (np.isfinite(w).all() and (w > 0).all()):
            raise ValueError(f"layer {layer.name!r}: kernel_scale must be finite and > 0")
    out = np.ascontiguousarray(w, dtype=np.float32)
    if layer.dtype_policy == "bf16" and name == "kernel":
        from ..ops import round_bfloat16  # (import fastmlp does not load fastmlp.ops)
        out = round_bfloat16(out)
    return out


def public_weight(layer, name, w):
    """A weight as get_weights returns it (an int8 kernel as int8)."""
    if layer.dtype_policy == "int8" and name == "kernel":
        return np.asarray(w).astype(np.int8)
    return np.array(w, dtype=np.float32, copy=True)


def quantize_layer(layer, mode, input_quantization=None):
    """Turn a float Dense into ``mode`` in place (weights from its float kernel)."""
    if layer.dtype_policy not in TRAINING_POLICIES:
        raise ValueError(f"layer {layer.name!r} is already quantized "
                         f"(dtype_policy={layer.dtype_policy!r}); quantize the float model "
                         "once (load it again, or keep a float copy)")
    kernel = np.asarray(layer.kernel, dtype=np.float32)
    if not np.isfinite(kernel).all():
        raise ValueError(f"layer {layer.name!r}: its kernel holds NaN or inf; it cannot "
                         "be quantized")
    from ..ops import quantize_per_channel, round_bfloat16  # (see check_weight)

    bias = None if layer.bias is None else np.array(layer.bias, dtype=np.float32)
    layer._engine = None
    if mode == "int8":
        q, scale = quantize_per_channel(kernel, axis=1)
        layer.dtype_policy = "int8"
        layer.kernel, layer.kernel_scale = q, scale
        layer.input_quantization = check_input_quantization(input_quantization)
    else:
        layer.dtype_policy = "bf16"
        layer.kernel = round_bfloat16(kernel)
    layer.bias = bias
