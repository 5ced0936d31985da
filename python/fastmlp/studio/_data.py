"""The datasets the page can pick: the bundled sample always, the others where the loaders
find them on disk (the studio never starts a download behind the user's back)."""
from __future__ import annotations

import base64
import os
import threading

import numpy as np

from .. import datasets as fds
from ..datasets import _loaders
from ._errors import StudioError

_FINDERS = {"mnist": _loaders._find_mnist, "fashion-mnist": _loaders._find_idx,
            "cifar10": _loaders._find_cifar}
_lock = threading.Lock()
_cache: dict = {}


def names() -> tuple:
    return tuple(fds.CLASS_NAMES)


def available(name: str) -> bool:
    if name == "sample":
        return True
    finder = _FINDERS[name]
    return any(os.path.isdir(d) and finder(d) is not None for _, d in fds.search_dirs(name))


def listing() -> list:
    return [{"name": n, "available": available(n), "classes": list(fds.CLASS_NAMES[n])}
            for n in names()]


def load(name) -> tuple:
    """``((x_train, y_train), (x_test, y_test))``, loaded once per server."""
    if name not in fds.CLASS_NAMES:
        raise StudioError(f"dataset: expected one of {', '.join(names())}, got {name!r}",
                          field="dataset")
    with _lock:  # two requests for one dataset read it once
        if name not in _cache:
            try:
                _cache[name] = fds.load(name, **({} if name == "sample" else {"download": False}))
            except fds.DatasetNotFoundError as exc:
                raise StudioError(f"dataset {name!r} is not on this machine: {exc}", 404,
                                  field="dataset") from None
        return _cache[name]


def describe(name) -> dict:
    (xtr, ytr), (xte, _) = load(name)
    return {"name": name, "input_shape": list(xtr.shape[1:]), "n_train": len(xtr),
            "n_test": len(xte), "classes": list(fds.CLASS_NAMES[name])}


def image_b64(x: np.ndarray) -> str:
    """One uint8 image's pixels (row-major, channels last) for the page's canvas."""
    return base64.b64encode(np.ascontiguousarray(x, dtype=np.uint8).tobytes()).decode("ascii")
