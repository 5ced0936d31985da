"""Element-wise activations, their backward passes, softmax and log-softmax."""
from __future__ import annotations

from .. import _core
from . import _validate as _v

_LINEAR, _RELU, _LEAKY, _SIGMOID, _TANH = range(5)


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


for _f in (relu, leaky_relu, sigmoid, tanh):
    _f.__doc__ += _OUT_DOC
del _f


def activation_backward(name, y, dy, alpha=0.01, *, out=None):
    """Backward pass of an element-wise activation, from its forward output.

    Returns ``dx = dy * activation'(x)`` where the derivative is computed from the
    forward output ``y = activation(x)``: relu ``y > 0``, leaky_relu ``1 if y > 0 else
    alpha``, sigmoid ``y * (1 - y)``, tanh ``1 - y**2``, linear ``1``.

    Parameters
    ----------
    name : {"linear", "relu", "leaky_relu", "sigmoid", "tanh"}
    y, dy : array_like of the same shape
    alpha : float
        Negative slope of "leaky_relu".
    out : ndarray, optional
        Writable float32 C-contiguous destination of ``dy``'s shape; may be ``dy``
        itself (in place), must not overlap ``y``.

    Returns
    -------
    dx : float32 array of ``dy``'s shape.
    """
    fn = "activation_backward"
    code = _v.act_code(fn, name, "name")
    y = _v.as_f32(fn, "y", y)
    dy = _v.as_f32(fn, "dy", dy)
    if y.shape != dy.shape:
        raise ValueError(
            f"activation_backward: arguments 'y' and 'dy' must have the same shape; "
            f"received y of shape {y.shape} and dy of shape {dy.shape}."
        )
    alpha = alpha if type(alpha) is float else _v.to_float(fn, "alpha", alpha)
    if out is None:
        out = _v.alloc(dy.shape)
    else:
        _v.check_out(fn, out, dy.shape, (("y", y), ("dy", dy)), inplace=dy)
    _core.act_backward(y, dy, out, code, alpha)
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
