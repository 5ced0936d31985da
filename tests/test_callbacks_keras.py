"""Keras 3 callbacks: ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, CSVLogger
(Keras semantics and defaults; plateaus and improvements forced through a LambdaCallback
placed before the callback under test, which overwrites the monitored log value)."""
import csv
import math
import os

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.callbacks import (CSVLogger, LambdaCallback, LearningRateScheduler,
                               ModelCheckpoint, ReduceLROnPlateau)

LR0 = 1e-2


def _model():
    m = fm.Sequential([fm.Dense(8, activation="relu"), fm.Dense(3, activation="softmax")],
                      input_shape=(4,), seed=0)
    m.compile(optimizer=fm.optimizers.Adam(learning_rate=LR0),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def _data(n=96):
    r = np.random.default_rng(7)
    x = r.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y


def _fit(m, callbacks, epochs=3, validation_split=0.25, **kw):
    x, y = _data()
    return m.fit(x, y, epochs=epochs, batch_size=16, validation_split=validation_split,
                 verbose=0, seed=1, callbacks=callbacks, **kw)


def _force(key, values):
    """A callback setting logs[key] = values[epoch] (place it before the one tested)."""
    def on_epoch_end(epoch, logs):
        logs[key] = values[epoch]
    return LambdaCallback(on_epoch_end=on_epoch_end)


def _lr_per_epoch(out):
    """A callback recording the learning rate each epoch trains with (place it last)."""
    return LambdaCallback(on_epoch_end=lambda e, logs: out.append(logs.get("learning_rate")))


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def test_exported():
    for name in ("ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler",
                 "CSVLogger"):
        assert name in fm.callbacks.__all__
        assert getattr(fm.callbacks, name).__doc__


# ------------------------------------------------------------------ ModelCheckpoint
def test_checkpoint_every_epoch_formatted_names(tmp_path):
    m = _model()
    h = _fit(m, [ModelCheckpoint(str(tmp_path / "ckpt_{epoch:02d}_{val_loss:.3f}.npz"))])
    want = sorted(f"ckpt_{e + 1:02d}_{v:.3f}.npz" for e, v in enumerate(h.history["val_loss"]))
    assert sorted(os.listdir(tmp_path)) == want
    last = fm.load_model(tmp_path / want[-1])
    assert _same(last.get_weights(), m.get_weights())
    first = fm.load_model(tmp_path / want[0])
    assert not _same(first.get_weights(), m.get_weights())


def test_checkpoint_pathlike_and_creates_directories(tmp_path):
    m = _model()
    cb = ModelCheckpoint(tmp_path / "sub" / "dir" / "m-{epoch}-{accuracy:.2f}.npz")
    h = _fit(m, [cb], epochs=2)
    assert sorted(os.listdir(tmp_path / "sub" / "dir")) == [
        f"m-{e + 1}-{a:.2f}.npz" for e, a in enumerate(h.history["accuracy"])]
    assert cb.last_saved.endswith(f"m-2-{h.history['accuracy'][-1]:.2f}.npz")


def test_checkpoint_save_best_only_saves_on_improvement(tmp_path):
    m = _model()
    snaps = []
    cbs = [_force("val_loss", [1.0, 0.5, 0.7, 0.4, 0.9]),
           ModelCheckpoint(str(tmp_path / "best_{epoch}.npz"), save_best_only=True),
           ModelCheckpoint(str(tmp_path / "best.npz"), save_best_only=True),
           LambdaCallback(on_epoch_end=lambda e, logs: snaps.append(m.get_weights()))]
    _fit(m, cbs, epochs=5)
    assert sorted(os.listdir(tmp_path)) == ["best.npz", "best_1.npz", "best_2.npz",
                                            "best_4.npz"]
    assert _same(fm.load_model(tmp_path / "best.npz").get_weights(), snaps[3])
    assert _same(fm.load_model(tmp_path / "best_2.npz").get_weights(), snaps[1])
    assert cbs[2].best == 0.4


def test_checkpoint_mode_auto_max_for_accuracy_and_explicit_modes(tmp_path):
    m = _model()
    acc = [0.5, 0.4, 0.6, 0.6]
    cbs = [_force("val_accuracy", acc),
           ModelCheckpoint(str(tmp_path / "auto_{epoch}.npz"), monitor="val_accuracy",
                           save_best_only=True),
           ModelCheckpoint(str(tmp_path / "min_{epoch}.npz"), monitor="val_accuracy",
                           save_best_only=True, mode="min")]
    _fit(m, cbs, epochs=4)
    assert cbs[1].mode == "max" and cbs[2].mode == "min"
    assert sorted(os.listdir(tmp_path)) == ["auto_1.npz", "auto_3.npz", "min_1.npz",
                                            "min_2.npz"]
    assert ModelCheckpoint("a.npz", monitor="auc").mode == "max"
    assert ModelCheckpoint("a.npz", monitor="loss").mode == "min"


def test_checkpoint_initial_value_threshold(tmp_path):
    m = _model()
    cbs = [_force("val_loss", [1.0, 0.5, 0.7]),
           ModelCheckpoint(str(tmp_path / "b_{epoch}.npz"), save_best_only=True,
                           initial_value_threshold=0.6)]
    _fit(m, cbs, epochs=3)
    assert os.listdir(tmp_path) == ["b_2.npz"]


def test_checkpoint_missing_monitor_warns_and_skips(tmp_path):
    m = _model()
    with pytest.warns(RuntimeWarning, match="val_loss"):
        _fit(m, [ModelCheckpoint(str(tmp_path / "x.npz"), save_best_only=True)],
             epochs=2, validation_split=0.0)
    assert os.listdir(tmp_path) == []


def test_checkpoint_missing_format_key_is_keyerror(tmp_path):
    m = _model()
    with pytest.raises(KeyError, match="val_loss"):
        _fit(m, [ModelCheckpoint(str(tmp_path / "{val_loss:.2f}.npz"))], epochs=1,
             validation_split=0.0)


def test_checkpoint_weights_only(tmp_path):
    m = _model()
    _fit(m, [ModelCheckpoint(str(tmp_path / "w{epoch}.npz"), save_weights_only=True)],
         epochs=2)
    assert sorted(os.listdir(tmp_path)) == ["w1.npz", "w2.npz"]  # no temporaries left
    with np.load(tmp_path / "w2.npz") as d:
        assert "config" not in d.files
        weights = [d[k] for k in sorted(d.files)]
    assert _same(weights, m.get_weights())
    m2 = _model()
    m2.set_weights(weights)
    x, _ = _data()
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))


