"""Model files: ``model.save(path)`` / ``fastmlp.load_model(path)``.

Format (version 1): a NumPy ``.npz`` archive (written at exactly the given path) with
  * ``config``: a uint8 array holding UTF-8 JSON ``{"format": "fastmlp.model",
    "version": 1, "model": {name, input_shape, layers: [{class_name, config}]},
    "compile": {optimizer: {class_name, config}, loss, metrics} or null}``;
  * ``weight_00000``, ``weight_00001``, ...: float32 arrays in ``get_weights()`` order
    (``W1 [in, out], b1, W2, b2, ...``);
  * for a compiled model, the optimizer state so that training resumes where it stopped:
    ``optimizer_00000_0``, ``optimizer_00000_1``, ... (per weight array: SGD's velocity
    in slot 0 when momentum is used; Adam's m and v in slots 0 and 1), with the step
    count as ``"optimizer_step"`` in the config's ``compile`` entry. Files without them
    (older files) load with a fresh optimizer state.
Loading never unpickles (``allow_pickle=False``). Saving writes a temporary file
(``.fastmlp-*.tmp``) in the same directory, fsyncs it and renames it over ``path``
(``os.replace``), so a full disk, a read-only directory, Ctrl-C or a crash never leaves a
half-written model: ``path`` holds the previous file or the new one. The temporary file is
removed on any error (only a hard kill can leave one behind). The new file keeps the mode
of the file it replaces.
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
    """Save a model to ``path`` as a NumPy ``.npz`` file (JSON config + weights).

    The config includes the compile settings (optimizer, loss, metrics) if the model is
    compiled; weights are saved only if the model is built. The file is written to a
    temporary file and renamed over ``path``, so an existing file is never half-replaced.

    Parameters
    ----------
    model : Sequential
        The model to save.
    path : str or os.PathLike
        Destination file.
    """
    path = os.fspath(path)
    config = {"format": _FORMAT, "version": _VERSION, "model": model.get_config(),
              "compile": None}
    if model._compiled:
        config["compile"] = {
            "optimizer": {"class_name": type(model.optimizer).__name__,
                          "config": model.optimizer.get_config()},
            "loss": model.loss.name, "metrics": list(model.metrics)}
    opt_arrays = {}
    state = model._optimizer_state() if model._compiled else None
    if state is not None:
        step, slots = state
        config["compile"]["optimizer_step"] = int(step)
        for i, pair in enumerate(slots):
            for j, a in enumerate(pair):
                if a is not None:
                    opt_arrays[f"optimizer_{i:05d}_{j}"] = a
    arrays = {"config": np.frombuffer(json.dumps(config).encode("utf-8"), dtype=np.uint8)}
    arrays.update(opt_arrays)
    weights = model.get_weights() if model.input_shape is not None else []
    for i, w in enumerate(weights):
        arrays[f"weight_{i:05d}"] = np.ascontiguousarray(w, dtype=np.float32)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=".fastmlp-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600; keep what open() would give
                os.fchmod(f.fileno(), mode)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, Ctrl-C, ...: the previous file stays as it was
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _file_mode(path) -> int:
    """The mode of the file being replaced, else 0666 minus the umask (as open() does)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def _fsync_dir(directory) -> None:
    """Makes the rename durable (POSIX); best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except (OSError, AttributeError):
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _declared_params(mc) -> int:
    """Weights the config's Dense layers imply (checked against the file before any
    allocation, so a config claiming Dense(10**12) costs nothing)."""
    shape = mc.get("input_shape")
    if not shape:
        return 0
    width = 1
    for d in shape:
        width *= int(d)
    total = 0
    for spec in mc["layers"]:
        if spec["class_name"] == "Dense":
            units = int(spec["config"]["units"])
            total += width * units + (units if spec["config"].get("use_bias", True) else 0)
            width = units
    return total


def load_model(path, compile=True):
    """Load a model saved by ``model.save`` (never unpickles).

    A file that is not a valid model (corrupt, truncated, hostile: object arrays, zip
    bombs, headers or configs declaring impossible sizes) raises ``ValueError`` naming it.
    """
    from ._safe_npz import read_npz
    from .models import Sequential
    path = os.fspath(path)
    z = read_npz(path, kinds="biuf")
    if "config" not in z:
        raise ValueError(f"{path!r} is not a fastmlp model file (no 'config' entry)")
    raw = z["config"]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{path!r}: unreadable model config (a {raw.dtype} array of shape "
                         f"{raw.shape}, expected uint8 JSON bytes)")
    try:
        config = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path!r}: unreadable model config ({e})") from None
    if not isinstance(config, dict) or config.get("format") != _FORMAT:
        raise ValueError(f"{path!r} is not a fastmlp model file")
    if config.get("version") != _VERSION:
        raise ValueError(f"{path!r}: unsupported model file version "
                         f"{config.get('version')!r} (this fastmlp reads {_VERSION})")
    weights = [z[k] for k in sorted(f for f in z if f.startswith("weight_"))]
    try:
        mc = config["model"]
        have = sum(int(w.size) for w in weights)
        declared = _declared_params(mc)
        if declared > have:
            raise ValueError(f"the config declares {declared} weights but the file holds {have}")
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
            if shape is not None and "optimizer_step" in cc:
                step = cc["optimizer_step"]
                if type(step) is not int or step < 0:
                    raise ValueError(f"optimizer_step must be an int >= 0, got {step!r}")
                slots = [(z.get(f"optimizer_{i:05d}_0"), z.get(f"optimizer_{i:05d}_1"))
                         for i in range(len(weights))]
                model._set_optimizer_state(step, slots)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError,
            RecursionError) as e:
        raise ValueError(f"{path!r}: invalid model file ({type(e).__name__}: {e})") from None
    return model
