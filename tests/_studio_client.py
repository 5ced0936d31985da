"""The studio's API tests' shared pieces: Starlette's TestClient on a fresh app, the token,
a small model, and helpers to start a run and read its event stream to the end.

Importing this skips the importing test module where the ``studio`` extra is missing (a
failure under CI, tests/_optional.py)."""
from __future__ import annotations

import contextlib
import json
import warnings

from _optional import require

require("starlette", module_level=True)
require("uvicorn", module_level=True)
try:
    with warnings.catch_warnings():  # starlette >= 1.x prefers httpx2 and warns on httpx
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
except RuntimeError:  # the test client needs httpx2 (or httpx): skip, or fail under CI
    require("httpx2", module_level=True)

from fastmlp.studio import create_app  # noqa: E402

TOKEN = "test-token"
AUTH = {"X-Studio-Token": TOKEN}
MODEL = [{"type": "Rescaling", "scale": 1 / 255}, {"type": "Flatten"},
         {"type": "Dense", "units": 32, "activation": "relu"},
         {"type": "Dense", "units": 10, "activation": "softmax"}]


@contextlib.contextmanager
def studio_client(data_dir, **kwargs):
    """A TestClient on ``create_app(data_dir, ...)``, its lifespan running; ``c.data_dir``."""
    app = create_app(data_dir, token=TOKEN, allowed_hosts=("testserver",), **kwargs)
    with TestClient(app, raise_server_exceptions=False) as c:  # `with`: lifespan runs
        c.data_dir = data_dir
        yield c


def train(client, **settings):
    body = {"dataset": "sample", "layers": MODEL, "epochs": 2, "seed": 1, **settings}
    r = client.post("/api/runs", json=body, headers=AUTH)
    assert r.status_code == 202, r.text
    return r.json()


def events(client, run_id):
    updates = []
    with client.stream("GET", f"/api/runs/{run_id}/events", headers=AUTH) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        for line in s.iter_lines():
            if line.startswith("data: "):
                updates.append(json.loads(line[6:]))
    return updates
