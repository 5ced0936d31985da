"""Dataset parsers and lookup: synthetic IDX / CIFAR files written here, plus the real
Fashion-MNIST from Debian's dataset-fashion-mnist package (required when $CI is set)."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
import tarfile
import tracemalloc

import numpy as np
import pytest

from fastmlp import datasets as fds
from fastmlp.datasets import _loaders

SYSTEM_FASHION = "/usr/share/datasets/fashion-mnist"
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# --- helpers --------------------------------------------------------------------------------

def idx_bytes(arr, code=0x08, dims=None, magic=b"\x00\x00"):
    arr = np.asarray(arr)
    dims = arr.shape if dims is None else dims
    head = magic + bytes([code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, data, gz):
    if gz:
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)
    return path


def make_mnist_dir(d, n_train=12, n_test=5, marker=0, gz=True, seed=0):
    """Write a tiny synthetic MNIST-format dataset; image[0, 0, 0] == marker identifies it."""
    rng = np.random.default_rng(seed)
    os.makedirs(d, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        x[0, 0, 0] = marker
        y = (np.arange(n) % 10).astype(np.uint8)
        ext = ".gz" if gz else ""
        write(os.path.join(d, f"{split}-images-idx3-ubyte{ext}"), idx_bytes(x), gz)
        write(os.path.join(d, f"{split}-labels-idx1-ubyte{ext}"), idx_bytes(y), gz)
        out[split] = (x, y)
    return out


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $FASTMLP_DATA, a private cache and a private 'system' directory."""
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(_loaders, "SYSTEM_DIR", str(tmp_path / "system"))
    return tmp_path


# --- IDX parser -----------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
    x = np.random.default_rng(1).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    p = write(tmp_path / "x", idx_bytes(x), gz)
    got = fds.read_idx(p, dtype=np.uint8, ndim=3)
    assert got.dtype == np.uint8 and got.flags.writeable
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize("code,dtype", [(0x09, "i1"), (0x0B, "i2"), (0x0C, "i4"),
                                        (0x0D, "f4"), (0x0E, "f8")])
def test_read_idx_other_dtypes_native_order(tmp_path, code, dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    p = write(tmp_path / "a.gz", idx_bytes(a, code=code), True)
    got = fds.read_idx(p)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


def _bad(tmp_path, data, gz=True, name="bad-idx.gz", **kw):
    p = write(tmp_path / name, data, gz)
    with pytest.raises(ValueError) as ei:
        fds.read_idx(p, **kw)
    assert str(p) in str(ei.value), "the error must name the file"
    return str(ei.value)


def test_idx_bad_magic(tmp_path):
    msg = _bad(tmp_path, idx_bytes(np.zeros((2, 28, 28), np.uint8), magic=b"\x01\x00"))
    assert "magic" in msg


def test_idx_unknown_dtype_byte(tmp_path):
    msg = _bad(tmp_path, idx_bytes(np.zeros((2, 3), np.uint8), code=0x0A))
    assert "dtype byte 0x0a" in msg


def test_idx_wrong_dtype_for_images(tmp_path):
    msg = _bad(tmp_path, idx_bytes(np.zeros((2, 28, 28), np.int32), code=0x0C), dtype=np.uint8)
    assert "but uint8 was expected" in msg


def test_idx_wrong_dimension_count(tmp_path):
    msg = _bad(tmp_path, idx_bytes(np.zeros((6, 28), np.uint8)), ndim=3)
    assert "2 dimensions, expected 3" in msg


def test_idx_zero_dimensions(tmp_path):
    msg = _bad(tmp_path, b"\x00\x00\x08\x00")
    assert "dimension count is 0" in msg


def test_idx_truncated_header(tmp_path):
    msg = _bad(tmp_path, b"\x00\x00\x08\x03\x00\x00\x00\x02")
    assert "truncated IDX header" in msg
    msg = _bad(tmp_path, b"\x00\x00", name="tiny.gz")
    assert "only 2 bytes" in msg


def test_idx_data_shorter_than_header_says(tmp_path):
    data = idx_bytes(np.zeros((3, 28, 28), np.uint8), dims=(4, 28, 28))
    msg = _bad(tmp_path, data)
    assert "(3136 data bytes)" in msg and "only 2352" in msg


def test_idx_data_longer_than_header_says(tmp_path):
    data = idx_bytes(np.zeros((3, 28, 28), np.uint8), dims=(2, 28, 28))
    msg = _bad(tmp_path, data, gz=False, name="long-idx")
    assert "more: at least 1569" in msg


def test_idx_lying_header_allocates_nothing_big(tmp_path):
    # Header claims 4e9 x 4e9 x 4e9 images; the file holds 100 bytes of data.
    data = b"\x00\x00\x08\x03" + struct.pack(">III", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(100)
    for gz in (True, False):
        p = write(tmp_path / f"liar{int(gz)}", data, gz)
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match="liar"):
                fds.read_idx(p)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 8 << 20, f"peak {peak} bytes for a 116-byte file"


def test_idx_truncated_gzip(tmp_path):
    full = gzip.compress(idx_bytes(np.arange(5 * 784, dtype=np.uint8).reshape(5, 28, 28)))
    p = tmp_path / "trunc.gz"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match=r"trunc\.gz.*truncated gzip"):
        fds.read_idx(p)


