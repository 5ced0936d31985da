"""Faults: a real SIGINT during fit leaves a consistent, usable model; a failing save
(read-only directory, full disk, interrupted write) leaves the previous file intact and no
temporary file behind."""
from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.saving as saving


def _model(seed=0):
    m = fm.Sequential([fm.Dense(64, activation="relu"), fm.Dense(4)], input_shape=(32,),
                      seed=seed)
    m.compile(optimizer=fm.optimizers.SGD(0.01, momentum=0.9),
              loss=fm.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


def _data(rng, n=2048):
    x = rng.standard_normal((n, 32)).astype(np.float32)
    y = (x[:, :4].argmax(axis=1)).astype(np.int32)
    return x, y


def _forward(m, x):
    w = m.get_weights()
    return (np.maximum(x.astype(np.float64) @ w[0] + w[1], 0) @ w[2] + w[3]).astype(np.float32)


@pytest.fixture
def sigint_raises():
    """Ctrl-C raises KeyboardInterrupt, as in an interactive Python, even when the test
    run was started with SIGINT ignored (a background job, nohup): Python then leaves
    SIG_IGN in place instead of its default handler."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("how", ["raise_signal", "os_kill"])
def test_real_sigint_during_fit_leaves_model_usable(rng, how, sigint_raises):
    x, y = _data(rng)
    m = _model()
    started = threading.Event()

    class Start(fm.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            started.set()

    def fire():
        started.wait(30)
        time.sleep(0.05)  # well inside the long fit below
        if how == "raise_signal":
            signal.raise_signal(signal.SIGINT)
        else:
            os.kill(os.getpid(), signal.SIGINT)

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    t = threading.Thread(target=fire)
    t.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            m.fit(x, y, batch_size=16, epochs=100_000, verbose=0, callbacks=[Start()])
    finally:
        t.join()
    assert time.perf_counter() - t0 < 60
    assert m.history.interrupted
    w = m.get_weights()
    assert all(np.isfinite(a).all() for a in w)
    # consistent: the engine predicts with exactly the weights Python reads back
    np.testing.assert_allclose(m.predict(x[:100]), _forward(m, x[:100]), rtol=1e-4, atol=1e-5)
    before = m.evaluate(x, y)
    m.fit(x, y, batch_size=16, epochs=2, verbose=0)  # still trains
    after = m.evaluate(x, y)
    assert after["loss"] < before["loss"] or after["accuracy"] > 0.9


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_during_a_huge_predict_is_honoured_between_slices(rng, sigint_raises):
    m = fm.Sequential([fm.Rescaling(1 / 255), fm.Dense(256, activation="relu"), fm.Dense(10)],
                      input_shape=(784,), seed=0)
    row = rng.integers(0, 256, (1, 784), dtype=np.uint8)
    small = m.predict(row)
    x = np.broadcast_to(row, (4 * 10**6, 784))  # about 1.6e12 flops: minutes on one core
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            m.predict(x)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 20
    assert np.array_equal(m.predict(x[:70_000])[::9999], np.repeat(small, 8, 0))


@pytest.fixture
def saved(tmp_path, rng):
    m = _model(seed=1)
    path = tmp_path / "model.npz"
    m.save(path)
    return m, path, path.read_bytes()


def _leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.startswith(".fastmlp-")]


def _change(m):
    m.set_weights([w + 1 for w in m.get_weights()])


def test_save_into_read_only_directory_keeps_previous_file(saved, monkeypatch):
    m, path, old = saved
    _change(m)
    os.chmod(path.parent, 0o555)
    try:
        if os.access(path.parent, os.W_OK):  # root ignores the mode: simulate the refusal
            def refuse(*args, **kwargs):
                raise PermissionError(errno.EACCES, "Permission denied", str(path.parent))
            monkeypatch.setattr(saving.tempfile, "mkstemp", refuse)
        with pytest.raises(PermissionError):
            m.save(path)
    finally:
        os.chmod(path.parent, 0o755)
        monkeypatch.undo()
    assert path.read_bytes() == old
    assert _leftovers(path.parent) == []
    m2 = fm.load_model(path)
    assert not np.array_equal(m2.get_weights()[0], m.get_weights()[0])


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"),
                                 KeyboardInterrupt()])
def test_failed_or_interrupted_write_keeps_previous_file(saved, monkeypatch, exc):
    m, path, old = saved
    _change(m)
    real_savez = np.savez

    def savez_then_fail(f, **arrays):
        real_savez(f, **arrays)  # part of the data reached the file, then the disk fills
        f.flush()
        assert os.fstat(f.fileno()).st_size > 0
        raise exc

    monkeypatch.setattr(saving.np, "savez", savez_then_fail)
    with pytest.raises(type(exc)) as info:
        m.save(path)
    if isinstance(exc, OSError):
        assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert _leftovers(path.parent) == []
    # the model itself is untouched and saves fine afterwards
    m.save(path)
    np.testing.assert_array_equal(fm.load_model(path).get_weights()[0], m.get_weights()[0])
    assert _leftovers(path.parent) == []


def test_failing_replace_leaves_no_temp_file(saved, monkeypatch):
    m, path, old = saved
    _change(m)

    def fail(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(saving.os, "replace", fail)
    with pytest.raises(OSError):
        m.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old and _leftovers(path.parent) == []


def test_save_over_a_directory_fails_cleanly(tmp_path):
    m = _model()
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(OSError):
        m.save(tmp_path / "d.npz")
    assert _leftovers(tmp_path) == []


def test_saved_file_mode_like_open_and_kept_on_replace(tmp_path):
    m = _model()
    path = tmp_path / "m.npz"
    old_umask = os.umask(0o022)
    try:
        m.save(path)
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    os.chmod(path, 0o640)
    m.save(path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []
