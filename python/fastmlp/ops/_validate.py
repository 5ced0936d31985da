"""Argument checking and conversion shared by the ``fastmlp.ops`` functions (internal).

Every public op funnels its arguments through these helpers. Each helper has a fast path
(float32 C-contiguous ndarray: returned as is, no copy) checked first, and a slow path
that converts what can be converted and otherwise raises a ``TypeError`` / ``ValueError``
whose message names the function, the argument, what was expected, what was received and
how to fix it.
"""
from __future__ import annotations

import difflib
import math
import numbers
import operator

import numpy as np

from .. import _core

F32 = np.dtype(np.float32)
I32 = np.dtype(np.int32)
_ndarray = np.ndarray

# Activation names understood by the kernels, in kernel code order: the one list, defined
# in csrc/kernels/kernel_table.h (kActNames) and exported by the extension.
ACTIVATIONS: tuple = tuple(_core.ACTIVATIONS)
_ACT_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
# Activations whose derivative is not a function of the forward output y (the backward
# pass needs the pre-activation x).
ACT_NEEDS_X = frozenset(
    name for name, needs in zip(ACTIVATIONS, _core.ACT_BACKWARD_NEEDS_X) if needs
)
# The ``alpha`` an activation uses when the caller passes None (Keras' defaults).
ACT_DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0}


def alloc(shape):
    """Allocate an uninitialised float32 output (the tests swap in a NaN-filling one)."""
    return np.empty(shape, F32)


def describe(x) -> str:
    """Short description of a received value for error messages."""
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    if x is None:
        return "None"
    text = repr(x)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(x).__name__} {text}"


# --------------------------------------------------------------------------- arrays


def as_f32(fn: str, name: str, x) -> np.ndarray:
    """Return ``x`` as a float32 C-contiguous ndarray, without a copy when it is one.

    Other floating dtypes (float16, float64, ...) and non-contiguous or byte-swapped
    arrays are converted; everything else (bool, int, complex, object, str, None) raises
    ``TypeError``. Read-only arrays are fine: inputs are never written.
    """
    if type(x) is _ndarray and x.dtype == F32 and x.flags.c_contiguous and x.flags.aligned:
        return x
    return _convert_f32(fn, name, x)


def _convert_f32(fn: str, name: str, x) -> np.ndarray:
    if x is None:
        raise TypeError(
            f"{fn}: argument '{name}' is required: expected a float32 array, received None."
        )
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{fn}: argument '{name}' must be a floating-point array (float32 "
                f"preferred); received {describe(x)}, which NumPy cannot turn into an "
                f"array ({exc})."
            ) from None
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{fn}: argument '{name}' must be a floating-point array (float32 preferred, "
            f"float16/float64 are converted); received {describe(arr)}. "
            f"Convert it explicitly first, e.g. `{name}.astype(np.float32)`."
        )
    # np.asarray (not ascontiguousarray) keeps 0-d arrays 0-d and drops subclasses
    # (np.memmap, np.matrix) without copying when the data is already float32 C-order.
    try:
        out = np.asarray(arr, dtype=F32, order="C")
        # a misaligned view (e.g. at an odd offset into a byte buffer) is copied: the
        # kernels read float* / int32* (an unaligned one is undefined behaviour in C++)
        return out if out.flags.aligned else out.copy()
    except MemoryError:
        # e.g. a zero-stride np.broadcast_to view claiming terabytes: say which argument
        raise MemoryError(
            f"{fn}: argument '{name}' ({describe(arr)}) needs a float32 C-contiguous copy "
            f"of {arr.size * 4} bytes, which cannot be allocated."
        ) from None


def check_ndim(fn: str, name: str, arr: np.ndarray, expected: str, ok: bool) -> None:
    """Raise ValueError for a wrong rank (``ok`` is the caller's rank test)."""
    if not ok:
        raise ValueError(
            f"{fn}: argument '{name}' must be {expected}; received {describe(arr)} "
            f"({arr.ndim}-D)."
        )