def test_checkpoint_resumes_training_like_uninterrupted(tmp_path):
    # a full checkpoint holds the optimizer state: 2 + 1 epochs == 3 epochs
    m = _model()
    _fit(m, [ModelCheckpoint(str(tmp_path / "e{epoch}.npz"))], epochs=3, shuffle=False)
    m2 = fm.load_model(tmp_path / "e2.npz")
    x, y = _data()
    m2.fit(x, y, epochs=3, initial_epoch=2, batch_size=16, validation_split=0.25,
           verbose=0, seed=1, shuffle=False)
    assert _same(m2.get_weights(), m.get_weights())


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(filepath="m.keras"), ValueError, "npz"),
    (dict(filepath="m.h5"), ValueError, "npz"),
    (dict(filepath="m.weights.h5", save_weights_only=True), ValueError, "npz"),
    (dict(filepath="m.HDF5"), ValueError, "npz"),
    (dict(filepath=123), TypeError, "filepath"),
    (dict(filepath=""), ValueError, "filepath"),
    (dict(filepath="m_{epoch.npz"), ValueError, "filepath"),
    (dict(filepath="m_{}.npz"), ValueError, "filepath"),
    (dict(filepath="m.npz", save_freq=100), ValueError, "only 'epoch'"),
    (dict(filepath="m.npz", save_freq="batch"), ValueError, "save_freq"),
    (dict(filepath="m.npz", mode="maximum"), ValueError, "mode.*'maximum'"),
    (dict(filepath="m.npz", monitor=3), TypeError, "monitor"),
    (dict(filepath="m.npz", initial_value_threshold="0.5"), TypeError,
     "initial_value_threshold"),
    (dict(filepath="m.npz", initial_value_threshold=math.nan), ValueError,
     "initial_value_threshold"),
])
def test_checkpoint_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ModelCheckpoint(**kwargs)


