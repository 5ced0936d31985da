"""fastmlp.ops.gemm against a float64 NumPy reference on every ISA tier.

Shapes straddle the micro-kernel tiles (MR 12/6/4, NR 32/16/16), the small-M path
(M <= 4), the K blocks (KC 512/384/256, split in equal parts), the M blocks (MC 240/120/128)
and the N blocks (NC 4096/2048). Outputs are poisoned with NaN before every call.
"""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

import fastmlp.ops as ops

SIZES = [1, 5, 6, 7, 11, 12, 13, 15, 16, 17, 25, 31, 32, 33, 47, 48, 49, 64, 97, 257]
K_SIZES = SIZES + [255, 256, 383, 384, 385, 511, 512, 513, 600, 1025]
TRANS = list(itertools.product([False, True], repeat=2))
TRANS_IDS = ["nn", "nt", "tn", "tt"]


def _operands(rng, m, n, k, ta, tb):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    return a, b


def _run(ref, check, rng, m, n, k, ta, tb, alpha=1.0, beta=0.0):
    a, b = _operands(rng, m, n, k, ta, tb)
    if beta == 0.0:
        out = np.full((m, n), np.nan, np.float32)  # beta == 0 must never read C
        c0 = None
    else:
        c0 = rng.standard_normal((m, n)).astype(np.float32)
        out = c0.copy()
    res = ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out)
    assert res is out
    expected, tol = ref.gemm(a, b, ta, tb, alpha, beta, c0)
    check(res, expected, tol, f"gemm M={m} N={n} K={k} ta={ta} tb={tb} a={alpha} b={beta}")


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("m", SIZES)
def test_gemm_m_line(isa, ref, check, rng, m, ta, tb):
    _run(ref, check, rng, m, 33, 19, ta, tb)


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("n", SIZES)
def test_gemm_n_line(isa, ref, check, rng, n, ta, tb):
    _run(ref, check, rng, 13, n, 21, ta, tb)


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("k", K_SIZES)
def test_gemm_k_line(isa, ref, check, rng, k, ta, tb):
    # N = 35 takes the unpacked-A path on AVX-512 (N <= 2 NR), N = 100 packs A everywhere.
    _run(ref, check, rng, 14, 35, k, ta, tb)
    _run(ref, check, rng, 14, 100, k, ta, tb)


def _combos(count, seed=1234):
    """A fixed pseudo-random subset of the full (M, N, K, trans) grid."""
    r = random.Random(seed)
    out = set()
    while len(out) < count:
        out.add((r.choice(SIZES), r.choice(SIZES), r.choice(K_SIZES), r.random() < 0.5,
                 r.random() < 0.5))
    return sorted(out)


@pytest.mark.parametrize("m,n,k,ta,tb", _combos(60))
def test_gemm_grid_subset(isa, ref, check, rng, m, n, k, ta, tb):
    _run(ref, check, rng, m, n, k, ta, tb)


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5, -2.0])
@pytest.mark.parametrize("alpha", [1.0, -0.75, 2.5])
@pytest.mark.parametrize("m,n,k", [(1, 17, 9), (4, 40, 300), (13, 33, 17), (50, 70, 530)])
def test_gemm_alpha_beta(isa, ref, check, rng, m, n, k, alpha, beta, ta, tb):
    _run(ref, check, rng, m, n, k, ta, tb, alpha=alpha, beta=beta)


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("n,k", [(1, 1), (7, 600), (33, 100), (1000, 47), (129, 785)])
def test_gemm_small_m(isa, ref, check, rng, m, n, k, ta, tb):
    _run(ref, check, rng, m, n, k, ta, tb)
    _run(ref, check, rng, m, n, k, ta, tb, alpha=0.5, beta=1.0)


