"""How a Sequential's layers become one C++ network (``fastmlp._core.Network``).

Each layer says what it is in engine terms (``Layer.engine_specs``); this module only
applies the fusion rules that span layers, in one place:

* leading ``rescaling`` layers (before any other) fold into the input gather (the
  network's ``in_scale`` / ``in_offset``), so uint8 images are converted once, in C++;
* an ``activation`` right after a linear ``dense`` goes into that layer's GEMM epilogue,
  unless its derivative needs its input (gelu, silu, mish: ``_core.ACT_BACKWARD_NEEDS_X``):
  that one stays, or becomes, a separate ``activation`` layer, whose backward reads it;
* a ``dropout`` right after a ``dense`` whose activation's derivative follows from the
  sign of its output (linear, relu, leaky_relu) goes into that layer (its ``rate`` and
  ``seed``): the GEMM applies the mask in training, the backward takes the mask and the
  activation's derivative in one pass (same masks, same bits as the separate layer);
* an int8 dense (``dense_int8``, inference only) takes any activation after it into its
  epilogue;
* ``softmax`` must be the last layer (the engine fuses it with cross-entropy).

In inference (C++, ``Network::infer_steps``) a batch_normalization after a linear dense
folds into it, with the activation layer after it as the folded dense's epilogue.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .layers._activation_names import ACT_CODES, NEEDS_INPUT

_KIND_CODES = {name: code for code, name in enumerate(_core.LAYER_KINDS)}
# Activations a dense layer can fuse a following Dropout with (dense.cpp: their derivative
# is a function of the sign of y, which the mask's positive scale keeps).
_DROPOUT_ACTS = ("linear", "relu", "leaky_relu")
# Kinds of a Dense layer: float, bf16 (quantized or mixed_bfloat16; trained like the
# float one, without a fused Dropout), and int8 (inference only: any activation fuses
# into its epilogue, since no backward pass needs the pre-activation).
_DENSE_KINDS = ("dense", "dense_bf16", "dense_int8")
_TRAINED_DENSE = ("dense", "dense_bf16")


def layer_seed(model_seed, index):
    """A layer's share of the model's seed (for the layers that draw random numbers)."""
    return (int(model_seed) * 0x9E3779B97F4A7C15 + (index + 1) * 0xD1B54A32D192ED03) % 2**64


def layer_specs(layers, input_shape, model_seed=0):
    """``[(EngineSpec, the layer it came from, that layer's position)]`` before fusion:
    what the exporters (ONNX, PyTorch) translate, kind by kind."""
    width = int(np.prod(input_shape))
    items = []
    for i, layer in enumerate(layers):
        for spec in layer.engine_specs(width, layer_seed(model_seed, i)):
            items.append((spec, layer, i))
            width = spec.outputs
    return items


def plan(layers, input_shape, model_seed):
    """``(specs, weighted, in_scale, in_offset)``: the spec tuples for ``_core.Network``,
    the layers holding weights (in the network's parameter order), and the folded
    leading rescaling."""
    items = layer_specs(layers, input_shape, model_seed)
    if not any(s.kind in _DENSE_KINDS for s, _, _ in items):
        raise ValueError("the model needs at least one Dense layer")
    scale, offset = 1.0, 0.0
    while items and items[0][0].kind == "rescaling":
        s = items.pop(0)[0]
        scale, offset = scale * s.scale, offset * s.scale + s.offset
    split = []
    for spec, layer, i in items:
        if spec.kind in _TRAINED_DENSE and spec.act in NEEDS_INPUT:
            split.append((spec._replace(act="linear"), layer, i))
            split.append((spec._replace(kind="activation", inputs=spec.outputs,
                                        use_bias=False), layer, i))
        else:
            split.append((spec, layer, i))
    fused = []
    for spec, layer, i in split:
        if fused and spec.kind == "activation" and fused[-1][0].act == "linear" and (
                (fused[-1][0].kind in _TRAINED_DENSE and spec.act not in NEEDS_INPUT)
                or fused[-1][0].kind == "dense_int8"):
            fused[-1] = (fused[-1][0]._replace(act=spec.act, alpha=spec.alpha),) + fused[-1][1:]
            continue
        if fused and spec.kind == "dropout" and fused[-1][0].kind == "dense" \
                and fused[-1][0].act in _DROPOUT_ACTS and fused[-1][0].rate == 0:
            fused[-1] = (fused[-1][0]._replace(rate=spec.rate, seed=spec.seed),) + fused[-1][1:]
            continue
        fused.append((spec, layer, i))
    for j, (spec, layer, i) in enumerate(fused):
        if spec.kind == "softmax" and j != len(fused) - 1:
            what = (f"Dense({layer.units}, activation='softmax')"
                    if getattr(layer, "activation", None) == "softmax"
                    else type(layer).__name__)
            raise ValueError(f"{what} is only supported as the last layer (layer {i} of "
                             f"{len(layers)}); remove the layers after it")
    weighted = []
    for layer in layers:
        if layer.weights and layer not in weighted:
            weighted.append(layer)
    return [_to_tuple(s) for s, _, _ in fused], weighted, scale, offset


def _to_tuple(s):
    d = s._asdict()
    d["kind"], d["act"] = _KIND_CODES[s.kind], ACT_CODES[s.act]
    return d
