"""Weight constraints, as Keras' ``keras.constraints``: ``Dense(kernel_constraint=...)``
or ``bias_constraint=``, applied by the engine after every update.

``MaxNorm(max_value=2, axis=0)``: the norms of the kernel's columns (``axis=0``, one per
unit: ``Dense``'s kernel is ``[inputs, units]``) or rows (``axis=1``) above ``max_value``
are scaled down to it, as Keras computes it: ``w * clip(norm, 0, max_value) / (1e-7 +
norm)``. A bias has one norm.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._check import number as _num
from ._registry import Configurable, resolve, serialize

__all__ = ["Constraint", "MaxNorm", "get", "serialize"]


class Constraint(Configurable):
    """Base class: a projection of the weights applied after each update."""


class MaxNorm(Constraint):
    """Caps the norm of each unit's weights at ``max_value`` (> 0)."""

    def __init__(self, max_value=2.0, axis=0):
        self.max_value = _num("max_value", max_value, lo=0.0, lo_open=True)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) \
                or int(axis) not in (0, 1):
            raise ValueError(f"MaxNorm axis: expected 0 (a norm per unit of a Dense kernel) "
                             f"or 1 (per input), got {axis!r}")
        self.axis = int(axis)

    def __call__(self, w):
        """The constrained copy of ``w`` (float32 in, float32 out)."""
        w = np.asarray(w, dtype=np.float32)
        axis = 0 if w.ndim == 1 else self.axis
        norms = np.sqrt(np.square(w.astype(np.float64)).sum(axis=axis, keepdims=True))
        f = np.minimum(norms, self.max_value) / (1e-7 + norms)
        return (w * f.astype(np.float32)).astype(np.float32)

    def _engine_fields(self, prefix: str) -> dict:
        out = {f"{prefix}_max_norm": self.max_value}
        if prefix == "kernel":
            out["kernel_max_norm_axis"] = self.axis
        return out

    def get_config(self):
        """``{"max_value": ..., "axis": ...}``."""
        return {"max_value": self.max_value, "axis": self.axis}


_BY_NAME = {"max_norm": MaxNorm, "maxnorm": MaxNorm}
_CLASSES = {"MaxNorm": MaxNorm}


def get(identifier, name="constraint"):
    """Resolve a constraint: None, an instance, ``"max_norm"``, or a
    ``{"class_name", "config"}`` dict from :func:`serialize`.

    Raises
    ------
    ValueError
        For anything else; the message names the argument (``name``).
    """
    return resolve(identifier, name, Constraint, _BY_NAME, _CLASSES,
                   "None, 'max_norm' or a fastmlp.constraints.Constraint such as MaxNorm(3)")
