"""Argument and data checks shared by ``Sequential`` and its training loop."""
from __future__ import annotations

import numbers

import numpy as np

def check_int(name, v, lo, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int >= {lo}, got {type(v).__name__} {v!r}")
    if v < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {v}")
    return int(v)


def fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def rows_contiguous(x):
    """True when each example (row) of x is one C-contiguous block; the row stride may be
    anything (slices, broadcast views, reversed rows): the engine gathers through it."""
    expect = x.itemsize
    for d in range(x.ndim - 1, 0, -1):
        if x.shape[d] != 1 and x.strides[d] != expect:
            return False
        expect *= x.shape[d]
    return x.shape[0] <= 1 or x.strides[0] % x.itemsize == 0


def nonfinite_input(x, row, name, tail=""):
    """The ValueError for NaN/inf found by the engine in example ``row`` of x."""
    where = np.argwhere(~np.isfinite(x[row]))
    if len(where) == 0:  # finite in x: the model's Rescaling overflowed float32
        return ValueError(f"{name}[{int(row)}] holds values that become inf after the "
                          f"model's Rescaling (beyond the float32 range); scale the data "
                          f"down first.{tail}")
    bad = (int(row),) + tuple(int(i) for i in where[0])
    return ValueError(f"{name} contains NaN or inf (at index {bad}: {x[bad]}); clean the data "
                      f"first, e.g. np.nan_to_num({name}).{tail}")


def refuse_nonfinite(net, x, name):
    """fit's check before any training, one vectorised pass over what the first layer
    sees (a Rescaling can overflow): bad data is refused with the weights untouched.
    (The engine checks each gathered batch too, and stops before a bad one.)"""
    bad = net.first_nonfinite_row(x)
    if bad >= 0:
        raise nonfinite_input(x, bad, name, " Nothing was trained.")


def check_shape(shape, name="input_shape"):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{name}: expected a tuple of positive ints, got {shape!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"{name}: expected a non-empty tuple of positive ints (the shape of "
                         f"one example, without the batch dimension), got {shape!r}")
    return shape
