"""Optional test dependencies: skipped where missing, except under CI.

``require("onnxruntime")`` imports and returns the module. Where it is not installed the
test is skipped, unless the environment variable ``CI`` is set: then a missing optional
dependency is a failure (CI installs every extra, so a skip there would hide a broken
install).
"""
from __future__ import annotations

import importlib
import os

import pytest

__all__ = ["require", "in_ci"]


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def _version(v: str) -> tuple:
    out = []
    for part in v.split("+")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def _missing(msg: str, module_level: bool):
    if in_ci():
        pytest.fail(msg + " (CI must install the test extras, so this is an error there)",
                    pytrace=False)
    pytest.skip(msg, allow_module_level=module_level)


def require(name: str, minversion: str | None = None, module_level: bool = False):
    """Import ``name`` (a module); skip the test when missing, fail when ``$CI`` is set.

    ``module_level=True`` for a call at import time of a test module (skips the module).
    """
    try:
        mod = importlib.import_module(name)
    except ImportError as e:
        _missing(f"optional dependency {name!r} is not installed ({e})", module_level)
    if minversion is not None:
        have = str(getattr(mod, "__version__", "0"))
        if _version(have) < _version(minversion):
            _missing(f"{name} {have} is older than the required {minversion}", module_level)
    return mod
