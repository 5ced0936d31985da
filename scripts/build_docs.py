#!/usr/bin/env python3
"""Build fastmlp's API reference (HTML) with pdoc, from the installed package.

    pip install . pdoc                    # or an editable install
    python scripts/build_docs.py          # -> build/docs/index.html
    python scripts/build_docs.py -o DIR   # elsewhere
    python scripts/build_docs.py --check  # only list public objects without a docstring
    python scripts/build_docs.py --strict # build, and fail if any docstring is missing

The landing page is docs/index.md (rendered through docs/templates/index.html.jinja2);
every other page comes from docstrings and annotations (``fastmlp._core`` from its stub
``_core.pyi``). Works offline: pdoc renders locally and the pages load no remote assets.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Modules listed on the landing page, in this order (submodules still get pages).
LISTED = [
    "fastmlp", "fastmlp.models", "fastmlp.layers", "fastmlp.optimizers", "fastmlp.losses",
    "fastmlp.callbacks", "fastmlp.initializers", "fastmlp.saving", "fastmlp.random",
    "fastmlp.ops", "fastmlp.datasets", "fastmlp.sklearn", "fastmlp.interop",
    "fastmlp.interop.onnx", "fastmlp.interop.torch", "fastmlp.plot", "fastmlp.cli",
    "fastmlp.cli.main", "fastmlp.cli.bench", "fastmlp.cli.experiments", "fastmlp._core",
]


def _public_modules() -> tuple[list[str], list[str]]:
    """Importable public submodules of fastmlp, and the ones that failed to import
    (an optional dependency missing, e.g. matplotlib for fastmlp.plot)."""
    import fastmlp

    names = ["fastmlp"] + [m.name for m in pkgutil.walk_packages(fastmlp.__path__, "fastmlp.")
                           if not any(p.startswith("_") for p in m.name.split(".")[1:])]
    ok, failed = [], []
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
            ok.append(name)
        except Exception as exc:  # noqa: BLE001 - report and leave the page out
            failed.append(f"{name} ({type(exc).__name__}: {exc})")
    return ok, failed


def missing_docstrings(modules: list[str]) -> list[str]:
    """Public modules, classes, functions, methods and properties without a docstring
    (a method inheriting one from a base class counts as documented)."""
    missing, seen = [], set()
    for mod_name in modules:
        mod = importlib.import_module(mod_name)
        if not inspect.getdoc(mod):
            missing.append(f"{mod_name} (module)")
        names = getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]
        for name in names:
            obj = getattr(mod, name, None)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not str(getattr(obj, "__module__", "")).startswith("fastmlp"):
                continue  # re-exported from elsewhere
            key = f"{obj.__module__}.{obj.__qualname__}"
            if key in seen or any(p.startswith("_") for p in key.split(".")[1:]):
                continue
            seen.add(key)
            if not obj.__doc__:
                missing.append(key)
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    fn = member.fget if isinstance(member, property) else (
                        member.__func__ if isinstance(member, (staticmethod, classmethod))
                        else member)
                    if not inspect.isfunction(fn) or fn.__doc__:
                        continue
                    if not any(getattr(getattr(base, attr, None), "__doc__", None)
                               for base in obj.__mro__[1:] if base is not object):
                        missing.append(f"{key}.{attr}")
    return missing


_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc):`~?([^`]+)`")


def _install_rst_roles() -> None:
    """Docstrings use Sphinx roles (:class:`fastmlp.x`); pdoc does not know them. Turn
    them into inline code, which pdoc then links to the documented object."""
    import pdoc.docstrings as ds

    original = ds.convert

    def convert(docstring: str, docformat: str, source_file=None) -> str:
        return original(_ROLE.sub(r"`\1`", docstring), docformat, source_file)

    ds.convert = convert


def build(out: Path, modules: list[str]) -> None:
    import pdoc
    import pdoc.render

    _install_rst_roles()
    pdoc.render.configure(docformat="restructuredtext", template_directory=DOCS / "templates",
                          show_source=True, search=True, math=False, mermaid=False,
                          footer_text="fastmlp API reference")
    pdoc.render.env.globals["fastmlp_index_md"] = (DOCS / "index.md").read_text()
    pdoc.render.env.globals["fastmlp_listed_modules"] = [m for m in LISTED if m in modules]
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pdoc.pdoc(*modules, output_directory=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "build" / "docs")
    ap.add_argument("--check", action="store_true", help="only report missing docstrings")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a docstring is missing")
    args = ap.parse_args(argv)

    modules, failed = _public_modules()
    for f in failed:
        print(f"warning: no page for {f}", file=sys.stderr)
    missing = missing_docstrings(modules)
    if missing:
        print(f"{len(missing)} public objects without a docstring:", file=sys.stderr)
        for m in missing:
            print(f"  {m}", file=sys.stderr)
    if args.check:
        return 1 if missing else 0

    modules = modules + ["fastmlp._core"]
    build(args.output, modules)
    pages = sorted(p.relative_to(args.output) for p in args.output.rglob("*.html"))
    print(f"wrote {len(pages)} pages to {args.output} (open {args.output / 'index.html'})")
    return 1 if (args.strict and missing) else 0


if __name__ == "__main__":
    sys.exit(main())
