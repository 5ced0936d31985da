"""The core layers: the ``Layer`` base class, ``Dense``, ``Flatten``, ``Rescaling`` and
``Softmax``, with the engine spec each one hands the C++ network (``engine_specs``).
"""
from __future__ import annotations

import itertools
import math
import numbers
from typing import NamedTuple

import numpy as np

from .. import constraints, initializers, regularizers
from . import _quantized
from ._activation_names import check_activation, default_alpha

__all__ = ["Layer", "Dense", "Flatten", "Rescaling", "Softmax", "WeightView", "EngineSpec"]


class EngineSpec(NamedTuple):
    """What one engine layer needs (csrc/engine/types.h LayerSpec): ``kind`` is a name of
    ``fastmlp._core.LAYER_KINDS``; each kind reads the fields it uses."""
    kind: str
    inputs: int
    outputs: int
    act: str = "linear"
    alpha: float = 0.01
    use_bias: bool = False
    scale: float = 1.0
    offset: float = 0.0
    rate: float = 0.0
    seed: int = 0
    stddev: float = 0.0
    momentum: float = 0.99
    epsilon: float = 1e-3
    center: bool = True
    use_gamma: bool = True
    kernel_l1: float = 0.0
    kernel_l2: float = 0.0
    bias_l1: float = 0.0
    bias_l2: float = 0.0
    kernel_max_norm: float = 0.0
    bias_max_norm: float = 0.0
    kernel_max_norm_axis: int = 0
    quant_scale: float = 0.0
    quant_zero: int = 0


_name_counters: dict[str, itertools.count] = {}


def _auto_name(base: str) -> str:
    c = _name_counters.setdefault(base, itertools.count())
    n = next(c)
    return base if n == 0 else f"{base}_{n}"


_READ_ONLY_MSG = (
    "fastmlp weights are read-only views of the C++ engine's buffers (so that the engine "
    "knows when they change and concurrent predict calls never see half-written weights). "
    "Change them with model.set_weights(...) or layer.set_weights(...), e.g. "
    "w = model.get_weights(); w[0] *= 0.5; model.set_weights(w)")


