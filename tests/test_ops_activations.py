"""Element-wise activations and activation_backward on every tier: sizes around the
vector widths (0, 1, 15, 16, 17, ..., 1000+), extreme inputs, in-place use."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp.ops as ops

ACTS = ["linear", "relu", "leaky_relu", "sigmoid", "tanh"]
SIZES = [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 4099]
FORWARD = {
    "relu": lambda x, **kw: ops.relu(x, **kw),
    "leaky_relu": lambda x, **kw: ops.leaky_relu(x, 0.2, **kw),
    "sigmoid": lambda x, **kw: ops.sigmoid(x, **kw),
    "tanh": lambda x, **kw: ops.tanh(x, **kw),
}
ALPHA = {"leaky_relu": 0.2}


def _inputs(rng, n):
    """Normal values at several scales, plus the interesting points of each function."""
    x = rng.standard_normal(n) * rng.choice([0.01, 1.0, 5.0, 30.0], size=n)
    special = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-6, -1e-6, 0.5, -0.5, 9.0, -9.0, 15.0,
                        -15.0, 20.0, -20.0, 88.0, -88.0, 89.0, -89.0, 100.0, -104.0,
                        1e4, -1e4, 3e38, -3e38])
    k = min(n, special.size)
    x[rng.choice(n, size=k, replace=False)] = special[rng.permutation(special.size)[:k]]
    return x.astype(np.float32)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", list(FORWARD))
def test_activation_forward(isa, ref, check, rng, name, n):
    x = _inputs(rng, n)
    x0 = x.copy()
    y = FORWARD[name](x)
    alpha = ALPHA.get(name, 0.01)
    expected = ref.act(name, x, alpha)
    check(y, expected, ref.act_tol(name, expected), f"{name} n={n}")
    np.testing.assert_array_equal(x, x0)  # input untouched


@pytest.mark.parametrize("name", list(FORWARD))
def test_activation_forward_out_and_in_place(isa, ref, check, rng, name):
    x = _inputs(rng, 1037)
    alpha = ALPHA.get(name, 0.01)
    expected = ref.act(name, x, alpha)
    out = np.full_like(x, np.nan)
    assert FORWARD[name](x, out=out) is out
    check(out, expected, ref.act_tol(name, expected), f"{name} out=")
    assert FORWARD[name](x, out=x) is x
    check(x, expected, ref.act_tol(name, expected), f"{name} in place")


@pytest.mark.parametrize("name", list(FORWARD))
@pytest.mark.parametrize("shape", [(), (3, 5), (2, 3, 17), (0, 4)])
def test_activation_forward_shapes(isa, ref, check, rng, name, shape):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    y = FORWARD[name](x)
    expected = ref.act(name, x, ALPHA.get(name, 0.01))
    check(y, expected, ref.act_tol(name, expected), f"{name} shape {shape}")


@pytest.mark.parametrize("name", list(FORWARD))
def test_activation_forward_never_nan_and_bounded(isa, rng, name):
    finfo = np.finfo(np.float32)
    x = np.concatenate([
        np.array([finfo.max, -finfo.max, finfo.tiny, -finfo.tiny, 1e-45, -1e-45], np.float32),
        (rng.standard_normal(4000) * 10.0 ** rng.integers(-3, 38, 4000)).astype(np.float32),
    ])
    assert np.isfinite(x).all()
    y = FORWARD[name](x)
    assert not np.isnan(y).any(), f"{name} gave NaN for finite input {x[np.isnan(y)][:5]}"
    if name == "sigmoid":
        assert ((y >= 0) & (y <= 1)).all()
    if name == "tanh":
        assert ((y >= -1) & (y <= 1)).all()
    if name == "relu":
        assert (y >= 0).all()


def test_activations_propagate_nan(isa):
    x = np.array([np.nan] * 17, np.float32)
    for name in ("sigmoid", "tanh"):
        assert np.isnan(FORWARD[name](x)).all(), name


def test_leaky_relu_default_alpha(ref, check, rng):
    x = _inputs(rng, 100)
    check(ops.leaky_relu(x), ref.act("leaky_relu", x, 0.01),
          ref.act_tol("leaky_relu", ref.act("leaky_relu", x, 0.01)), "default alpha")


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_activation_converts_float_dtypes(ref, check, rng, dtype):
    x = rng.standard_normal((5, 7)).astype(dtype)
    y = ops.tanh(x)
    assert y.dtype == np.float32
    expected = np.tanh(x.astype(np.float32).astype(np.float64))
    check(y, expected, ref.act_tol("tanh", expected), "tanh converted")


# --------------------------------------------------------------------------- backward


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", ACTS)
def test_activation_backward(isa, ref, check, rng, name, n):
    alpha = 0.2
    y = ref.act(name, _inputs(rng, n), alpha).astype(np.float32)
    dy = (rng.standard_normal(n) * 3).astype(np.float32)
    dx = ops.activation_backward(name, y, dy, alpha)
    expected = ref.f64(dy) * ref.act_grad_from_y(name, y, alpha)
    check(dx, expected, ref.act_backward_tol(name, y, dy, alpha), f"{name}' n={n}")


@pytest.mark.parametrize("name", ACTS)
def test_activation_backward_in_place_and_shapes(isa, ref, check, rng, name):
    y = ref.act(name, rng.standard_normal((7, 19)) * 3, 0.01).astype(np.float32)
    dy = rng.standard_normal((7, 19)).astype(np.float32)
    expected = ref.f64(dy) * ref.act_grad_from_y(name, y, 0.01)
    tol = ref.act_backward_tol(name, y, dy, 0.01)
    out = np.full_like(dy, np.nan)
    assert ops.activation_backward(name, y, dy, out=out) is out
    check(out, expected, tol, f"{name}' out=")
    assert ops.activation_backward(name, y, dy, out=dy) is dy
    check(dy, expected, tol, f"{name}' in place")


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_activation_backward_matches_derivative(isa, ref, rng, name):
    """Derivative from y equals the finite-difference slope of the forward function."""
    z = rng.uniform(-4, 4, 500)
    z = z[np.abs(z) > 1e-2]  # away from the ReLU kink
    h = 1e-5
    alpha = 0.05

    def f(v):
        return ref.act(name, v, alpha)

    slope = (f(z + h) - f(z - h)) / (2 * h)
    y = f(z).astype(np.float32)
    dx = ops.activation_backward(name, y, np.ones_like(y), alpha)
    np.testing.assert_allclose(dx, slope, rtol=1e-5, atol=2e-6)
