"""Weight initialisers: ``glorot_uniform`` (default), ``glorot_normal``, ``he_uniform``,
``he_normal``, ``lecun_uniform``, ``zeros``, ``ones``.

Each is a function ``(shape, rng) -> float32 array`` with ``shape = (fan_in, fan_out)``
for kernels or ``(n,)`` for biases; ``rng`` is a ``numpy.random.Generator``.
The normal variants are truncated at two standard deviations, like Keras.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["get", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
           "lecun_uniform", "zeros", "ones"]


def _fans(shape):
    if len(shape) == 2:
        return shape[0], shape[1]
    n = int(np.prod(shape)) if shape else 1
    return n, n


def _uniform(shape, rng, limit):
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _truncated_normal(shape, rng, std):
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # resample outside two standard deviations
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    # keep the variance of the truncated distribution equal to std**2
    return (out * (std / 0.87962566103423978)).astype(np.float32)


def glorot_uniform(shape, rng):
    """Glorot (Xavier) uniform: U(-limit, limit), ``limit = sqrt(6 / (fan_in + fan_out))``.

    Parameters
    ----------
    shape : tuple of int
        ``(fan_in, fan_out)`` for a kernel, ``(n,)`` for a bias.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``shape``.
    """
    fi, fo = _fans(shape)
    return _uniform(shape, rng, math.sqrt(6.0 / (fi + fo)))


def glorot_normal(shape, rng):
    """Glorot (Xavier) normal, truncated at 2 std, ``std = sqrt(2 / (fan_in + fan_out))``.

    Parameters
    ----------
    shape : tuple of int
        ``(fan_in, fan_out)`` for a kernel, ``(n,)`` for a bias.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``shape``.
    """
    fi, fo = _fans(shape)
    return _truncated_normal(shape, rng, math.sqrt(2.0 / (fi + fo)))


def he_uniform(shape, rng):
    """He uniform: U(-limit, limit), ``limit = sqrt(6 / fan_in)``.

    Parameters
    ----------
    shape : tuple of int
        ``(fan_in, fan_out)`` for a kernel, ``(n,)`` for a bias.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``shape``.
    """
    fi, _ = _fans(shape)
    return _uniform(shape, rng, math.sqrt(6.0 / fi))


def he_normal(shape, rng):
    """He normal, truncated at 2 std, ``std = sqrt(2 / fan_in)``.

    Parameters
    ----------
    shape : tuple of int
        ``(fan_in, fan_out)`` for a kernel, ``(n,)`` for a bias.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``shape``.
    """
    fi, _ = _fans(shape)
    return _truncated_normal(shape, rng, math.sqrt(2.0 / fi))


def lecun_uniform(shape, rng):
    """LeCun uniform: U(-limit, limit), ``limit = sqrt(3 / fan_in)``.

    Parameters
    ----------
    shape : tuple of int
        ``(fan_in, fan_out)`` for a kernel, ``(n,)`` for a bias.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``shape``.
    """
    fi, _ = _fans(shape)
    return _uniform(shape, rng, math.sqrt(3.0 / fi))


def zeros(shape, rng=None):
    """float32 zeros of shape ``shape`` (``rng`` is ignored)."""
    return np.zeros(shape, dtype=np.float32)


def ones(shape, rng=None):
    """float32 ones of shape ``shape`` (``rng`` is ignored)."""
    return np.ones(shape, dtype=np.float32)


_BY_NAME = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal,
                                    lecun_uniform, zeros, ones)}


def get(identifier):
    """Look up an initialiser by name (or return a callable unchanged)."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"unknown initializer {identifier!r}; expected one of "
                     f"{sorted(_BY_NAME)} or a callable (shape, rng) -> array")
