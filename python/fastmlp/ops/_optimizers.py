"""In-place optimizer updates (fused kernels)."""
from __future__ import annotations


from .. import _core
from . import _validate as _v


def sgd_update(param, grad, velocity=None, *, lr, momentum=0.0, nesterov=False,
               weight_decay=0.0):
    """One in-place SGD step (PyTorch semantics, dampening 0).

    ``g = grad + weight_decay * param``; with momentum ``velocity = momentum * velocity +
    g`` and ``param -= lr * (g + momentum * velocity if nesterov else velocity)``;
    without momentum ``param -= lr * g``. A velocity below 2**-100 in magnitude is
    stored as 0 (it would move ``param`` by less than ``lr * 2**-100``, and decaying
    through float32's subnormals costs a microcode assist per value on x86).

    Parameters
    ----------
    param : ndarray, float32, C-contiguous, writable
        Updated in place (never converted: an update of a copy would be lost).
    grad : array_like of ``param``'s shape
        Converted to float32 if needed.
    velocity : ndarray like ``param``, required when ``momentum != 0``
        Momentum buffer, updated in place (start it at zeros); left unchanged when
        ``momentum == 0``.
    lr, momentum, weight_decay : float, >= 0
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0``).

    Returns None.
    """
    fn = "sgd_update"
    param = _v.check_state(fn, "param", param)
    grad = _v.as_f32(fn, "grad", grad)
    if grad.shape != param.shape:
        raise ValueError(
            f"sgd_update: argument 'grad' must have the shape of 'param' {param.shape}; "
            f"received {_v.describe(grad)}."
        )
    lr = _v.to_float(fn, "lr", lr, lo=0.0)
    momentum = _v.to_float(fn, "momentum", momentum, lo=0.0)
    weight_decay = _v.to_float(fn, "weight_decay", weight_decay, lo=0.0)
    nesterov = bool(nesterov)
    if nesterov and momentum == 0.0:
        raise ValueError("sgd_update: nesterov=True needs momentum > 0; received momentum=0.0.")
    if velocity is not None:
        velocity = _v.check_state(fn, "velocity", velocity, param.shape)
    elif momentum != 0.0:
        raise ValueError(
            f"sgd_update: argument 'velocity' is required when momentum={momentum!r} != 0: "
            f"pass a float32 array of shape {param.shape} (start with "
            f"np.zeros_like(param)); received None."
        )
    _v.check_no_alias(fn, (("param", param), ("grad", grad), ("velocity", velocity)))
    _core.sgd_update(param, grad, velocity, lr, momentum, nesterov, weight_decay)


def adam_update(param, grad, m, v, *, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, decoupled=True):
    """One in-place Adam / AdamW step with bias correction.

    ``m = beta1 * m + (1 - beta1) * g``, ``v = beta2 * v + (1 - beta2) * g**2``,
    ``param -= lr * (m / (1 - beta1**step)) / (sqrt(v / (1 - beta2**step)) + eps)``.
    Weight decay is decoupled (AdamW, ``param -= lr * weight_decay * param``) when
    ``decoupled`` is true, else added to the gradient (L2, classic Adam:
    ``g = grad + weight_decay * param``). Moments below 2**-100 in magnitude are stored
    as 0 (see ``sgd_update``).

    Parameters
    ----------
    param, m, v : ndarray, float32, C-contiguous, writable, same shape
        Updated in place (never converted). Start ``m`` and ``v`` at zeros.
    grad : array_like of ``param``'s shape
    step : int >= 1
        1-based step count (for the bias correction).
    lr, eps, weight_decay : float >= 0
    beta1, beta2 : float in [0, 1)
    decoupled : bool

    Returns None.
    """
    fn = "adam_update"
    param = _v.check_state(fn, "param", param)
    grad = _v.as_f32(fn, "grad", grad)
    if grad.shape != param.shape:
        raise ValueError(
            f"adam_update: argument 'grad' must have the shape of 'param' {param.shape}; "
            f"received {_v.describe(grad)}."
        )
    m = _v.check_state(fn, "m", m, param.shape)
    v = _v.check_state(fn, "v", v, param.shape)
    step = _v.to_int(fn, "step", step, lo=1)
    lr = _v.to_float(fn, "lr", lr, lo=0.0)
    beta1 = _v.to_float(fn, "beta1", beta1, lo=0.0, hi=1.0, hi_open=True)
    beta2 = _v.to_float(fn, "beta2", beta2, lo=0.0, hi=1.0, hi_open=True)
    eps = _v.to_float(fn, "eps", eps, lo=0.0)
    weight_decay = _v.to_float(fn, "weight_decay", weight_decay, lo=0.0)
    _v.check_no_alias(fn, (("param", param), ("grad", grad), ("m", m), ("v", v)))
    _core.adam_update(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay,
                      bool(decoupled))


