"""PyTorch conversion (``torch`` is optional and imported only here, when called).

``from_torch(module)`` converts an ``nn.Sequential`` (nested ones are flattened) of
``Linear``, ``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``, ``Softmax`` (last, over the
feature dimension), ``Flatten`` (``start_dim=1``), ``Identity`` and ``Dropout`` (a
fastmlp ``Dropout``, active in training only). ``nn.Linear.weight`` is ``[out, in]``; fastmlp's kernel is ``[in, out]``,
so weights are transposed. ``to_torch(model)`` builds the equivalent ``nn.Sequential``
(``Rescaling`` becomes :class:`Rescaling` from :func:`rescaling_module`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["from_torch", "to_torch", "rescaling_module"]

_RESCALING = None


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - exercised only without torch
        raise ImportError("fastmlp's PyTorch converters need torch (pip install torch)") from e
    return torch


def rescaling_module():
    """The ``nn.Module`` class used for ``Rescaling`` (``x * scale + offset``)."""
    global _RESCALING
    if _RESCALING is None:
        torch = _torch()

        class Rescaling(torch.nn.Module):
            """``x * scale + offset`` (fastmlp's ``Rescaling`` layer)."""

            def __init__(self, scale: float, offset: float = 0.0):
                super().__init__()
                self.scale = float(scale)
                self.offset = float(offset)

            def forward(self, x):
                return x * self.scale + self.offset

            def extra_repr(self):
                return f"scale={self.scale}, offset={self.offset}"

        Rescaling.__module__ = __name__
        Rescaling.__qualname__ = "Rescaling"
        _RESCALING = Rescaling
    return _RESCALING


def _flat_modules(module, nn):
    if isinstance(module, nn.Sequential):
        out = []
        for m in module:
            out += _flat_modules(m, nn)
        return out
    return [module]


def from_torch(module, input_shape=None, name=None):
    """Convert a ``torch.nn.Sequential`` MLP into a :class:`fastmlp.Sequential`.

    ``input_shape`` (one example, no batch dimension) defaults to the first ``Linear``'s
    ``in_features``; give it for image-shaped inputs behind an ``nn.Flatten``.
    """
    torch = _torch()
    nn = torch.nn
    from ..layers import (Activation, BatchNormalization, Dense, Dropout, Flatten,
                          LayerNormalization, LeakyReLU, ReLU, Rescaling, Sigmoid, Softmax,
                          Tanh)

    def _np(t):
        return t.detach().to("cpu", torch.float32).numpy()
    from ..models import Sequential

    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module (nn.Sequential), got "
                        f"{type(module).__name__}")
    mods = _flat_modules(module, nn)
    Resc = rescaling_module()
    acts = {nn.GELU: None, nn.SiLU: "silu", nn.ELU: "elu", nn.SELU: "selu",
            nn.Softplus: "softplus", nn.Hardsigmoid: "hard_sigmoid", nn.Mish: "mish"}
    known = (nn.Linear, nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softmax, nn.Flatten,
             nn.Identity, nn.Dropout, nn.BatchNorm1d, nn.LayerNorm, Resc, *acts)
    bad = sorted({type(m).__name__ for m in mods if not isinstance(m, known)})
    if bad:
        raise ValueError(f"from_torch: unsupported modules: {', '.join(bad)} (fastmlp converts "
                         "nn.Sequential of Linear, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, "
                         "SiLU, ELU, SELU, Softplus, Hardsigmoid, Mish, Softmax, BatchNorm1d, "
                         "LayerNorm, Flatten, Identity, Dropout)")
    layers, weights, first_in = [], [], None
    for i, m in enumerate(mods):
        if isinstance(m, nn.Linear):
            w = m.weight.detach().to("cpu", torch.float32).numpy().T
            if first_in is None:
                first_in = m.in_features
            layers.append(Dense(m.out_features, use_bias=m.bias is not None))
            weights.append(w)
            if m.bias is not None:
                weights.append(m.bias.detach().to("cpu", torch.float32).numpy())
        elif isinstance(m, nn.ReLU):
            layers.append(ReLU())
        elif isinstance(m, nn.LeakyReLU):
            layers.append(LeakyReLU(alpha=float(m.negative_slope)))
        elif isinstance(m, nn.Sigmoid):
            layers.append(Sigmoid())
        elif isinstance(m, nn.Tanh):
            layers.append(Tanh())
        elif isinstance(m, nn.Softmax):
            if m.dim not in (1, -1):
                raise ValueError(f"from_torch: Softmax(dim={m.dim}) is not supported; use the "
                                 "feature dimension (dim=1 or -1)")
            if any(not isinstance(x, (nn.Identity, nn.Dropout)) for x in mods[i + 1:]):
                raise ValueError("from_torch: Softmax is only supported as the last layer")
            layers.append(Softmax())
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise ValueError(f"from_torch: Flatten(start_dim={m.start_dim}, "
                                 f"end_dim={m.end_dim}) is not supported; use nn.Flatten()")
            layers.append(Flatten())
        elif isinstance(m, Resc):
            layers.append(Rescaling(m.scale, m.offset))
        elif type(m) in acts:
            name = acts[type(m)]
            if type(m) is nn.GELU:
                name = "gelu_tanh" if m.approximate == "tanh" else "gelu"
            elif type(m) is nn.Softplus and (m.beta != 1 or m.threshold != 20):
                raise ValueError("from_torch: Softplus with beta != 1 is not supported")
            if type(m) is nn.ELU and float(m.alpha) != 1.0:
                raise ValueError(f"from_torch: ELU(alpha={m.alpha}) is not supported "
                                 "(fastmlp's elu has Keras' alpha 1.0)")
            layers.append(Activation(name))
        elif isinstance(m, nn.BatchNorm1d):
            if not m.track_running_stats or m.momentum is None:
                raise ValueError("from_torch: BatchNorm1d needs running statistics and a "
                                 "momentum (not None)")
            layers.append(BatchNormalization(momentum=1.0 - float(m.momentum),
                                             epsilon=float(m.eps), center=m.affine,
                                             scale=m.affine))
            if m.affine:
                weights += [_np(m.weight), _np(m.bias)]
            weights += [_np(m.running_mean), _np(m.running_var)]
        elif isinstance(m, nn.LayerNorm):
            if len(m.normalized_shape) != 1:
                raise ValueError(f"from_torch: LayerNorm over {tuple(m.normalized_shape)}: "
                                 "only the feature dimension is supported")
            affine = m.elementwise_affine
            layers.append(LayerNormalization(epsilon=float(m.eps), center=affine and
                                             m.bias is not None, scale=affine))
            if affine:
                weights.append(_np(m.weight))
                if m.bias is not None:
                    weights.append(_np(m.bias))
        elif isinstance(m, nn.Dropout):
            # (after the final Softmax it changes nothing fastmlp computes in training)
            if m.p > 0 and not (layers and isinstance(layers[-1], Softmax)):
                layers.append(Dropout(float(m.p)))
        # Identity: nothing
    if first_in is None:
        raise ValueError("from_torch: the module has no nn.Linear layer")
    model = Sequential(layers, input_shape=input_shape or (first_in,), seed=0,
                       name=name or "sequential")
    model.set_weights([np.ascontiguousarray(w, dtype=np.float32) for w in weights])
    return model