def check_out(fn: str, out, shape: tuple, inputs=(), inplace=None, name: str = "out"):
    """Validate a caller-supplied output array and return it.

    ``out`` must be a writable float32 C-contiguous ndarray of exactly ``shape`` that
    shares no memory with any of ``inputs`` (already converted arrays). ``inplace`` is an
    input that ``out`` may be *exactly* (same buffer, same shape): element-wise kernels
    support in-place operation but not partial overlap.
    """
    if not isinstance(out, _ndarray):
        raise TypeError(
            f"{fn}: argument '{name}' must be a float32 ndarray of shape {shape}; received "
            f"{describe(out)}. Allocate one with `np.empty({shape}, np.float32)` or pass "
            f"{name}=None."
        )
    if out.dtype != F32:
        raise TypeError(
            f"{fn}: argument '{name}' must have dtype float32 (results are written into it "
            f"in place, never into a converted copy); received {describe(out)}. Allocate "
            f"it with `np.empty({shape}, np.float32)` or pass {name}=None."
        )
    if out.shape != shape:
        raise ValueError(
            f"{fn}: argument '{name}' must have shape {shape}; received {describe(out)}."
        )
    if not out.flags.c_contiguous:
        raise ValueError(
            f"{fn}: argument '{name}' must be C-contiguous (results are written in place); "
            f"received a non-contiguous array of shape {out.shape} and strides "
            f"{out.strides}. Pass `np.empty({shape}, np.float32)` or {name}=None."
        )
    if not out.flags.writeable:
        raise ValueError(
            f"{fn}: argument '{name}' is read-only (shape {out.shape}, dtype {out.dtype}); "
            f"pass a writable float32 array or {name}=None."
        )
    if not out.flags.aligned:
        raise ValueError(
            f"{fn}: argument '{name}' is not aligned to 4 bytes (a view at an odd byte "
            f"offset); pass `np.empty({shape}, np.float32)` or {name}=None."
        )
    for arg_name, arr in inputs:
        if arr is None or not np.may_share_memory(out, arr):
            continue
        if arr is inplace and _same_buffer(out, arr):
            continue
        if np.shares_memory(out, arr):
            raise ValueError(
                f"{fn}: argument '{name}' (shape {out.shape}) shares memory with input "
                f"'{arg_name}' (shape {arr.shape}); outputs must not alias inputs"
                + (f" (only exactly '{arg_name}' itself is allowed, in place)" if inplace is arr else "")
                + f". Pass a separate array or {name}=None."
            )
    return out


def _same_buffer(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.shape == b.shape
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def check_state(fn: str, name: str, x, shape=None) -> np.ndarray:
    """Validate an array updated in place (optimizer parameter or state).

    It must be a writable float32 C-contiguous ndarray (of ``shape`` when given): an
    in-place update of a converted copy would be silently lost, so nothing is converted.
    """
    if type(x) is _ndarray and x.dtype == F32 and x.flags.c_contiguous and x.flags.writeable \
            and x.flags.aligned:
        if shape is None or x.shape == shape:
            return x
    if not isinstance(x, _ndarray):
        raise TypeError(
            f"{fn}: argument '{name}' is updated in place and must be a writable float32 "
            f"C-contiguous ndarray; received {describe(x)}. Create it with "
            f"`np.asarray(..., dtype=np.float32)` and keep a reference to it."
        )
    if x.dtype != F32:
        raise TypeError(
            f"{fn}: argument '{name}' is updated in place and must have dtype float32 "
            f"(a converted copy would be updated instead and the result lost); received "
            f"{describe(x)}. Store it as float32, e.g. `{name} = {name}.astype(np.float32)`."
        )
    if not x.flags.c_contiguous:
        raise ValueError(
            f"{fn}: argument '{name}' is updated in place and must be C-contiguous; "
            f"received a non-contiguous array of shape {x.shape} and strides {x.strides}. "
            f"Store it as `np.ascontiguousarray({name})`."
        )
    if not x.flags.writeable:
        raise ValueError(
            f"{fn}: argument '{name}' is updated in place but is read-only (shape "
            f"{x.shape}, dtype {x.dtype}); pass a writable array, e.g. `{name}.copy()`."
        )
    if not x.flags.aligned:
        raise ValueError(
            f"{fn}: argument '{name}' is updated in place but is not aligned to 4 bytes (a "
            f"view at an odd byte offset); store it as `{name}.copy()`."
        )
    if shape is not None and x.shape != shape:
        raise ValueError(
            f"{fn}: argument '{name}' must have the shape of 'param' {shape}; received "
            f"{describe(x)}."
        )
    return x


def check_no_alias(fn: str, named_arrays) -> None:
    """Raise ValueError when any two of ``named_arrays`` (name, array) share memory."""
    n = len(named_arrays)
    for i in range(n):
        ni, ai = named_arrays[i]
        if ai is None:
            continue
        for j in range(i + 1, n):
            nj, aj = named_arrays[j]
            if aj is None:
                continue
            if np.may_share_memory(ai, aj) and np.shares_memory(ai, aj):
                raise ValueError(
                    f"{fn}: arguments '{ni}' (shape {ai.shape}) and '{nj}' (shape "
                    f"{aj.shape}) share memory; each must be a separate array. "
                    f"Pass a copy, e.g. `{nj}.copy()`."
                )


def as_labels(fn: str, labels, n: int, ncls: int, name: str = "labels") -> np.ndarray:
    """Return integer class labels as an int32 C-contiguous (n,) array.

    int32 C-contiguous input is passed through (the kernel binding checks the range);
    other integer dtypes are range-checked here before the cast, so that no value wraps.
    """
    if type(labels) is _ndarray and labels.dtype == I32 and labels.flags.c_contiguous \
            and labels.flags.aligned:
        arr = labels
    else:
        if labels is None:
            raise TypeError(
                f"{fn}: argument '{name}' is required: expected an integer array of shape "
                f"({n},), received None."
            )
        if isinstance(labels, np.ndarray):
            arr = labels
        else:
            try:
                arr = np.asarray(labels)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"{fn}: argument '{name}' must be an integer array of shape ({n},); "
                    f"received {describe(labels)} ({exc})."
                ) from None
        if arr.dtype.kind not in "iu":
            hint = (
                " If they hold whole numbers, convert with `labels.astype(np.int64)`; "
                "one-hot targets need `labels.argmax(axis=1)`."
                if arr.dtype.kind == "f"
                else ""
            )
            raise TypeError(
                f"{fn}: argument '{name}' must be an integer array of class indices "
                f"(dtype int32 or int64) of shape ({n},); received {describe(arr)}.{hint}"
            )
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(
            f"{fn}: argument '{name}' must have shape ({n},) (one class index per row of "
            f"logits); received {describe(arr)}."
            + (" Flatten it with `labels.reshape(-1)`." if arr.size == n else "")
        )
    if arr.dtype == I32 and arr.flags.c_contiguous and arr.flags.aligned:
        return arr
    if n:
        lo = int(arr.min())
        hi = int(arr.max())
        if lo < 0 or hi >= ncls:
            bad = lo if lo < 0 else hi
            idx = int(np.flatnonzero(arr == bad)[0])
            raise label_range_error(fn, name, bad, idx, n, ncls)
    out = np.asarray(arr, dtype=I32, order="C")
    return out if out.flags.aligned else out.copy()


