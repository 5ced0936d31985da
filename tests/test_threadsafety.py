"""Thread safety of one model shared by Python threads (issue 5).

* concurrent predict/evaluate calls give exactly the serial results;
* predict while another thread runs fit sees the weights of a whole training chunk, never
  a torn mix: every concurrent result must equal, bit for bit, the prediction made from
  one of the states the model passed through between chunks;
* set_weights is one step for concurrent readers (old or new weights, never a mix);
* the first concurrent calls build one network.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import fastmlp as fm
import fastmlp._fit_loop as fm_fit_loop

N_THREADS = 8


def _model(seed=0, inputs=24, hidden=48, outputs=6):
    return fm.Sequential([fm.Dense(hidden, activation="relu"), fm.Dense(hidden // 2),
                          fm.LeakyReLU(0.1), fm.Dense(outputs), fm.Softmax()],
                         input_shape=(inputs,), seed=seed)


def _run_threads(fn, n=N_THREADS):
    """Runs fn(i) in n threads started together; re-raises the first error."""
    barrier = threading.Barrier(n)
    errors, results = [], [None] * n

    def body(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a thread hung (deadlock?)"
    if errors:
        raise errors[0]
    return results


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint32)


def test_concurrent_predict_matches_serial(rng):
    m = _model()
    sizes = [1, 2, 3, 17, 64, 255, 256, 257, 700, 1500]
    xs = [rng.standard_normal((n, 24)).astype(np.float32) for n in sizes]
    xs.append(rng.integers(0, 255, (300, 24)).astype(np.uint8))
    serial = [m.predict(x) for x in xs]

    def work(i):
        out = []
        for rep in range(6):
            for j in range(len(xs)):
                k = (i + j + rep) % len(xs)
                out.append((k, m.predict(xs[k])))
        return out

    for res in _run_threads(work):
        for k, got in res:
            assert np.array_equal(_bits(got), _bits(serial[k])), f"input {k} differs"


def test_concurrent_evaluate_matches_serial(rng):
    m = _model()
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((900, 24)).astype(np.float32)
    y = rng.integers(0, 6, 900)
    refs = [m.evaluate(x[: 300 * k], y[: 300 * k]) for k in (1, 2, 3)]
    for i, res in enumerate(_run_threads(
            lambda i: [m.evaluate(x[: 300 * (1 + i % 3)], y[: 300 * (1 + i % 3)])
                       for _ in range(3)])):
        assert all(r == refs[i % 3] for r in res)


def test_first_calls_from_many_threads_build_one_network(rng):
    m = _model(seed=3)
    x = rng.standard_normal((50, 24)).astype(np.float32)
    outs = _run_threads(lambda i: m.predict(x))
    net = m._net
    assert all(np.array_equal(_bits(o), _bits(outs[0])) for o in outs)
    assert all(l.kernel.base is not None for l in m.layers if isinstance(l, fm.Dense))
    assert m.predict(x).tobytes() == outs[0].tobytes() and m._net is net


@pytest.mark.parametrize("batch_size", [1, 32])
@pytest.mark.parametrize("probe_rows", [1, 300])
def test_predict_during_fit_sees_whole_chunks(rng, monkeypatch, batch_size, probe_rows):
    """The fit thread records the weights after every chunk (an on_train_batch_end hook
    runs between chunks, while no training runs); each prediction made concurrently by
    the other threads must be the exact prediction of one of those states."""
    monkeypatch.setattr(fm_fit_loop, "_CHUNK_SECONDS", 2e-4)  # many small chunks
    m = _model(seed=1)
    m.compile(optimizer=fm.optimizers.SGD(0.005, momentum=0.5),
              loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((640 if batch_size > 1 else 64, 24)).astype(np.float32)
    y = rng.integers(0, 6, len(x))
    probe = rng.standard_normal((probe_rows, 24)).astype(np.float32)
    states = {m._net.weights_version: m.get_weights()}

    class Record(fm.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            v = m._net.weights_version
            if v not in states:
                states[v] = m.get_weights()

    done = threading.Event()
    distinct = set()

    class Enough(fm.callbacks.Callback):  # train until the readers have overlapped it
        def on_epoch_end(self, epoch, logs=None):
            if len(distinct) >= 4 and len(states) > 20:
                m.stop_training = True

    def work(i):
        if i == 0:
            try:
                m.fit(x, y, batch_size=batch_size, epochs=500, verbose=0,
                      callbacks=[Record(), Enough()])
            finally:
                done.set()
            return []
        out = []
        while not done.is_set():
            out.append(m.predict(probe))
            distinct.add(out[-1].tobytes())
            if i % 2:
                out.append(("w", m.get_weights()))  # a consistent snapshot too
        return out

    results = _run_threads(work, n=4)[1:]
    assert len(states) > 5, "too few chunks to test anything"
    # predictions of every recorded state, made with the same engine path
    ref = fm.Sequential([l.__class__.from_config(l.get_config()) for l in m.layers],
                        input_shape=(24,))
    valid_preds, valid_w = set(), set()
    for w in states.values():
        ref.set_weights(w)
        valid_preds.add(ref.predict(probe).tobytes())
        valid_w.add(b"".join(a.tobytes() for a in w))
    for res in results:
        for r in res:
            if isinstance(r, tuple):
                assert b"".join(a.tobytes() for a in r[1]) in valid_w, "torn get_weights"
            else:
                assert r.tobytes() in valid_preds, "predict saw weights of no chunk boundary"
    assert len(distinct) >= 4, f"predict hardly overlapped fit ({len(distinct)} states seen)"


def test_set_weights_is_atomic_for_readers(rng):
    m = _model(seed=2)
    x = rng.standard_normal((64, 24)).astype(np.float32)
    wa = m.get_weights()
    wb = [w * 0.5 + 0.01 for w in wa]
    pa = m.predict(x).tobytes()
    m.set_weights(wb)
    pb = m.predict(x).tobytes()
    assert pa != pb
    stop = threading.Event()

    def work(i):
        if i == 0:
            for k in range(300):
                m.set_weights(wa if k % 2 else wb)
            stop.set()
            return []
        out = []
        while not stop.is_set():
            out.append(m.predict(x[: 1 + (i % 2) * 63]).tobytes())
        return out

    results = _run_threads(work, n=4)
    for i, res in enumerate(results[1:], 1):
        ok = {pa, pb} if i % 2 else {pa[: 6 * 4], pb[: 6 * 4]}
        assert all(r in ok for r in res)


def test_predicts_run_concurrently_not_serialized(rng, restore_threads):
    """While one thread is inside a long predict (one C++ call, GIL released), other
    threads' predicts complete: readers share the lock (a mutex would make them wait)."""
    m = fm.Sequential([fm.Rescaling(1 / 255), fm.Dense(256, activation="relu"), fm.Dense(10)],
                      input_shape=(784,), seed=0)
    small = rng.random((8, 784), dtype=np.float32)
    tiny = rng.random((1, 784), dtype=np.float32)
    ref_small, ref_tiny = m.predict(small), m.predict(tiny)
    fm.set_num_threads(1)  # the long call lasts about a second on any machine
    big = np.broadcast_to(rng.integers(0, 256, (1, 784), dtype=np.uint8), (250_000, 784))
    inside, finished = threading.Event(), []

    def long_call():
        inside.set()
        m._net.predict(big)  # one C++ call, seconds long
        finished.append(time.perf_counter())

    t = threading.Thread(target=long_call)
    t.start()
    inside.wait()
    time.sleep(0.05)
    done_while_busy = 0
    while t.is_alive() and done_while_busy < 20:
        assert np.array_equal(m.predict(small), ref_small)
        assert np.array_equal(m.predict(tiny), ref_tiny)
        if t.is_alive():
            done_while_busy += 1
    t.join()
    assert done_while_busy > 0, "predict waited for the other thread's predict to finish"
