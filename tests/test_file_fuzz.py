"""File fuzzer: hostile and damaged files for the dataset parsers and ``load_model``.

Seeded mutations of valid files (random truncations, bit flips, byte overwrites, header
fields rewritten, garbage appended) plus crafted attacks (headers declaring 10^12 images or
elements, zip/gzip bombs, pickles inside an ``.npz``, malicious CIFAR pickles). Every file
either loads (a mutation may be harmless, e.g. a flipped pixel) or raises ``ValueError``
whose message names the file; no other exception, no unpickling, no allocation beyond the
file's real size (peak RSS is checked), no hang.

Budget: ``FASTMLP_FILE_FUZZ_EXAMPLES`` mutations per target (default 40); seed
``FASTMLP_TEST_SEED``.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import random
import resource
import struct
import tarfile
import zipfile
import zlib

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.datasets import parse_cifar_binary, parse_cifar_python, read_idx
from fastmlp.datasets._cifar import read_cifar_binary_file, read_cifar_tar

N = int(os.environ.get("FASTMLP_FILE_FUZZ_EXAMPLES", "40"))
SEED = int(os.environ.get("FASTMLP_TEST_SEED", "20240607"))
RSS_SLACK = 300 << 20  # bytes of peak-RSS growth tolerated per target


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def mutate(data: bytes, rnd: random.Random) -> bytes:
    """One random damage of ``data``."""
    b = bytearray(data)
    kind = rnd.choice(["truncate", "flip", "flip", "overwrite", "append", "zero", "dup"])
    if kind == "truncate" or not b:
        return bytes(b[:rnd.randrange(len(b) + 1)])
    if kind == "flip":
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
    elif kind == "overwrite":
        i = rnd.randrange(len(b))
        b[i:i + 4] = bytes(rnd.randrange(256) for _ in range(4))
    elif kind == "append":
        b += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
    elif kind == "zero":
        i = rnd.randrange(len(b))
        b[i:i + rnd.randint(1, 32)] = bytes(min(32, len(b) - i))
    else:
        i = rnd.randrange(len(b))
        b[i:i] = b[i:i + rnd.randint(1, 16)]
    return bytes(b)


def expect_loads_or_valueerror(fn, path, what):
    """``fn(path)`` works, or raises ValueError naming ``path``; returns the exception."""
    try:
        fn(path)
    except ValueError as exc:
        assert os.path.basename(str(path)) in str(exc), f"{what}: message lacks the file: {exc}"
        return exc
    except Exception as exc:  # noqa: BLE001 - anything else is the bug this test hunts
        pytest.fail(f"{what}: {type(exc).__name__} instead of ValueError: {exc}")
    return None


# --------------------------------------------------------------------------- IDX


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + \
        arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.fixture(scope="module")
def idx_files():
    rng = np.random.default_rng(SEED)
    return {
        "images": idx_bytes(rng.integers(0, 256, (6, 7, 5), dtype=np.uint8), 0x08),
        "labels": idx_bytes(rng.integers(0, 10, 9, dtype=np.uint8), 0x08),
        "floats": idx_bytes(rng.standard_normal((3, 4)).astype(np.float32), 0x0D),
    }


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_mutations(tmp_path, idx_files, gz):
    rnd = random.Random(SEED + gz)
    rss = _peak_rss()
    for i in range(N):
        name, base = rnd.choice(sorted(idx_files.items()))
        data = mutate(base, rnd)
        if gz:
            data = gzip.compress(data, mtime=0)
            if rnd.random() < 0.3:
                data = mutate(data, rnd)  # damage the gzip stream itself
        path = tmp_path / f"idx-{i}.gz"
        path.write_bytes(data)
        expect_loads_or_valueerror(read_idx, path, f"{name} mutation {i}")
    assert _peak_rss() - rss < RSS_SLACK


@pytest.mark.parametrize("dims", [
    (10**9, 1000, 1000),                   # 10^15 bytes claimed
    (2**32 - 1, 2**32 - 1, 2**32 - 1),     # the largest IDX header can say
    (1_000_000_000_000 % 2**32, 28, 28),
    (0, 28, 28),                           # empty but valid only with no data
    (1,) * 255,                            # 255 dimensions
])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_oversized_headers_do_not_allocate(tmp_path, dims, gz):
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    data = header + bytes(100)
    path = tmp_path / "big-idx"
    path.write_bytes(gzip.compress(data) if gz else data)
    rss = _peak_rss()
    exc = expect_loads_or_valueerror(read_idx, path, f"dims {dims[:4]}")
    assert exc is not None
    assert _peak_rss() - rss < RSS_SLACK


def test_idx_gzip_bomb_is_refused_unread(tmp_path):
    """A gzip stream inflating to 2 GiB behind a header claiming exactly that."""
    n = 2**31
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", n // 2**20, 1024, 1024)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(header)]
    zeros = bytes(1 << 24)
    for _ in range(8):  # the first 128 MiB for real; the rest would be more of the same
        parts.append(comp.compress(zeros))
    parts.append(comp.flush())
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(b"".join(parts))
    rss = _peak_rss()
    exc = expect_loads_or_valueerror(read_idx, path, "gzip bomb")
    assert exc is not None
    assert _peak_rss() - rss < 32 << 20  # refused from the header, nothing inflated


# --------------------------------------------------------------------------- CIFAR


def cifar_records(n, rng):
    rec = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
    rec[:, 0] = rng.integers(0, 10, n)
    return rec.tobytes()


def cifar_pickle(n, rng, protocol=2):
    d = {b"batch_label": b"fuzz", b"labels": [int(v) for v in rng.integers(0, 10, n)],
         b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"filenames": [b"f%d" % i for i in range(n)]}
    return pickle.dumps(d, protocol=protocol)


def test_cifar_binary_mutations(tmp_path):
    rnd = random.Random(SEED + 10)
    rng = np.random.default_rng(SEED)
    base = cifar_records(3, rng)
    for i in range(N):
        data = mutate(base, rnd)
        name = f"data_batch_{i}.bin"
        expect_loads_or_valueerror(lambda d: parse_cifar_binary(data, name), name, "parse")
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if i % 3 == 0 else data)
        expect_loads_or_valueerror(read_cifar_binary_file, path, f"file {i}")


def test_cifar_python_mutations():
    rnd = random.Random(SEED + 11)
    rng = np.random.default_rng(SEED)
    bases = [cifar_pickle(2, rng, p) for p in (2, 3, 4, 5)]
    rss = _peak_rss()
    for i in range(2 * N):
        data = mutate(rnd.choice(bases), rnd)
        name = f"cifar-py-{i}"
        expect_loads_or_valueerror(lambda d: parse_cifar_python(data, name), name, name)
    assert _peak_rss() - rss < RSS_SLACK


class _Exec:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def _crafted_cifar_pickles(marker):
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    rce = pickle.dumps({b"data": _Exec(code), b"labels": [0]}, protocol=2)
    yield "exec global", rce
    yield "os.system", b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    # numpy.ndarray called directly (would allocate whatever shape it is given)
    yield "ndarray call", b"cnumpy\nndarray\n(I1000000000000\ntR."
    # a legitimate-looking array whose state claims 10^12 x 3072 bytes with 6 data bytes
    arr = np.zeros((1, 3072), np.uint8)
    good = pickle.dumps({b"data": arr, b"labels": [0]}, protocol=2)
    yield "huge state shape", good.replace(b"K\x01M\x00\x0c\x86", b"J\xff\xff\xff\x7fM\x00\x0c\x86")
    # object dtype array (its elements would be unpickled)
    obj = np.empty((1, 3072), object)
    obj[...] = 0
    yield "object dtype", pickle.dumps({b"data": obj, b"labels": [0]}, protocol=2)
    yield "float dtype", pickle.dumps({b"data": np.zeros((1, 3072)), b"labels": [0]}, protocol=2)
    yield "persistent id", b"(P1\nt."
    yield "deep nesting", b"(" * 100000 + b"t" * 100000 + b"."
    yield "labels bomb", pickle.dumps({b"data": arr, b"labels": [10**100]}, protocol=2)
    yield "not a dict", pickle.dumps([1, 2, 3])
    yield "empty", b""


def test_cifar_python_crafted_pickles_refused(tmp_path):
    marker = tmp_path / "pwned"
    rss = _peak_rss()
    for what, data in _crafted_cifar_pickles(marker):
        name = f"crafted-{what.replace(' ', '_')}"
        exc = expect_loads_or_valueerror(lambda d: parse_cifar_python(data, name), name, what)
        assert exc is not None, f"{what}: accepted"
        assert not marker.exists(), f"{what}: the pickle ran code"
    assert _peak_rss() - rss < RSS_SLACK


def _tar_gz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_cifar_tar_mutations(tmp_path):
    rnd = random.Random(SEED + 12)
    rng = np.random.default_rng(SEED)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    base = _tar_gz([(f"cifar-10-batches-bin/{n}.bin", cifar_records(1, rng)) for n in names])
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(base)
    (x, y), _ = read_cifar_tar(path, "bin")
    assert x.shape == (5, 32, 32, 3)
    for i in range(N // 2):
        path = tmp_path / f"cifar-{i}.tar.gz"
        path.write_bytes(mutate(base, rnd))
        expect_loads_or_valueerror(lambda p: read_cifar_tar(p, "bin"), path, f"tar {i}")
    # a member declaring 2**33 bytes (tar header size field) is refused unread
    big = bytearray(_tar_gz([(f"cifar-10-batches-bin/{n}.bin", b"") for n in names]))
    raw = bytearray(gzip.decompress(bytes(big)))
    raw[124:136] = b"%011o\0" % (2**33)
    raw[148:156] = b"        "
    raw[148:155] = b"%06o\0" % sum(raw[:512])
    path = tmp_path / "cifar-bigmember.tar.gz"
    path.write_bytes(gzip.compress(bytes(raw)))
    assert expect_loads_or_valueerror(lambda p: read_cifar_tar(p, "bin"), path, "big") is not None


# --------------------------------------------------------------------------- load_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    m = fm.Sequential([fm.layers.Dense(4, activation="relu"), fm.layers.Dense(3)],
                      input_shape=(5,), seed=0)
    m.compile(optimizer="adam", loss=fm.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    path = d / "model.npz"
    m.save(path)
    return path


def _npz(path, members, compress=zipfile.ZIP_STORED):
    """Write an .npz from {name: bytes-of-.npy or ndarray}."""
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for name, v in members.items():
            if isinstance(v, np.ndarray):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, v, allow_pickle=True)
                v = buf.getvalue()
            zf.writestr(name, v)


def _npy_header(shape, descr="<f4"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_load_model_byte_mutations(tmp_path, model_file):
    assert fm.load_model(model_file).predict(np.ones((1, 5), np.float32)).shape == (1, 3)
    rnd = random.Random(SEED + 20)
    base = model_file.read_bytes()
    rss = _peak_rss()
    for i in range(2 * N):
        path = tmp_path / f"m{i}.npz"
        path.write_bytes(mutate(base, rnd))
        expect_loads_or_valueerror(fm.load_model, path, f"mutation {i}")
    assert _peak_rss() - rss < RSS_SLACK


def _config(model_file):
    with np.load(model_file, allow_pickle=False) as z:
        return json.loads(bytes(z["config"])), {k: z[k] for k in z.files if k != "config"}


def _cfg_array(cfg):
    return np.frombuffer(json.dumps(cfg).encode(), np.uint8)


def test_load_model_config_mutations(tmp_path, model_file):
    """Random damage to the JSON structure: wrong types, missing keys, huge sizes."""
    cfg, weights = _config(model_file)
    rnd = random.Random(SEED + 21)
    junk = [None, -1, 0, 10**12, 2**63, 1e308, float("nan"), "x", "Dense", [], {}, [10**12],
            True, {"class_name": "Dense", "config": {"units": 10**12}}]

    def walk(node, path=()):
        yield path
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, path + (k,))
        elif isinstance(node, list):
            for k, v in enumerate(node):
                yield from walk(v, path + (k,))
    paths = list(walk(cfg))[1:]
    rss = _peak_rss()
    for i in range(2 * N):
        c = json.loads(json.dumps(cfg))
        p = rnd.choice(paths)
        parent = c
        for k in p[:-1]:
            parent = parent[k]
        if rnd.random() < 0.2 and isinstance(parent, dict):
            del parent[p[-1]]
        else:
            parent[p[-1]] = rnd.choice(junk)
        path = tmp_path / f"c{i}.npz"
        _npz(path, {"config.npy": _cfg_array(c),
                    **{k + ".npy": v for k, v in weights.items()}})
        expect_loads_or_valueerror(fm.load_model, path, f"config change at {p}")
    assert _peak_rss() - rss < RSS_SLACK


def _crafted_models(model_file, tmp_path, marker):
    cfg, weights = _config(model_file)
    cfga = _cfg_array(cfg)
    w = {k + ".npy": v for k, v in weights.items()}
    # 1. a pickle inside the .npz: an object array whose element runs code when unpickled
    obj = np.empty(1, object)
    obj[0] = _Exec(f"open({str(marker)!r}, 'w').write('pwned')")
    yield "object array weight", {"config.npy": cfga, **w, "weight_00000.npy": obj}, None
    yield "object array config", {"config.npy": obj, **w}, None
    # 2. a .npy header declaring 10^12 elements with a few bytes of data
    yield "huge header", {"config.npy": cfga, **w,
                          "weight_00000.npy": _npy_header((10**6, 10**6)) + bytes(64)}, None
    yield "huge config header", {"config.npy": _npy_header((10**12,), "|u1") + b"{}", **w}, None
    # 3. npz bomb: a highly compressible member (256 MiB of zeros, deflated to ~256 KiB)
    n = 2**26
    yield "npz bomb", {"config.npy": cfga, **w, "weight_00000.npy":
                       _npy_header((n,)) + bytes(4 * n)}, zipfile.ZIP_DEFLATED
    # 4. config declaring huge layers (the weights in the file do not match)
    big = json.loads(json.dumps(cfg))
    big["model"]["layers"][0]["config"]["units"] = 10**9
    yield "config Dense(10**9)", {"config.npy": _cfg_array(big), **w}, None
    big = json.loads(json.dumps(cfg))
    big["model"]["input_shape"] = [10**6, 10**6]
    yield "config input 10**12", {"config.npy": _cfg_array(big), **w}, None
    # 5. assorted junk
    yield "lone npy member name", {"config.npy": cfga, "evil.txt": b"hi", **w}, None
    yield "config not utf8", {"config.npy": np.frombuffer(b"\xff\xfe{", np.uint8), **w}, None
    yield "config float", {"config.npy": np.zeros(4), **w}, None
    yield "config deep json", {"config.npy": np.frombuffer(b"[" * 100000 + b"]" * 100000,
                                                           np.uint8), **w}, None
    yield "complex weights", {"config.npy": cfga, **{k: v.astype(np.complex64)
                                                      for k, v in w.items()}}, None
    yield "missing weights", {"config.npy": cfga}, None


def test_load_model_crafted_files(tmp_path, model_file):
    marker = tmp_path / "pwned"
    rss = _peak_rss()
    for what, members, compress in _crafted_models(model_file, tmp_path, marker):
        path = tmp_path / f"crafted-{what.replace(' ', '_')}.npz"
        _npz(path, members, compress or zipfile.ZIP_STORED)
        exc = expect_loads_or_valueerror(fm.load_model, path, what)
        assert exc is not None, f"{what}: accepted"
        assert not marker.exists(), f"{what}: unpickled"
        assert _peak_rss() - rss < RSS_SLACK, f"{what}: allocated what the file claims"
    # not an .npz at all
    for what, data in [("empty", b""), ("npy", model_file.read_bytes()[:0] +
                                         _npy_header((3,)) + bytes(12)),
                       ("pickle", pickle.dumps({"a": 1})), ("text", b"hello")]:
        path = tmp_path / f"{what}.npz"
        path.write_bytes(data)
        assert expect_loads_or_valueerror(fm.load_model, path, what) is not None
