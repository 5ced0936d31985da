"""Model files: ``model.save(path)`` / ``fastmlp.load_model(path)``.

Format (version 1): a NumPy ``.npz`` archive (written at exactly the given path) with
  * ``config``: a uint8 array holding UTF-8 JSON ``{"format": "fastmlp.model",
    "version": 1, "model": {name, input_shape, layers: [{class_name, config}]},
    "compile": {optimizer: {class_name, config}, loss, metrics} or null}``;
  * ``weight_00000``, ``weight_00001``, ...: float32 arrays in ``get_weights()`` order
    (``W1 [in, out], b1, W2, b2, ...``).
Loading never unpickles (``allow_pickle=False``). Saving writes a temporary file in the
same directory and renames it over ``path`` (``os.replace``), so a crash never leaves a
half-written model. Optimizer state is not saved.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from . import layers as _layers
from . import losses as _losses
from . import optimizers as _optimizers

__all__ = ["save_model", "load_model"]

_FORMAT = "fastmlp.model"
_VERSION = 1


def save_model(model, path) -> None:
    path = os.fspath(path)
    config = {"format": _FORMAT, "version": _VERSION, "model": model.get_config(),
              "compile": None}
    if model._compiled:
        config["compile"] = {
            "optimizer": {"class_name": type(model.optimizer).__name__,
                          "config": model.optimizer.get_config()},
            "loss": model.loss.name, "metrics": list(model.metrics)}
    arrays = {"config": np.frombuffer(json.dumps(config).encode("utf-8"), dtype=np.uint8)}
    weights = model.get_weights() if model.input_shape is not None else []
    for i, w in enumerate(weights):
        arrays[f"weight_{i:05d}"] = np.ascontiguousarray(w, dtype=np.float32)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastmlp-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_model(path, compile=True):
    """Load a model saved by ``model.save`` (never unpickles)."""
    from .models import Sequential
    path = os.fspath(path)
    with np.load(path, allow_pickle=False) as z:
        if "config" not in z.files:
            raise ValueError(f"{path!r} is not a fastmlp model file (no 'config' entry)")
        try:
            config = json.loads(bytes(z["config"].astype(np.uint8)).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path!r}: unreadable model config ({e})") from None
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise ValueError(f"{path!r} is not a fastmlp model file")
        if config.get("version") != _VERSION:
            raise ValueError(f"{path!r}: unsupported model file version "
                             f"{config.get('version')!r} (this fastmlp reads {_VERSION})")
        weights = [z[k] for k in sorted(f for f in z.files if f.startswith("weight_"))]
    mc = config["model"]
    layer_list = [_layers.get(l["class_name"], l["config"]) for l in mc["layers"]]
    shape = tuple(mc["input_shape"]) if mc.get("input_shape") else None
    model = Sequential(layer_list, input_shape=shape, name=mc.get("name"), seed=0)
    if shape is not None:
        model.set_weights(weights)
    cc = config.get("compile")
    if compile and cc:
        opt_cls = {"SGD": _optimizers.SGD, "Adam": _optimizers.Adam,
                   "AdamW": _optimizers.AdamW}[cc["optimizer"]["class_name"]]
        model.compile(optimizer=opt_cls.from_config(cc["optimizer"]["config"]),
                      loss=_losses.get(cc["loss"]), metrics=cc.get("metrics") or None)
    return model
