"""Regressions for rough edges a new user or a hostile tester hit (issue 15): the lazy
submodules of a plain ``import fastmlp`` and the checking of ``batch_size`` outside fit."""
import subprocess
import sys

import numpy as np
import pytest

import fastmlp as fm


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_ops_reachable_after_plain_import():
    r = _run("import fastmlp as fm, numpy as np\n"
             "a = np.ones((2, 3), np.float32); b = np.ones((3, 4), np.float32)\n"
             "print(fm.ops.gemm(a, b)[0, 0])")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3.0"


def test_plain_import_loads_neither_ops_nor_plot_nor_studio():
    r = _run("import sys, fastmlp\n"
             "print(sorted(m for m in ('fastmlp.ops', 'fastmlp.plot', 'matplotlib',"
             " 'fastmlp.studio', 'starlette', 'uvicorn')"
             " if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_lazy_submodules_are_listed_and_unknown_names_raise():
    assert {"ops", "plot"} <= set(dir(fm))
    assert fm.ops is sys.modules["fastmlp.ops"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fm.nope  # noqa: B018


@pytest.fixture
def model():
    m = fm.Sequential([fm.Dense(4, activation="relu"), fm.Dense(3, activation="softmax")],
                      input_shape=(5,), seed=1)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return m


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), (2.5, TypeError),
                                      ("x", TypeError), (True, TypeError)])
@pytest.mark.parametrize("method", ["evaluate", "predict"])
def test_batch_size_checked_as_fit_does(model, method, bad, exc):
    x = np.zeros((6, 5), np.float32)
    y = np.zeros(6, np.int64)
    args = (x, y) if method == "evaluate" else (x,)
    with pytest.raises(exc, match=f"batch_size: expected an int >= 1, got .*{bad!r}"):
        getattr(model, method)(*args, batch_size=bad)
    getattr(model, method)(*args, batch_size=2)  # a valid one still works
    getattr(model, method)(*args, batch_size=None)


def test_models_imports_neither_interop_nor_saving():
    # they build models (import models); models finds their exporters in _model_io
    import ast
    from pathlib import Path
    tree = ast.parse(Path(fm.models.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    assert not {n for n in names if "interop" in n or "saving" in n}, names


def test_exporters_are_registered_after_import(tmp_path):
    from fastmlp import _model_io
    assert _model_io.exporter("save") is fm.saving.save_model
    assert _model_io.exporter("to_onnx") is fm.interop.to_onnx
    with pytest.raises(RuntimeError, match="no exporter 'nope'"):
        _model_io.exporter("nope")
