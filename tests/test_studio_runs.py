"""fastmlp studio: one run trains at a time per model (its dataset and layers). Two
different models train side by side, each on its own worker thread; a second request for
a model already training gets a 409 naming its run; stopping one leaves the other going.

Skipped where the ``studio`` extra is missing, a failure under CI (tests/_optional.py).
"""
from __future__ import annotations

import time

import numpy as np
import pytest

import fastmlp as fm
from _studio_client import AUTH, MODEL, events, studio_client, train

WIDER = MODEL[:2] + [{"type": "Dense", "units": 48, "activation": "relu"}] + MODEL[3:]
LONG = {"epochs": None, "batches": 10**6}  # runs until stopped


@pytest.fixture
def client(tmp_path):
    with studio_client(tmp_path) as c:
        yield c


def _active(client):
    return client.get("/api/runs", headers=AUTH).json()["active"]


def _batches(client, run_id):
    return len(client.get(f"/api/runs/{run_id}", headers=AUTH).json()["history"]["batch"])


def test_two_models_train_at_once_and_one_model_once(client):
    a = train(client, **LONG)
    b = train(client, layers=WIDER, **LONG)  # another model: it may train meanwhile
    assert _active(client) == sorted([a["id"], b["id"]])
    # the same model again, even with other settings: refused, naming the run it waits for
    for settings in ({}, {"batch_size": 32, "learning_rate": 0.01}):
        body = {"dataset": "sample", "layers": MODEL, "epochs": 1, **settings}
        r = client.post("/api/runs", json=body, headers=AUTH)
        assert r.status_code == 409, r.text
        assert a["id"] in r.json()["error"] and "one run trains at a time per model" in \
            r.json()["error"]
    # both make progress at the same time (each on its own thread), the server answers
    t_end = time.monotonic() + 30
    while min(_batches(client, a["id"]), _batches(client, b["id"])) < 5:
        assert time.monotonic() < t_end, "both runs should be training"
        time.sleep(0.05)
    # stop one: a consistent model; the other trains on, and the first model may train again
    assert client.post(f"/api/runs/{a['id']}/stop", headers=AUTH).status_code == 200
    final = events(client, a["id"])[-1]["run"]
    assert final["status"] == "stopped" and final["error"] is None
    m = fm.load_model(client.data_dir / "runs" / a["id"] / "model.npz")
    assert all(np.isfinite(w).all() for w in m.get_weights())
    assert _active(client) == [b["id"]]
    again = train(client, epochs=1)
    assert events(client, again["id"])[-1]["run"]["status"] == "done"
    assert client.post(f"/api/runs/{b['id']}/stop", headers=AUTH).status_code == 200
    assert events(client, b["id"])[-1]["run"]["status"] == "stopped"
    assert _active(client) == []


def test_the_same_layers_on_another_dataset_is_another_model(tmp_path, monkeypatch):
    from fastmlp.studio import _data
    with studio_client(tmp_path) as client:
        root = str(tmp_path / "datasets")
        # a stand-in "mnist" (the sample's arrays) held as if it had been downloaded
        monkeypatch.setitem(_data._cache, ("mnist", root), fm.datasets.load_sample())
        a = train(client, **LONG)
        b = train(client, dataset="mnist", **LONG)
        assert _active(client) == sorted([a["id"], b["id"]])
        client.app.runs.shutdown()  # stops both and waits: each saved
        for run in (a, b):
            assert client.get(f"/api/runs/{run['id']}", headers=AUTH).json()["status"] \
                == "stopped"
