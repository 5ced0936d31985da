"""fastmlp studio's API (every endpoint) through Starlette's TestClient: datasets, validate,
train with its live events, stop, runs, inspect, export; the safety rules and bad input.

Skipped where the ``studio`` extra is missing, a failure under CI (tests/_optional.py).
"""
from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.cli import build_parser, main as cli_main
from _studio_client import (AUTH, MODEL, TOKEN, TestClient, create_app, events as _events,
                            studio_client, train as _train)
from _optional import require
from _studio_server import studio_server


@pytest.fixture
def client(tmp_path):
    with studio_client(tmp_path) as c:
        yield c


@pytest.fixture
def finished(client):
    run = _train(client)
    updates = _events(client, run["id"])
    return run["id"], updates


# --- the model ------------------------------------------------------------------------------

def test_info_lists_the_layers_of_fm_layers(client):
    d = client.get("/api/info", headers=AUTH).json()
    assert {l["type"] for l in d["layers"]} == set(fm.layers._CLASSES)
    dense = next(l for l in d["layers"] if l["type"] == "Dense")
    assert [p["name"] for p in dense["params"]][:2] == ["units", "activation"]
    assert "softmax" in d["activations"] and set(fm.layers.ACTIVATIONS) <= set(d["activations"])
    assert set(d["optimizers"]) == set(fm.optimizers.NAMES)


def test_datasets(client):
    d = client.get("/api/datasets", headers=AUTH).json()["datasets"]
    assert {x["name"] for x in d} == {"sample", "mnist", "fashion-mnist", "cifar10"}
    assert next(x for x in d if x["name"] == "sample")["available"]
    s = client.get("/api/datasets/sample", headers=AUTH).json()
    assert (s["input_shape"], s["n_train"], s["n_test"]) == ([28, 28], 3000, 1000)
    r = client.get("/api/datasets/nope", headers=AUTH)
    assert r.status_code == 400 and "dataset" in r.json()["error"]


def test_validate_summary_matches_the_python_api(client):
    r = client.post("/api/validate", json={"dataset": "sample", "layers": MODEL}, headers=AUTH)
    d = r.json()
    assert r.status_code == 200 and d["ok"]
    m = fm.Sequential([fm.Rescaling(1 / 255), fm.Flatten(), fm.Dense(32, activation="relu"),
                       fm.Dense(10, activation="softmax")], input_shape=(28, 28))
    assert d["summary"]["total_params"] == m.count_params() == 784 * 32 + 32 + 330
    assert [l["output_shape"] for l in d["summary"]["layers"]] == [[28, 28], [784], [32], [10]]


def test_validate_missing_flatten_gives_the_api_message(client):
    layers = [MODEL[0]] + MODEL[2:]
    r = client.post("/api/validate", json={"dataset": "sample", "layers": layers}, headers=AUTH)
    d = r.json()
    assert r.status_code == 400 and not d["ok"] and d["field"] == "layers[1]"
    with pytest.raises(ValueError) as exc:
        fm.Sequential([fm.Rescaling(1 / 255), fm.Dense(32)], input_shape=(28, 28))
    api_msg = str(exc.value).split("'")[2]  # the message without the layer's auto name
    assert api_msg in d["error"] and "Add fm.Flatten()" in d["error"]


def test_validate_too_few_output_units(client):
    layers = MODEL[:3] + [{"type": "Dense", "units": 3, "activation": "softmax"}]
    d = client.post("/api/validate", json={"dataset": "sample", "layers": layers},
                    headers=AUTH).json()
    assert not d["ok"] and "labels must be in [0, 2]" in d["error"]


def _dense(units):
    return {"dataset": "sample", "layers": [{"type": "Flatten"}, {"type": "Dense", "units": units}]}


@pytest.mark.parametrize("body, field, words", [
    (_dense(-5), "layers[1]", "got -5"),
    (_dense(0), "layers[1]", "got 0"),
    (_dense(10**12), "layers[1].units", "1,000,000,000,000"),
    (_dense(200_000), "layers[1]", "parameters"),
    (_dense(2.5), "layers[1].units", "expected an integer, got 2.5"),
    (_dense("8"), "layers[1].units", "expected an integer, got '8'"),
    ({"layers": [{"type": "Conv2D"}]}, "layers[0].type", "got 'Conv2D'"),
    ({"layers": [{"type": "Dense", "units": 4, "kernel": 1}]}, "layers[0].kernel", "no parameter"),
    ({"layers": [{"type": "Dense"}]}, "layers[0].units", "needs units"),
    ({"layers": [{"type": "Dense", "units": 4, "activation": "nope"}]}, "layers[0]", "'nope'"),
    ({"layers": "Dense"}, "layers", "expected a list"),
    ({"dataset": "../../etc", "layers": []}, "dataset", "'../../etc'"),
])
def test_validate_bad_input(client, body, field, words):
    r = client.post("/api/validate", json=body, headers=AUTH)
    d = r.json()
    assert r.status_code == 400 and d["field"] == field and words in d["error"], d