# ------------------------------------------------------------------ ReduceLROnPlateau
def test_reduce_lr_after_patience():
    m = _model()
    seen = []
    rl = ReduceLROnPlateau(factor=0.5, patience=2)
    h = _fit(m, [_force("val_loss", [1.0] * 6), rl, _lr_per_epoch(seen)], epochs=6)
    want = [LR0, LR0, LR0, LR0 / 2, LR0 / 2, LR0 / 4]
    assert seen == pytest.approx(want, rel=1e-12)
    assert h.history["learning_rate"] == pytest.approx(want, rel=1e-12)
    assert m.optimizer.learning_rate == pytest.approx(LR0 / 4, rel=1e-12)


def test_reduce_lr_improvement_resets_wait_and_min_delta():
    m = _model()
    # each epoch improves by 0.01 > min_delta: never reduced
    _fit(m, [_force("val_loss", [1.0, 0.99, 0.98, 0.97]),
             ReduceLROnPlateau(patience=1, min_delta=1e-3)], epochs=4)
    assert m.optimizer.learning_rate == LR0
    # improvements smaller than min_delta do not count
    m = _model()
    _fit(m, [_force("val_loss", [1.0, 0.99, 0.98, 0.97]),
             ReduceLROnPlateau(patience=2, min_delta=0.05, factor=0.5)], epochs=4)
    assert m.optimizer.learning_rate == pytest.approx(LR0 / 2)


def test_reduce_lr_respects_min_lr():
    m = _model()
    seen = []
    _fit(m, [_force("val_loss", [1.0] * 5), ReduceLROnPlateau(factor=0.1, patience=1,
                                                               min_lr=2e-3),
             _lr_per_epoch(seen)], epochs=5)
    assert seen == pytest.approx([LR0, LR0, 2e-3, 2e-3, 2e-3])
    assert m.optimizer.learning_rate == 2e-3


def test_reduce_lr_cooldown():
    m = _model()
    seen = []
    _fit(m, [_force("val_loss", [1.0] * 7),
             ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2), _lr_per_epoch(seen)],
         epochs=7)
    # reductions at the ends of epochs 1, 3 and 5 (Keras' cooldown counting)
    assert seen == pytest.approx([LR0, LR0, LR0 / 2, LR0 / 2, LR0 / 4, LR0 / 4, LR0 / 8])


def test_reduce_lr_mode_max_auto_for_accuracy():
    m = _model()
    _fit(m, [_force("val_accuracy", [0.5, 0.6, 0.7, 0.8]),
             ReduceLROnPlateau(monitor="val_accuracy", patience=1)], epochs=4)
    assert m.optimizer.learning_rate == LR0
    m = _model()
    _fit(m, [_force("val_accuracy", [0.5, 0.6, 0.7, 0.8]),
             ReduceLROnPlateau(monitor="val_accuracy", patience=1, mode="min")], epochs=2)
    assert m.optimizer.learning_rate == pytest.approx(LR0 * 0.1)


def test_reduce_lr_missing_monitor_warns():
    m = _model()
    with pytest.warns(RuntimeWarning, match="val_loss"):
        h = _fit(m, [ReduceLROnPlateau(patience=0)], epochs=2, validation_split=0.0)
    assert m.optimizer.learning_rate == LR0
    assert h.history["learning_rate"] == [LR0, LR0]


def test_reduce_lr_reaches_training():
    # the reduced rate is what the engine trains with: same weights as a schedule
    # giving the same per-epoch rates
    a = _model()
    _fit(a, [_force("val_loss", [1.0] * 4), ReduceLROnPlateau(factor=0.5, patience=1)],
         epochs=4)
    b = _model()
    rates = [LR0, LR0, LR0 / 2, LR0 / 4]
    _fit(b, [LearningRateScheduler(lambda e, lr: rates[e])], epochs=4)
    c = _model()
    _fit(c, [], epochs=4)
    assert _same(a.get_weights(), b.get_weights())
    assert not _same(a.get_weights(), c.get_weights())


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(factor=1.0), ValueError, "factor"),
    (dict(factor=2), ValueError, "factor"),
    (dict(factor=0.0), ValueError, "factor"),
    (dict(factor=-0.5), ValueError, "factor"),
    (dict(factor="0.5"), TypeError, "factor"),
    (dict(factor=math.nan), ValueError, "factor"),
    (dict(patience=-1), ValueError, "patience"),
    (dict(patience=1.5), TypeError, "patience"),
    (dict(cooldown=-2), ValueError, "cooldown"),
    (dict(min_lr=-1e-3), ValueError, "min_lr"),
    (dict(min_lr=None), TypeError, "min_lr"),
    (dict(min_delta=-1.0), ValueError, "min_delta"),
    (dict(mode="up"), ValueError, "mode.*'up'"),
    (dict(monitor=None), TypeError, "monitor"),
])
def test_reduce_lr_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ReduceLROnPlateau(**kwargs)


