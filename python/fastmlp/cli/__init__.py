"""The ``fastmlp`` command (also ``python -m fastmlp``).

    fastmlp demo                      train 784-256-128-10 on the bundled sample, offline
    fastmlp train --dataset mnist ... train an MLP on a dataset and report test accuracy
    fastmlp bench                     inference / training rates beside PyTorch, ONNX Runtime
    fastmlp experiments               the classic depth / width / batch-size studies
    fastmlp info                      version, CPU tiers, threads, OpenMP, datasets found
    fastmlp studio                    the browser model builder (fastmlp.studio)

Bad arguments give argparse's usage message (exit 2); expected failures (a dataset not
found, a model that does not fit the data) print ``fastmlp: error: ...`` (exit 1), never a
traceback (set FASTMLP_DEBUG=1 to see one).

The commands live in submodules: :mod:`fastmlp.cli.main` (argument types, ``demo``,
``train``, ``info``, the parser), :mod:`fastmlp.cli.bench` (``bench``) and
:mod:`fastmlp.cli.experiments` (the studies behind ``experiments``).  The library never
imports this package; it uses only fastmlp's public API.
"""
from .main import build_parser, main

__all__ = ["main", "build_parser"]
