"""Inspect a finished run: test images with true / predicted labels and probabilities, the
misclassified ones, the confusion matrix."""
from __future__ import annotations

import numpy as np

from . import _data
from ._errors import StudioError

MAX_ITEMS = 200


def _probs(run, x_test):
    with run.lock:
        probs = run.probs
    if probs is None:
        probs = run.get_model().predict(x_test)
        with run.lock:
            run.probs = probs
    return probs


def _query_int(query, key, lo, hi, default):
    raw = query.get(key)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        raise StudioError(f"{key}: expected an integer in [{lo}, {hi}], got {raw!r}", field=key)
    return v


def inspect(run, query, root) -> dict:
    """``root``: the studio's datasets dir; ``query``: ``only`` (all | misclassified),
    ``true``/``pred`` (a confusion cell), ``offset``, ``limit``."""
    if run.record["status"] not in ("done", "stopped"):
        raise StudioError(f"run {run.id} has no trained model to inspect (it is "
                          f"{run.record['status']})", 409)
    (_, _), (xte, yte) = _data.load(run.record["dataset"], root)
    probs = _probs(run, xte)
    k = probs.shape[1]
    pred = probs.argmax(axis=1)
    y = yte.astype(np.int64)
    confusion = np.zeros((k, k), dtype=np.int64)  # [true][predicted]
    np.add.at(confusion, (y, pred), 1)
    only = query.get("only", "all")
    if only not in ("all", "misclassified"):
        raise StudioError(f"only: expected all or misclassified, got {only!r}", field="only")
    mask = pred != y if only == "misclassified" else np.ones(len(y), dtype=bool)
    true_c = _query_int(query, "true", 0, k - 1, None)
    pred_c = _query_int(query, "pred", 0, k - 1, None)
    if true_c is not None:
        mask &= y == true_c
    if pred_c is not None:
        mask &= pred == pred_c
    idx = np.flatnonzero(mask)
    offset = _query_int(query, "offset", 0, max(len(idx), 0), 0)
    limit = _query_int(query, "limit", 1, MAX_ITEMS, 48)
    items = [{"index": int(i), "true": int(y[i]), "pred": int(pred[i]),
              "probs": [round(float(v), 4) for v in probs[i]], "pixels": _data.image_b64(xte[i])}
             for i in idx[offset:offset + limit]]
    return {"total": int(len(idx)), "offset": offset, "shape": list(xte.shape[1:]),
            "classes": _data.describe(run.record["dataset"], root)["classes"],
            "accuracy": float((pred == y).mean()),
            "confusion": confusion.tolist(),
            "items": items}
