"""Converters between fastmlp models and scikit-learn, ONNX and PyTorch.

None of the optional libraries is imported until a converter that needs it is called:
``from_sklearn`` needs none, ``to_onnx`` / ``from_onnx`` need ``onnx`` (extra ``onnx``),
``from_torch`` / ``to_torch`` need ``torch``.
"""
from __future__ import annotations

from .. import _model_io
from ._sklearn import from_sklearn

__all__ = ["from_sklearn", "to_onnx", "from_onnx", "from_torch", "to_torch"]


def to_onnx(model, path=None, opset=17, **kwargs):
    """See :func:`fastmlp.interop.onnx.to_onnx`."""
    from .onnx import to_onnx as f
    return f(model, path, opset=opset, **kwargs)


def from_onnx(path_or_model, **kwargs):
    """See :func:`fastmlp.interop.onnx.from_onnx`."""
    from .onnx import from_onnx as f
    return f(path_or_model, **kwargs)


def from_torch(module, **kwargs):
    """See :func:`fastmlp.interop.torch.from_torch`."""
    from .torch import from_torch as f
    return f(module, **kwargs)


def to_torch(model, **kwargs):
    """See :func:`fastmlp.interop.torch.to_torch`."""
    from .torch import to_torch as f
    return f(model, **kwargs)


# Sequential.to_onnx / to_torch call these (models.py does not import interop)
_model_io.register("to_onnx", to_onnx)
_model_io.register("to_torch", to_torch)
