"""``Sequential.quantize``: int8 and bf16 inference models from a trained float model, in
place (Keras 3's ``Model.quantize``).

Which layers: every Dense but the model's last one (its few outputs are the logits or
probabilities the user reads; it is under 2% of the multiply-adds of a 784-128-10 model).
A model with a single Dense quantizes that one. Other layers stay float32.

* ``"int8"``: per output column symmetric int8 kernels; the inputs of each quantized
  layer are quantized per row at run time to 7-bit codes with a zero point, or, with
  ``calibration_data``, with one static scale and zero point per layer from the range its
  input takes on that data (values beyond it saturate).
* ``"bf16"``: kernels rounded to bfloat16, inputs rounded to bfloat16 in every pass,
  float32 accumulation.

A quantized model predicts, evaluates, saves and loads (an int8 kernel is stored as int8
with its scales) and exports to ONNX; it cannot be trained or quantized again.
"""
from __future__ import annotations

import numpy as np

from .layers import Dense, Dropout, Flatten, GaussianNoise, Rescaling
from .layers._quantized import INPUT_CODE_MAX, QUANTIZE_MODES, TRAINING_POLICIES

__all__ = ["quantize", "dtype_policy", "refuse_training", "TRAINING_POLICIES"]


def _targets(model):
    dense = [i for i, l in enumerate(model.layers) if isinstance(l, Dense)]
    if not dense:
        raise ValueError("quantize: the model has no Dense layer to quantize")
    return dense if len(dense) == 1 else dense[:-1]


def quantize(model, mode, calibration_data=None, *, batch_size=1024):
    """Quantize ``model``'s Dense layers in place to ``mode`` (``"int8"`` or ``"bf16"``).

    ``calibration_data`` (int8 only): example inputs shaped like the model's input (a few
    hundred to a few thousand rows, e.g. part of the training set) from which each
    quantized layer's static input scale is taken; without it inputs are quantized per
    row at run time (the default, like Keras' dynamic int8).
    """
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"quantize: mode must be one of "
                         f"{', '.join(map(repr, QUANTIZE_MODES))}; got {mode!r}")
    model._require_built("quantize")
    done = dtype_policy(model)
    if done not in TRAINING_POLICIES:
        raise ValueError(f"quantize: the model is already quantized (dtype_policy="
                         f"{done!r}); quantize a float model once (load the float model "
                         "again, or keep a copy before quantizing)")
    targets = _targets(model)
    if calibration_data is not None and mode != "int8":
        raise ValueError(f"quantize: calibration_data only applies to mode='int8' (bf16 "
                         f"needs none); got mode={mode!r}")
    ranges = [None] * len(targets)
    if calibration_data is not None:
        x = _check_calibration(model, calibration_data)
        ranges = [_static_quantization(_input_of(model, i, x, batch_size)) for i in targets]
    for i, r in zip(targets, ranges):
        model.layers[i].quantize(mode, input_quantization=r)
    model._net = None  # the engine is rebuilt from the quantized layers' specs


def dtype_policy(model) -> str:
    """``"float32"``, ``"mixed_bfloat16"``, or the mode of the model's quantized Dense
    layers (a quantized model's last, float, Dense does not count)."""
    modes = {l.dtype_policy for l in model.layers if isinstance(l, Dense)}
    quantized = modes - set(TRAINING_POLICIES)
    if quantized:
        return quantized.pop() if len(quantized) == 1 else "mixed"
    return "mixed_bfloat16" if "mixed_bfloat16" in modes else "float32"


def refuse_training(model, what):
    p = dtype_policy(model)
    if p not in TRAINING_POLICIES:
        raise ValueError(f"{what}: the model is quantized (dtype_policy={p!r}) and serves "
                         "inference only; train the float32 model, then call "
                         "model.quantize(...)")


def _check_calibration(model, data):
    x = np.asarray(data)
    shape = tuple(model.input_shape)
    if x.dtype.kind not in "uif" or x.dtype.kind == "b":
        raise TypeError(f"quantize: calibration_data must be numeric; got dtype {x.dtype}")
    if x.shape[1:] != shape or len(x) == 0:
        raise ValueError(f"quantize: calibration_data must have shape (rows >= 1, "
                         f"{', '.join(map(str, shape))}) like the model's input; got "
                         f"{x.shape}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError("quantize: calibration_data holds NaN or inf")
    return x


def _input_of(model, index, x, batch_size):
    """The float input of layer ``index`` for inputs x, from the float model."""
    prefix = model.layers[:index]
    if not any(isinstance(l, Dense) for l in prefix):
        out = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        for l in prefix:  # (the engine needs a Dense: apply these few kinds here)
            if isinstance(l, Rescaling):
                out = out * np.float32(l.scale) + np.float32(l.offset)
            elif not isinstance(l, (Flatten, Dropout, GaussianNoise)):  # (identities)
                raise ValueError(f"quantize: calibration_data cannot be used with layer "
                                 f"{l.name!r} ({type(l).__name__}) before the first Dense; "
                                 "quantize without calibration_data (per-row scales)")
        return out
    from .models import Sequential  # (models imports this module)
    sub = Sequential([type(l).from_config(l.get_config()) for l in prefix],
                     input_shape=model.input_shape, seed=0)
    weights = []
    for l in prefix:
        weights.extend(l.get_weights())
    sub.set_weights(weights)
    return np.concatenate([sub.predict(x[i:i + batch_size])
                           for i in range(0, len(x), batch_size)]).reshape(len(x), -1)


def _static_quantization(h):
    """(scale, zero_point) of the 7-bit input codes covering h's range (and 0)."""
    lo = min(0.0, float(h.min()))
    hi = max(0.0, float(h.max()))
    if hi <= lo:
        return (1.0, 0)
    scale = float(np.float32((hi - lo) / INPUT_CODE_MAX))
    zero = int(np.clip(np.rint(-lo / scale), 0, INPUT_CODE_MAX))
    return (scale, zero)