@pytest.mark.parametrize("raw, words", [
    (b"{not json", "expected JSON"), (b"[1, 2]", "expected a JSON object"),
    (b"\xff\xfe", "expected JSON"), (b"x" * (2 << 20), "at most"),
])
def test_malformed_bodies(client, raw, words):
    for path in ("/api/validate", "/api/runs"):
        r = client.post(path, content=raw, headers=AUTH)
        assert 400 <= r.status_code < 500 and words in r.json()["error"]


@pytest.mark.parametrize("settings, field", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": -3}, "batch_size"),
    ({"epochs": 0}, "epochs"), ({"learning_rate": -1}, "learning_rate"),
    ({"learning_rate": "fast"}, "learning_rate"), ({"optimizer": "magic"}, "optimizer"),
    ({"seed": -1}, "seed"), ({"validation_split": 0.9}, "validation_split"),
    ({"batches": 0, "epochs": None}, "batches"), ({"batches": 5}, "batches"),
])
def test_train_bad_settings(client, settings, field):
    body = {"dataset": "sample", "layers": MODEL, "epochs": 1, **settings}
    r = client.post("/api/runs", json=body, headers=AUTH)
    assert r.status_code == 400 and r.json()["field"] == field, r.text
    assert client.get("/api/runs", headers=AUTH).json()["runs"] == []


# --- training -------------------------------------------------------------------------------

def test_train_streams_batches_epochs_and_results(client, finished):
    run_id, updates = finished
    batches = [p for u in updates for p in u["batch"]]
    epochs = [e for u in updates for e in u["epochs"]]
    assert len(batches) == 2 * 43  # 2700 training images (10% validation) in batches of 64
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "examples_per_sec"} <= set(epochs[0])
    assert epochs[1]["loss"] < epochs[0]["loss"]
    final = updates[-1]["run"]
    assert final["status"] == "done" and final["error"] is None
    res = final["results"]
    assert 0.5 < res["test_accuracy"] <= 1 and res["inferences_per_sec"] > 0
    assert res["examples"] == 2 * 2700 and res["examples_per_sec"] > 0
    # kept on disk: the model file and the JSON history
    run_dir = client.data_dir / "runs" / run_id
    saved = json.loads((run_dir / "run.json").read_text())
    assert saved["status"] == "done" and len(saved["history"]["epochs"]) == 2
    m = fm.load_model(run_dir / "model.npz")
    (_, _), (xte, yte) = fm.datasets.load_sample()
    assert m.evaluate(xte, yte)["accuracy"] == pytest.approx(res["test_accuracy"])


def test_runs_list_and_one_run(client, finished):
    run_id, _ = finished
    d = client.get("/api/runs", headers=AUTH).json()
    assert [r["id"] for r in d["runs"]] == [run_id] and d["active"] == []
    one = client.get(f"/api/runs/{run_id}", headers=AUTH).json()
    assert one["params"]["batch_size"] == 64 and len(one["history"]["batch"]) == 86
    assert client.get("/api/runs/20200101-000000-abcdef", headers=AUTH).status_code == 404


def test_second_run_gets_409_and_stop_keeps_a_consistent_model(client):
    run = _train(client, epochs=None, batches=10**6)  # long: it runs until stopped
    r = client.post("/api/runs", json={"dataset": "sample", "layers": MODEL, "epochs": 1},
                    headers=AUTH)
    assert r.status_code == 409 and run["id"] in r.json()["error"]
    assert client.get("/api/runs", headers=AUTH).json()["active"] == [run["id"]]
    assert client.post(f"/api/runs/{run['id']}/stop", headers=AUTH).status_code == 200
    final = _events(client, run["id"])[-1]["run"]
    assert final["status"] == "stopped" and final["error"] is None
    # consistent: the saved model is the one evaluated, its weights finite
    m = fm.load_model(client.data_dir / "runs" / run["id"] / "model.npz")
    assert all(np.isfinite(w).all() for w in m.get_weights())
    (_, _), (xte, yte) = fm.datasets.load_sample()
    assert m.evaluate(xte, yte)["accuracy"] == pytest.approx(final["results"]["test_accuracy"])
    assert final["results"]["examples"] < 10**6 * 64
    r = client.post(f"/api/runs/{run['id']}/stop", headers=AUTH)
    assert r.status_code == 409 and "not training" in r.json()["error"]
    _train(client, epochs=1)  # the next run may start


