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

    if name == "sgd":
        return optimizers.SGD(learning_rate=lr, momentum=0.9)
    if name == "adamw":
        return optimizers.AdamW(learning_rate=lr)
    return optimizers.Adam(learning_rate=lr)