def label_range_error(fn, name, value, index, n, ncls) -> ValueError:
    return ValueError(
        f"{fn}: argument '{name}' holds {value} at index {index}, outside the valid class "
        f"range [0, {ncls}) for logits of shape ({n}, {ncls}). Labels must be class "
        f"indices 0..{ncls - 1}."
    )


# --------------------------------------------------------------------------- scalars


def act_code(fn: str, activation, name: str = "activation") -> int:
    """Kernel code of an activation name (None means 'linear')."""
    code = _ACT_CODES.get(activation) if type(activation) is str else None
    if code is not None:
        return code
    if activation is None:
        return 0
    if not isinstance(activation, str):
        raise TypeError(
            f"{fn}: argument '{name}' must be an activation name (str), one of "
            f"{', '.join(repr(a) for a in ACTIVATIONS)}; received {describe(activation)}."
        )
    close = difflib.get_close_matches(activation.lower(), ACTIVATIONS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"{fn}: unknown {name} {activation!r}; expected one of "
        f"{', '.join(repr(a) for a in ACTIVATIONS)}.{hint}"
    )


def act_alpha(fn: str, activation: str, alpha) -> float:
    """The float ``alpha`` for an activation (None: its default, see ACT_DEFAULT_ALPHA)."""
    if alpha is None:
        return ACT_DEFAULT_ALPHA.get(activation, 0.0)
    return alpha if type(alpha) is float else to_float(fn, "alpha", alpha)


def backward_needs_x(activation: str, alpha: float) -> bool:
    """Whether ``activation``'s derivative must come from the pre-activation x.

    True for the non-monotone ones (ACT_NEEDS_X) and for elu with ``alpha <= 0`` (then a
    positive y no longer means a positive x).
    """
    return activation in ACT_NEEDS_X or (activation == "elu" and not alpha > 0.0)


def to_float(fn: str, name: str, v, *, lo=None, lo_open=False, hi=None, hi_open=False) -> float:
    """``float(v)`` for a real number, with an optional finite range check."""
    if type(v) is float:
        f = v
    elif isinstance(v, numbers.Real) and not isinstance(v, bool):
        f = float(v)
    else:
        raise TypeError(f"{fn}: argument '{name}' must be a real number; received {describe(v)}.")
    if lo is None and hi is None:
        return f
    ok = math.isfinite(f)
    if ok and lo is not None:
        ok = f > lo if lo_open else f >= lo
    if ok and hi is not None:
        ok = f < hi if hi_open else f <= hi
    if not ok:
        lo_s = "-inf" if lo is None else f"{lo}"
        hi_s = "inf" if hi is None else f"{hi}"
        raise ValueError(
            f"{fn}: argument '{name}' must be a finite number in "
            f"{'(' if lo_open or lo is None else '['}{lo_s}, {hi_s}"
            f"{')' if hi_open or hi is None else ']'}; received {f!r}."
        )
    return f


def to_int(fn: str, name: str, v, *, lo=None) -> int:
    """``operator.index(v)`` with an optional lower bound."""
    if isinstance(v, bool):
        raise TypeError(f"{fn}: argument '{name}' must be an int; received {describe(v)}.")
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(
            f"{fn}: argument '{name}' must be an int; received {describe(v)}."
        ) from None
    if lo is not None and i < lo:
        raise ValueError(f"{fn}: argument '{name}' must be an int >= {lo}; received {i}.")
    return i