@pytest.mark.parametrize(
    "m,n,k",
    [(241, 40, 70), (250, 50, 1100), (7, 2049, 33), (5, 4097, 9), (13, 4100, 3)],
    ids=["mc-avx512", "mc+kc", "nc-generic", "nc-avx512-smallish", "nc-k3"],
)
def test_gemm_block_edges(isa, ref, check, rng, m, n, k):
    """M, N and K just past the cache blocks of each tier."""
    for ta, tb in TRANS:
        _run(ref, check, rng, m, n, k, ta, tb)


@pytest.mark.parametrize("m", [79, 80, 81, 159, 160, 161])
@pytest.mark.parametrize("n", [32, 64, 96])
def test_gemm_direct_b_edges(isa, ref, check, rng, m, n):
    """Row-major B with whole NR panels is read in place up to a per-tier row count
    (DIRECT_B_MAX_ROWS: 80 on AVX2, 160 elsewhere) and packed above it: both sides of
    each edge, with alpha/beta and with K above one K block."""
    _run(ref, check, rng, m, n, 37, False, False)
    _run(ref, check, rng, m, n, 900, False, False, alpha=-0.5, beta=0.25)


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
def test_gemm_packed_a_super_blocks(isa, ref, check, rng, ta, tb):
    """M large enough that packed A spans several 8 MiB super-blocks on every tier
    (M * KC floats above 2**21 with K = 512), N = 70 (> 2 NR: A is packed, with an N
    tail), with alpha and beta."""
    _run(ref, check, rng, 8200, 70, 512, ta, tb, alpha=0.5, beta=1.0)


def test_gemm_large(isa, ref, check, rng):
    """The G1 shape 256x784x1024 once per tier."""
    _run(ref, check, rng, 256, 1024, 784, False, False)


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
def test_gemm_beta_zero_ignores_nan_and_inf(isa, rng, ta, tb):
    a, b = _operands(rng, 19, 37, 23, ta, tb)
    for poison in (np.nan, np.inf, -np.inf):
        out = np.full((19, 37), poison, np.float32)
        ops.gemm(a, b, trans_a=ta, trans_b=tb, beta=0.0, out=out)
        assert np.isfinite(out).all(), f"beta=0 read the old C ({poison})"


@pytest.mark.parametrize("m,n,k", [(0, 5, 3), (4, 0, 3), (0, 0, 0), (3, 4, 0), (17, 40, 0)])
def test_gemm_empty(isa, rng, m, n, k):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    res = ops.gemm(a, b)
    assert res.shape == (m, n) and res.dtype == np.float32
    np.testing.assert_array_equal(res, np.zeros((m, n), np.float32))
    # K == 0 with beta: C = beta * C.
    c = rng.standard_normal((m, n)).astype(np.float32)
    out = c.copy()
    ops.gemm(a, b, alpha=2.0, beta=0.5, out=out)
    if k == 0:
        np.testing.assert_array_equal(out, 0.5 * c)


def test_gemm_alpha_zero(isa, ref, check, rng):
    a, b = _operands(rng, 9, 21, 30, False, False)
    c = rng.standard_normal((9, 21)).astype(np.float32)
    out = c.copy()
    ops.gemm(a, b, alpha=0.0, beta=-1.5, out=out)
    check(out, -1.5 * c.astype(np.float64), ref.U * np.abs(1.5 * c), "alpha=0")


def test_gemm_returns_new_array_and_keeps_inputs(isa, rng):
    a, b = _operands(rng, 12, 32, 40, False, False)
    a0, b0 = a.copy(), b.copy()
    res = ops.gemm(a, b)
    assert res.shape == (12, 32) and res.dtype == np.float32 and res.flags.c_contiguous
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_gemm_converts_float_dtypes(ref, check, rng, dtype):
    a = rng.standard_normal((13, 29)).astype(dtype)
    b = rng.standard_normal((29, 7)).astype(dtype)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    expected, tol = ref.gemm(a32, b32)
    check(ops.gemm(a, b), expected, tol, f"gemm {dtype}")