# ------------------------------------------------------------------ LearningRateScheduler
def test_scheduler_changes_learning_rate():
    calls = []

    def halve(epoch, lr):
        calls.append((epoch, lr))
        assert type(lr) is float
        return lr * 0.5

    m = _model()
    h = _fit(m, [LearningRateScheduler(halve)], epochs=3)
    assert calls == [(0, LR0), (1, LR0 / 2), (2, LR0 / 4)]
    assert m.optimizer.learning_rate == pytest.approx(LR0 / 8)
    assert h.history["learning_rate"] == pytest.approx([LR0 / 2, LR0 / 4, LR0 / 8])


def test_scheduler_training_differs_from_without():
    base = _model()
    _fit(base, [], epochs=3)
    same = _model()
    _fit(same, [LearningRateScheduler(lambda e, lr: lr)], epochs=3)
    halved = _model()
    _fit(halved, [LearningRateScheduler(lambda e, lr: lr * 0.5)], epochs=3)
    assert _same(base.get_weights(), same.get_weights())
    assert not _same(base.get_weights(), halved.get_weights())


def test_scheduler_one_argument_and_numpy_returns():
    m = _model()
    seen = []
    _fit(m, [LearningRateScheduler(lambda epoch: np.float32(1e-3) * (epoch + 1)),
             _lr_per_epoch(seen)], epochs=3)
    assert seen == pytest.approx([1e-3, 2e-3, 3e-3], rel=1e-6)
    m = _model()
    _fit(m, [LearningRateScheduler(lambda e, lr: np.float64(0.02))], epochs=1)
    assert m.optimizer.learning_rate == 0.02


def test_scheduler_with_initial_epoch_gets_real_epoch():
    calls = []
    m = _model()
    _fit(m, [LearningRateScheduler(lambda e, lr: calls.append(e) or lr)], epochs=4,
         initial_epoch=2)
    assert calls == [2, 3]


@pytest.mark.parametrize("ret", [None, "0.1", math.nan, math.inf, 0.0, -1e-3, True, [0.1]])
def test_scheduler_bad_return(ret):
    m = _model()
    with pytest.raises(ValueError, match=r"schedule.*epoch=0.*returned") as e:
        _fit(m, [LearningRateScheduler(lambda epoch, lr: ret)], epochs=1)
    assert repr(ret) in str(e.value)
    assert m.optimizer.learning_rate == LR0


def test_scheduler_bad_arguments():
    with pytest.raises(TypeError, match="schedule"):
        LearningRateScheduler(0.1)
    with pytest.raises(TypeError, match="schedule"):
        LearningRateScheduler(lambda: 0.1)
    with pytest.raises(TypeError, match="schedule"):
        LearningRateScheduler(lambda a, b, c: 0.1)


def test_scheduler_and_plateau_log_learning_rate_once():
    m = _model()
    h = _fit(m, [LearningRateScheduler(lambda e, lr: lr),
                 ReduceLROnPlateau(patience=100)], epochs=3)
    assert h.history["learning_rate"] == [LR0] * 3
    assert all(len(v) == 3 for v in h.history.values())


