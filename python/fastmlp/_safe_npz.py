"""Read a NumPy ``.npz`` archive from an untrusted file (internal; used by ``load_model``).

``np.load(path, allow_pickle=False)`` already refuses pickles, but on a hostile file it
raises a zoo of exception types that do not name the file (``BadZipFile``, ``EOFError``,
``OSError``, ``AttributeError`` for a lone ``.npy``), and it allocates whatever an ``.npy``
header declares before reading the data (a 100-byte member declaring 10^12 elements) or
inflates a highly compressible member in full (a zip bomb). This reader:

* accepts only ``.npy`` members, stored or deflated, unencrypted, each name once;
* parses each ``.npy`` header itself and refuses object dtypes (pickles) and, optionally,
  dtype kinds the caller does not expect, before reading any data;
* requires the header's ``shape x itemsize`` to equal the member's declared size, which in
  turn is bounded by the bytes actually in the file (stored members) or by ``max_ratio``
  times the compressed size (deflated members; a zip bomb is refused unread) and by
  ``max_total`` overall; data is read in bounded chunks, so a lying header costs at most
  the real file size, and the member's CRC is verified;
* raises ``ValueError`` naming the file for every malformed input (``OSError`` only when
  the file cannot be opened at all).
"""
from __future__ import annotations

import os
import zipfile

import numpy as np
from numpy.lib import format as _npf

__all__ = ["read_npz"]

_CHUNK = 1 << 20


def _fail(path, msg):
    return ValueError(f"{path!r}: {msg}")


def _read_member(zf, info, path, kinds, max_ratio):
    name = info.filename
    if info.flag_bits & 0x1:
        raise _fail(path, f"member {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _fail(path, f"member {name!r} uses unsupported compression {info.compress_type}")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise _fail(path, f"member {name!r}: stored size {info.compress_size} != declared "
                          f"size {info.file_size} (corrupt archive)")
    if info.compress_type == zipfile.ZIP_DEFLATED and \
            info.file_size > max_ratio * info.compress_size + 4096:
        raise _fail(path, f"member {name!r} claims {info.file_size} bytes from "
                          f"{info.compress_size} compressed (ratio over {max_ratio}): refusing "
                          f"a possible zip bomb")
    with zf.open(info) as m:
        version = _npf.read_magic(m)
        if version == (1, 0):
            shape, fortran, dtype = _npf.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, fortran, dtype = _npf.read_array_header_2_0(m)
        else:
            raise _fail(path, f"member {name!r}: unsupported .npy version {version}")
        if dtype.hasobject:
            raise _fail(path, f"member {name!r} holds Python objects (dtype {dtype}), which "
                              f"would need unpickling; refusing to unpickle")
        if kinds is not None and dtype.kind not in kinds:
            raise _fail(path, f"member {name!r} has dtype {dtype}; expected a numeric array")
        count = 1
        for d in shape:
            count *= int(d)
        nbytes = count * dtype.itemsize  # Python ints: no overflow, nothing allocated
        have = info.file_size - m.tell()
        if nbytes != have:
            raise _fail(path, f"member {name!r}: header says shape {shape} of {dtype} "
                              f"({nbytes} bytes) but the member holds {have} data bytes")
        buf = bytearray()
        while len(buf) < nbytes:
            chunk = m.read(min(_CHUNK, nbytes - len(buf)))
            if not chunk:
                raise _fail(path, f"member {name!r} is truncated")
            buf += chunk
        if m.read(1):  # also makes zipfile verify the CRC
            raise _fail(path, f"member {name!r} holds more data than its header says")
    arr = np.frombuffer(buf, dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C")


def read_npz(path, *, kinds=None, max_ratio=64, max_total=None) -> dict:
    """``{name: array}`` of the ``.npy`` members of the archive at ``path`` (see module doc).

    ``kinds``: the dtype kinds accepted (e.g. ``"biuf"``), None for any non-object dtype.
    ``max_ratio``: the largest uncompressed/compressed size ratio of a deflated member.
    ``max_total``: a cap on the declared uncompressed size of all members (bytes).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        try:
            with zipfile.ZipFile(f) as zf:
                infos = zf.infolist()
                names = [i.filename for i in infos]
                if len(set(names)) != len(names):
                    raise _fail(path, "archive holds a member name twice")
                total = sum(i.file_size for i in infos)
                if max_total is not None and total > max_total:
                    raise _fail(path, f"archive claims {total} bytes uncompressed, more than "
                                      f"the {max_total} allowed")
                out = {}
                for info in infos:
                    if not info.filename.endswith(".npy") or info.is_dir():
                        raise _fail(path, f"unexpected member {info.filename!r} (an .npz "
                                          f"holds only .npy arrays)")
                    out[info.filename[:-4]] = _read_member(zf, info, path, kinds, max_ratio)
                return out
        except ValueError as exc:
            if str(exc).startswith(repr(path)):
                raise
            raise _fail(path, f"corrupt .npz ({exc})") from None
        except MemoryError:
            raise
        except Exception as exc:  # BadZipFile, EOFError, zlib.error, OSError, struct.error...
            raise _fail(path, f"not a readable .npz archive ({type(exc).__name__}: {exc})") \
                from None
