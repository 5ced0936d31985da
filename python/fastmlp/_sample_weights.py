"""Per-row weights for fit / evaluate: ``sample_weight`` and ``class_weight`` checked and
turned into one float32 array the engine applies in its C++ loop (Keras 3 semantics: a
batch's loss is ``sum(w_i * l_i) / rows``, its metrics ``sum(w_i m_i) / sum(w_i)``)."""
from __future__ import annotations

import math
import numbers

import numpy as np

_SPARSE, _CATEGORICAL, _BINARY = 0, 1, 3  # fastmlp.losses codes of the classification losses


def check_sample_weight(sample_weight, n, name="sample_weight"):
    """``sample_weight`` as a float32 array of shape (n,) (None stays None): one finite
    weight >= 0 per example; shape (n, 1) is taken as (n,)."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: could not convert to a numeric array ({e})") from None
    if w.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected numeric weights, one per example, got dtype "
                        f"{w.dtype}")
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (n,):
        raise ValueError(f"{name}: expected one weight per example, shape ({n},), got shape "
                         f"{w.shape}")
    with np.errstate(over="ignore"):
        w32 = np.ascontiguousarray(w, dtype=np.float32)
    bad = ~(np.isfinite(w32) & (w32 >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}: weights must be finite and >= 0 (float32), got {w[i]!r} "
                         f"at index {i}")
    return w32


def _class_of_rows(y, loss):
    """The class of each row of prepared targets ``y`` (fastmlp.models._prep_y), or a
    ValueError when the loss has no classes."""
    if loss.code == _SPARSE:
        return y
    if loss.code == _CATEGORICAL:
        return np.argmax(y, axis=1)
    if loss.code == _BINARY:
        if y.shape[1] != 1:
            raise ValueError(f"class_weight: with loss='binary_crossentropy' it needs a single "
                             f"sigmoid output (0/1 targets of shape (N,)), but the targets "
                             f"have {y.shape[1]} columns; weight the examples with "
                             f"sample_weight instead")
        return np.rint(y[:, 0]).astype(np.int64)
    raise ValueError(f"class_weight: needs a classification loss (sparse_categorical_, "
                     f"categorical_ or binary_crossentropy), got loss={loss.name!r}; weight "
                     f"the examples with sample_weight instead")


def class_weights(class_weight, y, loss, name="y"):
    """Per-row weights (float32) from ``class_weight`` {class: weight} and the prepared
    targets; classes it leaves out weigh 1, as in Keras. A class that does not occur in
    ``y`` is a ValueError naming it."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight: expected a dict {{class index: weight}}, got "
                        f"{type(class_weight).__name__} {class_weight!r}")
    classes = _class_of_rows(y, loss)
    present = np.unique(classes)
    lut = np.ones(int(present.max()) + 1, dtype=np.float32)
    for c, v in class_weight.items():
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise TypeError(f"class_weight: keys must be integer class indices, got "
                            f"{type(c).__name__} {c!r}")
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or \
                not (math.isfinite(float(v)) and v >= 0):
            raise ValueError(f"class_weight: the weight of class {c} must be a finite number "
                             f">= 0, got {v!r}")
        if c < 0 or c >= len(lut) or not np.any(present == c):
            shown = ", ".join(str(int(k)) for k in present[:20])
            more = ", ..." if len(present) > 20 else ""
            raise ValueError(f"class_weight: class {c} does not occur in {name} (its classes "
                             f"are {shown}{more}); remove it from class_weight or check the "
                             f"labels")
        lut[int(c)] = float(v)
    return lut[classes]


def row_weights(sample_weight, class_weight, y, loss, n):
    """fit's per-row weights: sample_weight times the class weight of each row's class
    (either alone when the other is None), or None when both are None."""
    w = check_sample_weight(sample_weight, n)
    if class_weight is None:
        return w
    cw = class_weights(class_weight, y, loss)
    return cw if w is None else np.ascontiguousarray(w * cw, dtype=np.float32)
