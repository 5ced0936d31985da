"""Models shipped to Dask / Ray workers as the bytes of their model file (``model.save``),
never as a pickle of the engine; each worker process loads one copy per model and reuses
it for every block or batch."""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading

_cache: dict = {}  # sha256 of the file bytes -> loaded model (per worker process)
_lock = threading.Lock()


def model_bytes(model) -> bytes:
    """The model file of ``model`` as bytes (weights, config; no pickle)."""
    from .models import Sequential
    if not isinstance(model, Sequential):
        raise TypeError(f"model: expected a fastmlp.Sequential, got {type(model).__name__}")
    model._require_built("model")
    fd, path = tempfile.mkstemp(suffix=".fastmlp")
    os.close(fd)
    try:
        model.save(path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def load_cached(data: bytes):
    """The model whose file is ``data``, loaded once per process (predict is thread-safe,
    so a worker's threads share it)."""
    key = hashlib.sha256(data).digest()
    with _lock:
        model = _cache.get(key)
        if model is None:
            from .saving import load_model
            fd, path = tempfile.mkstemp(suffix=".fastmlp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                model = _cache[key] = load_model(path, compile=False)
            finally:
                os.unlink(path)
        return model


def output_dim(model) -> int:
    return int(model._layers[-1].output_shape[0])
