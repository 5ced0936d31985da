"""The Fashion-MNIST sample bundled inside the package (works offline)."""
from __future__ import annotations

import os

import numpy as np

__all__ = ["load_sample", "SAMPLE_PATH"]

SAMPLE_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "data", "fashion_mnist_sample.npz")
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_sample(return_indices=False):
    """Load the stratified Fashion-MNIST sample bundled with fastmlp (no download needed).

    Returns ``((x_train, y_train), (x_test, y_test))`` as uint8 arrays: 3,000 training
    images (300 per class) and 1,000 test images (100 per class), shape (N, 28, 28), drawn
    reproducibly from the full Fashion-MNIST by ``scripts/make_sample.py``.  Fashion-MNIST
    is Copyright (c) 2017 Zalando SE, MIT license (``fastmlp/data/LICENSE-fashion-mnist.txt``).
    With ``return_indices=True`` also returns ``(train_indices, test_indices)``: where each
    sample image sits in the full training and test sets.
    """
    with np.load(SAMPLE_PATH, allow_pickle=False) as z:
        missing = [k for k in _KEYS if k not in z.files]
        if missing:
            raise ValueError(f"{SAMPLE_PATH}: corrupt sample, missing {missing}")
        x_train, y_train, x_test, y_test = (z[k] for k in _KEYS)
        idx = (z["train_indices"].astype(np.int64), z["test_indices"].astype(np.int64))
    for k, a in zip(_KEYS, (x_train, y_train, x_test, y_test)):
        if a.dtype != np.uint8:
            raise ValueError(f"{SAMPLE_PATH}: {k} has dtype {a.dtype}, expected uint8")
    out = ((x_train, y_train), (x_test, y_test))
    return (out, idx) if return_indices else out
