"""Learning-rate schedules (issue 11): Keras 3's formulas, evaluated by the engine for
every update inside its C++ loop (checked against the Python formulas and by training)."""
import math

import numpy as np
import pytest

import fastmlp as fm

S = fm.optimizers.schedules
SCHEDULES = [
    S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5),
    S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True),
    S.InverseTimeDecay(0.1, decay_steps=5, decay_rate=2.0),
    S.InverseTimeDecay(0.1, decay_steps=5, decay_rate=2.0, staircase=True),
    S.PiecewiseConstantDecay([3, 10], [0.1, 0.05, 0.01]),
    S.CosineDecay(0.1, decay_steps=20),
    S.CosineDecay(0.1, decay_steps=20, alpha=0.1),
    S.CosineDecay(0.0, decay_steps=20, warmup_target=0.2, warmup_steps=5),
]


def test_formulas_match_keras_values():
    # values written out from Keras 3's definitions
    assert S.ExponentialDecay(0.1, 10, 0.5)(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    assert S.ExponentialDecay(0.1, 10, 0.5, staircase=True)(19) == pytest.approx(0.05)
    assert S.InverseTimeDecay(0.1, 5, 2.0)(5) == pytest.approx(0.1 / 3)
    p = S.PiecewiseConstantDecay([3, 10], [0.1, 0.05, 0.01])
    assert [p(s) for s in (0, 3, 4, 10, 11)] == [0.1, 0.1, 0.05, 0.05, 0.01]
    c = S.CosineDecay(0.1, 20, alpha=0.1)
    assert c(10) == pytest.approx(0.1 * (0.9 * 0.5 + 0.1))
    assert c(100) == pytest.approx(0.01)
    w = S.CosineDecay(0.0, 20, warmup_target=0.2, warmup_steps=5)
    assert w(2) == pytest.approx(0.08) and w(5) == pytest.approx(0.2)
    assert w(15) == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi * 0.5)))


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: repr(s)[:40])
def test_engine_evaluates_the_same_schedule(sched):
    m = fm.Sequential([fm.Dense(2)], input_shape=(3,), seed=0)
    m.compile(optimizer=fm.optimizers.SGD(learning_rate=sched), loss="mse")
    net = m._ensure_net()
    m.optimizer._apply_rate(net)
    for step in range(0, 40):
        assert net.scheduled_lr(step) == pytest.approx(sched(step), rel=1e-12, abs=1e-15)


def _fit(lr, x, y, epochs=1, m=None):
    if m is None:
        m = fm.Sequential([fm.Dense(8, activation="tanh"), fm.Dense(2)], input_shape=(4,),
                          seed=1)
        m.compile(optimizer=fm.optimizers.SGD(learning_rate=lr), loss="mse")
    else:
        m.optimizer.learning_rate = lr
    m.fit(x, y, batch_size=5, epochs=epochs, shuffle=False, verbose=0)
    return m


def test_training_follows_the_schedule_per_update():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = rng.normal(size=(40, 2)).astype(np.float32)
    # 8 updates per epoch; the piecewise schedule switches after update 3 (iterations 0-3)
    a = _fit(S.PiecewiseConstantDecay([3], [0.05, 0.01]), x, y)
    b = _fit(0.05, x[:20], y[:20])
    b = _fit(0.01, x[20:], y[20:], m=b)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)
    c = _fit(0.05, x, y)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_schedule_survives_save_and_load(tmp_path):
    m = fm.Sequential([fm.Dense(2)], input_shape=(3,), seed=0)
    sched = S.CosineDecay(0.01, decay_steps=50, warmup_target=0.1, warmup_steps=5)
    m.compile(optimizer=fm.optimizers.Adam(learning_rate=sched), loss="mse")
    m.fit(np.ones((10, 3), np.float32), np.ones((10, 2), np.float32), verbose=0)
    m.save(tmp_path / "m.npz")
    back = fm.load_model(tmp_path / "m.npz")
    lr = back.optimizer.learning_rate
    assert isinstance(lr, S.CosineDecay) and lr.get_config() == sched.get_config()


def test_bad_arguments_and_float():
    with pytest.raises(ValueError, match="decay_steps"):
        S.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="one more value than boundaries"):
        S.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="increasing"):
        S.PiecewiseConstantDecay([5, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="warmup_steps"):
        S.CosineDecay(0.0, 10, warmup_target=0.1)
    with pytest.raises(TypeError, match="schedule, which has no single value"):
        float(S.CosineDecay(0.1, 10))
