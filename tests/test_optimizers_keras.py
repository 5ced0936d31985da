"""RMSprop, Nadam and gradient clipping (Keras 3 formulas) against float64 NumPy
references: each step's gradient comes from the engine's compute_gradients at the same
weights, the reference applies the update in float64, and train_on_batch must agree."""
import numpy as np
import pytest

import fastmlp as fm
from fastmlp import optimizers as O


def _model(opt, seed=0, **dense_kw):
    m = fm.Sequential([fm.Dense(7, activation="tanh", **dense_kw), fm.Dense(3)],
                      input_shape=(5,), seed=seed)
    m.compile(opt, fm.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def _data(rows=12, seed=1):
    r = np.random.default_rng(seed)
    return (r.normal(size=(rows, 5)).astype(np.float32),
            r.integers(0, 3, size=rows).astype(np.int32))


def _grads(m, x, y):
    _, g = m._ensure_net().compute_gradients(x, y)
    return [np.asarray(a, dtype=np.float64) for a in g]


class RefRMSprop:
    def __init__(self, o):
        self.o, self.v, self.m, self.a = o, None, None, None

    def step(self, ws, gs, t):
        o = self.o
        if self.v is None:
            self.v = [np.zeros_like(w) for w in ws]
            self.m = [np.zeros_like(w) for w in ws]
            self.a = [np.zeros_like(w) for w in ws]
        out = []
        for i, (w, g) in enumerate(zip(ws, gs)):
            w = w - o.learning_rate * o.weight_decay * w
            self.v[i] = o.rho * self.v[i] + (1 - o.rho) * g * g
            if o.centered:
                self.a[i] = o.rho * self.a[i] + (1 - o.rho) * g
                den = self.v[i] - self.a[i] ** 2 + o.epsilon
            else:
                den = self.v[i] + o.epsilon
            inc = o.learning_rate * g / np.sqrt(den)
            if o.momentum > 0:
                self.m[i] = o.momentum * self.m[i] + inc
                out.append(w - self.m[i])
            else:
                out.append(w - inc)
        return out


class RefNadam:
    def __init__(self, o):
        self.o, self.m, self.v, self.prod = o, None, None, 1.0

    def step(self, ws, gs, t):  # t: 1-based
        o = self.o
        if self.m is None:
            self.m = [np.zeros_like(w) for w in ws]
            self.v = [np.zeros_like(w) for w in ws]
        u_t = o.beta_1 * (1 - 0.5 * 0.96 ** t)
        u_next = o.beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
        self.prod *= u_t
        prod_next = self.prod * u_next
        out = []
        for i, (w, g) in enumerate(zip(ws, gs)):
            w = w - o.learning_rate * o.weight_decay * w
            self.m[i] += (g - self.m[i]) * (1 - o.beta_1)
            self.v[i] += (g * g - self.v[i]) * (1 - o.beta_2)
            m_hat = u_next * self.m[i] / (1 - prod_next) + (1 - u_t) * g / (1 - self.prod)
            v_hat = self.v[i] / (1 - o.beta_2 ** t)
            out.append(w - o.learning_rate * m_hat / (np.sqrt(v_hat) + o.epsilon))
        return out


class RefSGD:
    def __init__(self, o):
        self.o = o

    def step(self, ws, gs, t):
        return [w - self.o.learning_rate * g for w, g in zip(ws, gs)]


def _clip(o, gs):
    if o.clipnorm:
        gs = [g * min(1.0, o.clipnorm / np.linalg.norm(g)) for g in gs]
    if o.global_clipnorm:
        n = np.sqrt(sum((g * g).sum() for g in gs))
        gs = [g * min(1.0, o.global_clipnorm / n) for g in gs]
    if o.clipvalue:
        gs = [np.clip(g, -o.clipvalue, o.clipvalue) for g in gs]
    return gs


def _run_against(ref_cls, opt, steps=4, tol=2e-5):
    m = _model(opt)
    x, y = _data()
    ref = ref_cls(opt)
    ws = [w.astype(np.float64) for w in m.get_weights()]
    for t in range(1, steps + 1):
        gs = _clip(opt, _grads(m, x, y))
        ws = ref.step(ws, gs, t)
        m.train_on_batch(x, y)
        got = m.get_weights()
        for w_ref, w in zip(ws, got):
            np.testing.assert_allclose(w, w_ref, rtol=tol, atol=tol)
        ws = [w.astype(np.float64) for w in got]  # follow the engine's float32 weights


@pytest.mark.parametrize("kw", [{}, {"momentum": 0.9}, {"centered": True},
                                {"centered": True, "momentum": 0.5, "rho": 0.8},
                                {"weight_decay": 0.1, "learning_rate": 0.01}])
def test_rmsprop_matches_keras_formula(isa, kw):
    _run_against(RefRMSprop, O.RMSprop(**kw))


@pytest.mark.parametrize("kw", [{}, {"beta_1": 0.8, "beta_2": 0.99},
                                {"weight_decay": 0.05, "learning_rate": 0.01}])
def test_nadam_matches_keras_formula(isa, kw):
    _run_against(RefNadam, O.Nadam(**kw), steps=5)


def test_nadam_resumes_its_momentum_product_after_a_restore():
    """The running product u_1...u_t restarts from step 0 when the step goes back (a
    restored state), so a model loaded mid-training continues exactly."""
    x, y = _data()
    a = _model(O.Nadam(0.01))
    for _ in range(3):
        a.train_on_batch(x, y)
    step, state = a._ensure_net().get_optimizer_state()
    b = _model(O.Nadam(0.01))
    for _ in range(7):  # b's product runs ahead, then it takes a's state
        b.train_on_batch(x, y)
    b.set_weights(a.get_weights())
    b._set_optimizer_state(step, state)
    a.train_on_batch(x, y)
    b.train_on_batch(x, y)
    for p, q in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("clip", [{"clipnorm": 0.05}, {"clipvalue": 0.01},
                                  {"global_clipnorm": 0.08}])
@pytest.mark.parametrize("cls", ["sgd", "rmsprop"])
def test_clipping_as_keras(isa, clip, cls):
    if cls == "sgd":
        _run_against(RefSGD, O.SGD(0.5, **clip), steps=3)
    else:
        _run_against(RefRMSprop, O.RMSprop(0.01, **clip), steps=3)


def test_clipping_actually_clips():
    """The thresholds above are below the gradients' norms and values (else the
    comparison would not test the clipping)."""
    m = _model(O.SGD())
    x, y = _data()
    gs = _grads(m, x, y)
    assert min(np.linalg.norm(g) for g in gs if np.abs(g).max() > 0) > 0.05
    assert max(np.abs(g).max() for g in gs) > 0.01
    assert np.sqrt(sum((g * g).sum() for g in gs)) > 0.08


def test_adam_with_clipnorm_matches_adam_on_clipped_gradients():
    x, y = _data()
    m = _model(O.Adam(0.01, clipnorm=0.05))
    gs = _clip(m.optimizer, _grads(m, x, y))
    w0 = [w.astype(np.float64) for w in m.get_weights()]
    m.train_on_batch(x, y)
    # first Adam step: m_hat = g, v_hat = g^2: w -= lr * g / (|g| + eps)
    for w, g, got in zip(w0, gs, m.get_weights()):
        np.testing.assert_allclose(got, w - 0.01 * g / (np.abs(g) + 1e-7), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opt", [lambda: O.RMSprop(momentum=0.5, centered=True),
                                 lambda: O.Nadam(), lambda: O.SGD(0.1, clipnorm=0.1)])
