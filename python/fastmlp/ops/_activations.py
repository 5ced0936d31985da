"""Element-wise activations, their backward passes, softmax and log-softmax."""
from __future__ import annotations

from .. import _core
from . import _validate as _v

_C = _v._ACT_CODES
_LINEAR, _RELU, _LEAKY, _SIGMOID, _TANH = (
    _C["linear"], _C["relu"], _C["leaky_relu"], _C["sigmoid"], _C["tanh"])
_GELU, _GELU_TANH, _SILU, _ELU, _SELU = (
    _C["gelu"], _C["gelu_tanh"], _C["silu"], _C["elu"], _C["selu"])
_SOFTPLUS, _HARD_SIGMOID, _MISH = _C["softplus"], _C["hard_sigmoid"], _C["mish"]


def _unary(fn, x, code, alpha, out):
    x = _v.as_f32(fn, "x", x)
    if out is None:
        out = _v.alloc(x.shape)
    else:
        _v.check_out(fn, out, x.shape, (("x", x),), inplace=x)
    _core.act_forward(x, out, code, alpha)
    return out


_OUT_DOC = """
    ``x`` may have any shape; float32 C-contiguous input is used without copying, other
    float dtypes are converted. ``out`` (optional) is a writable float32 C-contiguous
    array of ``x``'s shape; it may be ``x`` itself (in place) but must not partially
    overlap it. Returns a float32 array of ``x``'s shape (``out`` when given).
"""


def relu(x, *, out=None):
    """Rectified linear unit, ``max(x, 0)``, element-wise.
    """
    return _unary("relu", x, _RELU, 0.0, out)


def leaky_relu(x, alpha=0.01, *, out=None):
    """Leaky ReLU, ``x if x > 0 else alpha * x``, element-wise.
    """
    alpha = alpha if type(alpha) is float else _v.to_float("leaky_relu", "alpha", alpha)
    return _unary("leaky_relu", x, _LEAKY, alpha, out)


def sigmoid(x, *, out=None):
    """Logistic sigmoid, ``1 / (1 + exp(-x))``, element-wise.
    """
    return _unary("sigmoid", x, _SIGMOID, 0.0, out)


def tanh(x, *, out=None):
    """Hyperbolic tangent, element-wise.
    """
    return _unary("tanh", x, _TANH, 0.0, out)


def gelu(x, approximate=False, *, out=None):
    """Gaussian error linear unit, element-wise (Keras' ``gelu``).

    ``approximate=False`` (the default, as in ``keras.activations.gelu``):
    ``x * Phi(x) = x * (1 + erf(x / sqrt(2))) / 2``, Phi the standard normal CDF.
    ``approximate=True``: ``x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))) / 2``
    (activation name "gelu_tanh"). Both within 4 ulp of the exact value.
    """
    return _unary("gelu", x, _GELU_TANH if approximate else _GELU, 0.0, out)


def silu(x, *, out=None):
    """Sigmoid linear unit (swish), ``x * sigmoid(x)``, element-wise.
    """
    return _unary("silu", x, _SILU, 0.0, out)


def elu(x, alpha=1.0, *, out=None):
    """Exponential linear unit, ``x if x > 0 else alpha * (exp(x) - 1)``, element-wise.
    """
    alpha = alpha if type(alpha) is float else _v.to_float("elu", "alpha", alpha)
    return _unary("elu", x, _ELU, alpha, out)


def selu(x, *, out=None):
    """Scaled ELU, ``scale * (x if x > 0 else a * (exp(x) - 1))`` with Keras' constants
    ``a = 1.67326324``, ``scale = 1.05070098``, element-wise.
    """
    return _unary("selu", x, _SELU, 0.0, out)


def softplus(x, *, out=None):
    """``log(1 + exp(x))``, element-wise, without overflow (``x`` for large ``x``).
    """
    return _unary("softplus", x, _SOFTPLUS, 0.0, out)


def hard_sigmoid(x, *, out=None):
    """Hard sigmoid, ``relu6(x + 3) / 6`` (Keras 3; 0 below -3, 1 above 3), element-wise.
    """
    return _unary("hard_sigmoid", x, _HARD_SIGMOID, 0.0, out)


def mish(x, *, out=None):
    """Mish, ``x * tanh(softplus(x))``, element-wise.
    """
    return _unary("mish", x, _MISH, 0.0, out)


def activation_forward(name, x, alpha=None, *, out=None):
    """Any element-wise activation by name: ``y = activation(x)``.

    Parameters
    ----------
    name : str
        One of :data:`fastmlp.ops.ACTIVATIONS` ("linear", "relu", "leaky_relu",
        "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "elu", "selu", "softplus",
        "hard_sigmoid", "mish").
    x : array_like
    alpha : float, optional
        The activation's parameter: leaky_relu's negative slope (default 0.01), elu's
        alpha (default 1.0); ignored by the others.
    """
    fn = "activation_forward"
    code = _v.act_code(fn, name, "name")
    return _unary(fn, x, code, _v.act_alpha(fn, _v.ACTIVATIONS[code], alpha), out)


