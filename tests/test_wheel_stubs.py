"""The installed package ships its typing data and the stubs match the extension.

``fastmlp/_core.pyi`` is hand-written; this test keeps it honest without a type checker:
every public name of the compiled module has a stub and the reverse, and each function's
parameter names (read from pybind11's signature line in ``__doc__``) equal the stub's.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import fastmlp
import fastmlp._core as _core

PKG = Path(fastmlp.__file__).parent


def _stub() -> ast.Module:
    path = PKG / "_core.pyi"
    assert path.is_file(), f"{path} missing: the type stubs are not installed"
    return ast.parse(path.read_text())


def _runtime_params(obj) -> list[str]:
    """Parameter names from pybind11's first docstring line ``name(a: T, b: U) -> R``."""
    first = (obj.__doc__ or "").strip().splitlines()[0]
    m = re.match(r"^\w+\((.*)\)\s*->", first)
    assert m, f"no pybind11 signature in {first!r}"
    params, depth, cur = [], 0, ""
    for ch in m.group(1):  # split on top-level commas only
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            params.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        params.append(cur)
    return [p.split(":")[0].strip() for p in params]


def _stub_params(fn: ast.FunctionDef) -> list[str]:
    return [a.arg for a in fn.args.args]


def test_py_typed_marker_installed():
    assert (PKG / "py.typed").is_file(), "fastmlp/py.typed missing (PEP 561 marker)"


def test_stub_names_match_runtime():
    tree = _stub()
    stub_names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    stub_names |= {n.target.id for n in tree.body  # module constants: `NAME: type`
                   if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
                   and not n.target.id.startswith("_")}
    runtime = {n for n in dir(_core) if not n.startswith("_")}
    assert runtime - stub_names == set(), f"no stub for {sorted(runtime - stub_names)}"
    assert stub_names - runtime == set(), f"stubs for missing names {sorted(stub_names - runtime)}"


def test_stub_class_members_match_runtime():
    for node in _stub().body:
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(_core, node.name)
        stub = {n.name for n in node.body
                if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
        stub |= {n.target.id for n in node.body
                 if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
        runtime = {n for n in vars(cls) if not n.startswith("_")}
        assert runtime - stub == set(), f"{node.name}: no stub for {sorted(runtime - stub)}"
        assert stub - runtime == set(), f"{node.name}: stubs for missing {sorted(stub - runtime)}"


def _functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node.name, node, getattr(_core, node.name, None)
        elif isinstance(node, ast.ClassDef):
            cls = getattr(_core, node.name, None)
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef) and not any(
                        isinstance(d, ast.Name) and d.id == "property" for d in sub.decorator_list):
                    yield f"{node.name}.{sub.name}", sub, getattr(cls, sub.name, None)


@pytest.mark.parametrize("name", [n for n, _, _ in _functions(_stub())])
def test_stub_signature_matches_runtime(name):
    fn, obj = next((f, o) for n, f, o in _functions(_stub()) if n == name)
    assert obj is not None, f"{name} is in the stub but not in the extension"
    expected = _runtime_params(obj)
    got = _stub_params(fn)
    if "." in name:  # methods: pybind11 writes "self" first, like the stub
        assert got[:1] == ["self"]
    assert got == expected, f"{name}: stub parameters {got}, extension has {expected}"
