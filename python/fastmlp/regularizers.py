"""Weight penalties, as Keras' ``keras.regularizers``: pass one as
``Dense(kernel_regularizer=...)`` or ``bias_regularizer=``. The engine adds the penalty to
the loss it reports (fit's History, ``evaluate``) and its gradient to the weights' before
every update; ``regularizer(w)`` computes it in NumPy.

``L1(l1=0.01)``: ``l1 * sum(|w|)``; ``L2(l2=0.01)``: ``l2 * sum(w**2)``;
``L1L2(l1=0.0, l2=0.0)``: both. Strings ``"l1"``, ``"l2"``, ``"l1_l2"`` give the defaults.
"""
from __future__ import annotations

import numpy as np

from ._check import number as _num
from ._registry import Configurable, resolve, serialize

__all__ = ["Regularizer", "L1", "L2", "L1L2", "get", "serialize"]


class Regularizer(Configurable):
    """A penalty ``l1 * sum(|w|) + l2 * sum(w**2)`` on one weight tensor."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _num("l1", l1, lo=0.0)
        self.l2 = _num("l2", l2, lo=0.0)

    def __call__(self, w):
        """The penalty of the weights ``w`` (computed in float64)."""
        w = np.asarray(w, dtype=np.float64)
        return float(self.l1 * np.abs(w).sum() + self.l2 * np.square(w).sum())

    def _engine_fields(self, prefix: str) -> dict:
        return {f"{prefix}_l1": self.l1, f"{prefix}_l2": self.l2}

    def get_config(self) -> dict:
        """Constructor arguments."""
        return {"l1": self.l1, "l2": self.l2}



class L1(Regularizer):
    """``l1 * sum(|w|)``, ``l1 >= 0`` (default 0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        """``{"l1": ...}``."""
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w**2)``, ``l2 >= 0`` (default 0.01); its gradient is ``2 * l2 * w``."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        """``{"l2": ...}``."""
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)`` (both default 0)."""


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}
_CLASSES = {c.__name__: c for c in (L1, L2, L1L2)}


def get(identifier, name="regularizer"):
    """Resolve a regularizer: None, an instance (returned as is), ``"l1"``, ``"l2"``,
    ``"l1_l2"``, or a ``{"class_name", "config"}`` dict from :func:`serialize`.

    Raises
    ------
    ValueError
        For anything else; the message names the argument (``name``).
    """
    return resolve(identifier, name, Regularizer, _BY_NAME, _CLASSES,
                   "None, 'l1', 'l2', 'l1_l2' or a fastmlp.regularizers.Regularizer "
                   "such as L2(1e-4)")
