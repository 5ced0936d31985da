"""The activations beyond relu / sigmoid / tanh: gelu (erf), gelu_tanh, silu, elu, selu,
softplus, hard_sigmoid, mish.

On every tier the CPU supports (the ``isa`` fixture): forward, backward from the
pre-activation x (every activation) and from the output y (the monotone ones), measured
in ulps against float64 references on a dense grid (both signs, tails to underflow and
saturation, denormals, +-0, huge values), and held to the kernel contract's 4 ulp
(kernel_table.h). A derivative is measured in ulps of its largest term, so that the few
floats next to one of its zeros (gelu' at x ~ -0.75, silu' at -1.28, mish' at -1.19),
where no float32 formula is relatively accurate, count by the size of what cancels.
Also: sizes around the vector widths (tails), NaN / inf, in place, the fused GEMM
epilogue of dense_forward, dense_backward from z, argument errors, and PyTorch's
float32 implementations where torch is installed.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastmlp.ops as ops
from fastmlp import _core

from _optional import require

NEW = ["gelu", "gelu_tanh", "silu", "elu", "selu", "softplus", "hard_sigmoid", "mish"]
FROM_Y = ["elu", "selu", "softplus", "hard_sigmoid"]
NEEDS_X = ["gelu", "gelu_tanh", "silu", "mish"]
MAX_ULP = 4.0
SIZES = [0, 1, 7, 15, 16, 17, 33, 1000]
CODE = {name: i for i, name in enumerate(_core.ACTIVATIONS)}
ALPHA = {"elu": 1.0}  # the kernels' alpha for each (ignored by the others)

# Keras' constants (float64) and what the kernels use (float32).
SELU_A = 1.6732632423543772848170429916717
SELU_S = 1.0507009873554804934193349852946
SELU_SA_F32 = float(np.float32(SELU_A * SELU_S))
C1 = 2.0 * math.sqrt(2.0 / math.pi)  # gelu_tanh: w = 2u = x (C1 + C2 x^2)
C2 = C1 * 0.044715
F32_MAX = float(np.finfo(np.float32).max)
DENORM = float(np.finfo(np.float32).smallest_subnormal)

_erfc = np.frompyfunc(math.erfc, 1, 1)


# --------------------------------------------------------------------- float64 references

def _sig(x):
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _phi_cdf(x):
    return 0.5 * _erfc(-x / math.sqrt(2.0)).astype(np.float64)


def _mish_parts(x):
    """tanh(softplus(x)) and x sech^2(softplus(x)) sigmoid(x), in terms of u = e^-|x|
    (exact identities: nothing cancels in float64)."""
    neg = x < 0
    u = np.exp(-np.abs(x))
    num = np.where(neg, u * (u + 2), 1 + 2 * u)
    den = np.where(neg, u * (u + 2) + 2, 1 + 2 * u + 2 * u * u)
    t = num / den
    k = np.where(neg, 4 * x * u * (1 + u), 4 * x * u * u * (1 + u))
    return t, k / (den * den)


def ref_forward(name, x, alpha=1.0):
    x = np.asarray(x, np.float64)
    xc = np.clip(x, -1e3, 1e3)  # the limits at +-inf
    with np.errstate(all="ignore"):
        if name == "gelu":
            y = np.where(x == -np.inf, 0.0, x * _phi_cdf(x))
        elif name == "gelu_tanh":
            y = np.where(x == -np.inf, 0.0, x * _sig(xc * (C1 + C2 * xc * xc)))
        elif name == "silu":
            y = np.where(x == -np.inf, 0.0, x * _sig(xc))
        elif name == "elu":
            y = np.where(x > 0, x, alpha * np.expm1(x))
        elif name == "selu":
            y = SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x))
        elif name == "softplus":
            y = np.logaddexp(0.0, x)
        elif name == "hard_sigmoid":
            y = np.clip((x + 3.0) / 6.0, 0.0, 1.0)
        elif name == "mish":
            y = np.where(np.isinf(x), np.maximum(x, 0.0), x * _mish_parts(xc)[0])
        else:
            raise AssertionError(name)
    return np.where(np.isnan(x), np.nan, y)


def ref_grad(name, x, alpha=1.0):
    """(activation'(x), magnitude of the largest term of its formula) in float64."""
    x = np.asarray(x, np.float64)
    xc = np.clip(x, -1e3, 1e3)
    fin = np.isfinite(x)
    with np.errstate(all="ignore"):
        if name == "gelu":
            t1 = _phi_cdf(x)
            t2 = np.where(fin, xc * np.exp(-0.5 * xc * xc) / math.sqrt(2 * math.pi), 0.0)
            d, m = t1 + t2, np.abs(t1) + np.abs(t2)
        elif name in ("gelu_tanh", "silu"):
            if name == "silu":
                w, w1 = xc, np.ones_like(xc)
            else:
                w, w1 = xc * (C1 + C2 * xc * xc), C1 + 3 * C2 * xc * xc
            s = _sig(w)
            e = np.exp(-np.abs(w))
            s1 = np.where(w >= 0, e / (1 + e), 1 / (1 + e))  # 1 - s without cancellation
            t2 = np.where(fin, xc * w1 * s * s1, 0.0)
            d, m = s + t2, s + np.abs(t2)
        elif name == "elu":
            d = np.where(x > 0, 1.0, alpha * np.exp(x))
            m = np.abs(d)
        elif name == "selu":
            d = SELU_S * np.where(x > 0, 1.0, SELU_A * np.exp(x))
            m = d
        elif name == "softplus":
            d = m = _sig(x)
        elif name == "hard_sigmoid":
            d = m = np.where((x > -3) & (x < 3), 1.0 / 6.0, 0.0)
        elif name == "mish":
            t, extra = _mish_parts(xc)
            extra = np.where(fin, extra, 0.0)
            d, m = t + extra, np.abs(t) + np.abs(extra)
        else:
            raise AssertionError(name)
    nan = np.isnan(x)
    return np.where(nan, np.nan, d), np.where(nan, np.nan, m)


def ref_grad_from_y(name, y, alpha=1.0):
    """activation'(x) as the kernels' function of the float32 output y (their float32
    constants: from a rounded y, y + alpha is what the formula means)."""
    y = np.asarray(y, np.float64)
    with np.errstate(all="ignore"):
        if name == "elu":
            d = np.where(y > 0, 1.0, y + float(np.float32(alpha)))
        elif name == "selu":
            d = np.where(y > 0, SELU_S, y + SELU_SA_F32)
        elif name == "softplus":
            d = -np.expm1(-y)
        elif name == "hard_sigmoid":
            d = np.where((y > 0) & (y < 1), 1.0 / 6.0, 0.0)
        else:
            raise AssertionError(name)
    return np.where(np.isnan(y), np.nan, d)


# --------------------------------------------------------------------------- ulps

def _ulp(v):
    """float32 spacing at |v| (denormal spacing at least; FLT_MAX's past it)."""
    v = np.abs(np.asarray(v, np.float64))
    with np.errstate(over="ignore"):
        f = np.minimum(v, F32_MAX).astype(np.float32)
    return np.maximum(np.spacing(f).astype(np.float64), DENORM)


def ulp_error(got, ref, mag=None):
    """|got - ref| in ulps of ref (of max(|ref|, mag) when mag is given); ref beyond the
    float32 range means +-inf. Equal values (both NaN, equal infinities) count 0,
    everything else involving NaN or inf counts inf."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = np.where(np.abs(ref) > F32_MAX, ref.astype(np.float32).astype(np.float64), ref)
        scale = _ulp(ref if mag is None else np.maximum(np.abs(ref), np.abs(mag)))
        err = np.abs(got - ref) / scale
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    err = np.where(same, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def assert_ulp(got, ref, x, what, mag=None, bound=MAX_ULP):
    err = ulp_error(got, ref, mag)
    if err.size == 0:
        return 0.0
    i = int(np.argmax(err))
    assert err[i] <= bound, (
        f"{what}: {err[i]:.3f} ulp > {bound} at x={x[i]!r}: got {got[i]!r}, "
        f"expected {ref[i]!r} ({int((err > bound).sum())} of {err.size} over)")
    return float(err[i])


# --------------------------------------------------------------------------- inputs

def _grid():
    """Every 40009th float32 bit pattern (both signs, denormals to FLT_MAX), dense
    linspaces over the interesting ranges, the piece boundaries and special values."""
    bits = np.arange(0, 2**32, 40009, dtype=np.uint64).astype(np.uint32)
    sweep = bits.view(np.float32)
    sweep = sweep[np.isfinite(sweep)]
    tiny = np.geomspace(DENORM, 1e-3, 2000)
    marks = np.array([0.5, 1.5, 3.0, 12.0, 15.5, 3.0, 17.0, 20.0, 88.0, 89.0, 104.0, 150.0,
                      160.0, 1.0, 2.0])
    edges = np.concatenate([np.nextafter(marks.astype(np.float32), np.float32(0)),
                            marks.astype(np.float32),
                            np.nextafter(marks.astype(np.float32), np.float32(np.inf))])
    special = np.array([0.0, DENORM, float(np.finfo(np.float32).tiny), 1e-30, 1e-7,
                        F32_MAX, np.inf])
    pos = np.concatenate([tiny, edges, special]).astype(np.float32)
    return np.concatenate([
        sweep,
        np.linspace(-20, 20, 400_001, dtype=np.float32),
        np.linspace(-160, 160, 100_001, dtype=np.float32),
        pos, -pos,
    ]).astype(np.float32)


GRID = _grid()
_REF_CACHE: dict = {}


def _refs(name):
    if name not in _REF_CACHE:
        alpha = ALPHA.get(name, 0.0)
        _REF_CACHE[name] = (ref_forward(name, GRID, alpha),) + ref_grad(name, GRID, alpha)
    return _REF_CACHE[name]


def _raw_forward(name, x):
    y = np.full_like(x, np.nan)
    _core.act_forward(x, y, CODE[name], ALPHA.get(name, 0.0))
    return y


def _raw_backward_x(name, x, dy):
    dx = np.full_like(x, np.nan)
    _core.act_backward_x(x, dy, dx, CODE[name], ALPHA.get(name, 0.0))
    return dx


# --------------------------------------------------------------------- accuracy (ulps)

@pytest.mark.parametrize("name", NEW)
def test_forward_within_4_ulp(isa, name):
    y = _raw_forward(name, GRID)
    ref = _refs(name)[0]
    assert_ulp(y, ref, GRID, f"{isa} {name}")
    finite = np.isfinite(GRID)
    assert not np.isnan(y[finite]).any(), f"{name} gave NaN for finite input"


@pytest.mark.parametrize("name", NEW)
def test_backward_x_within_4_ulp(isa, rng, name):
    _, d, mag = _refs(name)
    # dy = 1: the derivative itself
    dx = _raw_backward_x(name, GRID, np.ones_like(GRID))
    assert_ulp(dx, d, GRID, f"{isa} {name}' (dy=1)", mag)
    # random dy: dx = dy * act'(x) with dy folded in (one more rounding at most)
    dy = (rng.choice([-1.0, 1.0], GRID.size) * rng.uniform(0.5, 2.0, GRID.size)
          ).astype(np.float32)
    dx = _raw_backward_x(name, GRID, dy)
    dyd = dy.astype(np.float64)
    assert_ulp(dx, dyd * d, GRID, f"{isa} {name}' (random dy)", np.abs(dyd) * mag)


@pytest.mark.parametrize("name", FROM_Y)
def test_backward_from_y_within_4_ulp(isa, rng, name):
    alpha = ALPHA.get(name, 0.0)
    y = _raw_forward(name, GRID)
    dy = rng.uniform(-2.0, 2.0, GRID.size).astype(np.float32)
    dx = ops.activation_backward(name, y, dy, alpha if name == "elu" else None)
    assert_ulp(dx, dy.astype(np.float64) * ref_grad_from_y(name, y, alpha), GRID,
               f"{isa} {name}' from y")
    # Where y is exact enough (above -alpha / 2 for elu, selu) it equals the x form.
    d = ref_grad(name, GRID, alpha)[0]
    ok = np.isfinite(GRID) & (GRID > -0.5)
    if name == "hard_sigmoid":  # x + 3 rounds to 6 just below 3
        ok &= np.abs(GRID) < 2.9
    assert_ulp(dx[ok], dy[ok] * d[ok], GRID[ok], f"{isa} {name}' from y vs exact", bound=6.0)


def test_old_activations_backward_x(isa, rng):
    """act_backward_x also covers linear / relu / leaky_relu / sigmoid / tanh."""
    x = GRID
    dy = np.ones_like(x)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x.astype(np.float64)))
        e2 = np.exp(-2 * np.abs(x.astype(np.float64)))
        refs = {
            "linear": np.ones_like(e),
            "relu": (x > 0).astype(np.float64),
            "leaky_relu": np.where(x > 0, 1.0, float(np.float32(0.2))),
            "sigmoid": e / (1 + e) ** 2,
            "tanh": 4 * e2 / (1 + e2) ** 2,
        }
    for name, d in refs.items():
        dx = np.full_like(x, np.nan)
        _core.act_backward_x(x, dy, dx, CODE[name], 0.2)
        fin = ~np.isnan(x)
        assert_ulp(dx[fin], d[fin], x[fin], f"{isa} {name}' from x")


# --------------------------------------------------------------------- sizes and tails

def _inputs(rng, n):
    x = rng.standard_normal(n) * rng.choice([0.01, 1.0, 4.0, 30.0], size=n)
    special = np.array([0.0, -0.0, 1e-30, -1e-30, 0.5, -0.5, 3.0, -3.0, 15.0, -15.0, 100.0,
                        -100.0, 1e4, -1e4, 3e38, -3e38])
    k = min(n, special.size)
    x[rng.choice(n, size=k, replace=False)] = special[rng.permutation(special.size)[:k]]
    return x.astype(np.float32)


FORWARD = {
    "gelu": lambda x, **kw: ops.gelu(x, **kw),
    "gelu_tanh": lambda x, **kw: ops.gelu(x, approximate=True, **kw),
    "silu": lambda x, **kw: ops.silu(x, **kw),
    "elu": lambda x, **kw: ops.elu(x, **kw),
    "selu": lambda x, **kw: ops.selu(x, **kw),
    "softplus": lambda x, **kw: ops.softplus(x, **kw),
    "hard_sigmoid": lambda x, **kw: ops.hard_sigmoid(x, **kw),
    "mish": lambda x, **kw: ops.mish(x, **kw),
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", NEW)
def test_sizes_forward_and_backward(isa, rng, name, n):
    """Every element of every length is written (outputs are poisoned with NaN) and is
    right, through the named op, activation_forward and both backward entries."""
    x = _inputs(rng, n)
    x0 = x.copy()
    ref = ref_forward(name, x, ALPHA.get(name, 0.0))
    y = FORWARD[name](x)
    assert y.shape == (n,) and y.dtype == np.float32
    assert_ulp(y, ref, x, f"{name} n={n}")
    np.testing.assert_array_equal(ops.activation_forward(name, x), y)
    np.testing.assert_array_equal(x, x0)  # input untouched
    dy = rng.uniform(-2, 2, n).astype(np.float32)
    d, mag = ref_grad(name, x, ALPHA.get(name, 0.0))
    dx = ops.activation_backward(name, None, dy, x=x)
    assert_ulp(dx, dy * d, x, f"{name}' n={n}", np.abs(dy) * mag)
    if name in FROM_Y:
        dx_y = ops.activation_backward(name, y, dy)
        assert_ulp(dx_y, dy * ref_grad_from_y(name, y, ALPHA.get(name, 0.0)), x,
                   f"{name}' from y n={n}")


@pytest.mark.parametrize("name", NEW)
def test_in_place(isa, rng, name):
    x = _inputs(rng, 1037)
    expected = FORWARD[name](x)
    dy = rng.standard_normal(x.size).astype(np.float32)
    dx_expected = ops.activation_backward(name, None, dy, x=x)
    z = x.copy()
    assert FORWARD[name](z, out=z) is z
    np.testing.assert_array_equal(z, expected)
    g = dy.copy()
    assert ops.activation_backward(name, None, g, x=x, out=g) is g
    np.testing.assert_array_equal(g, dx_expected)
    out = np.full_like(x, np.nan)
    assert ops.activation_forward(name, x, out=out) is out
    np.testing.assert_array_equal(out, expected)


# --------------------------------------------------------------------- NaN, inf, zeros

LIMITS = {  # f(-inf), f(+inf), f'(-inf), f'(+inf)
    "gelu": (0.0, np.inf, 0.0, 1.0),
    "gelu_tanh": (0.0, np.inf, 0.0, 1.0),
    "silu": (0.0, np.inf, 0.0, 1.0),
    "elu": (-1.0, np.inf, 0.0, 1.0),
    "selu": (-float(np.float32(SELU_A * SELU_S)), np.inf, 0.0, float(np.float32(SELU_S))),
    "softplus": (0.0, np.inf, 0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0, 0.0, 0.0),
    "mish": (0.0, np.inf, 0.0, 1.0),
}


@pytest.mark.parametrize("name", NEW)
def test_nan_inf_and_zero(isa, name):
    x = np.array([np.nan, -np.inf, np.inf, 0.0, -0.0] * 7, np.float32)  # 35: body + tail
    y = _raw_forward(name, x)
    dx = _raw_backward_x(name, x, np.ones_like(x))
    lo, hi, dlo, dhi = LIMITS[name]
    assert np.isnan(y[0::5]).all() and np.isnan(dx[0::5]).all(), "NaN must propagate"
    assert (y[1::5] == lo).all() and (y[2::5] == hi).all(), (y[1], y[2])
    assert (dx[1::5] == dlo).all() and (dx[2::5] == dhi).all(), (dx[1], dx[2])
    f0 = {"softplus": math.log(2.0), "hard_sigmoid": 0.5}.get(name, 0.0)
    assert np.allclose(y[3::5], f0, rtol=1e-7, atol=0) and np.allclose(y[4::5], f0, rtol=1e-7)
    d0 = ref_grad(name, np.zeros(1))[0][0]
    assert np.allclose(dx[3::5], d0, rtol=2e-7), (dx[3], d0)


@pytest.mark.parametrize("name", NEW)
def test_never_nan_for_finite_input(isa, rng, name):
    x = (rng.standard_normal(4000) * 10.0 ** rng.integers(-40, 38, 4000)).astype(np.float32)
    x = np.concatenate([x, np.array([F32_MAX, -F32_MAX, DENORM, -DENORM], np.float32)])
    x = x[np.isfinite(x)]
    assert not np.isnan(_raw_forward(name, x)).any()
    assert not np.isnan(_raw_backward_x(name, x, np.ones_like(x))).any()


# --------------------------------------------------------------------- API and errors

@pytest.mark.parametrize("name", NEEDS_X)
def test_backward_from_y_refused_for_non_monotone(name):
    y = np.ones(8, np.float32)
    with pytest.raises(ValueError, match=r"argument 'x' \(the pre-activation"):
        ops.activation_backward(name, y, y)
    with pytest.raises(ValueError, match="argument 'z'"):
        ops.dense_backward(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32),
                           np.ones((2, 4), np.float32), y=np.ones((2, 4), np.float32),
                           activation=name)
    # the raw kernel is defined all the same: NaN, never garbage
    dx = np.zeros(8, np.float32)
    _core.act_backward(y, y, dx, CODE[name], 0.0)
    assert np.isnan(dx).all()


def test_elu_nonpositive_alpha_needs_x():
    y = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="'x'"):
        ops.activation_backward("elu", y, y, alpha=-0.5)
    ops.activation_backward("elu", y, y, alpha=0.5)  # fine from y


def test_activation_lists_come_from_the_extension():
    assert ops.ACTIVATIONS == tuple(_core.ACTIVATIONS)
    assert ops.ACTIVATIONS[:5] == ("linear", "relu", "leaky_relu", "sigmoid", "tanh")
    assert ops.ACTIVATIONS[5:] == tuple(NEW)  # appended in this order, never renumbered
    needs = {n for n, nx in zip(_core.ACTIVATIONS, _core.ACT_BACKWARD_NEEDS_X) if nx}
    assert needs == set(NEEDS_X)


def test_alpha_defaults_and_elu_alpha(rng):
    x = _inputs(rng, 300)
    np.testing.assert_array_equal(ops.activation_forward("elu", x), ops.elu(x))
    np.testing.assert_array_equal(ops.activation_forward("leaky_relu", x), ops.leaky_relu(x))
    y = ops.elu(x, 0.3)
    assert_ulp(y, ref_forward("elu", x, float(np.float32(0.3))), x, "elu alpha=0.3")
    dy = np.ones_like(x)
    d = ref_grad("elu", x, float(np.float32(0.3)))[0]
    assert_ulp(ops.activation_backward("elu", None, dy, 0.3, x=x), d, x, "elu' alpha=0.3")
    assert_ulp(ops.activation_backward("elu", y, dy, 0.3),
               ref_grad_from_y("elu", y, 0.3), x, "elu' from y alpha=0.3")


def test_backward_shape_mismatch_names_x():
    with pytest.raises(ValueError, match="'x' and 'dy'"):
        ops.activation_backward("gelu", None, np.ones(3, np.float32), x=np.ones(4, np.float32))


# --------------------------------------------------------------------- GEMM epilogue

SHAPES = [(1, 1, 1), (1, 784, 128), (3, 17, 10), (4, 33, 47), (5, 16, 32), (12, 97, 33),
          (13, 600, 31), (64, 784, 128), (97, 49, 257)]
LIPSCHITZ = {"gelu": 1.13, "gelu_tanh": 1.13, "silu": 1.1, "elu": 1.0, "selu": 1.76,
             "softplus": 1.0, "hard_sigmoid": 1 / 6, "mish": 1.09}


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("batch,nin,nout", SHAPES)
def test_dense_forward_epilogue(isa, ref, check, rng, name, batch, nin, nout):
    """The fused epilogue applies exactly act_forward to the GEMM's (bias-added) result,
    on every path (small M, narrow, blocked, tails)."""
    x = rng.standard_normal((batch, nin)).astype(np.float32)
    w = (rng.standard_normal((nin, nout)) * (4.0 / np.sqrt(nin))).astype(np.float32)
    b = rng.standard_normal(nout).astype(np.float32)
    y = ops.dense_forward(x, w, b, activation=name)
    z = ops.dense_forward(x, w, b)
    np.testing.assert_array_equal(y, ops.activation_forward(name, z))
    zr, ztol = ref.gemm(x, w)
    zr = zr + b
    ztol = ztol + ref.U * (np.abs(zr) + np.abs(b))
    expected = ref_forward(name, zr, ALPHA.get(name, 0.0))
    tol = LIPSCHITZ[name] * ztol + MAX_ULP * _ulp(expected)
    check(y, expected, tol, f"dense_forward {name} {batch}x{nin}x{nout}")


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("size", [1, 2, 5, 7, 13, 16, 17, 31, 33, 49])
def test_dense_forward_epilogue_tails(isa, rng, name, size):
    for batch, nout in ((size, 45), (9, size)):
        x = rng.standard_normal((batch, 45)).astype(np.float32)
        w = rng.standard_normal((45, nout)).astype(np.float32)
        b = rng.standard_normal(nout).astype(np.float32)
        np.testing.assert_array_equal(ops.dense_forward(x, w, b, activation=name),
                                      ops.activation_forward(name, ops.dense_forward(x, w, b)))


@pytest.mark.parametrize("name", NEW)
def test_dense_backward_from_z(isa, rng, name):
    x = rng.standard_normal((7, 19)).astype(np.float32)
    w = rng.standard_normal((19, 11)).astype(np.float32)
    b = rng.standard_normal(11).astype(np.float32)
    dy = rng.standard_normal((7, 11)).astype(np.float32)
    z = ops.dense_forward(x, w, b)
    dz = ops.activation_backward(name, None, dy, x=z)
    dx, dw, db = ops.dense_backward(x, w, dy, z=z, activation=name)
    np.testing.assert_allclose(db, dz.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ dz, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, dz.astype(np.float64) @ w.T, rtol=1e-4, atol=1e-4)
    if name in FROM_Y:  # y works too, for the monotone ones
        y = ops.dense_forward(x, w, b, activation=name)
        _, dw_y, _ = ops.dense_backward(x, w, dy, y=y, activation=name)
        np.testing.assert_allclose(dw_y, dw, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NEW)
def test_gradient_matches_finite_differences(rng, name):
    z = rng.uniform(-5, 5, 400)
    if name == "hard_sigmoid":
        z = z[np.abs(np.abs(z) - 3) > 1e-2]  # away from the kinks
    if name in ("elu", "selu"):
        z = z[np.abs(z) > 1e-2]
    h = 1e-6
    slope = (ref_forward(name, z + h) - ref_forward(name, z - h)) / (2 * h)
    dx = ops.activation_backward(name, None, np.ones(z.size, np.float32),
                                 x=z.astype(np.float32))
    # z rounded to float32 moves the slope by at most |f''| * 2^-24 |z|
    np.testing.assert_allclose(dx, slope, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------- PyTorch

TORCH = {
    "gelu": lambda F, t: F.gelu(t),
    "gelu_tanh": lambda F, t: F.gelu(t, approximate="tanh"),
    "silu": lambda F, t: F.silu(t),
    "elu": lambda F, t: F.elu(t),
    "selu": lambda F, t: F.selu(t),
    "softplus": lambda F, t: F.softplus(t),
    "hard_sigmoid": lambda F, t: F.hardsigmoid(t),
    "mish": lambda F, t: F.mish(t),
}


@pytest.mark.parametrize("name", NEW)
def test_matches_torch(isa, rng, name):
    torch = require("torch")
    F = torch.nn.functional
    x = np.concatenate([np.linspace(-12, 12, 20001), rng.standard_normal(3000) * 3]
                       ).astype(np.float32)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = TORCH[name](F, t)
    g = rng.standard_normal(x.size).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    y = FORWARD[name](x)
    dx = ops.activation_backward(name, None, g, x=x)
    # PyTorch's float32 gelu (both forms) is 0.5 x (1 + erf(.)) / (1 + tanh(.)): the sum
    # cancels for x < 0, so it is off by up to ~|x| 2^-24 absolute there (0 instead of
    # -2e-32 at x = -12); ours is within 4 ulp (tests above). Allow that much.
    slack = 4e-7 * np.abs(x) if name.startswith("gelu") else 0.0
    yt = yt.detach().numpy()
    assert (np.abs(y - yt) <= 2e-6 * np.abs(yt) + 1e-7 + slack).all(), (
        f"{name} vs torch: worst {np.max(np.abs(y - yt) - 2e-6 * np.abs(yt) - slack)}")
    gt = t.grad.numpy()
    tol = 1e-5 * np.abs(gt) + 1e-6 + (slack + 4e-7) * np.abs(g) * (1 + np.abs(x))
    assert (np.abs(dx - gt) <= tol).all(), f"{name}' vs torch autograd"