for _f in (relu, leaky_relu, sigmoid, tanh, gelu, silu, elu, selu, softplus, hard_sigmoid,
           mish, activation_forward):
    _f.__doc__ += _OUT_DOC
del _f


def activation_backward(name, y, dy, alpha=None, *, x=None, out=None):
    """Backward pass of an element-wise activation: ``dx = dy * activation'(x)``.

    The derivative is computed from the pre-activation ``x`` when it is given, and
    otherwise from the forward output ``y = activation(x)``: relu ``y > 0``, leaky_relu
    ``1 if y > 0 else alpha``, sigmoid ``y * (1 - y)``, tanh ``1 - y**2``, linear ``1``,
    elu ``1 if y > 0 else y + alpha``, selu ``scale if y > 0 else y + scale * a``,
    softplus ``1 - exp(-y)``, hard_sigmoid ``1/6 if 0 < y < 1 else 0``.
    gelu, gelu_tanh, silu and mish are not monotone (one y, two x): they need ``x``
    (so does elu with ``alpha <= 0``). From ``x`` every derivative is within a few ulp;
    from ``y``, elu and selu lose relative accuracy far below 0 (``y + alpha``
    cancels), so pass ``x`` when you have it.

    Parameters
    ----------
    name : str
        One of :data:`fastmlp.ops.ACTIVATIONS`.
    y : array_like or None
        The forward output; ignored (may be None) when ``x`` is given.
    dy : array_like
        Gradient with respect to the output, of ``y``'s (or ``x``'s) shape.
    alpha : float, optional
        leaky_relu's negative slope (default 0.01), elu's alpha (default 1.0).
    x : array_like, optional
        The pre-activation (the forward input), of ``dy``'s shape.
    out : ndarray, optional
        Writable float32 C-contiguous destination of ``dy``'s shape; may be ``dy``
        itself (in place), must not overlap ``y`` or ``x``.

    Returns
    -------
    dx : float32 array of ``dy``'s shape.
    """
    fn = "activation_backward"
    code = _v.act_code(fn, name, "name")
    act = _v.ACTIVATIONS[code]
    alpha = _v.act_alpha(fn, act, alpha)
    if x is None and _v.backward_needs_x(act, alpha):
        why = ("its derivative is not a function of the output y" if act != "elu" else
               f"with alpha={alpha!r} <= 0 a positive y does not mean a positive x")
        raise ValueError(
            f"activation_backward: argument 'x' (the pre-activation, the forward input) "
            f"is required for activation {act!r}: {why}. Call "
            f"activation_backward({act!r}, None, dy, x=x); received x=None."
        )
    src_name = "y" if x is None else "x"
    src = _v.as_f32(fn, src_name, y if x is None else x)
    dy = _v.as_f32(fn, "dy", dy)
    if src.shape != dy.shape:
        raise ValueError(
            f"activation_backward: arguments '{src_name}' and 'dy' must have the same "
            f"shape; received {src_name} of shape {src.shape} and dy of shape {dy.shape}."
        )
    if out is None:
        out = _v.alloc(dy.shape)
    else:
        _v.check_out(fn, out, dy.shape, ((src_name, src), ("dy", dy)), inplace=dy)
    if x is None:
        _core.act_backward(src, dy, out, code, alpha)
    else:
        _core.act_backward_x(src, dy, out, code, alpha)
    return out


def _softmax(fn, x, out, log):
    x = _v.as_f32(fn, "x", x)
    nd = x.ndim
    if nd == 2:
        x2 = x
    elif nd == 1:
        x2 = x.reshape(1, x.shape[0])
    else:
        _v.check_ndim(fn, "x", x, "1-D (one row) or 2-D (row-wise); reshape it to "
                      "(rows, classes) first", False)
    if out is None:
        out = _v.alloc(x.shape)
    else:
        _v.check_out(fn, out, x.shape, (("x", x),), inplace=x)
    _core.softmax(x2, out, log)
    return out


def softmax(x, *, out=None):
    """Softmax ``exp(x - max) / sum(exp(x - max))`` over the last axis.

    ``x`` is 2-D (each row separately) or 1-D (treated as one row). Numerically stable:
    finite input never gives NaN. ``out`` as in :func:`relu` (``x`` itself allowed).
    Returns a float32 array of ``x``'s shape.
    """
    return _softmax("softmax", x, out, False)


def log_softmax(x, *, out=None):
    """Log-softmax ``x - max - log(sum(exp(x - max)))`` over the last axis.

    ``x`` is 2-D (each row separately) or 1-D (treated as one row). Numerically stable
    (no ``log(0)`` for finite input). ``out`` as in :func:`relu` (``x`` itself allowed).
    Returns a float32 array of ``x``'s shape.
    """
    return _softmax("log_softmax", x, out, True)
