"""``fastmlp bench --precision int8|bf16``: the peers at the same precision, made from the
same float32 model (inference only: a quantized model does not train).

* int8: fastmlp ``model.quantize("int8")``; ONNX Runtime ``quantize_dynamic`` of the
  float32 export (int8 per-channel weights); PyTorch ``quantize_dynamic`` (qint8 Linear).
* bf16: fastmlp ``model.quantize("bf16")``; PyTorch ``.to(torch.bfloat16)``; ONNX Runtime
  has no bf16 MatMul on the CPU, so its column stays empty.
"""
from __future__ import annotations

import logging
import os
import tempfile
import warnings

PRECISIONS = ("float32", "int8", "bf16")
# How far a low-precision peer's softmax outputs may be from fastmlp's (a sanity check
# that both run the same model, not an accuracy claim).
TOLERANCE = {"float32": 1e-4, "int8": 0.05, "bf16": 0.02}


def torch_net(torch, net, precision):
    """A callable taking float32 tensors and returning float32 outputs, or None."""
    if torch is None or precision == "float32":
        return net
    if precision == "int8":
        with warnings.catch_warnings():  # (torch.ao's deprecation notices)
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear},
                                                          dtype=torch.qint8)
    half = net.to(torch.bfloat16)
    return lambda x: half(x.to(torch.bfloat16)).float()


def onnx_bytes(model_bytes, precision):
    """The ONNX Runtime model for ``precision`` (None where there is none)."""
    if model_bytes is None or precision == "float32":
        return model_bytes
    if precision == "bf16":
        return None
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "fp32.onnx"), os.path.join(d, "int8.onnx")
        with open(src, "wb") as f:
            f.write(model_bytes)
        # (ONNX Runtime logs a "consider pre-processing" advice on the root logger, which
        # would land in the middle of the table: muted for this call only)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(src, dst, per_channel=True, weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        with open(dst, "rb") as f:
            return f.read()
