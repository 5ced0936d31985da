"""A local HTTP server on 127.0.0.1 serving files the test gives it, and small fake dataset
files in the real formats (gzip'd IDX, the CIFAR-10 binary tarball), for the download tests
of the loaders and of the studio. No outside network is touched."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import socket
import struct
import tarfile
import threading

import numpy as np

from fastmlp.datasets import _loaders


class _Handler(http.server.BaseHTTPRequestHandler):
    # routes: path -> (mode, payload); modes: ok, truncate, lie-length, slow, nolength
    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.log.append(self.path)
        route = srv.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        mode, body = route
        if mode == "error500":
            self.send_error(500)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode != "nolength":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate":
            # announce the whole body, send half, drop the connection
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if mode == "slow":
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            srv.observe()
            self.wfile.write(body[half:])
            return
        self.wfile.write(body if mode != "nolength" else body[:-10])
        if mode == "nolength":
            self.close_connection = True

    def log_message(self, *args):  # keep pytest output clean
        pass


class Server:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = {}
        self.httpd.log = []
        self.httpd.observe = lambda: None
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def route(self, path, body, mode="ok"):
        self.httpd.routes[path] = (mode, body)

    @property
    def log(self):
        return self.httpd.log

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def idx_gz(arr):
    arr = np.asarray(arr, np.uint8)
    head = b"\x00\x00\x08" + bytes([arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return gzip.compress(head + arr.tobytes(), mtime=0)


def fake_mnist_arrays(n_train=20, n_test=6, seed=7):
    """The four MNIST .gz file names -> their arrays (random 28x28 images, labels 0..9);
    ``idx_gz`` makes each file's bytes."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 10).astype(np.uint8),
    }
    return arrays


def fake_cifar_tgz(n=4):
    """``cifar-10-binary.tar.gz``'s bytes: six batches of ``n`` records (label, 3072 pixels)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i, batch in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
            records = np.full((n, 3073), i, np.uint8)
            records[:, 0] = np.arange(n) % 10
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{batch}.bin")
            info.size = records.size
            tar.addfile(info, io.BytesIO(records.tobytes()))
    return buf.getvalue()


def serve_fake_datasets(server, monkeypatch, tmp_path, prefix="/m"):
    """Fake MNIST and CIFAR-10 files served at ``<server.base><prefix>/<dataset>/<file>`` (the
    studio's mirror layout); the loaders' published checksums and sizes swapped for theirs
    and no dataset anywhere on disk. Returns ``{dataset: {file name: bytes}}``."""
    blobs = {"mnist": {k: idx_gz(v) for k, v in fake_mnist_arrays().items()},
             "cifar10": {"cifar-10-binary.tar.gz": fake_cifar_tgz()}}
    for name, named in blobs.items():
        for f, b in named.items():
            server.route(f"{prefix}/{name}/{f}", b)
        monkeypatch.setitem(_loaders.DATASETS, name, _loaders.DatasetSpec(
            name=name, mirrors=(closed_port_url(),),
            files=tuple(_loaders.FileSpec(f, sha(b), len(b)) for f, b in named.items())))
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(_loaders, "SYSTEM_DIR", str(tmp_path / "system"))
    return blobs