def test_two_tabs_watch_one_run(client):
    run = _train(client, epochs=5)
    results = []
    tabs = [threading.Thread(target=lambda: results.append(_events(client, run["id"])))
            for _ in range(2)]
    for t in tabs:
        t.start()
    for t in tabs:
        t.join(60)
    assert len(results) == 2
    for updates in results:
        assert updates[-1]["run"]["status"] == "done"
        assert sum(len(u["epochs"]) for u in updates) == 5  # each tab gets every epoch


def test_training_thread_uses_the_servers_thread_count(tmp_path):
    before = fm.get_num_threads()
    fm.set_num_threads(1)  # as `fastmlp --threads 1 studio` does before making the app
    try:
        app = create_app(tmp_path, token=TOKEN, allowed_hosts=("testserver",))
    finally:
        fm.set_num_threads(before)
    with TestClient(app) as c:
        run = _train(c, epochs=1)
        assert _events(c, run["id"])[-1]["run"]["results"]["threads"] == 1


def test_runs_survive_a_restart(tmp_path, client, finished):
    run_id, _ = finished
    app = create_app(client.data_dir, token=TOKEN, allowed_hosts=("testserver",))
    with TestClient(app) as again:
        assert [r["id"] for r in again.get("/api/runs", headers=AUTH).json()["runs"]] == [run_id]
        d = again.get(f"/api/runs/{run_id}/inspect", headers=AUTH).json()  # model from disk
        assert d["total"] == 1000


# --- inspect and export ---------------------------------------------------------------------

def test_inspect(client, finished):
    run_id, updates = finished
    base = f"/api/runs/{run_id}/inspect"
    d = client.get(base + "?limit=5", headers=AUTH).json()
    assert d["total"] == 1000 and len(d["items"]) == 5 and d["shape"] == [28, 28]
    conf = np.array(d["confusion"])
    assert conf.shape == (10, 10) and conf.sum() == 1000 and (conf.sum(axis=1) == 100).all()
    assert d["accuracy"] == pytest.approx(updates[-1]["run"]["results"]["test_accuracy"])
    item = d["items"][0]
    assert len(item["probs"]) == 10 and abs(sum(item["probs"]) - 1) < 1e-2
    (_, _), (xte, yte) = fm.datasets.load_sample()
    assert base64.b64decode(item["pixels"]) == xte[item["index"]].tobytes()
    assert item["true"] == yte[item["index"]]
    wrong = client.get(base + "?only=misclassified&limit=200", headers=AUTH).json()
    assert wrong["total"] == 1000 - np.trace(conf)
    assert all(i["true"] != i["pred"] for i in wrong["items"])
    t, p = np.unravel_index(np.argmax(conf - np.diag(np.diag(conf))), conf.shape)
    cell = client.get(base + f"?true={t}&pred={p}", headers=AUTH).json()
    assert cell["total"] == conf[t, p] and all((i["true"], i["pred"]) == (t, p)
                                               for i in cell["items"])
    for q, field in (("only=some", "only"), ("true=10", "true"), ("limit=0", "limit"),
                     ("offset=x", "offset")):
        r = client.get(f"{base}?{q}", headers=AUTH)
        assert r.status_code == 400 and r.json()["field"] == field


def test_export_model_and_onnx(client, finished):
    run_id, _ = finished
    r = client.get(f"/api/runs/{run_id}/export/model", headers=AUTH)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    path = client.data_dir / "exported.npz"
    path.write_bytes(r.content)
    m = fm.load_model(path)
    (_, _), (xte, _) = fm.datasets.load_sample()
    require("onnx")
    ort = require("onnxruntime")
    r = client.get(f"/api/runs/{run_id}/export/onnx", headers=AUTH)
    assert r.status_code == 200
    sess = ort.InferenceSession(r.content, providers=["CPUExecutionProvider"])
    x = xte[:16].astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, m.predict(x), rtol=1e-4, atol=1e-5)
    assert client.get(f"/api/runs/{run_id}/export/zip", headers=AUTH).status_code == 404


