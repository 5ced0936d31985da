#!/usr/bin/env python3
"""Build fastmlp's bundled Fashion-MNIST sample reproducibly.

    python scripts/make_sample.py [--data DIR] [--out python/fastmlp/data/fashion_mnist_sample.npz]

Draws a stratified sample (the same number of images from each of the 10 classes, chosen
by a seeded NumPy Generator) from the full Fashion-MNIST, found by
``fastmlp.datasets.load_fashion_mnist`` (Debian's ``dataset-fashion-mnist`` package, the
cache, or a download), and writes a deflate-compressed ``.npz`` of uint8 arrays
``x_train, y_train, x_test, y_test`` plus ``train_indices, test_indices`` (positions in the
full sets).  The zip entries carry a fixed timestamp, so the same inputs give the same
bytes.  Fashion-MNIST is Copyright (c) 2017 Zalando SE, MIT license: the notice is written
beside the sample as LICENSE-fashion-mnist.txt.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, os.pardir, "python", "fastmlp", "data", "fashion_mnist_sample.npz")
SEED = 20240601
TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100
MAX_BYTES = 2_000_000

LICENSE = """\
The file fashion_mnist_sample.npz in this directory holds a subset of Fashion-MNIST
(https://github.com/zalandoresearch/fashion-mnist): 3,000 training and 1,000 test images
with their labels, drawn by fastmlp's scripts/make_sample.py.  Fashion-MNIST is
distributed under the MIT license:

The MIT License (MIT)

Copyright (c) 2017 Zalando SE

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def stratified_indices(labels, per_class, rng):
    """``per_class`` indices of each class, drawn without replacement, returned sorted."""
    picks = []
    for c in range(10):
        members = np.flatnonzero(labels == c)
        if members.size < per_class:
            raise SystemExit(f"class {c} has only {members.size} images, need {per_class}")
        picks.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(picks))


def write_npz(path, arrays):
    """Write ``arrays`` as a deflate-compressed .npz with fixed zip timestamps."""
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="directory holding the Fashion-MNIST files")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output .npz (default: %(default)s)")
    ap.add_argument("--no-download", action="store_true", help="fail instead of downloading")
    args = ap.parse_args(argv)

    from fastmlp.datasets import load_fashion_mnist  # needs fastmlp installed (pip install -e .)

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(
        path=args.data, download=not args.no_download)
    rng = np.random.default_rng(SEED)
    tr = stratified_indices(y_train, TRAIN_PER_CLASS, rng)
    te = stratified_indices(y_test, TEST_PER_CLASS, rng)
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    write_npz(out, {
        "x_train": x_train[tr], "y_train": y_train[tr],
        "x_test": x_test[te], "y_test": y_test[te],
        "train_indices": tr.astype(np.uint16), "test_indices": te.astype(np.uint16),
    })
    with open(os.path.join(os.path.dirname(out), "LICENSE-fashion-mnist.txt"), "w") as f:
        f.write(LICENSE)
    size = os.path.getsize(out)
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"wrote {out}: {len(tr)} train + {len(te)} test images, {size} bytes, sha256 {digest}")
    if size > MAX_BYTES:
        raise SystemExit(f"sample is {size} bytes, over the {MAX_BYTES}-byte budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
