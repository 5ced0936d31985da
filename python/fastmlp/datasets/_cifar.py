"""Strict readers for CIFAR-10: the binary version and, safely, the Python version.

Binary version (``cifar-10-binary.tar.gz`` -> ``cifar-10-batches-bin/``): each batch file is
a run of 3073-byte records, one label byte (0-9) then 3072 pixel bytes (1024 red, 1024
green, 1024 blue, each 32x32 row-major).

Python version (``cifar-10-python.tar.gz`` -> ``cifar-10-batches-py/``): each batch is a
pickled dict ``{b"batch_label", b"labels", b"data", b"filenames"}`` whose ``data`` is a
pickled NumPy uint8 array.  It is read with :class:`RestrictedUnpickler`, which admits only
the three globals such a file needs (the ndarray reconstructor, ``ndarray``, ``dtype``) and
only the uint8 dtype, so a malicious file cannot run code.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib

import numpy as np

from ._idx import open_maybe_gzip, read_bounded

__all__ = [
    "RECORD_BYTES",
    "parse_cifar_binary",
    "read_cifar_binary_file",
    "parse_cifar_python",
    "RestrictedUnpickler",
    "TRAIN_BATCHES",
    "TEST_BATCH",
    "read_cifar_dir",
    "read_cifar_tar",
]

RECORD_BYTES = 1 + 32 * 32 * 3
NUM_CLASSES = 10
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
# Upper bound on a batch file we are willing to read: the real ones hold 10,000 records.
_MAX_BATCH_BYTES = 60_000 * RECORD_BYTES
_MAX_PICKLE_BYTES = 64 << 20


def _records_to_arrays(data, n, name):
    rec = np.frombuffer(data, dtype=np.uint8).reshape(n, RECORD_BYTES)
    labels = rec[:, 0].copy()
    bad = labels >= NUM_CLASSES
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{name}: label {int(labels[i])} out of range 0..{NUM_CLASSES - 1} in record {i}"
        )
    images = np.ascontiguousarray(rec[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def parse_cifar_binary(data, name) -> tuple:
    """Parse the bytes of one binary batch into ``(images (N,32,32,3) uint8, labels (N,) uint8)``."""
    if len(data) == 0:
        raise ValueError(f"{name}: empty CIFAR-10 batch file")
    if len(data) % RECORD_BYTES:
        raise ValueError(
            f"{name}: size {len(data)} bytes is not a whole number of {RECORD_BYTES}-byte "
            f"CIFAR-10 records ({len(data) // RECORD_BYTES} records + {len(data) % RECORD_BYTES} "
            "bytes): truncated or not a CIFAR-10 binary batch"
        )
    return _records_to_arrays(data, len(data) // RECORD_BYTES, name)


def read_cifar_binary_file(path) -> tuple:
    """Read one binary batch file (plain or gzip-compressed)."""
    path = os.fspath(path)
    with open_maybe_gzip(path) as src:
        data = read_bounded(src, _MAX_BATCH_BYTES + 1)
    if len(data) > _MAX_BATCH_BYTES:
        raise ValueError(f"{path}: larger than any CIFAR-10 batch ({_MAX_BATCH_BYTES} bytes)")
    return parse_cifar_binary(data, path)


# --- Python (pickle) version -------------------------------------------------------------

class RefusedPickle(pickle.UnpicklingError):
    """The pickle asked for something a CIFAR-10 batch never contains."""


class _NdarrayRef:
    """Stands for ``numpy.ndarray`` inside the pickle: a marker, deliberately not callable,
    so a pickle cannot call ``ndarray(shape)`` to allocate whatever it likes."""

    def __repr__(self):
        return "numpy.ndarray"


_NDARRAY = _NdarrayRef()


def _safe_reconstruct(cls, shape, dtype_code):
    # What numpy.core.multiarray._reconstruct does for a plain ndarray, minus the generality:
    # an empty uint8 array whose __setstate__ (the pickle's BUILD) then checks the data size.
    if cls is not _NDARRAY:
        raise RefusedPickle(f"refusing to reconstruct {cls!r}: only numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, (0,), np.uint8)


def _safe_dtype(code, align=False, copy=True):
    if isinstance(code, bytes):
        code = code.decode("ascii", "replace")
    if code not in ("u1", "uint8", "|u1", "B"):
        raise RefusedPickle(f"refusing dtype {code!r}: CIFAR-10 batches hold uint8 only")
    # A fresh copy: the pickle's BUILD step calls __setstate__ on what we return, and
    # must never touch NumPy's shared uint8 singleton.
    return np.dtype("u1", align=False, copy=True)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits only what CIFAR-10 Python batches contain.

    Allowed globals: the ndarray reconstructor (under its NumPy 1 and NumPy 2 module
    names), ``numpy.ndarray`` and ``numpy.dtype`` (uint8 only).  Everything else raises
    ``pickle.UnpicklingError``.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): _safe_dtype,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise RefusedPickle(
                f"refusing to load global {module}.{name}: not part of a CIFAR-10 batch"
            ) from None

    def persistent_load(self, pid):
        raise RefusedPickle("refusing persistent ids: not part of a CIFAR-10 batch")


def parse_cifar_python(data, name) -> tuple:
    """Parse one pickled Python-version batch into ``(images, labels)`` safely."""
    try:
        obj = RestrictedUnpickler(io.BytesIO(bytes(data)), encoding="bytes").load()
    except RefusedPickle as exc:
        raise ValueError(f"{name}: {exc}") from None
    except Exception as exc:  # malformed pickles raise a zoo of exception types
        raise ValueError(f"{name}: not a CIFAR-10 Python batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{name}: expected a dict, found {type(obj).__name__}")
    get = lambda k: obj.get(k.encode(), obj.get(k))  # noqa: E731
    images, labels = get("data"), get("labels")
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 \
            or images.shape[1] != 3072:
        desc = (f"{images.dtype} array of shape {images.shape}" if isinstance(images, np.ndarray)
                else type(images).__name__)
        raise ValueError(f"{name}: 'data' must be a uint8 array of shape (N, 3072), found {desc}")
    if not isinstance(labels, list):
        raise ValueError(f"{name}: 'labels' must be a list of ints, found {type(labels).__name__}")
    for i, v in enumerate(labels):  # before any NumPy conversion: 2**70 would overflow it
        if type(v) is not int:
            raise ValueError(
                f"{name}: 'labels' must be a list of ints, found {_clip(repr(v))} "
                f"({type(v).__name__}) at index {i}"
            )
        if not 0 <= v < NUM_CLASSES:
            raise ValueError(
                f"{name}: label {_describe_int(v)} out of range 0..{NUM_CLASSES - 1} at index "
                f"{i}: corrupt or not a CIFAR-10 batch; delete it and fetch it again"
            )
    if len(labels) != images.shape[0]:
        raise ValueError(
            f"{name}: {images.shape[0]} images but {len(labels)} labels (count mismatch)"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name}: empty CIFAR-10 batch")
    lab = np.array(labels, dtype=np.uint8)  # all in 0..NUM_CLASSES-1 (checked above)
    x = np.ascontiguousarray(images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return x, lab


def _clip(text, limit=60) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _describe_int(v) -> str:
    # repr() of an int past 4300 digits raises ValueError itself (a pickle's LONG4 can hold one)
    return repr(v) if v.bit_length() <= 128 else f"(an int of {v.bit_length()} bits)"


# --- whole datasets: a directory or a tarball ----------------------------------------------

def _concat(parts):
    xs, ys = zip(*parts)
    return np.concatenate(xs), np.concatenate(ys)


def read_cifar_dir(directory, kind):
    """Read the five training batches and the test batch from an extracted directory.

    ``kind`` is ``"bin"`` (files ``data_batch_1.bin`` ...) or ``"py"`` (``data_batch_1`` ...).
    """
    if kind == "bin":
        read = read_cifar_binary_file
        ext = ".bin"
    else:
        def read(p):
            with open_maybe_gzip(p) as src:
                data = read_bounded(src, _MAX_PICKLE_BYTES + 1)
            if len(data) > _MAX_PICKLE_BYTES:
                raise ValueError(f"{p}: larger than any CIFAR-10 batch")
            return parse_cifar_python(data, p)
        ext = ""
    train = _concat([read(os.path.join(directory, b + ext)) for b in TRAIN_BATCHES])
    test = read(os.path.join(directory, TEST_BATCH + ext))
    return train, test


def read_cifar_tar(path, kind):
    """Read CIFAR-10 straight from ``cifar-10-binary.tar.gz`` (``kind="bin"``) or
    ``cifar-10-python.tar.gz`` (``kind="py"``) without extracting it to disk."""
    path = os.fspath(path)
    sub = "cifar-10-batches-bin/" if kind == "bin" else "cifar-10-batches-py/"
    ext = ".bin" if kind == "bin" else ""
    limit = _MAX_BATCH_BYTES if kind == "bin" else _MAX_PICKLE_BYTES
    wanted = {sub + b + ext: b for b in TRAIN_BATCHES + (TEST_BATCH,)}
    found = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.name not in wanted:
                    continue
                name = f"{path}:{member.name}"
                if not member.isfile():
                    raise ValueError(f"{name}: not a regular file in the archive")
                if member.size > limit:
                    raise ValueError(f"{name}: {member.size} bytes, larger than any CIFAR-10 batch")
                f = tar.extractfile(member)
                data = bytearray()
                while len(data) < member.size:
                    chunk = f.read(min(1 << 20, member.size - len(data)))
                    if not chunk:
                        break
                    data += chunk
                if len(data) != member.size:
                    raise ValueError(f"{name}: truncated archive member")
                parse = parse_cifar_binary if kind == "bin" else parse_cifar_python
                found[wanted[member.name]] = parse(data, name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ValueError(f"{path}: corrupt or truncated archive ({exc})") from None
    missing = [m for m, b in wanted.items() if b not in found]
    if missing:
        raise ValueError(f"{path}: archive lacks {', '.join(missing)}")
    train = _concat([found[b] for b in TRAIN_BATCHES])
    return train, found[TEST_BATCH]