def test_gemm_non_contiguous_inputs(isa, ref, check, rng):
    big_a = rng.standard_normal((40, 60)).astype(np.float32)
    big_b = rng.standard_normal((60, 80)).astype(np.float32)
    a = big_a[::2, 1:30]          # (20, 29) strided
    b = big_b[1:30, ::3]          # (29, 27) strided
    at = np.asfortranarray(a).T   # F-ordered view used with trans_a
    expected, tol = ref.gemm(a, b)
    check(ops.gemm(a, b), expected, tol, "strided")
    check(ops.gemm(at, b, trans_a=True), expected, tol, "F-order transposed")
    check(ops.gemm(a.tolist(), b), expected, tol, "nested list")


def test_gemm_byteswapped_input(ref, check, rng):
    a = rng.standard_normal((6, 10)).astype(">f4")
    b = rng.standard_normal((10, 5)).astype(np.float32)
    expected, tol = ref.gemm(a.astype(np.float32), b)
    check(ops.gemm(a, b), expected, tol, "big-endian a")


@pytest.mark.parametrize("ta,tb", TRANS, ids=TRANS_IDS)
def test_gemm_special_values_propagate(isa, rng, ta, tb):
    """NaN/Inf in the inputs reach exactly the outputs they feed (no crash, no leaks)."""
    m, n, k = 14, 35, 20
    a, b = _operands(rng, m, n, k, ta, tb)
    A = a.T if ta else a
    B = b.T if tb else b
    A[3, 5] = np.nan  # row 3 of op(a) -> row 3 of C
    B[7, 9] = np.inf  # col 9 of op(b) -> col 9 of C (inf or nan)
    res = ops.gemm(a, b, trans_a=ta, trans_b=tb)
    bad = ~np.isfinite(res)
    expect = np.zeros((m, n), bool)
    expect[3, :] = True
    expect[:, 9] = True
    np.testing.assert_array_equal(bad, expect)


# Transposed A with N <= 12 takes the along-M ("narrow") kernel: vectors run along M, so
# the M tails (vector width 16/8/4, one or two vectors per tile) matter here.
NARROW_N = [1, 2, 5, 7, 10, 12, 13]


@pytest.mark.parametrize("tb", [False, True], ids=["n", "t"])
@pytest.mark.parametrize("m", SIZES + [784])
def test_gemm_narrow_trans_a(isa, ref, check, rng, m, tb):
    for n in NARROW_N:
        k = int(rng.choice([1, 3, 64, 600]))
        _run(ref, check, rng, m, n, k, True, tb)
        _run(ref, check, rng, m, n, k, True, tb, alpha=-0.5, beta=0.5)


# The fused epilogue on every GEMM path, through the raw binding (fastmlp.ops reaches it
# only with beta = 0 and no transposes): y = act(alpha * op(a) @ op(b) + beta * c + bias).
EPILOGUE_SHAPES = [
    (3, 40, 50, False, False),   # small-M path
    (3, 9, 50, False, True),     # small-M, transposed B
    (37, 10, 64, True, False),   # narrow along-M path
    (50, 12, 700, True, True),   # narrow, K above the K block
    (29, 40, 16, False, False),  # blocked, A read in place (narrow N / tiny K)
    (61, 100, 530, False, True), # blocked, packed A, two K blocks
    (45, 70, 33, True, False),   # blocked, transposed A packed
]


