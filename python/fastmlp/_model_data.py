"""What ``Sequential`` makes of the data it is given: x checked and converted to what
the engine reads (uint8 or float32 rows), y to the loss's targets (int32 labels or
float32 rows), with Keras-style messages for every mismatch."""
from __future__ import annotations

import math

import numpy as np

from ._model_checks import rows_contiguous

_U8 = np.dtype(np.uint8)


def prep_x(model, x, name="x"):
    if not isinstance(x, np.ndarray):
        if x is None:
            raise ValueError(f"{name}: expected an array of examples, got None")
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{name}: could not convert to a numeric array ({e})") from None
    elif type(x) is not np.ndarray:
        x = np.asarray(x)  # a plain view of a subclass (np.matrix rows stay 2-D)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a numeric array (float, or uint8 images), got "
                        f"dtype {x.dtype}")
    if x.ndim < 2:
        if x.ndim == 1 and model._input_shape == (x.shape[0],) and x.shape[0] > 0:
            raise ValueError(f"{name}: got one example of shape {x.shape}; pass a batch "
                             f"of shape (N, {x.shape[0]}), e.g. {name}[None]")
        raise ValueError(f"{name}: expected an array of shape (N, ...) with one example "
                         f"per row, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 examples)")
    shape = tuple(x.shape[1:])
    if model._input_shape is None:
        model._input_shape = shape
        model._build()
    elif shape != model._input_shape:
        hint = ""
        if shape == model._input_shape[1:]:
            hint = f" It looks like a single example; pass a batch, e.g. {name}[None]."
        elif int(np.prod(shape)) == int(np.prod(model._input_shape)):
            hint = (f" Reshape it with {name}.reshape(len({name}), "
                    f"*{model._input_shape}).")
        raise ValueError(f"{name}: each example has shape {shape}, but the model expects "
                         f"input_shape={model._input_shape}.{hint}")
    # No copy when each row is contiguous (e.g. a slice of a larger array, or a memmap /
    # broadcast view of many rows): the engine reads rows through their stride, tile
    # by tile, so predict on 10^7 rows never materialises a float32 copy of x.
    if x.dtype == _U8 or x.dtype == np.float32:
        if not rows_contiguous(x):
            x = np.ascontiguousarray(x)
        if x.dtype == _U8:
            return x
    else:
        x = to_float32(x, name)
    return x  # NaN / inf: the engine checks (fit: before training, see there)

def to_float32(x, name):
    """x as a C-contiguous float32 array; a finite value beyond float32's range (it
    would silently become inf) is a ValueError naming it."""
    try:
        with np.errstate(over="raise"):
            return np.ascontiguousarray(x, dtype=np.float32)
    except FloatingPointError:
        with np.errstate(invalid="ignore"):
            big = np.isfinite(x) & (np.abs(x) > np.finfo(np.float32).max)
        bad = tuple(int(i) for i in np.argwhere(big)[0])
        raise ValueError(f"{name} holds {float(x[bad]):g} at index {bad}, beyond the float32 "
                         f"range (|value| <= 3.4e38) that fastmlp computes in; rescale "
                         f"the data first") from None

def prep_y(model, y, n, name="y"):
    if model._net is not None and getattr(model, "_configured_net", None) is not model._net:
        model._configure_net()  # its first configuration failed: say why again
    if y is None:
        raise ValueError(f"{name}: targets are required")
    if not isinstance(y, np.ndarray):
        try:
            y = np.asarray(y)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{name}: could not convert to a numeric array ({e})") from None
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric targets, got dtype {y.dtype}")
    if y.ndim == 0 or len(y) != n:
        got = len(y) if y.ndim else "a scalar"
        raise ValueError(f"x and {name} have different lengths: {n} examples in x but "
                         f"{got} in {name}")
    C = model._layers[-1].output_shape[0]
    code = model.loss.code
    if code == 0:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            hint = ""
            if y.ndim == 2 and y.shape[1] == C:
                hint = (" It looks one-hot: use loss='categorical_crossentropy', or pass "
                        f"integer labels {name}.argmax(axis=1).")
            raise ValueError(f"{name}: sparse_categorical_crossentropy expects integer "
                             f"labels of shape ({n},), got shape {y.shape}.{hint}")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise ValueError(f"{name}: class labels must be whole numbers")
        lo, hi = y.min(), y.max()
        if lo < 0 or hi >= C:
            raise ValueError(
                f"{name}: labels must be in [0, {C - 1}] for a model with {C} output "
                f"units, got labels from {lo} to {hi}. Give the last Dense layer one "
                f"unit per class, or fix the labels.")
        return np.ascontiguousarray(y, dtype=np.int32)
    if y.ndim == 1:
        if code == 1 and y.dtype.kind in "iub":
            raise ValueError(f"{name}: categorical_crossentropy expects one-hot targets of "
                             f"shape ({n}, {C}); for integer labels use "
                             "loss='sparse_categorical_crossentropy'")
        if C == 1:
            y = y[:, None]
    if y.shape[1:] != (C,):
        what = (f"{model.loss.name} expects targets (0/1 labels or probabilities, one per "
                f"output) of shape ({n}, {C})" if code == 3 else
                f"expected targets of shape ({n}, {C})")
        raise ValueError(f"{name}: {what} to match the model's {C} outputs, got "
                         f"{y.shape}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not math.isfinite(float(y.sum(dtype=np.float64))):
        raise ValueError(f"{name} contains NaN or inf")
    if code == 3:
        lo, hi = float(y.min()), float(y.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{name}: binary_crossentropy expects targets in [0, 1] (0/1 "
                             f"labels or probabilities), got values from {lo:g} to "
                             f"{hi:g}")
    return y