def to_torch(model):
    """The equivalent ``torch.nn.Sequential`` (float32, eval mode) of a built model.

    Translates the model's engine specs kind by kind (``_TORCH_KINDS``), so a layer kind
    exports once it has an entry there; a Dense's fused LeakyReLU has slope 0.01, as in
    the engine.
    """
    torch = _torch()
    nn = torch.nn
    from .._engine_plan import layer_specs

    if model.input_shape is None:
        raise ValueError("to_torch: the model is not built (its input shape is unknown); pass "
                         "input_shape= to Sequential(...) or fit it first")
    model.build()
    if model.dtype_policy not in ("float32", "mixed_bfloat16"):  # (mixed: float32 weights)
        raise ValueError(f"to_torch: the model is quantized (dtype_policy="
                         f"{model.dtype_policy!r}); PyTorch gets the float32 model: export "
                         "it before model.quantize(...), or use to_onnx, which keeps the "
                         "quantization")
    out = [nn.Flatten()] if len(model.input_shape) > 1 else []
    for spec, layer, _ in layer_specs(model.layers, model.input_shape):
        make = _TORCH_KINDS.get(spec.kind)
        if make is None:
            raise ValueError(f"to_torch: layer {layer.name!r} of type {type(layer).__name__} "
                             "has no PyTorch equivalent here")
        out += make(torch, spec, layer)
    seq = nn.Sequential(*out)
    seq.eval()
    return seq