def test_idx_corrupt_gzip(tmp_path):
    x = np.random.default_rng(3).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    full = bytearray(gzip.compress(idx_bytes(x)))
    full[-6] ^= 0xFF  # inside the CRC32 trailer
    p = tmp_path / "crc.gz"
    p.write_bytes(bytes(full))
    with pytest.raises(ValueError, match=r"crc\.gz.*corrupt gzip"):
        fds.read_idx(p)
    full = bytearray(gzip.compress(idx_bytes(x)))
    full[12:40] = b"\xff" * 28  # deflate stream garbage
    p2 = tmp_path / "deflate.gz"
    p2.write_bytes(bytes(full))
    with pytest.raises(ValueError, match=r"deflate\.gz.*gzip"):
        fds.read_idx(p2)


# --- whole MNIST-format datasets ------------------------------------------------------------

def test_load_mnist_from_path(isolated):
    d = isolated / "mine"
    ref = make_mnist_dir(d, marker=42)
    (xtr, ytr), (xte, yte) = fds.load_mnist(path=d, download=False)
    np.testing.assert_array_equal(xtr, ref["train"][0])
    np.testing.assert_array_equal(ytr, ref["train"][1])
    np.testing.assert_array_equal(xte, ref["t10k"][0])
    np.testing.assert_array_equal(yte, ref["t10k"][1])
    assert xtr.dtype == ytr.dtype == np.uint8


def test_load_accepts_uncompressed_files(isolated):
    d = isolated / "raw"
    make_mnist_dir(d, gz=False, marker=5)
    (xtr, _), _ = fds.load_fashion_mnist(path=d, download=False)
    assert xtr[0, 0, 0] == 5


def test_image_label_count_mismatch(isolated):
    d = isolated / "mismatch"
    make_mnist_dir(d)
    write(d / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(4, np.uint8)), True)
    with pytest.raises(ValueError, match=r"5 images but .*t10k-labels-idx1-ubyte\.gz has 4 labels"):
        fds.load_mnist(path=d, download=False)


def test_labels_out_of_range(isolated):
    d = isolated / "badlabel"
    make_mnist_dir(d)
    y = (np.arange(12) % 10).astype(np.uint8)
    y[7] = 10
    write(d / "train-labels-idx1-ubyte.gz", idx_bytes(y), True)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: label 10 at index 7"):
        fds.load_mnist(path=d, download=False)


def test_wrong_image_shape(isolated):
    d = isolated / "shape"
    make_mnist_dir(d)
    write(d / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((12, 32, 32), np.uint8)), True)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: images of shape \(32, 32\)"):
        fds.load_mnist(path=d, download=False)


