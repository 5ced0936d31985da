"""fastmlp studio's dataset downloads (the page's Download button) against a local HTTP
server on 127.0.0.1 serving small fake files in the real formats: progress to completion,
the dataset then selectable and trainable, the failure messages (404, checksum, no
network), one download per dataset at a time. No outside network is touched.

Skipped where the ``studio`` extra is missing, a failure under CI (tests/_optional.py).
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from fastmlp.cli import build_parser, main as cli_main
from fastmlp.studio._downloads import parse_mirrors
from _http_files import Server, closed_port_url, serve_fake_datasets
from _studio_client import AUTH, MODEL, events, studio_client, train


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def files(server, tmp_path, monkeypatch):
    return serve_fake_datasets(server, monkeypatch, tmp_path)


@pytest.fixture
def client(server, files, tmp_path):
    with studio_client(tmp_path / "data", mirrors=[f"{server.base}/m"]) as c:
        yield c


def _url(name):
    return f"/api/datasets/{name}/download"


def _wait(client, name, timeout=30):
    t_end = time.monotonic() + timeout
    while True:
        s = client.get(_url(name), headers=AUTH).json()
        if s["status"] != "downloading" or time.monotonic() > t_end:
            return s
        time.sleep(0.02)


def _listed(client, name):
    return next(d for d in client.get("/api/datasets", headers=AUTH).json()["datasets"]
                if d["name"] == name)


def test_download_reports_progress_then_the_dataset_trains(client, server, files):
    listed = _listed(client, "mnist")
    assert not listed["available"] and listed["download"] is None
    assert client.get(_url("mnist"), headers=AUTH).status_code == 404  # none started
    seen = {}
    # the third file is sent in two halves: the state between them shows the first two done
    server.httpd.observe = lambda: seen.update(client.get(_url("mnist"), headers=AUTH).json())
    third = list(files["mnist"])[2]
    server.route(f"/m/mnist/{third}", files["mnist"][third], mode="slow")
    r = client.post(_url("mnist"), headers=AUTH)
    assert r.status_code == 202 and r.json()["status"] == "downloading"
    sizes = {f: len(b) for f, b in files["mnist"].items()}
    assert r.json()["total"] == sum(sizes.values())
    final = _wait(client, "mnist")
    assert final["status"] == "done" and final["error"] is None, final
    assert final["done"] == final["total"] == sum(sizes.values())
    assert {f["name"]: (f["done"], f["total"]) for f in final["files"]} == \
        {f: (n, n) for f, n in sizes.items()}
    assert seen["status"] == "downloading" and 0 < seen["done"] < seen["total"]
    assert [f["done"] == f["total"] for f in seen["files"]][:2] == [True, True]
    # into the studio's data dir, then selectable, described and trainable
    assert sorted(os.listdir(client.data_dir / "datasets" / "mnist")) == sorted(sizes)
    assert _listed(client, "mnist")["available"]
    d = client.get("/api/datasets/mnist", headers=AUTH).json()
    assert (d["input_shape"], d["n_train"], d["n_test"]) == ([28, 28], 20, 6)
    run = train(client, dataset="mnist", epochs=1, batch_size=4)
    assert events(client, run["id"])[-1]["run"]["status"] == "done"
    r = client.post(_url("mnist"), headers=AUTH)
    assert r.status_code == 409 and "already on this machine" in r.json()["error"]


def test_cifar10_tarball_download(client):
    assert client.post(_url("cifar10"), headers=AUTH).status_code == 202
    assert _wait(client, "cifar10")["status"] == "done"
    d = client.get("/api/datasets/cifar10", headers=AUTH).json()
    assert (d["input_shape"], d["n_train"], d["n_test"]) == ([32, 32, 3], 20, 4)


@pytest.mark.parametrize("case, words", [
    ("404", "HTTP 404"), ("checksum", "sha256 mismatch"), ("offline", "/mnist/train-images"),
])
def test_download_failure_is_a_clear_message(client, server, files, case, words):
    first = list(files["mnist"])[0]
    if case == "404":
        del server.httpd.routes[f"/m/mnist/{first}"]
    elif case == "checksum":  # same size, other bytes
        server.route(f"/m/mnist/{first}", bytes(len(files["mnist"][first])))
    else:
        client.app.downloads.mirrors = parse_mirrors([closed_port_url()])
    assert client.post(_url("mnist"), headers=AUTH).status_code == 202
    final = _wait(client, "mnist")
    assert final["status"] == "failed" and words in final["error"], final
    assert final["error"].startswith("downloading mnist failed: could not download")
    assert "Traceback" not in final["error"]
    assert not _listed(client, "mnist")["available"]
    assert not [f for f in os.listdir(client.data_dir / "datasets" / "mnist")
                if f.startswith(".")], "no partial file may be left behind"
    assert client.get("/api/info", headers=AUTH).status_code == 200  # the server lives on
    assert client.post(_url("mnist"), headers=AUTH).status_code == 202  # may be tried again


def test_one_download_per_dataset_at_a_time(client, server, files):
    release = threading.Event()
    server.httpd.observe = lambda: release.wait(30)
    first = list(files["mnist"])[0]
    server.route(f"/m/mnist/{first}", files["mnist"][first], mode="slow")
    try:
        assert client.post(_url("mnist"), headers=AUTH).status_code == 202
        r = client.post(_url("mnist"), headers=AUTH)
        assert r.status_code == 409 and "'mnist' is already downloading" in r.json()["error"]
        assert r.json()["download"]["status"] == "downloading"
        assert _listed(client, "mnist")["download"]["status"] == "downloading"
        # another dataset may download meanwhile, and the server answers as usual
        assert client.post(_url("cifar10"), headers=AUTH).status_code == 202
        assert _wait(client, "cifar10")["status"] == "done"
    finally:
        release.set()
    assert _wait(client, "mnist")["status"] == "done"


def test_shutdown_cancels_a_download_and_leaves_no_file(server, files, tmp_path):
    release = threading.Event()
    server.httpd.observe = lambda: release.wait(30)
    first = list(files["mnist"])[0]
    server.route(f"/m/mnist/{first}", files["mnist"][first], mode="slow")
    with studio_client(tmp_path / "data", mirrors=[f"{server.base}/m"]) as c:
        assert c.post(_url("mnist"), headers=AUTH).status_code == 202
        downloads = c.app.downloads
        threading.Timer(0.3, release.set).start()  # the rest of the file comes after
    job = downloads.jobs["mnist"]  # the app's shutdown waited for it
    assert job.status == "failed" and "the server is shutting down" in job.error, job.error
    assert os.listdir(tmp_path / "data" / "datasets" / "mnist") == []


@pytest.mark.parametrize("name, status, words", [
    ("sample", 400, "ships with fastmlp"), ("nope", 400, "got 'nope'"),
])
def test_download_bad_names(client, name, status, words):
    r = client.post(_url(name), headers=AUTH)
    assert r.status_code == status and words in r.json()["error"]
    assert client.get(_url("nope"), headers=AUTH).status_code == 400


def test_mirrors_setting(monkeypatch):
    assert parse_mirrors([]) == {}
    assert parse_mirrors("http://h/x/")["cifar10"] == ("http://h/x/cifar10/",)
    monkeypatch.setenv("FASTMLP_STUDIO_MIRRORS", "http://a, https://b/")
    assert parse_mirrors(None)["mnist"] == ("http://a/mnist/", "https://b/mnist/")
    assert parse_mirrors({"mnist": "http://c/"}) == {"mnist": ("http://c/",)}
    with pytest.raises(ValueError, match="got 'ftp://x'"):
        parse_mirrors(["ftp://x"])
    with pytest.raises(ValueError, match="got 'mnsit'"):
        parse_mirrors({"mnsit": ["http://c/"]})


def test_cli_mirror_option(tmp_path, capsys):
    args = build_parser().parse_args(["studio", "--mirror", "http://a/", "--mirror", "http://b"])
    assert args.mirror == ["http://a/", "http://b"]
    code = cli_main(["studio", "--no-browser", "--port", "0", "--data-dir", str(tmp_path),
                     "--mirror", "file:///etc"])
    err = capsys.readouterr().err
    assert code != 0 and "got 'file:///etc'" in err and "Traceback" not in err


def test_training_on_a_missing_dataset_names_the_download(client):
    r = client.post("/api/runs", json={"dataset": "mnist", "layers": MODEL, "epochs": 1},
                    headers=AUTH)
    assert r.status_code == 404 and "Download button" in r.json()["error"]
