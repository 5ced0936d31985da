"""The datasets the page can pick: the bundled sample always, the others where the loaders
find them: in the studio's own ``<data dir>/datasets/<name>`` (where the page's Download
button puts them, see :mod:`._downloads`) or the loaders' usual places. Loading never
downloads: that happens only on the user's click."""
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
_cache: dict = {}  # (name, studio datasets dir) -> the arrays


def names() -> tuple:
    return tuple(fds.CLASS_NAMES)


def check_name(name) -> str:
    if name not in fds.CLASS_NAMES:
        raise StudioError(f"dataset: expected one of {', '.join(names())}, got {name!r}",
                          field="dataset")
    return name


def home(root, name) -> str:
    """The studio's own directory for dataset ``name`` (``root`` is ``<data dir>/datasets``)."""
    return os.path.join(root, name)


def available(name: str, root) -> bool:
    if name == "sample" or _key(name, root) in _cache:
        return True
    finder = _FINDERS[name]
    return any(os.path.isdir(d) and finder(d) is not None
               for _, d in fds.search_dirs(name, home(root, name)))


def listing(root) -> list:
    return [{"name": n, "available": available(n, root), "classes": list(fds.CLASS_NAMES[n])}
            for n in names()]


def _key(name, root):
    return (name, None if name == "sample" else root)  # the sample is the same everywhere


def remember(name, root, data):
    """Keep arrays a download just read, so the first training run does not read them again."""
    with _lock:
        _cache[_key(name, root)] = data


def load(name, root) -> tuple:
    """``((x_train, y_train), (x_test, y_test))``, loaded once per server."""
    check_name(name)
    with _lock:  # two requests for one dataset read it once
        key = _key(name, root)
        if key not in _cache:
            try:
                _cache[key] = (fds.load("sample") if name == "sample" else
                               fds.load(name, path=home(root, name), download=False))
            except fds.DatasetNotFoundError as exc:
                raise StudioError(f"dataset {name!r} is not on this machine (the page's "
                                  f"Download button fetches it): {exc}", 404,
                                  field="dataset") from None
        return _cache[key]


def describe(name, root) -> dict:
    (xtr, ytr), (xte, _) = load(name, root)
    return {"name": name, "input_shape": list(xtr.shape[1:]), "n_train": len(xtr),
            "n_test": len(xte), "classes": list(fds.CLASS_NAMES[name])}


def image_b64(x: np.ndarray) -> str:
    """One uint8 image's pixels (row-major, channels last) for the page's canvas."""
    return base64.b64encode(np.ascontiguousarray(x, dtype=np.uint8).tobytes()).decode("ascii")