def test_lookup_order(isolated, monkeypatch):
    env = isolated / "env"
    make_mnist_dir(env / "mnist", marker=1)
    make_mnist_dir(isolated / "cache" / "fastmlp" / "mnist", marker=2)
    make_mnist_dir(isolated / "system" / "mnist", marker=3)
    explicit = isolated / "explicit"
    make_mnist_dir(explicit, marker=4)

    def marker(**kw):
        (x, _), _ = fds.load_mnist(download=False, **kw)
        return int(x[0, 0, 0])

    monkeypatch.setenv("FASTMLP_DATA", str(env))
    assert marker(path=explicit) == 4
    assert marker() == 1
    monkeypatch.delenv("FASTMLP_DATA")
    assert marker() == 2
    # An incomplete directory is skipped, not half-used.
    os.remove(isolated / "cache" / "fastmlp" / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert marker() == 3
    # A path= without the files falls through to the rest of the order.
    assert marker(path=isolated / "nowhere") == 3


def test_offline_error_lists_searched_dirs(isolated, monkeypatch):
    monkeypatch.setenv("FASTMLP_DATA", str(isolated / "env"))
    with pytest.raises(fds.DatasetNotFoundError) as ei:
        fds.load_mnist(path=isolated / "p", download=False)
    msg = str(ei.value)
    for d in (isolated / "p", isolated / "env" / "mnist", isolated / "cache" / "fastmlp" / "mnist",
              isolated / "system" / "mnist"):
        assert str(d) in msg
    assert "train-images-idx3-ubyte.gz" in msg and "sha256" in msg
    assert isinstance(ei.value, FileNotFoundError)


def test_search_dirs_default_cache(monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    dirs = [d for _, d in fds.search_dirs("fashion-mnist")]
    assert dirs == [os.path.join(os.path.expanduser("~"), ".cache", "fastmlp", "fashion-mnist"),
                    "/usr/share/datasets/fashion-mnist"]


def test_find_local_follows_the_lookup_order_and_never_downloads(isolated):
    for name in fds.DATASETS:
        assert fds.find_local(name) is None, name
    make_mnist_dir(isolated / "system" / "fashion-mnist")
    assert fds.find_local("fashion-mnist") == str(isolated / "system" / "fashion-mnist")
    make_mnist_dir(isolated / "cache" / "fastmlp" / "fashion-mnist")  # the cache comes first
    assert fds.find_local("fashion-mnist") == str(isolated / "cache" / "fastmlp" / "fashion-mnist")
    make_mnist_dir(isolated / "mine")
    assert fds.find_local("fashion-mnist", path=isolated / "mine") == str(isolated / "mine")
    (isolated / "empty").mkdir()  # a path without the files: the next place on the list
    assert fds.find_local("fashion-mnist", path=isolated / "empty") == \
        str(isolated / "cache" / "fastmlp" / "fashion-mnist")
    assert fds.find_local("mnist") is None and fds.find_local("cifar10") is None


def test_find_local_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"'name' must be one of \['cifar10', "
                                         r"'fashion-mnist', 'mnist'\]; received 'sample'"):
        fds.find_local("sample")
    assert set(_loaders._FINDERS) == set(fds.DATASETS)  # one entry per dataset


def test_load_by_name_rejects_unknown():
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        fds.load("nope")


# --- CIFAR-10 -------------------------------------------------------------------------------

def cifar_records(n, seed=0, labels=None):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    y = (np.arange(n) % 10).astype(np.uint8) if labels is None else np.asarray(labels, np.uint8)
    planes = x.transpose(0, 3, 1, 2).reshape(n, 3072)
    return x, y, np.concatenate([y[:, None], planes], axis=1).tobytes()


def write_cifar_bin_dir(d, n=4):
    os.makedirs(d, exist_ok=True)
    xs, ys = [], []
    for i, b in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        x, y, raw = cifar_records(n, seed=i)
        (d / f"{b}.bin").write_bytes(raw)
        xs.append(x)
        ys.append(y)
    return (np.concatenate(xs[:5]), np.concatenate(ys[:5])), (xs[5], ys[5])


def test_cifar_binary_parse_layout():
    x, y, raw = cifar_records(3)
    gx, gy = fds.parse_cifar_binary(raw, "mem")
    assert gx.shape == (3, 32, 32, 3) and gy.shape == (3,)
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)
    # channel planes: byte 1 is red of pixel (0, 0), byte 1 + 1024 its green
    assert gx[0, 0, 0, 0] == raw[1] and gx[0, 0, 0, 1] == raw[1 + 1024]


@pytest.mark.parametrize("cut", [1, 3072, 3074])
def test_cifar_binary_bad_length(cut):
    _, _, raw = cifar_records(2)
    with pytest.raises(ValueError, match=r"batchfile.*3073-byte"):
        fds.parse_cifar_binary(raw[:-cut] if cut < len(raw) else raw + b"x", "batchfile")


def test_cifar_binary_empty_and_bad_label():
    with pytest.raises(ValueError, match="f0: empty"):
        fds.parse_cifar_binary(b"", "f0")
    _, _, raw = cifar_records(3, labels=[1, 2, 11])
    with pytest.raises(ValueError, match="f1: label 11 out of range 0..9 in record 2"):
        fds.parse_cifar_binary(raw, "f1")


