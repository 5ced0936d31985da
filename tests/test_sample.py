"""The Fashion-MNIST sample bundled in the package, and the script that makes it."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from fastmlp import datasets as fds
from fastmlp.datasets._sample import SAMPLE_PATH

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM_FASHION = "/usr/share/datasets/fashion-mnist"


def _need_system_fashion():
    if not os.path.isfile(os.path.join(SYSTEM_FASHION, "train-images-idx3-ubyte.gz")):
        msg = f"real Fashion-MNIST missing from {SYSTEM_FASHION} (apt-get install dataset-fashion-mnist)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def test_sample_shapes_dtypes_and_balance():
    (xtr, ytr), (xte, yte) = fds.load_sample()
    assert xtr.shape == (3000, 28, 28) and ytr.shape == (3000,)
    assert xte.shape == (1000, 28, 28) and yte.shape == (1000,)
    assert all(a.dtype == np.uint8 for a in (xtr, ytr, xte, yte))
    np.testing.assert_array_equal(np.bincount(ytr, minlength=10), [300] * 10)
    np.testing.assert_array_equal(np.bincount(yte, minlength=10), [100] * 10)
    assert xtr.std() > 50, "images must not be blank"


def test_sample_fits_budget_and_ships_license():
    assert os.path.getsize(SAMPLE_PATH) <= 2_000_000
    lic = os.path.join(os.path.dirname(SAMPLE_PATH), "LICENSE-fashion-mnist.txt")
    with open(lic, encoding="utf-8") as f:
        text = f.read()
    assert "Copyright (c) 2017 Zalando SE" in text and "MIT" in text


def test_sample_is_a_subset_of_the_real_dataset():
    _need_system_fashion()
    ((xtr, ytr), (xte, yte)), (itr, ite) = fds.load_sample(return_indices=True)
    (ftr, fytr), (fte, fyte) = fds.load_fashion_mnist(path=SYSTEM_FASHION, download=False)
    assert len(np.unique(itr)) == 3000 and len(np.unique(ite)) == 1000
    np.testing.assert_array_equal(xtr, ftr[itr])
    np.testing.assert_array_equal(ytr, fytr[itr])
    np.testing.assert_array_equal(xte, fte[ite])
    np.testing.assert_array_equal(yte, fyte[ite])


def test_make_sample_is_reproducible(tmp_path):
    _need_system_fashion()
    out = tmp_path / "s.npz"
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "make_sample.py"),
           "--data", SYSTEM_FASHION, "--no-download", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    with open(SAMPLE_PATH, "rb") as f:
        shipped = f.read()
    assert out.read_bytes() == shipped, "scripts/make_sample.py must rebuild the shipped file byte for byte"
    assert (tmp_path / "LICENSE-fashion-mnist.txt").exists()
