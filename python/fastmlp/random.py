"""Seeds: ``set_random_seed`` sets the default seed for weight initialisation and shuffling.

Like ``keras.utils.set_random_seed``: after ``fm.set_random_seed(n)``, models built
without an explicit ``seed=`` and fits without ``seed=`` draw their seeds, in call order,
from a generator seeded with ``n`` (and Python's ``random`` and NumPy's legacy global
generator are seeded too). Without it, those seeds come from the OS.
"""
from __future__ import annotations

import operator
import os
import random as _pyrandom

import numpy as np

__all__ = ["set_random_seed"]

_default_rng: np.random.Generator | None = None


def _check_seed(seed, name="seed") -> int:
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"{name}: expected an int >= 0 or None, got {type(seed).__name__} {seed!r}") from None
    if seed < 0:
        raise ValueError(f"{name}: expected an int >= 0 or None, got {seed}")
    return int(seed)


def set_random_seed(seed: int) -> None:
    """Make weight initialisation and shuffling reproducible (see the module docstring)."""
    global _default_rng
    seed = _check_seed(seed)
    _default_rng = np.random.default_rng(seed)
    _pyrandom.seed(seed)
    np.random.seed(seed % (2**32))


def draw_seed() -> int:
    """A 63-bit seed from the default generator (or from the OS when none is set)."""
    if _default_rng is None:
        return int.from_bytes(os.urandom(8), "little") >> 1
    return int(_default_rng.integers(0, 2**63 - 1))
