"""Where ``Sequential.save`` / ``to_onnx`` / ``to_torch`` find the code that does the work.

``saving`` and ``interop`` build models (they import ``models``), so ``models`` must not
import them back: each registers its exporters here when it is imported, which ``import
fastmlp`` does before any model exists.
"""
from __future__ import annotations

_EXPORTERS = {}


def register(name, fn):
    """Make ``fn(model, ...)`` the exporter called ``name`` (``save``, ``to_onnx``, ...)."""
    _EXPORTERS[name] = fn


def exporter(name):
    """The exporter registered as ``name``."""
    try:
        return _EXPORTERS[name]
    except KeyError:
        raise RuntimeError(f"no exporter {name!r} is registered: import fastmlp (the "
                           "package) rather than one of its modules alone") from None
