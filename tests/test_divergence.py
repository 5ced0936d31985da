"""fit's divergence guard (issue 15): a loss that explodes while finite stops training
with the message naming epoch and batch, the weights go back to the last sane ones, and
TerminateOnNaN makes the stop quiet. The rule is in fastmlp/_divergence.py."""
import math

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _divergence


def _data(loss, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 20)).astype(np.float32)
    if loss == "mse":
        return x, rng.normal(size=(n, 3)).astype(np.float32)
    return x, rng.integers(0, 3, n)


# The models end with a linear Dense: their cross-entropies read logits.
_FROM_LOGITS = {
    "sparse_categorical_crossentropy": fm.losses.SparseCategoricalCrossentropy(from_logits=True),
    "categorical_crossentropy": fm.losses.CategoricalCrossentropy(from_logits=True),
}


def _model(loss, lr):
    m = fm.Sequential([fm.Dense(32, activation="relu"), fm.Dense(3)], input_shape=(20,),
                      seed=0)
    m.compile(optimizer=fm.optimizers.Adam(learning_rate=lr), loss=_FROM_LOGITS.get(loss, loss))
    return m


def _same(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


@pytest.fixture
def snapshot_every_epoch(monkeypatch):
    # the guard snapshots once training outweighs the copy 100:1; tests want every epoch
    monkeypatch.setattr(_divergence, "_SNAPSHOT_COST_RATIO", 0.0)


@pytest.mark.parametrize("loss", ["mse", "sparse_categorical_crossentropy"])
def test_huge_learning_rate_stops_with_the_weights_it_started_from(loss):
    x, y = _data(loss)
    m = _model(loss, 1e3)
    w0 = m.get_weights()
    with pytest.raises(FloatingPointError,
                       match=r"loss became .* at epoch 1, batch \d+ \(of 63\), more than "
                             r"10000x .*start of epoch 1.*Lower the learning rate \(now "
                             r"1000\), e.g. to 100"):
        m.fit(x, y, epochs=5, verbose=0)
    assert _same(m.get_weights(), w0)  # the only sane weights: those it started from
    step, _ = m._net.get_optimizer_state()
    assert step == 0
    p = m.predict(x)
    assert np.isfinite(p).all()
    assert m.evaluate(x, y)["loss"] < 10  # the model is usable, not garbage


def test_restores_the_start_of_the_last_sane_epoch(snapshot_every_epoch):
    x, y = _data("mse")
    m = _model("mse", 1e-3)
    seen = {}

    def begin(epoch, logs=None):
        seen[epoch] = (m.get_weights(), m._net.get_optimizer_state()[0])
        if epoch == 2:
            m.optimizer.learning_rate = 1e3

    cb = fm.callbacks.LambdaCallback(on_epoch_begin=begin)
    with pytest.raises(FloatingPointError, match=r"at epoch 3, batch .*start of epoch 3,"):
        m.fit(x, y, epochs=6, verbose=0, callbacks=[cb])
    weights, step = seen[2]
    assert _same(m.get_weights(), weights)
    assert m._net.get_optimizer_state()[0] == step == 2 * 63
    assert len(m.history.history["loss"]) == 2  # the epochs that completed


def test_first_batch_of_an_epoch_diverging_goes_back_one_snapshot(snapshot_every_epoch):
    # one batch per epoch: the huge step taken in epoch 3 shows first in epoch 4's batch,
    # whose weights are those of the snapshot at epoch 4's start
    x, y = _data("mse")
    m = _model("mse", 1e-3)
    seen = {}

    def begin(epoch, logs=None):
        seen[epoch] = m.get_weights()
        if epoch == 2:
            m.optimizer.learning_rate = 1e5

    cb = fm.callbacks.LambdaCallback(on_epoch_begin=begin)
    with pytest.raises(FloatingPointError, match=r"at epoch 4, batch 1 \(of 1\).*start of "
                                                 r"epoch 3,"):
        m.fit(x, y, epochs=6, steps_per_epoch=1, verbose=0, callbacks=[cb])
    assert _same(m.get_weights(), seen[2])


@pytest.mark.parametrize("loss", ["mse", "categorical_crossentropy"])
def test_terminate_on_nan_stops_quietly(loss, capsys):
    x, y = _data("sparse_categorical_crossentropy" if loss != "mse" else "mse")
    if loss == "categorical_crossentropy":
        y = np.eye(3, dtype=np.float32)[y]
    m = _model(loss, 1e3)
    w0 = m.get_weights()
    cb = fm.callbacks.TerminateOnNaN()
    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    assert cb.diverged is not None and cb.diverged["epoch"] == 0
    assert cb.diverged["restored_epoch"] == 0
    assert cb.diverged["loss"] > 1e4
    assert "training diverged" in capsys.readouterr().out
    assert h.history == {} and m.stop_training
    assert _same(m.get_weights(), w0)
    # a later fit starts afresh: a sane learning rate trains and reports no divergence
    m.optimizer.learning_rate = 1e-3
    m.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert cb.diverged is None


def test_factor_none_stops_only_on_nonfinite_loss():
    x, y = _data("mse")
    m = _model("mse", 1e30)
    cb = fm.callbacks.TerminateOnNaN(divergence_factor=None, verbose=0)
    m.fit(x, y, epochs=20, verbose=0, callbacks=[cb])
    assert cb.diverged is not None
    assert not math.isfinite(cb.diverged["loss"])
    assert "not finite" in cb.diverged["message"]
    assert np.isfinite(np.concatenate([w.ravel() for w in m.get_weights()])).all()


def test_healthy_training_never_trips_the_bound():
    x, y = _data("sparse_categorical_crossentropy")
    m = _model("sparse_categorical_crossentropy", 1e-2)
    cb = fm.callbacks.TerminateOnNaN(divergence_factor=2.0, verbose=0)
    m.fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    assert cb.diverged is None and len(m.history.history["loss"]) == 3


@pytest.mark.parametrize("bad, exc", [(1.0, ValueError), (0.5, ValueError),
                                      (float("nan"), ValueError), (float("inf"), ValueError),
                                      ("x", TypeError), (True, TypeError)])
def test_divergence_factor_is_checked(bad, exc):
    with pytest.raises(exc, match="divergence_factor: expected"):
        fm.callbacks.TerminateOnNaN(divergence_factor=bad)


def test_engine_checkpoints_round_trip_and_refuse_what_they_cannot_restore():
    x, y = _data("mse", n=64)
    m = _model("mse", 1e-2)
    m.fit(x, y, epochs=1, verbose=0)
    net = m._net
    assert net.memory()["checkpoints"] == 0  # fit frees its snapshots when it ends
    assert not net.restore_checkpoint(1)  # empty slot: nothing changes
    w, (step, state) = m.get_weights(), net.get_optimizer_state()
    net.save_checkpoint(1)
    assert net.memory()["checkpoints"] >= 3 * 4 * sum(a.size for a in w)  # w, m, v
    m.train_on_batch(x, y)  # (fit would use and then free both slots itself)
    assert not _same(m.get_weights(), w)
    assert net.restore_checkpoint(1)
    assert _same(m.get_weights(), w)
    step2, state2 = net.get_optimizer_state()
    assert step2 == step
    assert all(np.array_equal(a, b) for s, t in zip(state, state2) for a, b in zip(s, t))
    for bad in (-1, 2):
        with pytest.raises(ValueError, match=f"slot: expected 0 or 1, got {bad}"):
            net.save_checkpoint(bad)
    m.compile(optimizer="sgd", loss="mse")  # no optimizer state: another layout
    m._net.save_checkpoint(0)
    m.compile(optimizer="adam", loss="mse")
    w = m.get_weights()
    assert not m._net.restore_checkpoint(0)
    assert _same(m.get_weights(), w)
    m._net.discard_checkpoints()
    assert m._net.memory()["checkpoints"] == 0
