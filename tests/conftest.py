"""Shared fixtures for the fastmlp test suite.

* ``isa``: parametrizes a test over every ISA tier this CPU supports *and* this build
  compiled, switching the active tier for the test and restoring it afterwards.
* ``rng``: a fresh NumPy Generator per test, seeded from the test id and
  ``FASTMLP_TEST_SEED`` (printed in the header) so a failure can be replayed.
* ``ref``: float64 NumPy references and the per-op error bounds (see ``Ref``).
* Every output that ``fastmlp.ops`` allocates is filled with NaN first (autouse), so a
  kernel that leaves an element unwritten fails the comparison instead of passing on a
  lucky ``np.empty``.
* Hypothesis runs under the ``fastmlp`` profile; ``FASTMLP_FUZZ_EXAMPLES`` sets
  ``max_examples``.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import fastmlp
from fastmlp import _core

TIER_ORDER = tuple(_core.all_isas())  # increasing preference
TIERS = [t for t in _core.supported_isas() if t in set(_core.compiled_isas())]
BASE_SEED = int(os.environ.get("FASTMLP_TEST_SEED", "20240607"))

settings.register_profile(
    "fastmlp",
    max_examples=int(os.environ.get("FASTMLP_FUZZ_EXAMPLES", "25")),
    deadline=None,
    # The `isa` fixture deliberately holds one tier for all examples of a test.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("fastmlp")


def pytest_configure(config):
    # Hypothesis writes a failing-example patch with libcst, which imports
    # mypy_extensions.TypedDict and warns; under `filterwarnings = error` that turned every
    # Hypothesis failure into an INTERNALERROR that hid the falsifying example.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


def pytest_report_header(config):
    info = fastmlp.cpu_info()
    return [
        f"fastmlp: isa={info['isa']} tested tiers={TIERS} compiled={info['compiled']} "
        f"threads={info['num_threads']} openmp={info['openmp']}",
        f"fastmlp: FASTMLP_TEST_SEED={BASE_SEED} "
        f"FASTMLP_FUZZ_EXAMPLES={settings.get_profile('fastmlp').max_examples}",
    ]


@pytest.fixture(params=TIERS)
def isa(request):
    """Run the test with ISA tier ``request.param`` active (restored afterwards)."""
    before = _core.get_isa()
    _core.set_isa(request.param)
    assert _core.get_isa() == request.param
    try:
        yield request.param
    finally:
        _core.set_isa(before)


@pytest.fixture
def rng(request):
    seed = (zlib.crc32(request.node.nodeid.encode()) ^ BASE_SEED) & 0xFFFFFFFF
    return np.random.default_rng(seed)


def _nan_alloc(shape):
    return np.full(shape, np.nan, np.float32)


@pytest.fixture(autouse=True)
def _poison_outputs(monkeypatch):
    """Make every output allocated by fastmlp.ops start as NaN."""
    from fastmlp.ops import _validate

    monkeypatch.setattr(_validate, "alloc", _nan_alloc)


@pytest.fixture
def restore_threads():
    n = fastmlp.get_num_threads()
    yield n
    fastmlp.set_num_threads(n)


# --------------------------------------------------------------------------- references


class Ref:
    """float64 references and error bounds.

    Bounds are derived, not tuned: ``U`` is float32's unit roundoff and a dot product of
    length K computed in any order (blocked, FMA or not) is off by at most
    ``K * U * (|a| . |b|)``; a few extra ``U`` cover alpha / beta / bias / epilogue
    roundings. Element-wise transcendental results may be off by ``ACT_RTOL`` relative
    (16 ulp: generous for a polynomial exp/tanh, far below any real bug) plus
    ``ACT_ATOL`` absolute (cancellation in e.g. ``1 - 2 / (exp(2x) + 1)`` near 0).
    """

    U = 2.0 ** -24
    ACT_RTOL = 16 * 2.0 ** -24
    ACT_ATOL = 4 * 2.0 ** -24
    ACTIVATIONS = ("linear", "relu", "leaky_relu", "sigmoid", "tanh")
    # Lipschitz constant of each activation (how an error in z reaches y).
    LIPSCHITZ = {"linear": 1.0, "relu": 1.0, "sigmoid": 0.25, "tanh": 1.0}

    @staticmethod
    def f64(x):
        return np.asarray(x, dtype=np.float64)

    # -- activations
    @staticmethod
    def act(name, z, alpha=0.01):
        z = np.asarray(z, np.float64)
        if name == "linear":
            return z.copy()
        if name == "relu":
            return np.maximum(z, 0.0)
        if name == "leaky_relu":  # the kernels take alpha as float32
            return np.where(z > 0, z, float(np.float32(alpha)) * z)
        if name == "sigmoid":
            with np.errstate(over="ignore"):
                return 1.0 / (1.0 + np.exp(-z))
        if name == "tanh":
            return np.tanh(z)
        raise AssertionError(name)

    @classmethod
    def act_tol(cls, name, ref_y):
        """Error bound of the activation evaluation itself (exact input)."""
        if name in ("linear", "relu"):
            return np.zeros_like(ref_y)
        if name == "leaky_relu":  # one rounding; absolute 2**-149 for subnormal results
            return cls.U * np.abs(ref_y) + 2.0 ** -149
        return cls.ACT_RTOL * np.abs(ref_y) + cls.ACT_ATOL

    @classmethod
    def lipschitz(cls, name, alpha=0.01):
        if name == "leaky_relu":
            return max(1.0, abs(alpha))
        return cls.LIPSCHITZ[name]

    @staticmethod
    def act_grad_from_y(name, y, alpha=0.01):
        """activation'(z) expressed through y = activation(z), in float64."""
        y = np.asarray(y, np.float64)
        if name == "linear":
            return np.ones_like(y)
        if name == "relu":
            return (y > 0).astype(np.float64)
        if name == "leaky_relu":
            return np.where(y > 0, 1.0, float(np.float32(alpha)))
        if name == "sigmoid":
            return y * (1.0 - y)
        if name == "tanh":
            return 1.0 - y * y
        raise AssertionError(name)

    @classmethod
    def act_backward_tol(cls, name, y, dy, alpha=0.01):
        """Bound for dx = dy * act'(y) computed in float32 from float32 y, dy.

        Absolute (not relative) for sigmoid/tanh: ``y - y*y`` and ``1 - y*y`` are both
        valid and cancel near saturation.
        """
        y = np.abs(np.asarray(y, np.float64))
        dy = np.abs(np.asarray(dy, np.float64))
        if name in ("linear", "relu"):
            return np.zeros_like(y)
        if name == "leaky_relu":
            return cls.U * abs(alpha) * dy + 2.0 ** -149
        return 4 * cls.U * dy * (1.0 + y + y * y)

    # -- gemm
    @staticmethod
    def op(a, trans):
        a = np.asarray(a, np.float64)
        return a.T if trans else a

    @classmethod
    def gemm(cls, a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None):
        """float64 ``alpha * op(a) @ op(b) + beta * c`` and its float32 error bound."""
        A = cls.op(a, trans_a)
        B = cls.op(b, trans_b)
        k = A.shape[1]
        ref = alpha * (A @ B)
        mag = abs(alpha) * (np.abs(A) @ np.abs(B))
        if beta != 0.0:
            C = np.asarray(c, np.float64)
            ref = ref + beta * C
            mag = mag + abs(beta) * np.abs(C)
        tol = (k + 6) * cls.U * mag
        return ref, tol

    # -- softmax family
    @staticmethod
    def softmax(x, log=False):
        x = np.asarray(x, np.float64)
        if x.shape[-1] == 0:
            return x.copy()
        m = x.max(axis=-1, keepdims=True)
        e = np.exp(x - m)
        s = e.sum(axis=-1, keepdims=True)
        return (x - m - np.log(s)) if log else e / s

    @classmethod
    def softmax_tol(cls, x, ref, log=False):
        """Bound for (log-)softmax of float32 x against the float64 reference.

        exp(x - m) is off by |x - m| U relative (the float32 subtraction), the row sum by
        cols U relative; log_softmax adds the rounding of m + log(s) (|m| U absolute).
        """
        x = np.asarray(x, np.float64)
        cols = x.shape[-1]
        if cols == 0:
            return np.zeros_like(ref)
        m = x.max(axis=-1, keepdims=True)
        if log:
            return cls.U * (2 * np.abs(ref) + np.abs(m) + cols + 16)
        return cls.U * (np.abs(x - m) + cols + 16) * ref + 1e-37

    @classmethod
    def sce(cls, logits, labels):
        """float64 (mean loss, dlogits, per-element dlogits bound, loss bound)."""
        x = np.asarray(logits, np.float64)
        n, c = x.shape
        lp = cls.softmax(x, log=True)
        rows = np.arange(n)
        row_loss = -lp[rows, labels]
        p = np.exp(lp)
        onehot = np.zeros_like(p)
        onehot[rows, labels] = 1.0
        d = (p - onehot) / n
        m = np.abs(x.max(axis=1))
        row_tol = cls.U * (2 * np.abs(row_loss) + m + np.abs(x[rows, labels]) + c + 16)
        d_tol = (cls.softmax_tol(x, p) + cls.U * (np.abs(p - onehot) + 1)) / n
        return row_loss.mean(), d, d_tol, row_tol.mean() + cls.U * abs(row_loss.mean())


