"""The tools (bench/ and the CLI, its bench and info commands included) use fastmlp's
public API, never ``_core`` or another private name: what they time is what users call,
and they keep working when the internals move."""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOL_FILES = sorted(ROOT.glob("bench/*.py")) + sorted(ROOT.glob("python/fastmlp/cli/*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(source: str, in_package: bool = False) -> list[str]:
    """Private fastmlp names that ``source`` imports or reads, as ``line: text`` strings.

    ``in_package``: the file sits in fastmlp.cli, so ``from .. import`` reaches fastmlp
    (its own package's helpers, ``from . import``, are its business)."""
    tree = ast.parse(source)
    aliases: set[str] = set()  # local names bound to fastmlp or one of its modules
    found = []

    def flag(node, what):
        found.append(f"{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "fastmlp":
                    if any(_private(p) for p in parts):
                        flag(node, f"import {a.name}")
                    aliases.add(a.asname or parts[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != "fastmlp":
                    continue
            elif in_package and node.level >= 2:
                parts = ["fastmlp"] + ((node.module or "").split(".") if node.module else [])
            else:
                continue
            if any(_private(p) for p in parts):
                flag(node, f"from {'.' * node.level}{node.module or ''} import ...")
            for a in node.names:
                if _private(a.name):
                    flag(node, f"import of {a.name}")
                aliases.add(a.asname or a.name)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            flag(node, f"{node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", TOOL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tool_uses_only_public_names(path):
    uses = private_uses(path.read_text(), in_package="python/fastmlp" in str(path))
    assert not uses, f"{path.relative_to(ROOT)} uses private fastmlp names: {uses}"


@pytest.mark.parametrize("snippet", [
    "from fastmlp import _core",
    "import fastmlp\nfastmlp._core.set_isa('avx2')",
    "import fastmlp as fm\nfm._runtime.cpu_info()",
    "import fastmlp._engine_plan",
    "from fastmlp._safe_npz import load",
    "from fastmlp.ops import _gemm",
    "from fastmlp import ops\nops._v.as_f32",
])
def test_checker_catches_private_uses(snippet):
    assert private_uses(snippet)


def test_checker_catches_package_relative_private_imports():
    assert private_uses("from ..datasets import _loaders", in_package=True)
    assert private_uses("from .. import _core", in_package=True)
    assert not private_uses("from ._common import CLIError", in_package=True)
    assert not private_uses("import fastmlp as fm\nfm.set_isa('avx2')\nfm.__version__")
