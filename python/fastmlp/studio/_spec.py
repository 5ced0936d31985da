"""Model specs as the page sends them (JSON) -> ``fm.Sequential``, and back to Python code.

The layer catalogue comes from ``fm.layers`` itself (the classes ``load_model`` rebuilds and
their constructor signatures), so a layer added there appears on the page with no change
here. Messages about a layer that does not fit are the Python API's own: the model is built
and its ``ValueError`` is reported.
"""
from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from .. import layers as fl
from .. import optimizers
from ..models import Sequential
from ._errors import StudioError

# Guards the Python API does not have (it lets a user allocate what their machine can):
# the studio refuses a model whose weights would take more than 20M floats (80 MB), so a
# typo of 10^12 units is a message, not a swapping server.
MAX_PARAMS = 20_000_000
MAX_LAYERS = 64
LOSS = "sparse_categorical_crossentropy"

# Parameters the page does not offer: names are automatic; the rest take objects.
_HIDDEN = {"name", "axis", "seed", "noise_shape"}
# What the page fills in for a parameter that has no default.
_SUGGEST = {"units": 64, "scale": 1 / 255, "rate": 0.2, "stddev": 0.1, "activation": "relu"}


def activations() -> list:
    """The names the page offers: the engine's, and softmax (which Dense and Activation take)."""
    return list(fl.ACTIVATIONS) + ["softmax"]


def _layer_classes() -> dict:
    """The layers the studio offers: every class ``fm.layers.get`` can rebuild."""
    return dict(fl._CLASSES)


def _param_kind(name, p) -> str | None:
    if name == "activation":
        return "activation"
    default = p.default
    if isinstance(default, bool):
        return "bool"
    if default is inspect.Parameter.empty:
        return "int" if "int" in str(p.annotation) else "number"
    if isinstance(default, numbers.Integral):
        return "int"
    if isinstance(default, numbers.Real):
        return "number"
    return None  # objects (initializers, regularizers, ...): not on the page


def catalogue() -> list:
    """``[{type, params: [{name, kind, default, required}]}]`` for the page's layer menu."""
    out = []
    for name, cls in _layer_classes().items():
        params = []
        for pname, p in inspect.signature(cls.__init__).parameters.items():
            if pname == "self" or pname in _HIDDEN:
                continue
            kind = _param_kind(pname, p)
            if kind is None:
                continue
            required = p.default is inspect.Parameter.empty
            default = _SUGGEST.get(pname) if required else p.default
            params.append({"name": pname, "kind": kind, "default": default,
                           "required": required})
        out.append({"type": name, "params": params})
    return out


def _catalogue_by_type() -> dict:
    return {c["type"]: c for c in catalogue()}


def _typed(where, kind, v):
    """Check one JSON value against the parameter's kind; a message naming ``where``."""
    if kind == "bool":
        if not isinstance(v, bool):
            raise StudioError(f"{where}: expected true or false, got {v!r}", field=where)
    elif kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise StudioError(f"{where}: expected an integer, got {v!r}", field=where)
    elif kind == "number":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise StudioError(f"{where}: expected a finite number, got {v!r}", field=where)
    elif kind == "activation":  # the name itself is the layer's to check
        if v is not None and not isinstance(v, str):
            raise StudioError(f"{where}: expected an activation name or null, got {v!r}",
                              field=where)
    return v


def parse_layers(raw) -> list:
    """``[{"type": "Dense", "units": 64, ...}]`` -> checked ``[(type, kwargs)]``."""
    if not isinstance(raw, list):
        raise StudioError(f"layers: expected a list of layers, got {type(raw).__name__}",
                          field="layers")
    if len(raw) > MAX_LAYERS:
        raise StudioError(f"layers: at most {MAX_LAYERS} layers, got {len(raw)}", field="layers")
    known = _catalogue_by_type()
    out = []
    for i, item in enumerate(raw):
        where = f"layers[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise StudioError(f"{where}: expected an object with a \"type\", got {item!r}",
                              field=where)
        entry = known.get(item["type"])
        if entry is None:
            raise StudioError(f"{where}.type: expected one of {', '.join(known)}, got "
                              f"{item['type']!r}", field=f"{where}.type")
        params = {p["name"]: p for p in entry["params"]}
        kwargs = {}
        for key, v in item.items():
            if key == "type":
                continue
            if key not in params:
                raise StudioError(f"{where}.{key}: {item['type']} has no parameter {key!r} "
                                  f"(it takes {', '.join(params) or 'none'})",
                                  field=f"{where}.{key}")
            kwargs[key] = _typed(f"{where}.{key}", params[key]["kind"], v)
        for p in params.values():
            if p["required"] and p["name"] not in kwargs:
                raise StudioError(f"{where}.{p['name']}: {item['type']} needs {p['name']}",
                                  field=f"{where}.{p['name']}")
        out.append((item["type"], kwargs))
    return out