def test_training_is_bitwise_the_same_on_1_and_2_threads(opt, restore_threads):
    r = np.random.default_rng(3)
    x = r.normal(size=(3000, 40)).astype(np.float32)
    y = r.integers(0, 4, 3000).astype(np.int32)
    runs = []
    for nt in (1, 2):
        fm.set_num_threads(nt)
        m = fm.Sequential([fm.Dense(300, activation="relu",
                                    kernel_regularizer=fm.regularizers.L2(1e-3),
                                    kernel_constraint=fm.constraints.MaxNorm(1.5)),
                           fm.Dense(4, activation="softmax")], input_shape=(40,), seed=5)
        m.compile(opt(), "sparse_categorical_crossentropy")
        h = m.fit(x, y, batch_size=100, epochs=2, seed=1, verbose=0)
        runs.append((h.history["loss"], m.get_weights()))
    assert runs[0][0] == runs[1][0]
    for p, q in zip(runs[0][1], runs[1][1]):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("opt", [lambda: O.RMSprop(momentum=0.9, centered=True),
                                 lambda: O.Nadam(beta_1=0.8),
                                 lambda: O.Adam(global_clipnorm=1.0)])
def test_save_load_resumes_exactly(tmp_path, opt):
    x, y = _data(40)
    a = _model(opt(), kernel_regularizer=fm.regularizers.L1L2(1e-3, 1e-2),
               bias_constraint=fm.constraints.MaxNorm(0.5))
    a.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=0)
    a.save(tmp_path / "m.fastmlp")
    b = fm.load_model(tmp_path / "m.fastmlp")
    assert b.optimizer.get_config() == a.optimizer.get_config()
    assert b.layers[0].kernel_regularizer == a.layers[0].kernel_regularizer
    assert b.layers[0].bias_constraint == a.layers[0].bias_constraint
    for m in (a, b):
        m.fit(x, y, batch_size=8, epochs=1, verbose=0, seed=4)
    for p, q in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(p, q)


def test_rmsprop_state_slots_follow_its_settings():
    x, y = _data()
    for kw, kept in [({}, (True, False, False)), ({"momentum": 0.5}, (True, True, False)),
                     ({"centered": True}, (True, False, True))]:
        m = _model(O.RMSprop(**kw))
        m.train_on_batch(x, y)
        _, state = m._ensure_net().get_optimizer_state()
        assert tuple(s is not None for s in state[0]) == kept


def test_optimizer_configs_round_trip():
    for o in (O.RMSprop(0.01, rho=0.8, momentum=0.3, epsilon=1e-6, centered=True,
                        weight_decay=0.01, clipvalue=0.5),
              O.Nadam(0.002, beta_1=0.85, clipnorm=2.0), O.SGD(global_clipnorm=1.0)):
        again = type(o).from_config(o.get_config())
        assert again.get_config() == o.get_config()
        assert O.deserialize({"class_name": type(o).__name__,
                              "config": o.get_config()}).get_config() == o.get_config()
    assert isinstance(O.get("RMSprop"), O.RMSprop) and isinstance(O.get("nadam"), O.Nadam)


@pytest.mark.parametrize("make, match", [
    (lambda: O.SGD(clipnorm=1.0, clipvalue=1.0), "at most one of clipnorm"),
    (lambda: O.Adam(clipnorm=0), "clipnorm: expected a value > 0"),
    (lambda: O.RMSprop(global_clipnorm=float("nan")), "global_clipnorm: expected a finite"),
    (lambda: O.RMSprop(rho=1.0), "rho: expected a value < 1"),
    (lambda: O.RMSprop(momentum=-0.1), "momentum: expected a value >= 0"),
    (lambda: O.Nadam(epsilon=0), "epsilon: expected a value > 0"),
    (lambda: O.get("adagrad"), "expected one of .*'nadam'.*'rmsprop'"),
    (lambda: O.deserialize({"class_name": "Adagrad"}), "class_name among"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
