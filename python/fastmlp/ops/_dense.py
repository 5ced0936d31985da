"""Fully connected (dense) layer forward and backward passes."""
from __future__ import annotations

from .. import _core
from . import _validate as _v


def dense_forward(x, w, b=None, *, activation="linear", alpha=None, out=None):
    """Dense layer forward pass: ``y = activation(x @ w + b)``.

    One fused GEMM: the bias add and the activation are applied in the kernel's epilogue,
    before the store.

    Parameters
    ----------
    x : array_like, shape ``(batch, in)``
    w : array_like, shape ``(in, out)`` (Keras layout; PyTorch's ``weight`` is ``w.T``)
    b : array_like, shape ``(out,)``, optional
    activation : str or None
        One of :data:`fastmlp.ops.ACTIVATIONS` ("linear", "relu", "leaky_relu",
        "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "elu", "selu", "softplus",
        "hard_sigmoid", "mish"); None means "linear".
    alpha : float, optional
        Negative slope of "leaky_relu" (default 0.01), alpha of "elu" (default 1.0);
        ignored otherwise.
    out : ndarray, optional
        Writable float32 C-contiguous ``(batch, out)`` destination that shares no memory
        with the inputs; its old contents are never read.

    Returns
    -------
    y : ndarray of shape ``(batch, out)``, float32.
    """
    fn = "dense_forward"
    x = _v.as_f32(fn, "x", x)
    w = _v.as_f32(fn, "w", w)
    if x.ndim != 2:
        _v.check_ndim(fn, "x", x, "a 2-D (batch, in) matrix; reshape one sample with "
                      "x.reshape(1, -1)", False)
    if w.ndim != 2:
        _v.check_ndim(fn, "w", w, "a 2-D (in, out) matrix", False)
    batch, nin = x.shape
    if w.shape[0] != nin:
        raise ValueError(
            f"dense_forward: argument 'w' must have shape ({nin}, units) to match x of "
            f"shape {x.shape}; received {_v.describe(w)}. Weights are [in, out] (Keras "
            f"layout): transpose a PyTorch weight with w.T."
        )
    nout = w.shape[1]
    code = _v.act_code(fn, activation)
    alpha = _v.act_alpha(fn, _v.ACTIVATIONS[code], alpha)
    if b is not None:
        b = _v.as_f32(fn, "b", b)
        if b.shape != (nout,):
            raise ValueError(
                f"dense_forward: argument 'b' must have shape ({nout},) (one bias per "
                f"output unit); received {_v.describe(b)}."
                + (" Flatten it with b.reshape(-1)." if b.size == nout else "")
            )
    if out is None:
        out = _v.alloc((batch, nout))
    else:
        _v.check_out(fn, out, (batch, nout), (("x", x), ("w", w), ("b", b)))
    _core.gemm(x, w, out, False, False, 1.0, 0.0, b, code, alpha)
    return out


def dense_backward(x, w, dy, *, y=None, activation="linear", alpha=None, need_dx=True,
                   z=None):
    """Dense layer backward pass.

    With ``z = x @ w + b`` and ``y = activation(z)``: ``dz = dy * activation'(z)``
    (computed from the pre-activation ``z`` when given, else from the forward output
    ``y``), then ``dx = dz @ w.T``, ``dw = x.T @ dz`` and ``db = dz.sum(axis=0)``.

    Parameters
    ----------
    x : array_like, shape ``(batch, in)``
        The layer input of the forward pass.
    w : array_like, shape ``(in, out)``
    dy : array_like, shape ``(batch, out)``
        Gradient of the loss with respect to the layer output ``y``.
    y : array_like, shape ``(batch, out)``, optional
        The forward output; required unless ``activation`` is "linear" or ``z`` is given.
    activation, alpha
        As in :func:`dense_forward`.
    need_dx : bool
        Compute ``dx`` (skip it for the first layer).
    z : array_like, shape ``(batch, out)``, optional
        The pre-activation ``x @ w + b`` (``dense_forward(x, w, b)``); required for
        "gelu", "gelu_tanh", "silu" and "mish", whose derivative is not a function of
        ``y``, and used instead of ``y`` whenever given.

    Returns
    -------
    (dx, dw, db) : ``dx`` of shape ``(batch, in)`` or None when ``need_dx`` is false,
    ``dw`` of shape ``(in, out)``, ``db`` of shape ``(out,)``; all float32.
    """
    fn = "dense_backward"
    x = _v.as_f32(fn, "x", x)
    w = _v.as_f32(fn, "w", w)
    dy = _v.as_f32(fn, "dy", dy)
    if x.ndim != 2:
        _v.check_ndim(fn, "x", x, "a 2-D (batch, in) matrix", False)
    if w.ndim != 2:
        _v.check_ndim(fn, "w", w, "a 2-D (in, out) matrix", False)
    batch, nin = x.shape
    if w.shape[0] != nin:
        raise ValueError(
            f"dense_backward: argument 'w' must have shape ({nin}, units) to match x of "
            f"shape {x.shape}; received {_v.describe(w)}."
        )
    nout = w.shape[1]
    if dy.shape != (batch, nout):
        raise ValueError(
            f"dense_backward: argument 'dy' must have shape {(batch, nout)} (batch of x, "
            f"units of w); received {_v.describe(dy)}."
        )
    code = _v.act_code(fn, activation)
    act = _v.ACTIVATIONS[code]
    alpha = _v.act_alpha(fn, act, alpha)
    if z is not None:
        z = _v.as_f32(fn, "z", z)
        if z.shape != dy.shape:
            raise ValueError(
                f"dense_backward: argument 'z' (the pre-activation) must have the shape of "
                f"dy {dy.shape}; received {_v.describe(z)}."
            )
    elif y is not None:
        y = _v.as_f32(fn, "y", y)
        if y.shape != dy.shape:
            raise ValueError(
                f"dense_backward: argument 'y' (the forward output) must have the shape of "
                f"dy {dy.shape}; received {_v.describe(y)}."
            )
    if code != 0:
        if z is None and _v.backward_needs_x(act, alpha):
            raise ValueError(
                f"dense_backward: argument 'z' (the pre-activation x @ w + b) is required "
                f"for activation {act!r}, whose derivative is not a function of the output "
                f"y: pass z=dense_forward(x, w, b); received None."
            )
        if z is None and y is None:
            raise ValueError(
                f"dense_backward: argument 'y' is required for activation "
                f"{act!r}: pass the forward output "
                f"y=dense_forward(x, w, b, activation={act!r}) (or the pre-activation "
                f"z=dense_forward(x, w, b)); received None."
            )
        dz = _v.alloc(dy.shape)
        if z is not None:
            _core.act_backward_x(z, dy, dz, code, alpha)
        else:
            _core.act_backward(y, dy, dz, code, alpha)
    else:
        dz = dy
    dw = _v.alloc((nin, nout))
    _core.gemm(x, dz, dw, True, False, 1.0, 0.0, None, 0, 0.0)
    db = _v.alloc((nout,))
    _core.colsum(dz, db)
    dx = None
    if need_dx:
        dx = _v.alloc((batch, nin))
        _core.gemm(dz, w, dx, False, True, 1.0, 0.0, None, 0, 0.0)
    return dx, dw, db