# ------------------------------------------------------------------ CSVLogger
def _rows(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_contents(tmp_path):
    p = tmp_path / "log.csv"
    m = _model()
    h = _fit(m, [CSVLogger(str(p))], epochs=3)
    rows = _rows(p)
    keys = sorted(h.history)
    assert rows[0] == ["epoch"] + keys
    assert keys == ["accuracy", "examples_per_sec", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for e, r in enumerate(rows[1:]):
        assert [float(v) for v in r[1:]] == [h.history[k][e] for k in keys]
    assert b"\r" not in p.read_bytes()


def test_csv_logger_flushes_every_row(tmp_path):
    p = tmp_path / "log.csv"
    counts = []
    m = _model()
    _fit(m, [CSVLogger(p), LambdaCallback(on_epoch_end=lambda e, l: counts.append(
        len(_rows(p))))], epochs=3)
    assert counts == [2, 3, 4]


def test_csv_logger_overwrite_and_append(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("old content\n")
    m = _model()
    _fit(m, [CSVLogger(p)], epochs=2)
    rows = _rows(p)
    assert rows[0][0] == "epoch" and len(rows) == 3
    _fit(m, [CSVLogger(p, append=True)], epochs=4, initial_epoch=2)
    rows = _rows(p)
    assert len(rows) == 5 and sum(r[0] == "epoch" for r in rows) == 1
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    # append=False starts over
    _fit(m, [CSVLogger(p)], epochs=1)
    assert len(_rows(p)) == 2


def test_csv_logger_append_new_file_and_existing_header_order(tmp_path):
    p = tmp_path / "new.csv"
    m = _model()
    _fit(m, [CSVLogger(p, append=True)], epochs=1)
    assert _rows(p)[0][0] == "epoch"
    # an existing header fixes the columns (a missing key is NA, extra keys dropped)
    q = tmp_path / "old.csv"
    q.write_text("epoch,val_loss,loss,lost_key\n0,1.0,2.0,3.0")  # no final newline
    h = _fit(m, [CSVLogger(q, append=True)], epochs=1)
    rows = _rows(q)
    assert rows[0] == ["epoch", "val_loss", "loss", "lost_key"]
    assert rows[1] == ["0", "1.0", "2.0", "3.0"]
    assert rows[2] == ["0", repr(h.history["val_loss"][0]), repr(h.history["loss"][0]), "NA"]


def test_csv_logger_separator_and_learning_rate_column(tmp_path):
    p = tmp_path / "log.tsv"
    m = _model()
    _fit(m, [ReduceLROnPlateau("loss", patience=100), CSVLogger(p, separator="\t")], epochs=2,
         validation_split=0.0)
    rows = _rows(p, "\t")
    assert rows[0] == ["epoch", "accuracy", "examples_per_sec", "learning_rate", "loss"]
    assert [float(r[3]) for r in rows[1:]] == [LR0, LR0]


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_csv_logger_complete_after_interrupted_training(tmp_path, exc):
    p = tmp_path / "log.csv"

    def boom(epoch, logs):
        if epoch == 1:
            raise exc("stop")

    m = _model()
    with pytest.raises(exc):
        _fit(m, [CSVLogger(p), LambdaCallback(on_epoch_end=boom)], epochs=4)
    rows = _rows(p)
    assert [r[0] for r in rows] == ["epoch", "0", "1"]


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(filename=None), TypeError, "filename"),
    (dict(filename=b"log.csv"), TypeError, "filename"),
    (dict(filename=""), ValueError, "filename"),
    (dict(filename="l.csv", separator=""), ValueError, "separator"),
    (dict(filename="l.csv", separator=",;"), ValueError, "separator"),
    (dict(filename="l.csv", separator="\n"), ValueError, "separator"),
    (dict(filename="l.csv", separator=44), TypeError, "separator"),
])
def test_csv_logger_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CSVLogger(**kwargs)


def test_verbose_messages(tmp_path, capsys):
    m = _model()
    _fit(m, [_force("val_loss", [1.0, 2.0, 2.0]),
             ModelCheckpoint(str(tmp_path / "b.npz"), save_best_only=True, verbose=1),
             ReduceLROnPlateau(patience=1, factor=0.5, verbose=1),
             LearningRateScheduler(lambda e, lr: lr, verbose=1)], epochs=3)
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from inf to 1.00000, saving model to" in out
    assert "Epoch 2: val_loss did not improve from 1.00000" in out
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.005." in out
    assert "Epoch 3: LearningRateScheduler setting learning rate to 0.005." in out
