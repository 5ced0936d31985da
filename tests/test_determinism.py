"""Determinism: same seeds, same tier -> bitwise identical training and inference whatever
the thread count and however fit splits an epoch into C++ chunks; models big enough that
the kernels really split their work over 2 threads."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
import fastmlp._fit_loop as fm_fit_loop


def _data(n=256, d=784, classes=10, seed=0):
    r = np.random.default_rng(seed)
    x = r.integers(0, 256, (n, d), dtype=np.uint8)
    y = r.integers(0, classes, n).astype(np.int32)
    return x, y


def _model(opt, hidden=512, seed=5):
    m = fm.Sequential([fm.Rescaling(1 / 255), fm.Dense(hidden, activation="relu"),
                       fm.Dense(64, activation="tanh"), fm.Dense(10), fm.Softmax()],
                      input_shape=(784,), seed=seed)
    m.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


OPTS = {
    "adam": lambda: fm.optimizers.Adam(1e-3),
    "adamw": lambda: fm.optimizers.AdamW(1e-3, weight_decay=0.01),
    "sgd_nesterov_wd": lambda: fm.optimizers.SGD(0.01, momentum=0.9, nesterov=True,
                                                 weight_decay=1e-4),
}


def _train(opt, batch, steps):
    x, y = _data()
    m = _model(OPTS[opt]())
    h = m.fit(x, y, batch_size=batch, epochs=1, steps_per_epoch=steps, seed=11, verbose=0)
    return (m.get_weights(), np.asarray(h.batch_loss), m.predict(x),
            m.evaluate(x, y)["loss"])


def _assert_same(a, b, what):
    (w1, l1, p1, e1), (w2, l2, p2, e2) = a, b
    assert l1.view(np.uint32).tolist() == l2.view(np.uint32).tolist(), f"{what}: losses"
    for i, (u, v) in enumerate(zip(w1, w2)):
        assert np.array_equal(u.view(np.uint32), v.view(np.uint32)), f"{what}: weight {i}"
    assert np.array_equal(p1.view(np.uint32), p2.view(np.uint32)), f"{what}: predict"
    assert e1 == e2, f"{what}: evaluate"


@pytest.mark.parametrize("opt,batch,steps", [("adam", 1, 40), ("adam", 64, 4),
                                             ("adamw", 64, 3), ("sgd_nesterov_wd", 1, 40),
                                             ("sgd_nesterov_wd", 64, 4)])
def test_training_bitwise_identical_with_1_and_2_threads(isa, restore_threads, opt, batch,
                                                         steps):
    fm.set_num_threads(1)
    one = _train(opt, batch, steps)
    fm.set_num_threads(2)
    two = _train(opt, batch, steps)
    _assert_same(one, two, f"{isa} {opt} batch {batch}")
    again = _train(opt, batch, steps)  # and run to run
    _assert_same(two, again, f"{isa} {opt} batch {batch} rerun")


def test_chunking_of_an_epoch_does_not_change_results(monkeypatch):
    """fit hands the engine an epoch in chunks sized by timing: the split must not matter."""
    ref = _train("adam", 8, 24)
    monkeypatch.setattr(fm_fit_loop, "_CHUNK_SECONDS", 1e-9)  # one batch per C++ call
    _assert_same(ref, _train("adam", 8, 24), "chunked")


def test_predict_rows_independent_of_batch_and_threads(isa, restore_threads):
    x, _ = _data(n=700)
    m = _model(OPTS["adam"]())
    fm.set_num_threads(2)
    full = m.predict(x)
    fm.set_num_threads(1)
    assert np.array_equal(full.view(np.uint32), m.predict(x).view(np.uint32))
    for lo, hi in ((0, 1), (5, 6), (255, 259), (500, 700), (699, 700)):
        assert np.array_equal(m.predict(x[lo:hi]).view(np.uint32),
                              full[lo:hi].view(np.uint32)), (lo, hi)
