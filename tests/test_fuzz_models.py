"""Fuzz tests of the model API: random ``Sequential`` stacks (widths 1..40, every
activation, Rescaling/Flatten/Softmax), inputs of every dtype and layout (non-contiguous,
negative strides, read-only, misaligned, byte-swapped, broadcast), NaN/inf, targets of
every dtype, shape and range, and impossible sizes.

``fit``/``evaluate``/``train_on_batch``/``predict`` either work (``predict`` matching a
float64 NumPy forward pass of ``get_weights()``) or raise ``TypeError``/``ValueError``
naming the argument (``MemoryError`` for an allocation that cannot succeed, never an
abort or a hang). Budget: see tests/fuzz_strategies.py.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastmlp as fm
from fuzz_strategies import (arrays, as_f32, expect_error, fuzz_settings, is_float, layout, layouts,
                             seeds)

U = 2.0 ** -24
ACTS = ["linear", "relu", "leaky_relu", "sigmoid", "tanh"]


def _act(name, z, alpha=0.01):
    with np.errstate(all="ignore"):
        if name == "relu":
            return np.maximum(z, 0.0)
        if name == "leaky_relu":
            return np.where(z > 0, z, float(np.float32(alpha)) * z)
        if name == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        if name == "tanh":
            return np.tanh(z)
    return z


@st.composite
def models(draw):
    """(model spec list, input shape per example, number of outputs)."""
    two_d = draw(st.booleans())
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5))) if two_d else \
        (draw(st.sampled_from([1, 2, 3, 8, 17, 33])),)
    spec = []
    if draw(st.booleans()):
        spec.append(("rescale", draw(st.sampled_from([1 / 255, 0.5, 2.0])),
                     draw(st.sampled_from([0.0, -1.0]))))
    if two_d:
        spec.append(("flatten",))
    for _ in range(draw(st.integers(1, 3))):
        spec.append(("dense", draw(st.sampled_from([1, 2, 3, 5, 8, 16, 17, 40])),
                     draw(st.sampled_from(ACTS)), draw(st.booleans())))
    if draw(st.booleans()):
        spec.append(("act", draw(st.sampled_from(ACTS[1:]))))
    n_out = draw(st.sampled_from([2, 3, 10]))
    spec.append(("dense", n_out, draw(st.sampled_from(["linear", "softmax"])), True))
    return spec, shape, n_out


def build(spec, shape, seed):
    layers = []
    for s in spec:
        if s[0] == "rescale":
            layers.append(fm.layers.Rescaling(s[1], s[2]))
        elif s[0] == "flatten":
            layers.append(fm.layers.Flatten())
        elif s[0] == "dense":
            layers.append(fm.layers.Dense(s[1], activation=s[2], use_bias=s[3]))
        else:
            layers.append({"relu": fm.layers.ReLU, "sigmoid": fm.layers.Sigmoid,
                           "tanh": fm.layers.Tanh}.get(s[1], fm.layers.LeakyReLU)())
    return fm.Sequential(layers, input_shape=shape, seed=seed)


def reference_forward(model, spec, x):
    """float64 forward pass and a bound on its float32 error."""
    ws = [np.asarray(w, np.float64) for w in model.get_weights()]
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    mag = np.abs(h)
    err = np.zeros_like(h)
    i = 0
    for s in spec:
        if s[0] == "rescale":
            h = h * s[1] + s[2]
            mag = mag * abs(s[1]) + abs(s[2])
            err = err * abs(s[1]) + 2 * U * mag
        elif s[0] == "dense":
            w = ws[i]
            i += 1
            z = h @ w
            m2 = mag @ np.abs(w)
            e2 = err @ np.abs(w) + (w.shape[0] + 8) * U * m2
            if s[3]:
                z = z + ws[i]
                m2 = m2 + np.abs(ws[i])
                i += 1
            if s[2] == "softmax":
                z = z - z.max(axis=1, keepdims=True)
                h = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
                err = 4 * e2.max(axis=1, keepdims=True) + 64 * U
                mag = np.ones_like(h)
            else:
                h = _act(s[2], z)
                err = e2 + 16 * U * (np.abs(h) + 1)
                mag = m2
        elif s[0] == "act":
            h = _act(s[1], h, 0.3)  # the LeakyReLU layer's default slope (Keras)
            err = err + 16 * U * (np.abs(h) + 1)
    return h, err


# --------------------------------------------------------------------------- predict


@fuzz_settings()
@given(m=models(), n=st.sampled_from([1, 1, 2, 5, 33]), data=st.data(), seed=seeds)
def test_fuzz_predict(isa, m, n, data, seed):
    spec, shape, n_out = m
    model = build(spec, shape, seed % 1000)
    x = data.draw(arrays((n,) + shape), "x")
    try:
        y = model.predict(x)
    except (TypeError, ValueError) as exc:
        if not (isinstance(x, np.ndarray) and x.dtype.kind in "biuf"):
            return expect_error(exc, "x")
        raise
    assert isinstance(x, np.ndarray) and x.dtype.kind in "biuf"
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (n, n_out)
    with np.errstate(all="ignore"):
        xf = np.asarray(x, np.float32) if x.dtype != np.uint8 else np.asarray(x)
        ref, err = reference_forward(model, spec, xf)
    rows = np.isfinite(ref).all(axis=1) & np.isfinite(err).all(axis=1) & \
        (np.abs(ref) + err < 1e30).all(axis=1)
    bad = rows[:, None] & ~(np.abs(y - ref) <= err + 1e-30)
    assert not bad.any(), (
        f"predict differs from the float64 forward at {np.argwhere(bad)[0]}: "
        f"{y[bad][:4]} vs {ref[bad][:4]} (bound {err[bad][:4]})")
    # a row whose input is NaN gives a NaN row (documented in Sequential.predict)
    nan_rows = np.isnan(np.asarray(xf, np.float64).reshape(n, -1)).any(axis=1)
    assert np.isnan(y[nan_rows]).any(axis=1).all(), "a NaN input row gave a non-NaN output"


@pytest.mark.parametrize("spec", [[("dense", 3, "relu", True), ("dense", 2, "linear", True)],
                                  [("dense", 1, "linear", False), ("dense", 2, "linear", True)]])
def test_dense_with_fan_in_one(spec):
    """A kernel of one row (fan-in 1) is a 2-D weight, not a bias (found by fuzzing)."""
    model = build(spec, (1,) if spec[0][1] == 3 else (4,), 0)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(-1, 1).repeat(model.input_shape[0], 1)
    y = model.predict(x)
    ref, err = reference_forward(model, spec, x)
    assert (np.abs(y - ref) <= err + 1e-30).all()
    assert [w.shape for w in model.get_weights()][0] == (model.input_shape[0], spec[0][1])


# --------------------------------------------------------------------------- fit / evaluate

label_kinds = st.sampled_from(["ok", "ok", "ok", "neg", "high", "float_whole", "float_frac",
                               "nan", "bool", "str", "onehot", "2d1", "short", "object",
                               "complex", "u8big"])


def make_targets(kind, n, n_out, rng):
    lab = rng.integers(0, n_out, size=n)
    ok = True
    if kind == "ok":
        y = lab.astype(rng.choice(["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]))
    elif kind == "neg":
        y, ok = lab.copy(), False
        y[0] = -1
    elif kind == "high":
        y, ok = lab.copy(), False
        y[-1] = n_out
    elif kind == "float_whole":
        y = lab.astype(np.float32)
    elif kind == "float_frac":
        y, ok = lab + 0.5, False
    elif kind == "nan":
        y, ok = lab.astype(np.float64), False
        y[0] = np.nan
    elif kind == "bool":
        y = (lab % 2).astype(bool)
    elif kind == "str":
        y, ok = lab.astype("U2"), False
    elif kind == "onehot":
        y, ok = np.eye(n_out)[lab], False
    elif kind == "2d1":
        y = lab.reshape(n, 1)
    elif kind == "short":
        y, ok = lab[:-1], False
    elif kind == "object":
        y, ok = lab.astype(object), False
    elif kind == "complex":
        y, ok = lab.astype(np.complex64), False
    else:  # values that would wrap in int32
        y, ok = lab.astype(np.uint64), False
        y[0] = 2**32 + 1
    return y, ok


def _first_layer_input_finite(spec, x):
    """Whether x as float32, after the model's leading Rescaling, is finite (what the
    engine checks); None within 15% of float32's largest value, where the engine's own
    float32 rounding decides."""
    v = as_f32(x).astype(np.float64)
    if spec[0][0] == "rescale":
        v = v * spec[0][1] + spec[0][2]
    with np.errstate(invalid="ignore"):
        big = np.abs(v)
    if not np.isfinite(v).all() or (big > 3.9e38).any():
        return False
    return None if (big > 2.9e38).any() else True


def _call(model, what, x, y, batch):
    if what == "fit":
        h = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, seed=1)
        assert len(h.history["loss"]) == 1
    elif what == "evaluate":
        r = model.evaluate(x, y)
        assert set(r) >= {"loss", "accuracy"} and 0.0 <= r["accuracy"] <= 1.0
    else:
        r = model.train_on_batch(x, y)
        assert 0.0 <= r["accuracy"] <= 1.0


def test_x_with_both_infinities_raises_without_a_warning():
    """x.sum() of +inf and -inf must not warn before the ValueError (found by fuzzing)."""
    model = fm.Sequential([fm.layers.Dense(2)], input_shape=(2,), seed=0)
    model.compile(optimizer="sgd",
                  loss=fm.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.array([[np.inf, 1.0], [-np.inf, 2.0]], np.float32)
    with pytest.raises(ValueError, match="x"):
        model.fit(x, np.zeros(2, np.int64), verbose=0)


@fuzz_settings(0.5)
@given(m=models(), n=st.sampled_from([1, 2, 7, 40]), data=st.data(), seed=seeds,
       ykind=label_kinds, ylayout=layouts, what=st.sampled_from(["fit", "evaluate", "tob"]),
       batch=st.sampled_from([1, 3, 32, 10**9]))
def test_fuzz_fit_evaluate(isa, m, n, data, seed, ykind, ylayout, what, batch):
    spec, shape, n_out = m
    model = build(spec, shape, seed % 1000)
    # a final linear Dense gives logits; Dense(activation="softmax") probabilities
    loss = fm.losses.SparseCategoricalCrossentropy(from_logits=spec[-1][2] == "linear")
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    x = data.draw(arrays((n,) + shape), "x")
    rng = np.random.default_rng(seed)
    y, y_ok = make_targets(ykind, n, n_out, rng)
    y = layout(y, ylayout)
    # np.matrix targets may be refused; a broadcast (every row = row 0) may make bad ones good
    y_maybe = ylayout in ("matrix", "broadcast")
    x_ok = isinstance(x, np.ndarray) and x.dtype.kind in "biuf"
    # float64 values beyond float32's range are refused too (they would become inf), and
    # so are values a leading Rescaling takes past it; None: too close to that to say
    x_finite = x_ok and _first_layer_input_finite(spec, x)
    before = [w.copy() for w in model.get_weights()]
    try:
        _call(model, what, x, y, batch)
    except (TypeError, ValueError) as exc:

        # a refused call leaves the weights untouched
        for a, b in zip(before, model.get_weights()):
            np.testing.assert_array_equal(a, b)
        bad = (["x"] if not x_ok or x_finite is not True else []) + \
            (["y"] if not y_ok or y_maybe else [])
        if bad:  # either may be checked first
            return expect_error(exc, *bad)
        raise
    except FloatingPointError:
        # divergence (e.g. huge inputs): allowed, the message is tested in test_models
        return
    assert x_ok and x_finite is not False and (y_ok or y_maybe)
    if what != "evaluate":
        p = model.predict(np.asarray(x))
        assert p.shape == (n, n_out)


# --------------------------------------------------------------------------- sizes


@fuzz_settings(0.5)
@given(units=st.sampled_from([10**7, 10**12, 2**40, 2**62]),
       fan_in=st.sampled_from([1, 10**6, 10**7]))
def test_fuzz_dense_impossible_sizes(units, fan_in):
    """A layer whose weights cannot be allocated raises MemoryError (or a ValueError
    naming the size), never aborts; the model stays usable."""
    model = fm.Sequential(input_shape=(fan_in,), seed=0)
    if units * fan_in * 4 < 2**42:
        return  # might be allocatable (and then filled): not this test's business
    with pytest.raises((MemoryError, ValueError)) as info:
        model.add(fm.layers.Dense(units))
    if info.type is ValueError:
        expect_error(info.value, "units", str(units), "Dense")
    assert model.layers == []
    model.add(fm.layers.Dense(3))
    assert model.predict(np.ones((2, fan_in), np.float32)).shape == (2, 3) \
        if fan_in <= 10**6 else True


@pytest.mark.parametrize("rows", [10**11, 10**12])
def test_predict_on_impossible_broadcast_input(rows):
    """A zero-stride view claiming terabytes of input: MemoryError or ValueError, no
    abort (predict of a valid float32 contiguous batch never copies it)."""
    model = fm.Sequential([fm.layers.Dense(4), fm.layers.Dense(2)], input_shape=(784,), seed=0)
    x = np.broadcast_to(np.float32(0.5), (rows, 784))
    with pytest.raises((MemoryError, ValueError)):
        model.predict(x)
    with pytest.raises((MemoryError, ValueError)):
        model.compile(optimizer="sgd", loss="mse")
        model.evaluate(x, np.broadcast_to(np.float32(0), (rows, 2)))


_HUGE_BATCH = """
import numpy as np, fastmlp as fm
model = fm.Sequential([fm.layers.Dense(2)], input_shape=(3,), seed=0)
model.compile(optimizer="sgd", loss=fm.losses.SparseCategoricalCrossentropy(from_logits=True))
try:
    model.fit(np.ones((5, 3), np.float32), np.zeros(5, np.int64), batch_size=10**12,
              steps_per_epoch=1, epochs=1, verbose=0)
except (ValueError, MemoryError) as exc:
    assert "batch_size" in str(exc) or isinstance(exc, MemoryError), exc
"""


def test_fit_huge_batch_with_steps_per_epoch_is_bounded():
    """batch_size far beyond the data with steps_per_epoch: capped (or refused) quickly,
    never an index stream of 10^12 entries (run in a subprocess: the bug is a hang)."""
    subprocess.run([sys.executable, "-c", _HUGE_BATCH], check=True, timeout=10)
