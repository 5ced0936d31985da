"""The activation names layers accept: the engine's list (``fastmlp._core.ACTIVATIONS``,
in the order of csrc/kernels/kernel_table.h's ``Act``), plus ``"softmax"`` where a Dense
may end a model with it, and Keras' aliases."""
from __future__ import annotations

from .. import _core

ACTIVATIONS = tuple(getattr(_core, "ACTIVATIONS", ("linear", "relu", "leaky_relu", "sigmoid",
                                                   "tanh")))
ACT_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
ALIASES = {"swish": "silu"}  # Keras' other names for the same function


def check_activation(value, what, allow_softmax=False):
    """The canonical name of activation ``value`` (None: ``"linear"``), else ValueError
    naming ``what`` and listing the known names."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        name = ALIASES.get(value, value)
        if name in ACT_CODES or (allow_softmax and name == "softmax"):
            return name
    known = list(ACTIVATIONS) + sorted(ALIASES) + (["softmax"] if allow_softmax else [])
    raise ValueError(f"{what}: expected one of {known} or None, got {value!r}")
