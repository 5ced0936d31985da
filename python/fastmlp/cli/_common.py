"""What the ``fastmlp`` subcommands share: the expected-failure exception, rate
formatting, optimizers by name."""
from __future__ import annotations

import numpy as np


class CLIError(Exception):
    """An expected failure: printed as ``fastmlp: error: ...`` with exit status 1."""


def _fmt_rate(v):
    if v is None or not np.isfinite(v):
        return "-"
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.2f}{unit}" if v < 10 * div else f"{v / div:.0f}{unit}"
    return f"{v:.0f}"


def _optimizer(name, lr):
    from .. import optimizers

    # (the command line's SGD takes momentum 0.9)
    extra = {"momentum": 0.9} if name == "sgd" else {}
    return type(optimizers.get(name))(learning_rate=lr, **extra)
