"""Hostile dataset files: an IDX header declaring more dimensions than NumPy supports and
a CIFAR-10 Python batch whose labels overflow int64 raise ValueError naming the file."""
from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from fastmlp import datasets as fds
from fastmlp.datasets import _loaders

# --- IDX ------------------------------------------------------------------------------------


def _idx(nd, dims=None, data=b"\x07", code=0x08):
    dims = [1] * nd if dims is None else dims
    return bytes([0, 0, code, nd]) + b"".join(struct.pack(">I", d) for d in dims) + data


@pytest.mark.parametrize("nd", [33, 64, 65, 255])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_refuses_too_many_dimensions(tmp_path, nd, gz):
    # every dimension is 1 and the one data byte is there: the header is self-consistent,
    # only the dimension count is impossible (NumPy: "maximum supported dimension ...")
    data = _idx(nd)
    if gz:
        data = gzip.compress(data, mtime=0)
    p = tmp_path / "hostile-idx3-ubyte"
    p.write_bytes(data)
    with pytest.raises(ValueError, match=rf"hostile-idx3-ubyte: IDX header declares {nd} "
                                         r"dimensions.*more than the 32") as info:
        fds.read_idx(p)
    assert str(p) in str(info.value)
    assert "maximum supported dimension" not in str(info.value)


def test_read_idx_255_dimensions_without_the_dimension_bytes(tmp_path):
    # a 4-byte file declaring 255 dims: refused on the count, not on the truncated header
    p = tmp_path / "short"
    p.write_bytes(bytes([0, 0, 8, 255]))
    with pytest.raises(ValueError, match=r"short: IDX header declares 255 dimensions"):
        fds.read_idx(p)


def test_read_idx_32_dimensions_still_load(tmp_path):
    p = tmp_path / "deep"
    p.write_bytes(_idx(32, data=b"\x05"))
    got = fds.read_idx(p)
    assert got.shape == (1,) * 32 and got.ravel()[0] == 5


@pytest.mark.parametrize("dims,data,what", [
    ([2, 3], b"\x00" * 5, "only 5"),
    ([2, 3], b"\x00" * 7, "more: at least 7"),
    ([1] * 31 + [2 ** 31], b"", r"more than the \d+ bytes"),
])
def test_read_idx_dims_must_match_the_file_size(tmp_path, dims, data, what):
    p = tmp_path / "liar"
    p.write_bytes(_idx(len(dims), dims=dims, data=data))
    with pytest.raises(ValueError, match=rf"liar: IDX header says shape .*{what}"):
        fds.read_idx(p)


def test_load_mnist_reports_the_hostile_file(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(_loaders, "SYSTEM_DIR", str(tmp_path / "system"))
    d = tmp_path / "mnist"
    d.mkdir()
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    for n in names:
        (d / n).write_bytes(_idx(200))
    with pytest.raises(ValueError, match=r"IDX header declares 200 dimensions") as info:
        fds.load_mnist(path=d, download=False)
    assert str(d) in str(info.value)


# --- CIFAR-10 Python batches -----------------------------------------------------------------

def _py2_str(b):
    if len(b) < 256:
        return b"U" + bytes([len(b)]) + b
    return b"T" + struct.pack("<i", len(b)) + b


def _py2_int(v):
    """A Python int as a protocol-2 pickle writes it; LONG1 past 32 bits (any size)."""
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if -2 ** 31 <= v < 2 ** 31:
        return b"J" + struct.pack("<i", v)
    enc = pickle.encode_long(v)
    assert len(enc) < 256
    return b"\x8a" + bytes([len(enc)]) + enc


def _batch(labels, n=None):
    """A CIFAR-10 Python-version batch the way the originals were pickled (Python 2 str
    keys, a list of int labels, a NumPy uint8 array via _reconstruct)."""
    n = len(labels) if n is None else n
    data2d = np.arange(n * 3072, dtype=np.uint64).astype(np.uint8).reshape(n, 3072)
    i = _py2_int
    arr = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + i(0) + b"\x85"
           + _py2_str(b"b") + b"\x87R"
           + b"(" + i(1) + i(n) + i(3072) + b"\x86"
           + b"cnumpy\ndtype\n" + _py2_str(b"u1") + i(0) + i(1) + b"\x87R"
           + b"(" + i(3) + _py2_str(b"|") + b"NNN" + b"J\xff\xff\xff\xff" * 2 + i(0) + b"tb"
           + b"\x89" + _py2_str(data2d.tobytes()) + b"tb")
    lab = b"](" + b"".join(i(int(v)) for v in labels) + b"e"
    names = b"](" + b"".join(_py2_str(b"f%d.png" % k) for k in range(n)) + b"e"
    return (b"\x80\x02}(" + _py2_str(b"batch_label") + _py2_str(b"training batch 1 of 5")
            + _py2_str(b"labels") + lab + _py2_str(b"data") + arr
            + _py2_str(b"filenames") + names + b"u.")


def test_cifar_batch_helper_is_valid():
    x, y = fds.parse_cifar_python(_batch([3, 0, 9]), "ok")
    assert x.shape == (3, 32, 32, 3) and y.dtype == np.uint8 and list(y) == [3, 0, 9]


@pytest.mark.parametrize("bad,shown", [
    (2 ** 70, str(2 ** 70)),
    (-(2 ** 70), str(-(2 ** 70))),
    (2 ** 63, str(2 ** 63)),
    (2 ** 64 + 3, str(2 ** 64 + 3)),
    (2 ** 1000, "an int of 1001 bits"),
    (-1, "-1"),
    (10, "10"),
], ids=["2**70", "-2**70", "2**63", "2**64+3", "2**1000", "-1", "10"])
def test_cifar_python_huge_or_out_of_range_label(bad, shown):
    with pytest.raises(ValueError) as info:
        fds.parse_cifar_python(_batch([1, 2, bad, 4]), "batch.bin")
    msg = str(info.value)
    assert msg.startswith("batch.bin: label ")
    assert shown in msg and "out of range 0..9 at index 2" in msg


def test_cifar_python_non_int_label():
    # a Python 2 bool (pickled as I01) is not an int label
    data = _batch([1, 2, 3]).replace(b"](K\x01K\x02K\x03e", b"](K\x01I01\nK\x03e")
    assert data != _batch([1, 2, 3])
    with pytest.raises(ValueError, match=r"b1: 'labels' must be a list of ints, found True "
                                         r"\(bool\) at index 1"):
        fds.parse_cifar_python(data, "b1")


def test_load_cifar10_names_the_batch_file_with_the_huge_label(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(_loaders, "SYSTEM_DIR", str(tmp_path / "system"))
    d = tmp_path / "c" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for b in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        (d / b).write_bytes(_batch([0, 1]))
    (d / "data_batch_3").write_bytes(_batch([0, 2 ** 70]))
    with pytest.raises(ValueError) as info:
        fds.load_cifar10(path=tmp_path / "c", download=False)
    msg = str(info.value)
    assert str(d / "data_batch_3") in msg and str(2 ** 70) in msg and "index 1" in msg