def _check_size(specs, input_shape):
    """Refuse a model over MAX_PARAMS before any weight is allocated (shapes only)."""
    classes = _layer_classes()
    shape, total = tuple(input_shape), 0
    for i, (t, kw) in enumerate(specs):
        units = kw.get("units")
        if units is not None and units > MAX_PARAMS:
            raise StudioError(f"layers[{i}].units: at most {MAX_PARAMS:,} in the studio, got "
                              f"{units:,}", field=f"layers[{i}].units")
        try:
            layer = classes[t](**kw)
            out = tuple(layer.compute_output_shape(shape))
        except (TypeError, ValueError):
            return  # the full build reports it, in the API's words
        if units is not None and len(shape) == 1:
            total += (shape[0] + 1) * units
        else:
            total += 4 * int(np.prod(out))  # normalization layers: a few vectors
        if total > MAX_PARAMS:
            raise StudioError(f"layers[{i}]: the model would have more than {MAX_PARAMS:,} "
                              f"parameters up to this layer ({total:,}); use fewer units",
                              field=f"layers[{i}]")
        shape = out


def build_model(specs, input_shape, seed=None) -> Sequential:
    """The ``fm.Sequential`` of ``specs``; ``StudioError`` with the API's message if it does
    not fit (e.g. a Dense on 28x28 input says to add Flatten)."""
    _check_size(specs, input_shape)
    classes = _layer_classes()
    model = Sequential(input_shape=tuple(input_shape), seed=seed)
    for i, (t, kw) in enumerate(specs):
        try:
            model.add(classes[t](**kw))
        except (TypeError, ValueError, MemoryError) as exc:
            raise StudioError(f"layer {i + 1} ({t}): {exc}", field=f"layers[{i}]") from None
    return model


def summary(model) -> dict:
    """Shapes and parameter counts, as ``model.summary`` prints them."""
    rows = [{"name": l.name, "type": type(l).__name__,
             "output_shape": list(l.output_shape), "params": int(l.count_params())}
            for l in model.layers]
    return {"input_shape": list(model.input_shape), "layers": rows,
            "total_params": int(model.count_params())}


def make_optimizer(name, learning_rate):
    return type(optimizers.get(name))(learning_rate=learning_rate)


def _py(v):
    if isinstance(v, float):
        return repr(float(v))
    return repr(v)


def python_code(run: dict) -> str:
    """The script that reproduces a run: ``fm.Sequential([...])``, ``compile``, ``fit``."""
    p = run["params"]
    layer_lines = []
    for item in run["layers"]:
        args = ", ".join(f"{k}={_py(v)}" for k, v in item.items() if k != "type")
        layer_lines.append(f"    fm.layers.{item['type']}({args}),")
    steps = (f", steps_per_epoch={p['steps_per_epoch']}"
             if p.get("steps_per_epoch") else "")
    opt = type(optimizers.get(p["optimizer"])).__name__
    return "\n".join([
        f'"""Reproduces fastmlp studio run {run["id"]} ({run["dataset"]})."""',
        "import fastmlp as fm",
        "",
        f"(x_train, y_train), (x_test, y_test) = fm.datasets.load({run['dataset']!r})",
        "model = fm.Sequential([",
        *layer_lines,
        f"], input_shape={tuple(run['input_shape'])!r}, seed={p['seed']})",
        f"model.compile(optimizer=fm.optimizers.{opt}(learning_rate={_py(p['learning_rate'])}),",
        f"              loss={LOSS!r}, metrics=['accuracy'])",
        f"history = model.fit(x_train, y_train, batch_size={p['batch_size']}, "
        f"epochs={p['epochs']}{steps},",
        f"                    validation_split={_py(p['validation_split'])}, "
        f"seed={p['seed']}, verbose=2)",
        "print('test accuracy', model.evaluate(x_test, y_test)['accuracy'])",
        "",
    ])