def test_load_cifar10_from_extracted_dir(isolated):
    d = isolated / "c" / "cifar-10-batches-bin"
    (xtr, ytr), (xte, yte) = write_cifar_bin_dir(d)
    (gxtr, gytr), (gxte, gyte) = fds.load_cifar10(path=isolated / "c", download=False)
    np.testing.assert_array_equal(gxtr, xtr)
    np.testing.assert_array_equal(gytr, ytr)
    np.testing.assert_array_equal(gxte, xte)
    np.testing.assert_array_equal(gyte, yte)
    assert gxtr.shape == (20, 32, 32, 3) and gytr.shape == (20,)


def test_load_cifar10_from_binary_tarball(isolated):
    src = isolated / "src" / "cifar-10-batches-bin"
    (xtr, _), (xte, yte) = write_cifar_bin_dir(src)
    dest = isolated / "t"
    dest.mkdir()
    with tarfile.open(dest / "cifar-10-binary.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-bin")
    (gxtr, _), (gxte, gyte) = fds.load_cifar10(path=dest, download=False)
    np.testing.assert_array_equal(gxtr, xtr)
    np.testing.assert_array_equal(gyte, yte)


def test_cifar_tarball_corruptions(isolated):
    src = isolated / "src" / "cifar-10-batches-bin"
    write_cifar_bin_dir(src)
    dest = isolated / "t"
    dest.mkdir()
    tgz = dest / "cifar-10-binary.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-bin")
    blob = tgz.read_bytes()
    tgz.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz"):
        fds.load_cifar10(path=dest, download=False)
    # an archive missing the test batch
    os.remove(src / "test_batch.bin")
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-bin")
    with pytest.raises(ValueError, match=r"cifar-10-binary\.tar\.gz: archive lacks .*test_batch\.bin"):
        fds.load_cifar10(path=dest, download=False)
    # a batch that is not a whole number of records
    (src / "test_batch.bin").write_bytes(b"\x01" * 3000)
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-bin")
    with pytest.raises(ValueError, match=r"test_batch\.bin: size 3000 bytes"):
        fds.load_cifar10(path=dest, download=False)


def _py2_str(b):
    # A Python 2 ``str`` as cPickle writes it (SHORT_BINSTRING / BINSTRING).
    if len(b) < 256:
        return b"U" + bytes([len(b)]) + b
    return b"T" + struct.pack("<i", len(b)) + b