def _torch_act(nn, name, alpha):
    if name == "linear":
        return []
    if name == "leaky_relu":
        return [nn.LeakyReLU(negative_slope=alpha)]
    if name == "elu":
        return [nn.ELU(alpha=alpha)]
    if name == "gelu_tanh":
        return [nn.GELU(approximate="tanh")]
    return [{"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU,
             "silu": nn.SiLU, "selu": nn.SELU, "softplus": nn.Softplus,
             "hard_sigmoid": nn.Hardsigmoid, "mish": nn.Mish}[name]()]


def _copy(torch, dst, src):
    with torch.no_grad():
        dst.copy_(torch.from_numpy(np.array(src, dtype=np.float32)))


def _torch_batch_norm(torch, spec, layer):
    # torch's momentum is the weight of the new batch: 1 - Keras' momentum. (In training
    # torch updates running_var with the unbiased variance, Keras with the biased one.)
    bn = torch.nn.BatchNorm1d(spec.outputs, eps=spec.epsilon, momentum=1.0 - spec.momentum)
    if spec.use_gamma:
        _copy(torch, bn.weight, layer.gamma)
    if spec.center:
        _copy(torch, bn.bias, layer.beta)
    _copy(torch, bn.running_mean, layer.moving_mean)
    _copy(torch, bn.running_var, layer.moving_variance)
    return [bn]


def _torch_layer_norm(torch, spec, layer):
    ln = torch.nn.LayerNorm(spec.outputs, eps=spec.epsilon)
    _copy(torch, ln.weight, layer.gamma if spec.use_gamma else np.ones(spec.outputs))
    _copy(torch, ln.bias, layer.beta if spec.center else np.zeros(spec.outputs))
    return [ln]


def _torch_dense(torch, spec, layer):
    lin = torch.nn.Linear(spec.inputs, spec.outputs, bias=spec.use_bias)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.kernel.T,
                                                               dtype=np.float32)))
        if spec.use_bias:
            lin.bias.copy_(torch.from_numpy(np.array(layer.bias, dtype=np.float32)))
    return [lin] + _torch_act(torch.nn, spec.act, spec.alpha)


# Engine layer kind -> the PyTorch modules it becomes (one line per kind).
_TORCH_KINDS = {
    "dense": _torch_dense,
    "dense_bf16": _torch_dense,  # (mixed_bfloat16: its float32 master weights)
    "activation": lambda torch, s, l: _torch_act(torch.nn, s.act, s.alpha),
    "rescaling": lambda torch, s, l: [rescaling_module()(s.scale, s.offset)],
    "softmax": lambda torch, s, l: [torch.nn.Softmax(dim=1)],
    "dropout": lambda torch, s, l: [torch.nn.Dropout(p=s.rate)],
    "batch_norm": _torch_batch_norm,
    "layer_norm": _torch_layer_norm,
    "gaussian_noise": lambda torch, s, l: [],  # (no torch module; the identity at inference)
}
