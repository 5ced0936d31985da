"""Strict readers for IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed.

IDX layout (big-endian): two zero bytes, a dtype byte, a dimension-count byte, one
uint32 per dimension, then the data in C order.

Every problem raises ``ValueError`` naming the file.  Nothing is ever allocated from
what a header claims: data is read in bounded chunks and the header's claim is checked
against the bytes actually present, so a lying header costs at most the real file size.
"""
from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

__all__ = ["read_idx", "open_maybe_gzip", "read_bounded", "IDX_DTYPES"]

# IDX type byte -> NumPy dtype (big-endian as stored)
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_CHUNK = 1 << 20
# Largest data an IDX header may claim (the biggest real one, MNIST training images, holds
# 47 MB): a gzip bomb behind a header claiming more is refused before inflating anything.
_MAX_IDX_BYTES = 1 << 30
_GZIP_MAGIC = b"\x1f\x8b"
# Most dimensions an IDX header may declare: NumPy 1.x arrays have at most 32 (2.x: 64).
_MAX_IDX_DIMS = 32


class _Source:
    """A binary stream over a file that may or may not be gzip-compressed.

    Decompression errors (bad header, corrupt deflate data, CRC mismatch, truncation)
    become ``ValueError`` naming the file.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            self._raw = open(self.path, "rb")
        except OSError as exc:
            raise ValueError(f"{self.path}: cannot open: {exc}") from None
        head = self._raw.read(2)
        self._raw.seek(0)
        self.compressed = head == _GZIP_MAGIC
        self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb") if self.compressed else self._raw

    def read(self, n: int) -> bytes:
        try:
            return self._stream.read(n)
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
            what = "truncated" if isinstance(exc, EOFError) else "corrupt"
            raise ValueError(
                f"{self.path}: {what} gzip data ({exc}); delete the file and fetch it again"
            ) from None

    def close(self):
        if self.compressed:
            self._stream.close()
        self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_maybe_gzip(path) -> _Source:
    """Open ``path`` for reading, decompressing transparently when it starts with the gzip magic."""
    return _Source(path)


def read_bounded(src: _Source, limit: int) -> bytearray:
    """Read up to ``limit`` bytes in bounded chunks (never pre-allocating ``limit``)."""
    buf = bytearray()
    while len(buf) < limit:
        chunk = src.read(min(_CHUNK, limit - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def read_idx(path, *, dtype=None, ndim=None) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a writable native-endian array.

    ``dtype``/``ndim``, when given, are required of the file (e.g. ``dtype=np.uint8,
    ndim=3`` for image files); anything else raises ``ValueError`` naming the file.
    """
    path = os.fspath(path)
    with open_maybe_gzip(path) as src:
        head = read_bounded(src, 4)
        if len(head) < 4:
            raise ValueError(f"{path}: not an IDX file: only {len(head)} bytes, the header needs 4")
        if head[0] != 0 or head[1] != 0:
            raise ValueError(
                f"{path}: bad IDX magic {bytes(head).hex()}: the first two bytes must be zero "
                "(is this really an MNIST-format file?)"
            )
        code, nd = head[2], head[3]
        if code not in IDX_DTYPES:
            raise ValueError(
                f"{path}: bad IDX dtype byte 0x{code:02x}; known: "
                + ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
            )
        file_dtype = IDX_DTYPES[code]
        if dtype is not None and file_dtype.newbyteorder("=") != np.dtype(dtype).newbyteorder("="):
            raise ValueError(
                f"{path}: IDX dtype byte 0x{code:02x} ({file_dtype}) but {np.dtype(dtype)} was expected"
            )
        if nd == 0:
            raise ValueError(f"{path}: IDX dimension count is 0")
        if nd > _MAX_IDX_DIMS:
            raise ValueError(
                f"{path}: IDX header declares {nd} dimensions (byte 3 of the file), more "
                f"than the {_MAX_IDX_DIMS} a NumPy array can have (MNIST-format files have "
                "1 to 4): corrupt or not an IDX file; delete it and fetch it again"
            )
        if ndim is not None and nd != ndim:
            raise ValueError(f"{path}: IDX file has {nd} dimensions, expected {ndim}")
        dims_raw = read_bounded(src, 4 * nd)
        if len(dims_raw) < 4 * nd:
            raise ValueError(
                f"{path}: truncated IDX header: {nd} dimensions need {4 * nd} bytes, "
                f"found {len(dims_raw)}"
            )
        shape = tuple(int(d) for d in np.frombuffer(bytes(dims_raw), dtype=">u4"))
        count = 1
        for d in shape:
            count *= d
        claimed = count * file_dtype.itemsize  # a Python int: no overflow, no allocation
        if claimed > _MAX_IDX_BYTES:
            raise ValueError(
                f"{path}: IDX header says shape {shape} ({claimed} data bytes), more than "
                f"the {_MAX_IDX_BYTES} bytes any IDX dataset holds: corrupt or hostile file"
            )
        data = read_bounded(src, claimed + 1)
        if len(data) != claimed:
            have = (f"only {len(data)}" if len(data) < claimed
                    else f"more: at least {claimed + 1}")
            raise ValueError(
                f"{path}: IDX header says shape {shape} ({claimed} data bytes) but the file "
                f"holds {have} bytes after the header"
            )
    arr = np.frombuffer(data, dtype=file_dtype).reshape(shape)
    if file_dtype.itemsize > 1:
        arr = arr.astype(file_dtype.newbyteorder("="))
    return arr