def _py2_int(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def py2_cifar_pickle(data2d, labels, module=b"numpy.core.multiarray"):
    """A batch pickled the way the CIFAR-10 Python-version files were (Python 2, protocol 2):
    a dict of str keys, a list of int labels and a NumPy 1.x uint8 array."""
    n, m = data2d.shape
    arr = (b"c" + module + b"\n_reconstruct\n" + b"cnumpy\nndarray\n" + _py2_int(0) + b"\x85"
           + _py2_str(b"b") + b"\x87R"
           + b"(" + _py2_int(1) + _py2_int(n) + _py2_int(m) + b"\x86"
           + b"cnumpy\ndtype\n" + _py2_str(b"u1") + _py2_int(0) + _py2_int(1) + b"\x87R"
           + b"(" + _py2_int(3) + _py2_str(b"|") + b"NNN" + b"J\xff\xff\xff\xff" * 2
           + _py2_int(0) + b"tb"
           + b"\x89" + _py2_str(np.ascontiguousarray(data2d).tobytes()) + b"tb")
    lab = b"](" + b"".join(_py2_int(int(v)) for v in labels) + b"e"
    names = b"](" + b"".join(_py2_str(b"f%d.png" % i) for i in range(n)) + b"e"
    return (b"\x80\x02}(" + _py2_str(b"batch_label") + _py2_str(b"training batch 1 of 5")
            + _py2_str(b"labels") + lab + _py2_str(b"data") + arr
            + _py2_str(b"filenames") + names + b"u.")


def cifar_pickle(x, y, module=b"numpy.core.multiarray"):
    return py2_cifar_pickle(x.transpose(0, 3, 1, 2).reshape(len(x), 3072), y, module)


def test_cifar_python_version_restricted_unpickler(isolated):
    d = isolated / "py" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    xs, ys = [], []
    for i, b in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        x, y, _ = cifar_records(3, seed=10 + i)
        mod = b"numpy._core.multiarray" if i == 5 else b"numpy.core.multiarray"
        (d / b).write_bytes(cifar_pickle(x, y, mod))
        xs.append(x)
        ys.append(y)
    (gxtr, gytr), (gxte, gyte) = fds.load_cifar10(path=isolated / "py", download=False)
    np.testing.assert_array_equal(gxtr, np.concatenate(xs[:5]))
    np.testing.assert_array_equal(gytr, np.concatenate(ys[:5]))
    np.testing.assert_array_equal(gxte, xs[5])
    assert gytr.dtype == np.uint8


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_arbitrary_objects():
    with pytest.raises(ValueError, match="evil: refusing to load global (posix|os|nt).system"):
        fds.parse_cifar_python(pickle.dumps({b"data": _Evil()}, protocol=3), "evil")
    # an object array would let the pickle smuggle arbitrary objects in
    obj = np.array([1, "a"], dtype=object)
    with pytest.raises(ValueError, match="obj: refusing dtype"):
        fds.parse_cifar_python(pickle.dumps({b"data": obj}, protocol=3), "obj")
    # numpy.ndarray may only be named, never called (it would allocate what the pickle says)
    call_ndarray = b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x40\x85\x85R."
    with pytest.raises(ValueError, match="call: not a CIFAR-10 Python batch .*not callable"):
        fds.parse_cifar_python(call_ndarray, "call")
    # a lying array shape is caught by the size check, before anything that large exists
    x, y, _ = cifar_records(2)
    liar = cifar_pickle(x, y).replace(_py2_int(2) + _py2_int(3072) + b"\x86",
                                      b"J\xff\xff\xff\x7f" + _py2_int(3072) + b"\x86", 1)
    with pytest.raises(ValueError, match="liar: not a CIFAR-10 Python batch .*buffer size does not match"):
        fds.parse_cifar_python(liar, "liar")
    # the shared uint8 dtype must come out untouched
    assert np.dtype(np.uint8).str == "|u1"


def test_cifar_python_structure_errors():
    x, y, _ = cifar_records(3)
    with pytest.raises(ValueError, match="m1: 3 images but 2 labels"):
        fds.parse_cifar_python(cifar_pickle(x, y[:2]), "m1")
    with pytest.raises(ValueError, match="m2: label 12 out of range"):
        fds.parse_cifar_python(cifar_pickle(x, [0, 12, 1]), "m2")
    with pytest.raises(ValueError, match="m3: expected a dict"):
        fds.parse_cifar_python(pickle.dumps([1, 2], protocol=2), "m3")
    with pytest.raises(ValueError, match="m4: not a CIFAR-10 Python batch"):
        fds.parse_cifar_python(cifar_pickle(x, y)[:-20], "m4")
    with pytest.raises(ValueError, match=r"m5: 'data' must be a uint8 array of shape \(N, 3072\)"):
        fds.parse_cifar_python(py2_cifar_pickle(np.zeros((1, 100), np.uint8), [0]), "m5")
    # Python 3 pickles of bytes go through _codecs.encode, which no CIFAR file contains
    with pytest.raises(ValueError, match="m6: refusing to load global _codecs.encode"):
        fds.parse_cifar_python(pickle.dumps({b"labels": [0]}, protocol=2), "m6")


# --- the real Fashion-MNIST (Debian's dataset-fashion-mnist) ---------------------------------

def _need_system_fashion():
    missing = [f for f in MNIST_FILES if not os.path.isfile(os.path.join(SYSTEM_FASHION, f + ".gz"))]
    if missing:
        msg = (f"real Fashion-MNIST missing from {SYSTEM_FASHION} ({missing}); "
               "install it with: apt-get install dataset-fashion-mnist")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def test_real_fashion_mnist_system_package(monkeypatch, tmp_path):
    _need_system_fashion()
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # empty cache: must come from /usr/share
    (xtr, ytr), (xte, yte) = fds.load_fashion_mnist(download=False)
    assert xtr.shape == (60000, 28, 28) and ytr.shape == (60000,)
    assert xte.shape == (10000, 28, 28) and yte.shape == (10000,)
    assert all(a.dtype == np.uint8 for a in (xtr, ytr, xte, yte))
    np.testing.assert_array_equal(np.bincount(ytr), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(yte), [1000] * 10)
    # Known first labels of the published training and test sets.
    assert ytr[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert yte[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert 60 < xtr.mean() < 80 and xtr.max() == 255 and xtr.min() == 0
    assert not list(tmp_path.iterdir()), "loading from the system package must not write the cache"
