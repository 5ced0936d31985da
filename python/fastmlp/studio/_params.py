"""Checking the page's JSON: the request body, the training settings, run ids."""
from __future__ import annotations

import json
import math
import re

from .. import optimizers
from ._errors import StudioError

MAX_BODY = 1 << 20  # bytes; a model spec is a few hundred
MAX_BATCH = 65536
MAX_EPOCHS = 1000
MAX_BATCHES = 10_000_000
_RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


def parse_json(raw: bytes) -> dict:
    if len(raw) > MAX_BODY:
        raise StudioError(f"request body: at most {MAX_BODY} bytes, got {len(raw)}", 413)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StudioError(f"request body: expected JSON, got unparseable text ({exc})") from None
    if not isinstance(body, dict):
        raise StudioError(f"request body: expected a JSON object, got {type(body).__name__}")
    return body


def _int(body, key, lo, hi, default=None):
    v = body.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise StudioError(f"{key}: expected an integer in [{lo}, {hi:,}], got {v!r}", field=key)
    return v


def _real(body, key, lo, hi, default, lo_open=False):
    v = body.get(key, default)
    ok = (not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
          and (lo < v if lo_open else lo <= v) and v <= hi)
    if not ok:
        raise StudioError(f"{key}: expected a number in {'(' if lo_open else '['}{lo}, {hi}], "
                          f"got {v!r}", field=key)
    return float(v)


def train_params(body: dict, n_train: int) -> dict:
    """optimizer, learning_rate, batch_size, epochs or batches, seed, validation_split ->
    the arguments of compile and fit (``epochs`` and ``steps_per_epoch``)."""
    name = body.get("optimizer", "adam")
    if name not in optimizers.NAMES:
        raise StudioError(f"optimizer: expected one of {', '.join(optimizers.NAMES)}, got "
                          f"{name!r}", field="optimizer")
    p = {"optimizer": name,
         "learning_rate": _real(body, "learning_rate", 0.0, 10.0, 1e-3, lo_open=True),
         "batch_size": _int(body, "batch_size", 1, MAX_BATCH, 64),
         "seed": _int(body, "seed", 0, 2**32 - 1, 0),
         "validation_split": _real(body, "validation_split", 0.0, 0.5, 0.1)}
    if "batches" in body and body.get("epochs") is not None:
        raise StudioError("epochs, batches: give one of them, got both", field="batches")
    if body.get("batches") is not None:
        total = _int(body, "batches", 1, MAX_BATCHES)
        # whole epochs of at most one pass over the data each, so validation runs per epoch
        n_fit = max(1, int(n_train * (1 - p["validation_split"])))
        per_pass = -(-n_fit // min(p["batch_size"], n_fit))
        epochs = -(-total // per_pass)
        p.update(epochs=epochs, steps_per_epoch=-(-total // epochs))
    else:
        p.update(epochs=_int(body, "epochs", 1, MAX_EPOCHS, 5), steps_per_epoch=None)
    return p


def run_id(text: str) -> str:
    """A run id from a URL: only the server's own format, so it never names a path."""
    if not isinstance(text, str) or not _RUN_ID.match(text):
        raise StudioError(f"run id: expected an id like 20260101-120000-abcdef, got {text!r}",
                          404, field="run")
    return text
