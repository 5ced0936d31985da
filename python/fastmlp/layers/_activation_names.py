"""The activation names layers accept: the engine's list (``fastmlp._core.ACTIVATIONS``,
in the order of csrc/kernels/kernel_table.h's ``Act``), plus ``"softmax"`` where a Dense
may end a model with it, and Keras' aliases."""
from __future__ import annotations

from .. import _core

ACTIVATIONS = tuple(_core.ACTIVATIONS)
ACT_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
# Those whose derivative needs the pre-activation (the engine keeps them a separate layer).
NEEDS_INPUT = frozenset(n for n, x in zip(ACTIVATIONS, _core.ACT_BACKWARD_NEEDS_X) if x)
# The activation's one parameter where the name alone fixes it (Keras defaults); a Dense's
# fused leaky_relu has slope 0.01 (fastmlp's engine convention since the first release).
DEFAULT_ALPHA = {"elu": 1.0}


def default_alpha(name):
    return DEFAULT_ALPHA.get(name, 0.01)
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