class WeightView(np.ndarray):
    """A read-only NumPy view of weights held by the C++ engine (``Dense.kernel`` /
    ``Dense.bias`` once the model has been compiled or used). Reading works like any
    array; writing in place raises ``ValueError`` pointing to ``set_weights``."""

    def __setitem__(self, key, value):
        if not self.flags.writeable:
            raise ValueError(_READ_ONLY_MSG)
        super().__setitem__(key, value)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if out is not None:
            for o in out:
                if isinstance(o, WeightView) and not o.flags.writeable:
                    raise ValueError(_READ_ONLY_MSG)
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, WeightView) else o
                                  for o in out)
        inputs = tuple(i.view(np.ndarray) if isinstance(i, WeightView) else i for i in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __repr__(self):
        return repr(self.view(np.ndarray))


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class Layer:
    """Base class. Subclasses define ``compute_output_shape`` and ``get_config``."""

    min_batch_rows = 1  # rows a training batch needs (BatchNormalization: 2)

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name: expected a str, got {type(name).__name__}")
        self.name = name or _auto_name(_snake(type(self).__name__))
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None

    # -- shapes and weights -------------------------------------------------------------
    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Shape of one output example for an input example of shape ``input_shape``
        (the base class returns it unchanged).
        """
        return tuple(input_shape)

    def build(self, input_shape: tuple, rng: np.random.Generator) -> tuple:
        """Record the input and output shapes for ``input_shape``.

        Parameters
        ----------
        input_shape : tuple of int
            Shape of one input example (without the batch dimension).
        rng : numpy.random.Generator
            Random generator for weight initialisation (unused by the base class).

        Returns
        -------
        tuple
            The output shape of one example.
        """
        self.input_shape = tuple(input_shape)
        self.output_shape = self.compute_output_shape(self.input_shape)
        return self.output_shape

    # Names of the attributes holding the weight arrays, in the engine's parameter order
    # (a layer with weights overrides this; the engine takes its arrays in that order).
    def _weight_names(self) -> tuple:
        return ()

    @property
    def weights(self) -> list:
        """The layer's weight arrays, or ``[]`` before the layer is built."""
        arrays = [getattr(self, n, None) for n in self._weight_names()]
        return [] if any(a is None for a in arrays) else arrays

    def _needs_init(self) -> bool:
        """Whether build must (re)initialise weights (some are missing)."""
        return any(getattr(self, n, None) is None for n in self._weight_names())

    def get_weights(self) -> list:
        """float32 copies of the layer's weights (an int8 Dense's kernel: int8)."""
        return [self._public_weight(n, w) for n, w in zip(self._weight_names(), self.weights)]

    def _public_weight(self, name, w):
        """Weight ``name`` as get_weights returns it."""
        return np.array(w, dtype=np.float32, copy=True)

    def set_weights(self, weights) -> None:
        """Replace the layer's weights with ``weights`` (converted to float32), in the
        order of ``weights``.

        Raises
        ------
        ValueError
            If the layer is not built yet (when it has weights), or the number or shapes
            of the arrays differ.
        TypeError
            If an array is not numeric.
        """
        mine = self.weights
        if not self._weight_names():
            if len(weights) != 0:
                raise ValueError(f"layer {self.name!r} has no weights, got {len(weights)} "
                                 "arrays")
            return
        if not mine:
            raise ValueError(f"layer {self.name!r} is not built yet (its input size is "
                             "unknown); give the model input_shape= first")
        if len(weights) != len(mine):
            raise ValueError(f"layer {self.name!r} expects {len(mine)} arrays, got {len(weights)}")
        checked = self._check_weights(weights)
        engine = getattr(self, "_engine", None)
        if engine is not None:
            net, p = engine
            for i, w in enumerate(checked):
                net.set_param(p + i, w)  # under the network's lock; bumps its version
        else:
            for dst, w in zip(mine, checked):
                np.copyto(dst, w.astype(dst.dtype, copy=False))  # (int8 kernel: integers)

    def _check_weights(self, weights):
        """float32 C-contiguous copies-if-needed of ``weights``, shapes checked."""
        out = []
        for name, dst, w in zip(self._weight_names(), self.weights, weights):
            w = np.asarray(w)
            if w.shape != dst.shape:
                raise ValueError(f"layer {self.name!r}: expected a weight of shape "
                                 f"{dst.shape}, got {w.shape}")
            if w.dtype.kind not in "biuf":
                raise TypeError(f"layer {self.name!r}: expected numeric weights, got dtype "
                                f"{w.dtype}")
            out.append(self._engine_weight(name, w))
        return out

    def _engine_weight(self, name, w):
        """The float32 array the engine holds for weight ``name`` (checked)."""
        return np.ascontiguousarray(w, dtype=np.float32)

    def _bind_engine(self, net, first):
        """Move the weights into network parameters ``first, first + 1, ...``: the layer
        keeps read-only views of them (writes go through set_weights, which the engine
        sees)."""
        for i, n in enumerate(self._weight_names()):
            net.set_param(first + i, np.ascontiguousarray(getattr(self, n), dtype=np.float32))
            setattr(self, n, net.param(first + i).view(WeightView))
        self._engine = (net, first)

    def count_params(self) -> int:
        """Number of weights (elements of all weight arrays) in the layer."""
        return int(sum(w.size for w in self.weights))

    # -- engine -------------------------------------------------------------------------
    def engine_specs(self, width: int, seed: int) -> tuple:
        """The engine layers this layer becomes for flat inputs of ``width`` values
        (``EngineSpec`` tuples; none for a layer that only reshapes). ``seed``: the
        layer's share of the model's seed, for layers that draw random numbers."""
        raise TypeError(f"layer {self.name!r} of type {type(self).__name__} is not "
                        "supported by the fastmlp engine")

    # -- config -------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments that rebuild this layer (the base class: its name)."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        """Create a layer from ``get_config()`` output: ``cls(**config)``."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Rescaling(Layer):
    """``y = x * scale + offset``, e.g. ``Rescaling(1 / 255)`` to feed uint8 images."""

    def __init__(self, scale: float, offset: float = 0.0, name: str | None = None):
        super().__init__(name)
        for nm, v in (("scale", scale), ("offset", offset)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"Rescaling {nm}: expected a finite number, got {v!r}")
        self.scale = float(scale)
        self.offset = float(offset)

    def engine_specs(self, width, seed):
        """One ``rescaling`` layer (a leading one is folded into the input gather)."""
        return (EngineSpec("rescaling", width, width, scale=self.scale, offset=self.offset),)

    def get_config(self):
        """Constructor arguments: ``scale``, ``offset`` and ``name``."""
        return {"scale": self.scale, "offset": self.offset, "name": self.name}


class Flatten(Layer):
    """Flattens each example to one dimension (``(28, 28) -> (784,)``)."""

    def compute_output_shape(self, input_shape):
        """``(prod(input_shape),)``."""
        return (int(np.prod(input_shape)),)

    def engine_specs(self, width, seed):
        """None: the engine sees every example flat already."""
        return ()


class Dense(Layer):
    """Fully connected layer ``y = activation(x @ W + b)`` with ``W`` shaped ``[in, out]``.

    ``kernel_regularizer`` / ``bias_regularizer`` (``fm.regularizers.L1``, ``L2``,
    ``L1L2``) add a penalty to the loss; ``kernel_constraint`` / ``bias_constraint``
    (``fm.constraints.MaxNorm``) hold the weights after every update, as in Keras.

    ``dtype_policy``: ``"float32"``, ``"mixed_bfloat16"`` (bf16 compute, float32
    weights: ``fastmlp.mixed_precision``; the default is its global policy), or what
    ``quantize("int8")`` / ``quantize("bf16")`` make of the layer (see
    ``fastmlp.layers._quantized``); an int8 layer's weights are ``kernel`` (int8),
    ``bias`` and ``kernel_scale``, as in Keras 3.
    """

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, name: str | None = None, dtype_policy=None,
                 input_quantization=None):
        super().__init__(name)
        self.dtype_policy = _quantized.check_policy(dtype_policy)
        self.input_quantization = _quantized.check_input_quantization(input_quantization)
        if self.input_quantization is not None and self.dtype_policy != "int8":
            raise ValueError("Dense input_quantization: only an int8 layer quantizes its "
                             f"inputs (dtype_policy={self.dtype_policy!r})")
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < 1:
            raise ValueError(f"Dense units: expected a positive int, got {units!r}")
        self.units = int(units)
        self.activation = check_activation(activation, "Dense activation", allow_softmax=True)
        self.use_bias = bool(use_bias)
        initializers.get(kernel_initializer)
        initializers.get(bias_initializer)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, "bias_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint, "kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, "bias_constraint")
        self.kernel: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        self.kernel_scale: np.ndarray | None = None  # int8: per output column
        # (network, index of the kernel among its parameters) once the weights live in a
        # C++ network; kernel/bias are then read-only WeightViews of its buffers.
        self._engine = None

    def compute_output_shape(self, input_shape):
        """``(units,)``.

        Raises
        ------
        ValueError
            If ``input_shape`` is not one-dimensional (add ``Flatten`` before the layer).
        """
        if len(input_shape) != 1:
            raise ValueError(
                f"Dense layer {self.name!r} expects flat examples of shape (features,), but "
                f"its input has shape {tuple(input_shape)} per example. Add fm.Flatten() "
                f"before it, e.g. fm.Sequential([fm.Flatten(), fm.Dense({self.units}), ...]).")
        return (self.units,)

    def build(self, input_shape, rng):
        """Set the shapes and initialise the kernel (and bias) if missing or of the wrong shape.

        Parameters
        ----------
        input_shape : tuple of int
            ``(features,)``, the shape of one input example.
        rng : numpy.random.Generator
            Passed to the kernel and bias initialisers.

        Returns
        -------
        tuple
            ``(units,)``.

        Raises
        ------
        ValueError
            If ``input_shape`` is not one-dimensional.
        MemoryError
            If a large kernel cannot be allocated.
        """
        out = super().build(input_shape, rng)
        fan_in = int(self.input_shape[0])
        if self.dtype_policy == "int8" and (self.kernel is None or
                                            self.kernel.shape != (fan_in, self.units)):
            _quantized.empty_int8(self, fan_in)
            self._engine = None
        elif self.kernel is None or self.kernel.shape != (fan_in, self.units):
            init = initializers.get(self.kernel_initializer)
            try:
                kernel = init((fan_in, self.units), rng)
            except (MemoryError, ValueError) as exc:  # ValueError: "array is too big"
                if fan_in * self.units < 1 << 26:
                    raise
                raise MemoryError(
                    f"Dense layer {self.name!r} (units={self.units}): its ({fan_in}, "
                    f"{self.units}) kernel needs {4 * fan_in * self.units} bytes, which "
                    f"cannot be allocated ({exc})") from None
            self.kernel = np.ascontiguousarray(kernel, dtype=np.float32)
            if self.use_bias:
                self.bias = np.ascontiguousarray(
                    initializers.get(self.bias_initializer)((self.units,), rng),
                    dtype=np.float32)
            self._engine = None
        return out

    def _weight_names(self):
        return _quantized.weight_names(self.dtype_policy, self.use_bias)

    def _engine_weight(self, name, w):
        return _quantized.check_weight(self, name, w)

    def _public_weight(self, name, w):
        return _quantized.public_weight(self, name, w)

    def quantize(self, mode, input_quantization=None):
        """Quantize the built float layer in place (``"int8"`` or ``"bf16"``; Keras 3's
        ``Layer.quantize``); ``Sequential.quantize`` is the usual entry point."""
        if mode not in _quantized.QUANTIZE_MODES:
            raise ValueError(f"Dense.quantize mode: expected one of "
                             f"{', '.join(map(repr, _quantized.QUANTIZE_MODES))}, got {mode!r}")
        if self.kernel is None:
            raise ValueError(f"layer {self.name!r} is not built yet; build the model first")
        _quantized.quantize_layer(self, mode, input_quantization)

    def engine_specs(self, width, seed):
        """One ``dense`` layer (its activation in the GEMM epilogue; LeakyReLU slope 0.01),
        then a ``softmax`` for ``activation="softmax"``."""
        sm = self.activation == "softmax"
        act = "linear" if sm else self.activation
        rules = {}
        for prefix, rule in (("kernel", self.kernel_regularizer),
                             ("kernel", self.kernel_constraint),
                             ("bias", self.bias_regularizer if self.use_bias else None),
                             ("bias", self.bias_constraint if self.use_bias else None)):
            if rule is not None:
                rules.update(rule._engine_fields(prefix))
        if self.dtype_policy == "int8":
            scale, zero = self.input_quantization or (0.0, 0)
            dense = EngineSpec("dense_int8", width, self.units, act=act,
                               alpha=default_alpha(act), use_bias=self.use_bias,
                               quant_scale=scale, quant_zero=zero)
        elif self.dtype_policy in ("bf16", "mixed_bfloat16"):  # bf16 operands, float32 sums
            dense = EngineSpec("dense_bf16", width, self.units, act=act,
                               alpha=default_alpha(act), use_bias=self.use_bias, **rules)
        else:
            dense = EngineSpec("dense", width, self.units, act=act, alpha=default_alpha(act),
                               use_bias=self.use_bias, **rules)
        dense = (dense,)
        return dense + (EngineSpec("softmax", self.units, self.units),) if sm else dense

    def get_config(self):
        """Constructor arguments; initialisers given as callables are saved as the defaults."""
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer
                if isinstance(self.kernel_initializer, str) else "glorot_uniform",
                "bias_initializer": self.bias_initializer
                if isinstance(self.bias_initializer, str) else "zeros",
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
                "name": self.name, **self._quantization_config()}

    def _quantization_config(self):
        """Config keys of a quantized layer (none for float32: old files stay the same)."""
        if self.dtype_policy == "float32":
            return {}
        c = {"dtype_policy": self.dtype_policy}
        if self.input_quantization is not None:
            c["input_quantization"] = list(self.input_quantization)
        return c


class Softmax(Layer):
    """Row-wise softmax; only as the last layer (fused with cross-entropy in training)."""

    def engine_specs(self, width, seed):
        """One ``softmax`` layer."""
        return (EngineSpec("softmax", width, width),)