@pytest.mark.parametrize("beta", [0.0, 0.7])
@pytest.mark.parametrize("act", [1, 2, 3, 4], ids=["relu", "leaky_relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("m,n,k,ta,tb", EPILOGUE_SHAPES)
def test_gemm_raw_epilogue_all_paths(isa, ref, check, rng, m, n, k, ta, tb, act, beta):
    from fastmlp import _core

    name = ref.ACTIVATIONS[act]
    a, b = _operands(rng, m, n, k, ta, tb)
    bias = rng.standard_normal(n).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    out = c0.copy() if beta else np.full((m, n), np.nan, np.float32)
    _core.gemm(a, b, out, ta, tb, 1.5, beta, bias, act, 0.2)
    z, ztol = ref.gemm(a, b, ta, tb, 1.5, beta, c0)
    z = z + bias
    ztol = ztol + ref.U * (np.abs(z) + np.abs(bias))
    expected = ref.act(name, z, 0.2)
    check(out, expected, ref.lipschitz(name, 0.2) * ztol + ref.act_tol(name, expected),
          f"epilogue {name} beta={beta} {m}x{n}x{k} ta={ta} tb={tb}")


def _fast(a, b, out=None, ta=False, tb=False, alpha=1.0, beta=0.0):
    from fastmlp import _core

    return _core.gemm_fast(a, b, out, ta, tb, alpha, beta)


def test_gemm_fast_path_matches_validated_path(isa, rng):
    # The one-call fast path and the Python-validated path run the same kernel: bitwise equal.
    for ta, tb in TRANS:
        a, b = _operands(rng, 37, 10, 64, ta, tb)
        fast = _fast(a, b, None, ta, tb)
        assert fast is not None and fast.shape == (37, 10) and fast.dtype == np.float32
        slow = ops.gemm(a, b, trans_a=np.bool_(ta), trans_b=tb)  # numpy bool: slow path
        np.testing.assert_array_equal(fast, slow)
        out = np.full((37, 10), 5.0, np.float32)
        assert _fast(a, b, out, ta, tb, 0.5, 2.0) is out
        slow = np.full((37, 10), 5.0, np.float32)
        ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=np.float32(0.5), beta=2.0, out=slow)
        np.testing.assert_array_equal(out, slow)


class _Sub(np.ndarray):
    pass


def test_gemm_fast_path_declines_unusual_input(rng):
    # Every unusual argument returns None so that the Python layer converts or raises.
    a = rng.standard_normal((8, 6)).astype(np.float32)
    b = rng.standard_normal((6, 4)).astype(np.float32)
    out = np.empty((8, 4), np.float32)
    assert _fast(a, b, out) is out
    ro = out.copy()
    ro.flags.writeable = False
    big = np.empty((8, 12), np.float32)
    declined = {
        "float64 a": (a.astype(np.float64), b, out),
        "non-contiguous a": (np.asfortranarray(a), b, out),
        "byte-swapped b": (a, b.astype(">f4"), out),
        "1-D b": (a, b.ravel(), out),
        "list a": (a.tolist(), b, out),
        "subclass a": (a.view(_Sub), b, out),
        "wrong out shape": (a, b, np.empty((4, 8), np.float32)),
        "read-only out": (a, b, ro),
        "non-contiguous out": (a, b, big[:, :4]),
        "inner mismatch": (a, b[:5], out),
        "empty": (a[:0], b, None),
    }
    for what, (x, y, o) in declined.items():
        assert _fast(x, y, o) is None, what
    alias = np.empty((8, 8), np.float32)
    assert _fast(alias[:, :6].copy(), rng.standard_normal((6, 8)).astype(np.float32), alias) is not None
    assert _fast(alias, np.eye(8, dtype=np.float32), alias) is None, "out is a"
    assert _fast(a, b, out, 1, False) is None, "int flag"
    assert _fast(a, b, out, False, False, np.float32(1.0)) is None, "numpy alpha"
    assert _fast(a, b, out, False, False, 1.0, 1) is None, "int beta"
    assert _fast(a, b, None, False, False, 1.0, 1.0) is None, "beta without out"
    # ... and the public function still raises its own errors for those.
    with pytest.raises(ValueError, match="out"):
        ops.gemm(a, b, out=ro)
    with pytest.raises(ValueError, match="share|overlap|alias"):
        ops.gemm(alias, np.eye(8, dtype=np.float32), out=alias)
