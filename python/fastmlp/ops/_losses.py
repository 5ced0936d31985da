"""Loss functions."""
from __future__ import annotations

import re

from .. import _core
from . import _validate as _v

_RANGE_MSG = re.compile(r"value (-?\d+) at index (\d+)")


def softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy and its gradient, fused in one pass.

    Parameters
    ----------
    logits : array_like, shape ``(N, C)``
        Unnormalised scores; float32 is used without copying.
    labels : array_like of int, shape ``(N,)``
        Class indices in ``[0, C)`` (any integer dtype; not one-hot, not float).

    Returns
    -------
    (loss, dlogits) : ``loss`` the mean over rows of ``-log softmax(logits)[i, labels[i]]``
    as a Python float, and ``dlogits = (softmax(logits) - onehot(labels)) / N``, the
    gradient of that mean, float32 of shape ``(N, C)``. Stable for large logits (finite
    input never gives NaN). For ``N == 0`` the loss is NaN (the mean of nothing) and
    ``dlogits`` is empty.
    """
    fn = "softmax_cross_entropy"
    logits = _v.as_f32(fn, "logits", logits)
    if logits.ndim != 2:
        _v.check_ndim(fn, "logits", logits, "a 2-D (N, classes) matrix", False)
    n, c = logits.shape
    labels = _v.as_labels(fn, labels, n, c)
    d = _v.alloc((n, c))
    if n == 0:
        return float("nan"), d
    try:
        total = _core.softmax_xent(logits, labels, d, None, 1.0 / n)
    except ValueError as exc:
        m = _RANGE_MSG.search(str(exc))
        if m is None:
            raise
        raise _v.label_range_error(fn, "labels", int(m.group(1)), int(m.group(2)), n, c) from None
    return total / n, d