@pytest.fixture(scope="session")
def ref():
    return Ref


def assert_within(actual, expected, tol, what="result"):
    """|actual - expected| <= tol element-wise (NaN fails), float32, same shape."""
    assert isinstance(actual, np.ndarray), f"{what}: expected an ndarray, got {type(actual)}"
    assert actual.dtype == np.float32, f"{what}: dtype {actual.dtype}, expected float32"
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if actual.size == 0:
        return
    err = np.abs(actual.astype(np.float64) - expected)
    tol = np.broadcast_to(np.asarray(tol, np.float64), expected.shape)
    bad = ~(err <= tol)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        ratio = np.where(np.isfinite(err), err / np.maximum(tol, 1e-300), np.inf)
        worst = tuple(int(i) for i in np.unravel_index(np.argmax(ratio), ratio.shape))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} elements outside the bound; first at "
            f"{idx}: got {actual[idx]!r}, expected {expected[idx]!r} (tol {tol[idx]:.3g}); "
            f"worst at {worst}: got {actual[worst]!r}, expected {expected[worst]!r}, "
            f"err/tol {ratio[worst]:.3g}"
        )


@pytest.fixture(scope="session")
def check():
    """``check(actual, expected, tol, what)``: see ``assert_within``."""
    return assert_within


# --------------------------------------------------------------------------- real data

FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
FASHION_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, f"{path}: not an IDX uint8 file"
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="session")
def fashion():
    """Fashion-MNIST (Debian's dataset-fashion-mnist) as [x_train, y_train, x_test,
    y_test] uint8 arrays; missing data fails under CI (env CI set) and skips elsewhere."""
    paths = [os.path.join(FASHION_ROOT, f) for f in FASHION_FILES]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        msg = (f"Fashion-MNIST missing ({missing[0]}); install it with "
               "apt-get install dataset-fashion-mnist")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return [_read_idx(p) for p in paths]
