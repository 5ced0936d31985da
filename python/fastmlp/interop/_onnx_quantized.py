"""ONNX nodes for quantized Dense layers (to_onnx): standard QuantizeLinear /
DequantizeLinear (QDQ) pairs around a float MatMul, which onnxruntime runs as they are.

* int8: the kernel is an int8 initializer with its per-column scales
  (``DequantizeLinear`` axis 1); the input is quantized per row (``QuantizeLinear`` axis
  0, scales and zero points computed in the graph from the row's range, as the engine
  does) or with the calibrated scale and zero point (after a ``Clip`` to the 7-bit range
  the engine saturates to), then dequantized. Outputs agree with ``predict`` to float32
  rounding (QuantizeLinear divides where the engine multiplies by the reciprocal).
* bf16: ``Cast`` to bfloat16 and back rounds the input; the kernel holds bf16 values.
"""
from __future__ import annotations

import numpy as np

from ..layers._quantized import INPUT_CODE_MAX


def _row_quantization(node, const, x, opset):
    """(scale [B], zero point uint8 [B]) of each row of x, the engine's dynamic rule."""
    if opset >= 18:  # axes became an input
        axes = const("axes", np.array([1], np.int64), np.int64)
        lo = node("ReduceMin", [x, axes], "row_min", keepdims=0)
        hi = node("ReduceMax", [x, axes], "row_max", keepdims=0)
    else:
        lo = node("ReduceMin", [x], "row_min", axes=[1], keepdims=0)
        hi = node("ReduceMax", [x], "row_max", axes=[1], keepdims=0)
    zero_f = const("zero", np.float32(0))
    lo = node("Min", [lo, zero_f], "row_lo")
    hi = node("Max", [hi, zero_f], "row_hi")
    span = node("Sub", [hi, lo], "row_span")
    scale = node("Where", [node("Greater", [span, zero_f], "row_nonzero"),
                           node("Div", [span, const("qmax", np.float32(INPUT_CODE_MAX))],
                                "row_scale_raw"),
                           const("one", np.float32(1))], "row_scale")
    inv = node("Div", [const("one", np.float32(1)), scale], "row_inv")
    zp = node("Clip", [node("Round", [node("Mul", [node("Neg", [lo], "row_neg_lo"), inv],
                                           "row_zero_raw")], "row_zero_round"),
                       zero_f, const("qmax", np.float32(INPUT_CODE_MAX))], "row_zero")
    return scale, node("Cast", [zp], "row_zero_u8", to=2)  # 2: UINT8


def dense_int8(node, const, cur, spec, layer, opset):
    """Nodes of an int8 Dense's linear part (its bias added, no activation)."""
    if opset < 13:
        raise ValueError(f"to_onnx: an int8-quantized Dense needs opset >= 13 (per-axis "
                         f"QuantizeLinear), got {opset}")
    if spec.quant_scale > 0:  # calibrated: saturate to the 7-bit codes first, as the engine
        s, z = float(spec.quant_scale), int(spec.quant_zero)
        lo = np.float32((0 - z) * s)
        hi = np.float32((INPUT_CODE_MAX - z) * s)
        cur = node("Clip", [cur, const("in_lo", lo), const("in_hi", hi)], "input_clip")
        scale = const("in_scale", np.float32(s))
        zp = const("in_zero", np.uint8(z), np.uint8)
        q = node("QuantizeLinear", [cur, scale, zp], "input_q")
        xq = node("DequantizeLinear", [q, scale, zp], "input_dq")
    else:
        scale, zp = _row_quantization(node, const, cur, opset)
        q = node("QuantizeLinear", [cur, scale, zp], "input_q", axis=0)
        xq = node("DequantizeLinear", [q, scale, zp], "input_dq", axis=0)
    w_q = const(f"{layer.name}_kernel_int8", np.asarray(layer.kernel).astype(np.int8), np.int8)
    w_scale = const(f"{layer.name}_kernel_scale", layer.kernel_scale)
    w_zero = const(f"{layer.name}_kernel_zero", np.zeros(spec.outputs, np.int8), np.int8)
    w = node("DequantizeLinear", [w_q, w_scale, w_zero], "kernel_dq", axis=1)
    cur = node("MatMul", [xq, w], "matmul")
    if spec.use_bias:
        cur = node("Add", [cur, const(f"{layer.name}_bias", layer.bias)], "bias_add")
    return cur


def round_bf16(node, cur):
    """x rounded to bfloat16 and back to float32."""
    return node("Cast", [node("Cast", [cur], "to_bf16", to=16)], "from_bf16", to=1)