def test_export_code_reproduces_the_run(client, finished, capsys):
    run_id, updates = finished
    code = client.get(f"/api/runs/{run_id}/export/code", headers=AUTH).text
    assert "fm.Sequential([" in code and "model.compile(" in code and "model.fit(" in code
    scope = {}
    exec(compile(code, "studio_export.py", "exec"), scope)  # the script as a user runs it
    saved = fm.load_model(client.data_dir / "runs" / run_id / "model.npz")
    for a, b in zip(scope["model"].get_weights(), saved.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "test accuracy" in capsys.readouterr().out


# --- safety ---------------------------------------------------------------------------------

def test_token_is_required(client):
    for headers in ({}, {"X-Studio-Token": "wrong"}):
        r = client.get("/api/runs", headers=headers)
        assert r.status_code == 401 and "token" in r.json()["error"]
    assert client.get(f"/api/runs?token={TOKEN}").status_code == 200
    assert client.post("/api/runs", json={"layers": MODEL}).status_code == 401
    assert client.get("/").status_code == 200  # the page itself holds no data


@pytest.mark.parametrize("headers, words", [
    ({"Host": "evil.example:8765"}, "DNS rebinding"),
    ({"Host": "127.0.0.1.evil.example"}, "DNS rebinding"),
    ({"Origin": "http://evil.example"}, "cross-site"),
    ({"Origin": "null"}, "cross-site"),
    ({"Sec-Fetch-Site": "cross-site"}, "cross-site"),
])
def test_foreign_host_and_origin_are_refused(client, headers, words):
    for path in ("/", "/api/runs", "/static/js/main.js"):
        r = client.get(path, headers={**AUTH, **headers})
        assert r.status_code == 403 and words in r.json()["error"]
    r = client.post("/api/runs", json={"layers": MODEL}, headers={**AUTH, **headers})
    assert r.status_code == 403
    assert client.get("/api/runs", headers={**AUTH, "Origin": "http://testserver"}).status_code == 200


@pytest.mark.parametrize("path", [
    "/api/runs/..%2F..%2Fetc%2Fpasswd", "/api/runs/../../etc/passwd/inspect",
    "/api/runs/abc/export/model", "/static/../app.py", "/static/%2e%2e/app.py",
])
def test_paths_outside_the_data_dir(client, path):
    r = client.get(path, headers=AUTH)
    assert r.status_code == 404 and "error" in r.json()
    assert client.get("/api/runs", headers=AUTH).status_code == 200  # still serving


def test_loopback_is_the_default(tmp_path):
    app = create_app(tmp_path, token=TOKEN)  # the command line's default hosts
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/runs", headers=AUTH).status_code == 200
    with TestClient(app, base_url="http://localhost:8765") as c:
        assert c.get("/api/runs", headers=AUTH).status_code == 200
    with TestClient(app, base_url="http://192.168.1.9:8765") as c:
        assert c.get("/api/runs", headers=AUTH).status_code == 403


# --- the command --------------------------------------------------------------------------

def test_cli_parser_and_bad_port(capsys):
    args = build_parser().parse_args(["studio", "--no-browser"])
    assert (args.host, args.port, args.no_browser) == ("127.0.0.1", 8765, True)
    with pytest.raises(SystemExit) as exc:
        cli_main(["studio", "--port", "70000"])
    assert exc.value.code == 2 and "expected a port" in capsys.readouterr().err


def test_cli_launch_prints_a_token_url_that_works(tmp_path):
    with studio_server(tmp_path) as url:
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        base, token = url.split("/?token=")
        with urllib.request.urlopen(f"{base}/api/info?token={token}") as r:
            assert r.status == 200 and json.load(r)["layers"]
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"{base}/api/info")
        assert exc.value.code == 401
        assert io.BytesIO(exc.value.read()).read().startswith(b'{"error"')


def test_the_command_line_imports_no_web_framework():
    code = ("import sys; from fastmlp.cli import build_parser; build_parser(); "
            "print([m for m in ('starlette', 'uvicorn', 'fastmlp.studio.app') if m in sys.modules])")
    site = ["-S"] if sys.flags.no_site else []
    out = subprocess.run([sys.executable, *site, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_static_files_ship_in_the_package():
    import fastmlp.studio as studio
    static = Path(studio.__file__).parent / "static"  # the installed package's, in the wheel
    assert {"index.html", "studio.css"} <= {p.name for p in static.iterdir()}
    js = {p.name for p in (static / "js").iterdir()}
    assert {"main.js", "api.js", "chart.js", "builder.js", "train.js", "inspect.js",
            "runs.js", "datasets.js"} <= js
    page = "".join(p.read_text(encoding="utf-8") for p in static.rglob("*") if p.is_file())
    assert "http://" not in page and "https://" not in page  # no CDN: no network at all
