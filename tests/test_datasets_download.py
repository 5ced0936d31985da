"""Downloads against a local http.server on 127.0.0.1 serving synthetic files: mirror
fail-over, checksum mismatch, truncated transfer, atomic rename, no partial file left.
No outside network is touched."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest

from fastmlp import datasets as fds
from fastmlp.datasets import _download, _loaders
from fastmlp.datasets._loaders import DatasetSpec, FileSpec
from _http_files import Server, closed_port_url, fake_mnist_arrays, idx_gz, sha


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def listing(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


PAYLOAD = os.urandom(200_000)


def test_first_good_mirror_wins_after_failover(server, tmp_path):
    server.route("/m1/f.bin", b"", mode="error500")
    server.route("/m2/f.bin", b"tampered" + PAYLOAD[8:])          # checksum mismatch
    server.route("/m3/f.bin", PAYLOAD, mode="truncate")           # truncated transfer
    server.route("/m4/f.bin", PAYLOAD)
    server.route("/m5/f.bin", PAYLOAD)
    mirrors = [closed_port_url(), f"{server.base}/m0/", f"{server.base}/m1/", f"{server.base}/m2/",
               f"{server.base}/m3", f"{server.base}/m4/", f"{server.base}/m5/"]
    p = _download.fetch_file("f.bin", mirrors, str(tmp_path), sha256=sha(PAYLOAD),
                             size=len(PAYLOAD), progress=False)
    assert p == str(tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert server.log == ["/m0/f.bin", "/m1/f.bin", "/m2/f.bin", "/m3/f.bin", "/m4/f.bin"]
    assert listing(tmp_path) == ["f.bin"], "no temporary file may be left behind"


def test_all_mirrors_fail_lists_each_and_leaves_nothing(server, tmp_path):
    server.route("/bad/f.bin", b"x" + PAYLOAD[1:])
    server.route("/cut/f.bin", PAYLOAD, mode="truncate")
    server.route("/short/f.bin", PAYLOAD, mode="nolength")
    dead = closed_port_url()
    mirrors = [f"{server.base}/none/", f"{server.base}/bad/", f"{server.base}/cut/",
               f"{server.base}/short/", dead]
    with pytest.raises(fds.DownloadError) as ei:
        _download.fetch_file("f.bin", mirrors, str(tmp_path), sha256=sha(PAYLOAD),
                             size=len(PAYLOAD), progress=False)
    msg = str(ei.value)
    assert f"{server.base}/none/f.bin: HTTP 404" in msg
    assert f"{server.base}/bad/f.bin: sha256 mismatch" in msg
    assert f"{server.base}/cut/f.bin: truncated transfer: 100000 of 200000 bytes" in msg
    assert f"{server.base}/short/f.bin: got 199990 bytes, expected 200000" in msg
    assert dead + "f.bin" in msg
    assert listing(tmp_path) == [], "a failed download must leave no file, partial or final"


def test_oversized_body_is_rejected_without_reading_it_all(server, tmp_path):
    big = PAYLOAD * 5
    server.route("/big/f.bin", big, mode="nolength")
    with pytest.raises(fds.DownloadError, match="got 200001 bytes, expected 200000"):
        _download.fetch_file("f.bin", [f"{server.base}/big/"], str(tmp_path),
                             sha256=sha(PAYLOAD), size=len(PAYLOAD), progress=False)
    assert listing(tmp_path) == []


def test_atomic_rename_final_name_appears_only_when_complete(server, tmp_path):
    seen = {}

    def observe():
        seen["final_exists"] = (tmp_path / "f.bin").exists()
        seen["files"] = listing(tmp_path)

    server.httpd.observe = observe
    server.route("/s/f.bin", PAYLOAD, mode="slow")
    _download.fetch_file("f.bin", [f"{server.base}/s/"], str(tmp_path), sha256=sha(PAYLOAD),
                         size=len(PAYLOAD), progress=False)
    assert seen["final_exists"] is False
    assert len(seen["files"]) == 1 and seen["files"][0].startswith(".f.bin.") \
        and seen["files"][0].endswith(".part")
    assert listing(tmp_path) == ["f.bin"]


def test_existing_final_file_is_replaced_only_by_a_verified_one(server, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"old")
    server.route("/bad/f.bin", b"y" * len(PAYLOAD))
    with pytest.raises(fds.DownloadError):
        _download.fetch_file("f.bin", [f"{server.base}/bad/"], str(tmp_path),
                             sha256=sha(PAYLOAD), size=len(PAYLOAD), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == b"old"


def test_progress_bar_reports_on_stderr(server, tmp_path, capsys):
    server.route("/p/f.bin", PAYLOAD)
    _download.fetch_file("f.bin", [f"{server.base}/p/"], str(tmp_path), sha256=sha(PAYLOAD),
                         size=len(PAYLOAD), progress=True)
    err = capsys.readouterr().err
    assert "Downloading f.bin (0.2 MB)" in err and "f.bin: 0.2 MB in" in err


def test_progress_bar_redraws_in_place_on_a_terminal(server, tmp_path, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr("sys.stderr", tty)
    server.route("/p/f.bin", PAYLOAD)
    _download.fetch_file("f.bin", [f"{server.base}/p/"], str(tmp_path), sha256=sha(PAYLOAD),
                         size=len(PAYLOAD))  # progress=None: on, because stderr is a terminal
    out = tty.getvalue()
    assert out.startswith("\rf.bin [") and "100.0% 0.2 MB/0.2 MB" in out and out.endswith("\n")
    assert "#" * 30 in out


def test_progress_callable_gets_bytes_per_file_and_each_mirror_restarts(server, tmp_path,
                                                                        capsys):
    server.route("/cut/f.bin", PAYLOAD, mode="truncate")
    server.route("/p/f.bin", PAYLOAD)
    calls = []
    _download.fetch_file("f.bin", [f"{server.base}/cut/", f"{server.base}/p/"], str(tmp_path),
                         sha256=sha(PAYLOAD), size=len(PAYLOAD),
                         progress=lambda *a: calls.append(a))
    starts = [i for i, c in enumerate(calls) if c[1] == 0]
    assert len(starts) == 2 and all(c[0] == "f.bin" and c[2] == len(PAYLOAD) for c in calls)
    done = [c[1] for c in calls[starts[1]:]]
    assert done == sorted(done) and done[-1] == len(PAYLOAD)
    assert capsys.readouterr().err == ""  # reported to the callable, not to stderr


# --- whole loaders over the local server -----------------------------------------------------

@pytest.fixture
def synthetic_mnist(server, tmp_path, monkeypatch):
    arrays = fake_mnist_arrays()
    blobs = {k: idx_gz(v) for k, v in arrays.items()}
    for k, b in blobs.items():
        server.route(f"/good/{k}", b)
    spec = DatasetSpec(name="mnist",
                       files=tuple(FileSpec(k, sha(b), len(b)) for k, b in blobs.items()),
                       mirrors=(closed_port_url(), f"{server.base}/good/"))
    monkeypatch.setitem(_loaders.DATASETS, "mnist", spec)
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(_loaders, "SYSTEM_DIR", str(tmp_path / "system"))
    return arrays


def test_load_mnist_downloads_into_cache_then_uses_it(server, tmp_path, synthetic_mnist):
    (xtr, ytr), (xte, yte) = fds.load_mnist(progress=False)
    np.testing.assert_array_equal(xtr, synthetic_mnist["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(yte, synthetic_mnist["t10k-labels-idx1-ubyte.gz"])
    cache = tmp_path / "cache" / "fastmlp" / "mnist"
    assert listing(cache) == sorted(synthetic_mnist)
    n = len(server.log)
    assert n == 4
    fds.load_mnist(progress=False)
    assert len(server.log) == n, "the second load must come from the cache"


def test_load_mnist_downloads_into_explicit_path(server, tmp_path, synthetic_mnist):
    dest = tmp_path / "mine"
    fds.load_mnist(path=dest, progress=False)
    assert listing(dest) == sorted(synthetic_mnist)
    assert not (tmp_path / "cache").exists()


def test_load_mnist_mirrors_override_and_offline_error(server, tmp_path, synthetic_mnist):
    dead = closed_port_url()
    with pytest.raises(fds.DatasetNotFoundError) as ei:
        fds.load_mnist(mirrors=[dead], progress=False)
    msg = str(ei.value)
    assert str(tmp_path / "cache" / "fastmlp" / "mnist") in msg
    assert str(tmp_path / "system" / "mnist") in msg
    assert "Download failed" in msg and dead in msg
    assert listing(tmp_path / "cache" / "fastmlp" / "mnist") == []


def test_load_mnist_checksum_mismatch_is_an_error(server, tmp_path, synthetic_mnist):
    good = idx_gz(synthetic_mnist["train-images-idx3-ubyte.gz"])
    server.route("/evil/train-images-idx3-ubyte.gz", good[:-100] + bytes(100))  # same size
    with pytest.raises(fds.DatasetNotFoundError, match="sha256 mismatch"):
        fds.load_mnist(mirrors=[f"{server.base}/evil/"], progress=False)
    assert not any(f.startswith("train-images") for f in listing(tmp_path / "cache" / "fastmlp" / "mnist"))


def _npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def test_mnist_falls_back_to_npz_source_when_idx_mirrors_fail(server, tmp_path, synthetic_mnist,
                                                              monkeypatch):
    npz = _npz_bytes({"x_train": synthetic_mnist["train-images-idx3-ubyte.gz"],
                      "y_train": synthetic_mnist["train-labels-idx1-ubyte.gz"],
                      "x_test": synthetic_mnist["t10k-images-idx3-ubyte.gz"],
                      "y_test": synthetic_mnist["t10k-labels-idx1-ubyte.gz"]})
    server.route("/keras/mnist.npz", npz)
    spec = _loaders.DATASETS["mnist"]
    monkeypatch.setitem(_loaders.DATASETS, "mnist", DatasetSpec(
        name="mnist", files=spec.files, mirrors=(f"{server.base}/gone/",),
        alternatives=(((FileSpec("mnist.npz", sha(npz), len(npz)),), (f"{server.base}/keras/",)),)))
    (xtr, ytr), (xte, yte) = fds.load_mnist(progress=False)
    np.testing.assert_array_equal(xtr, synthetic_mnist["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(yte, synthetic_mnist["t10k-labels-idx1-ubyte.gz"])
    assert server.log == ["/gone/train-images-idx3-ubyte.gz", "/keras/mnist.npz"]
    assert listing(tmp_path / "cache" / "fastmlp" / "mnist") == ["mnist.npz"]
    # both sources failing: the error names both
    server.httpd.routes.clear()
    import shutil
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(fds.DatasetNotFoundError) as ei:
        fds.load_mnist(progress=False)
    msg = str(ei.value)
    assert "/gone/train-images-idx3-ubyte.gz: HTTP 404" in msg and "/keras/mnist.npz: HTTP 404" in msg
    assert "or, instead:" in msg


def test_mnist_npz_in_a_directory_is_validated(tmp_path, monkeypatch):
    monkeypatch.setattr(_loaders, "SYSTEM_DIR", str(tmp_path / "system"))
    good = {"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.arange(4, dtype=np.uint8),
            "x_test": np.ones((2, 28, 28), np.uint8), "y_test": np.arange(2, dtype=np.uint8)}
    d = tmp_path / "d"
    d.mkdir()
    (d / "mnist.npz").write_bytes(_npz_bytes(good))
    (xtr, _), (xte, _) = fds.load_mnist(path=d, download=False)
    assert xtr.shape == (4, 28, 28) and xte[0, 0, 0] == 1
    bad = dict(good, y_test=np.array([0, 10], np.uint8))
    (d / "mnist.npz").write_bytes(_npz_bytes(bad))
    with pytest.raises(ValueError, match=r"mnist\.npz: y_test label 10 out of range"):
        fds.load_mnist(path=d, download=False)
    (d / "mnist.npz").write_bytes(_npz_bytes(good)[:200])
    with pytest.raises(ValueError, match=r"mnist\.npz: corrupt or truncated"):
        fds.load_mnist(path=d, download=False)
    (d / "mnist.npz").write_bytes(_npz_bytes(dict(good, x_train=np.zeros((4, 28, 28), np.float32))))
    with pytest.raises(ValueError, match=r"mnist\.npz: x_train is float32"):
        fds.load_mnist(path=d, download=False)
    # a lying .npy header inside the archive (claims 2**40 images): refused before allocating
    import zipfile
    from numpy.lib import format as npf
    buf = io.BytesIO()
    npf.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False,
                                     "shape": (2 ** 40, 28, 28)})
    buf.write(bytes(4 * 784))
    with zipfile.ZipFile(d / "mnist.npz", "w") as zf:
        for k, v in good.items():
            if k == "x_train":
                zf.writestr("x_train.npy", buf.getvalue())
            else:
                b = io.BytesIO()
                np.save(b, v)
                zf.writestr(k + ".npy", b.getvalue())
    with pytest.raises(ValueError, match=r"mnist\.npz: x_train\.npy header says shape \(1099511627776, 28, 28\)"):
        fds.load_mnist(path=d, download=False)
    (d / "mnist.npz").write_bytes(b"\x93NUMPY" + bytes(100))
    with pytest.raises(ValueError, match=r"mnist\.npz"):
        fds.load_mnist(path=d, download=False)
