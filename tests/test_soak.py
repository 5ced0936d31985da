"""Soak: thousands of random fit / predict / evaluate / save / load cycles on tiny models,
with resident memory measured before and after; it must not grow beyond noise.

Marked ``slow``. The default budget is short (``FASTMLP_SOAK_SECONDS``, default 3 s, at
least ``FASTMLP_SOAK_MIN_CYCLES`` cycles, default 1000); set them higher for a real soak,
e.g. ``FASTMLP_SOAK_SECONDS=600 pytest -m slow tests/test_soak.py``.
"""
from __future__ import annotations

import gc
import os
import threading
import time

import numpy as np
import pytest

import fastmlp as fm

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("FASTMLP_SOAK_SECONDS", "3"))
MIN_CYCLES = int(os.environ.get("FASTMLP_SOAK_MIN_CYCLES", "1000"))


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _random_model(r):
    d = int(r.integers(1, 12))
    classes = int(r.integers(2, 5))
    layers = []
    if r.random() < 0.3:
        layers.append(fm.Rescaling(1 / 255))
    for _ in range(int(r.integers(0, 3))):
        layers.append(fm.Dense(int(r.integers(1, 24)),
                               activation=str(r.choice(["relu", "tanh", "linear"]))))
        if r.random() < 0.3:
            layers.append(fm.LeakyReLU(0.1))
    layers.append(fm.Dense(classes))
    if r.random() < 0.5:
        layers.append(fm.Softmax())
    m = fm.Sequential(layers, input_shape=(d,), seed=int(r.integers(1 << 30)))
    opt = [fm.optimizers.SGD(0.01, momentum=float(r.choice([0.0, 0.9]))),
           fm.optimizers.Adam(1e-3), fm.optimizers.AdamW(1e-3)][int(r.integers(3))]
    loss = str(r.choice(["sparse_categorical_crossentropy", "mse"]))
    m.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    return m, d, classes, loss


def _cycle(r, path):
    m, d, classes, loss = _random_model(r)
    n = int(r.integers(1, 200))
    x = (r.integers(0, 256, (n, d), dtype=np.uint8) if r.random() < 0.5
         else r.standard_normal((n, d)).astype(np.float32))
    labels = r.integers(0, classes, n)
    y = labels if loss != "mse" else np.eye(classes, dtype=np.float32)[labels]
    try:
        m.fit(x, y, batch_size=int(r.integers(1, 64)), epochs=int(r.integers(1, 3)),
              verbose=0, seed=int(r.integers(1 << 30)))
    except FloatingPointError:  # raw uint8 pixels may diverge: the model stays usable
        pass
    p = m.predict(x)
    assert p.shape == (n, classes)
    m.evaluate(x, y)
    m.predict(x[:1])
    if r.random() < 0.1:  # a few threads at once
        ts = [threading.Thread(target=m.predict, args=(x,)) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    m.save(path)
    m2 = fm.load_model(path)
    assert np.array_equal(m2.predict(x), p, equal_nan=True)
    m2.set_weights(m.get_weights())
    m.memory_bytes()


def test_soak_no_memory_growth(tmp_path):
    r = np.random.default_rng(int(os.environ.get("FASTMLP_TEST_SEED", "20240607")))
    path = tmp_path / "soak.npz"
    for _ in range(200):  # warm up allocators, caches, lazily imported modules
        _cycle(r, path)
    gc.collect()
    before = _rss()
    start, cycles = time.perf_counter(), 0
    while cycles < MIN_CYCLES or time.perf_counter() - start < SECONDS:
        _cycle(r, path)
        cycles += 1
    gc.collect()
    growth = _rss() - before
    # Noise is about 1 MiB over 1000-3000 cycles; leaking 4 KiB per cycle (one small
    # network, one workspace) adds 4 MiB per 1000 cycles.
    assert growth < 4 * 2**20, f"resident memory grew {growth / 2**20:.1f} MiB in {cycles} cycles"
    assert [p.name for p in tmp_path.iterdir()] == ["soak.npz"]  # no temporary files
