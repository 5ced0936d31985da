"""int8 and bf16 building blocks (fm.ops): the int8 GEMM bit-exact against an int64 NumPy
reference on every tier over awkward shapes, its dequantizing epilogue bit for bit
against the same float32 formula in NumPy, per-row quantization identical on every tier
and to a NumPy reference, per-channel quantization round trips, bf16 rounding and the
bf16 GEMM against float64, thread invariance, bad input."""
import numpy as np
import pytest

import fastmlp as fm
import fastmlp.ops as ops
from fastmlp import _core
from conftest import TIERS

SHAPES = [(1, 1, 1), (1, 784, 128), (2, 3, 17), (3, 5, 16), (4, 4, 15), (5, 33, 33),
          (7, 31, 130), (13, 64, 1), (64, 100, 48), (65, 9, 40), (130, 257, 20),
          # around the amx tier's tiles (16 rows x 64 bytes, from 16 rows on) and the
          # VNNI kernel's 8-row tiles
          (15, 63, 16), (16, 64, 16), (17, 65, 33), (32, 700, 50), (33, 1, 100),
          (9, 129, 31),
          # the amx blocking: several runs of K tiles, groups of panel pairs, an odd panel
          (40, 600, 290)]


def ref_int(a, b, zero):
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    return a64 @ b64 - zero.astype(np.int64)[:, None] * b64.sum(0)[None, :]


def ref_float(acc, sa, sb, bias, act):
    s = (sa[:, None] * sb[None, :]).astype(np.float32)
    v = acc.astype(np.float32) * s
    if bias is not None:
        v = v + bias
    if act == "relu":
        v = np.where(v > 0, v, np.float32(0))
    elif act == "leaky_relu":
        v = np.where(v > 0, v, v * np.float32(0.01))
    return v.astype(np.float32)


@pytest.mark.parametrize("full", [False, True], ids=["7bit", "8bit"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gemm_int8_exact(isa, rng, shape, full):
    m, k, n = shape
    a = rng.integers(0, 256 if full else 128, (m, k), dtype=np.uint8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    b[0, 0] = -128  # the extremes
    a[0, 0] = 255 if full else 127
    zero = rng.integers(0, 256, m).astype(np.int32)
    got = ops.gemm_int8(a, b, a_zero_point=zero)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref_int(a, b, zero))


@pytest.mark.parametrize("act", ["linear", "relu", "leaky_relu"])
@pytest.mark.parametrize("shape", SHAPES[1:8], ids=lambda s: "x".join(map(str, s)))
def test_gemm_int8_float_epilogue_bits(isa, rng, shape, act):
    m, k, n = shape
    a = rng.integers(0, 128, (m, k), dtype=np.uint8)
    b = rng.integers(-127, 128, (k, n), dtype=np.int8)
    zero = rng.integers(0, 128, m).astype(np.int32)
    sa = rng.random(m).astype(np.float32) * 0.1
    sb = rng.random(n).astype(np.float32) * 0.01
    bias = rng.standard_normal(n).astype(np.float32)
    got = ops.gemm_int8(a, b, a_zero_point=zero, a_scale=sa, b_scale=sb, bias=bias,
                        activation=act)
    np.testing.assert_array_equal(got, ref_float(ref_int(a, b, zero), sa, sb, bias, act))


@pytest.mark.parametrize("act", ["linear", "relu"])
@pytest.mark.parametrize("shape", [SHAPES[1], SHAPES[5], SHAPES[9], SHAPES[13], SHAPES[14]],
                         ids=lambda s: "x".join(map(str, s)))
def test_gemm_int8_requantized_output_bits(isa, rng, shape, act):
    """out_scale: the float epilogue's value requantized to uint8 codes in the same pass,
    bit for bit against NumPy (saturating at both ends)."""
    m, k, n = shape
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    b = rng.integers(-127, 128, (k, n), dtype=np.int8)
    zero = rng.integers(0, 256, m).astype(np.int32)
    sa = rng.random(m).astype(np.float32) * 0.1
    sb = rng.random(n).astype(np.float32) * 0.01
    bias = rng.standard_normal(n).astype(np.float32)
    v = ref_float(ref_int(a, b, zero), sa, sb, bias, act)
    # (the largest fifth of |v| saturates, at both ends for linear)
    out_scale, oz = float(np.percentile(np.abs(v), 80)) / 100, 128
    inv = np.float32(1) / np.float32(out_scale)
    t = np.clip(v * inv, -512, 512)
    ref = np.clip(np.rint(t).astype(np.int64) + oz, 0, 255).astype(np.uint8)
    got = ops.gemm_int8(a, b, a_zero_point=zero, a_scale=sa, b_scale=sb, bias=bias,
                        activation=act, out_scale=out_scale, out_zero_point=oz)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, ref)
    assert (ref == 255).any() and ((ref == 0).any() or act == "relu")
    assert len(np.unique(ref)) > 20


@pytest.mark.parametrize("act", ["linear", "relu", "leaky_relu"])
def test_gemm_int8_epilogue_nonfinite_bias(isa, rng, act):
    """NaN and inf in the bias go through the vector epilogue as through the scalar one:
    relu maps NaN to 0, the others keep it; requantized NaN is code 0, +-inf saturate."""
    m, k, n = 20, 70, 37
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    b = rng.integers(-127, 128, (k, n), dtype=np.int8)
    sa = rng.random(m).astype(np.float32) * 0.1
    sb = rng.random(n).astype(np.float32) * 0.01
    bias = rng.standard_normal(n).astype(np.float32)
    bias[[0, 15, 16, 36]] = [np.nan, np.inf, -np.inf, np.nan]
    v = ref_float(ref_int(a, b, np.zeros(m, np.int32)), sa, sb, bias, act)
    got = ops.gemm_int8(a, b, a_scale=sa, b_scale=sb, bias=bias, activation=act)
    np.testing.assert_array_equal(got, v)
    q = ops.gemm_int8(a, b, a_scale=sa, b_scale=sb, bias=bias, activation=act,
                      out_scale=0.01, out_zero_point=100)
    with np.errstate(invalid="ignore"):
        t = np.clip(np.nan_to_num(v * np.float32(100), nan=-512.0), -512, 512)
    np.testing.assert_array_equal(q, np.clip(np.rint(t) + 100, 0, 255).astype(np.uint8))
    assert (q[:, 0] == (100 if act == "relu" else 0)).all() and (q[:, 15] == 255).all()


@pytest.mark.parametrize("kw,match", [
    (dict(out_scale=0.0), "out_scale.*> 0"), (dict(out_scale=np.inf), "out_scale"),
    (dict(out_scale=0.1, out_zero_point=256), r"out_zero_point.*\[0, 255\]"),
    (dict(out_scale=True), "out_scale")])
def test_gemm_int8_requantize_bad_input(kw, match):
    a = np.ones((2, 3), np.uint8)
    b = np.ones((3, 2), np.int8)
    with pytest.raises(ValueError, match=match):
        ops.gemm_int8(a, b, a_scale=0.1, b_scale=0.1, **kw)
    with pytest.raises(ValueError, match="a_scale and b_scale"):
        ops.gemm_int8(a, b, out_scale=0.1)


def test_gemm_int8_transcendental_activation(isa, rng):
    a = rng.integers(0, 128, (9, 40), dtype=np.uint8)
    b = rng.integers(-127, 128, (40, 21), dtype=np.int8)
    pre = ops.gemm_int8(a, b, a_scale=0.01, b_scale=0.02)
    got = ops.gemm_int8(a, b, a_scale=0.01, b_scale=0.02, activation="gelu")
    np.testing.assert_allclose(got, ops.gelu(pre), rtol=1e-6, atol=1e-7)


def test_gemm_int8_signed_a(isa, rng):
    a = rng.integers(-128, 128, (6, 50), dtype=np.int8)
    b = rng.integers(-128, 128, (50, 19), dtype=np.int8)
    zero = rng.integers(-128, 128, 6).astype(np.int32)
    got = ops.gemm_int8(a, b, a_zero_point=zero)
    np.testing.assert_array_equal(got, ref_int(a, b, zero))


def test_packed_weights_reused_and_same_on_every_tier(rng):
    a = rng.integers(0, 256, (33, 70), dtype=np.uint8)
    b = rng.integers(-128, 128, (70, 45), dtype=np.int8)
    p = ops.pack_int8(b)
    assert p.shape == (70, 45) and "70" in repr(p)
    before = _core.get_isa()
    try:
        outs = []
        for tier in _core.supported_isas():
            _core.set_isa(tier)
            outs.append(ops.gemm_int8(a, p, a_scale=0.5, b_scale=0.25, bias=np.ones(45)))
    finally:
        _core.set_isa(before)
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


# (20 rows: one amx row block, its panels split between the threads)
@pytest.mark.parametrize("m", [700, 20])
def test_gemm_int8_thread_invariant(isa, rng, restore_threads, m):
    a = rng.integers(0, 256, (m, 300), dtype=np.uint8)
    b = rng.integers(-128, 128, (300, 200), dtype=np.int8)
    outs = []
    for nt in (1, 2):
        fm.set_num_threads(nt)
        outs.append(ops.gemm_int8(a, b, a_scale=0.1, b_scale=0.2, activation="relu"))
    np.testing.assert_array_equal(outs[0], outs[1])


def ref_quantize_rows(x, qmax, static=None):
    """The kernel contract in NumPy; static: (scale, zero_point) for every row."""
    lo = np.minimum(0, x.min(1)).astype(np.float32)
    hi = np.maximum(0, x.max(1)).astype(np.float32)
    if static is None:
        fq = np.float32(qmax)
        with np.errstate(over="ignore"):
            rng = hi - lo
        split = (hi / fq - lo / fq).astype(np.float32)  # (where hi - lo overflows)
        scale = np.where(hi > lo, np.where(np.isinf(rng), split, rng / fq), np.float32(1))
        scale = np.maximum(scale, np.finfo(np.float32).tiny).astype(np.float32)
        inv = (np.float32(1) / scale).astype(np.float32)
        zero = np.clip(np.rint(-lo * inv), 0, qmax).astype(np.int32)
    else:
        scale = np.full(len(x), static[0], np.float32)
        inv = (np.float32(1) / scale).astype(np.float32)
        zero = np.full(len(x), static[1], np.int32)
    t = np.clip(x * inv[:, None], -512, 512)
    q = np.clip(np.rint(t).astype(np.int32) + zero[:, None], 0, qmax).astype(np.uint8)
    return q, scale, zero


@pytest.mark.parametrize("cols", [1, 7, 8, 31, 32, 33, 65, 100, 127, 129, 784])
@pytest.mark.parametrize("bits", [7, 8])
def test_quantize_per_row_matches_reference(isa, rng, cols, bits):
    x = (rng.standard_normal((9, cols)) * 3).astype(np.float32)
    x[0] = np.abs(x[0])  # a row of one sign (zero point 0)
    x[1] = 0.0           # an all-zero row (scale 1)
    x[2, -1] = 40.0      # the row's extremes in its last value (the ranges' masked tails)
    x[3, -1] = -40.0
    q, s, z = ops.quantize_per_row(x, bits=bits)
    rq, rs, rz = ref_quantize_rows(x, 2 ** bits - 1)
    np.testing.assert_array_equal(s, rs)
    np.testing.assert_array_equal(z, rz)
    np.testing.assert_array_equal(q, rq)
    back = (q.astype(np.float32) - z[:, None]) * s[:, None]
    assert np.all(np.abs(back - x) <= s[:, None] * 0.5 * (1 + 1e-5))


@pytest.mark.parametrize("cols", [33, 64, 100, 784])
@pytest.mark.parametrize("static", [(0.02, 0), (0.02, 131), (0.001, 17)])
def test_quantize_per_row_static_matches_reference(isa, rng, cols, static):
    """Static scales with rows inside the code range (no clamp needed) and rows far past
    it (saturating) agree bit for bit with the contract."""
    x = (rng.standard_normal((6, cols)) * 0.5).astype(np.float32)
    x[2] *= 100.0  # far past +-512 codes: saturates
    x[3, ::3] = 1e30
    q, s, z = ops.quantize_per_row(x, scale=static[0], zero_point=static[1])
    rq, rs, rz = ref_quantize_rows(x, 255, static)
    np.testing.assert_array_equal(s, rs)
    np.testing.assert_array_equal(z, rz)
    np.testing.assert_array_equal(q, rq)


@pytest.mark.parametrize("row", [
    [1e-45, 0.0], [-1e-45, 2e-45], [-3e-39, 1e-39], [1e-38, -1e-38], [3e-36, 0.0],
    [3.4e38, -3.4e38], [1.0, 1e-30]], ids=str)
@pytest.mark.parametrize("cols", [2, 100])
def test_quantize_per_row_extreme_ranges(isa, row, cols):
    """Subnormal ranges get the smallest normal scale (no infinite inverse, codes next to
    the zero point); huge ones stay finite."""
    x = np.zeros((2, cols), np.float32)
    x[0, :2] = row
    x[1, -2:] = row
    q, s, z = ops.quantize_per_row(x)
    rq, rs, rz = ref_quantize_rows(x, 255)
    assert np.all(np.isfinite(s)) and np.all(s >= np.finfo(np.float32).tiny)
    np.testing.assert_array_equal(s, rs)
    np.testing.assert_array_equal(z, rz)
    np.testing.assert_array_equal(q, rq)


@pytest.mark.parametrize("cols", [40, 64, 100, 784])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_quantize_per_row_nonfinite_anywhere(isa, rng, cols, bad):
    """A NaN or inf in any position (the 64-wide body, the 8-wide part, the scalar tail)
    marks its row, and only its row."""
    positions = sorted({0, 15, 16, 63, cols // 2, cols - 9, cols - 1} & set(range(cols)))
    x = rng.standard_normal((len(positions) + 1, cols)).astype(np.float32)
    for r, p in enumerate(positions):
        x[r, p] = bad
    q, s, z = ops.quantize_per_row(x)
    assert np.all(np.isnan(s[:-1])) and not q[:-1].any(), positions
    rq, rs, rz = ref_quantize_rows(x[-1:], 255)
    np.testing.assert_array_equal(q[-1:], rq)
    np.testing.assert_array_equal(s[-1:], rs)


def test_quantize_per_row_ties_to_even_and_static(isa):
    x = np.array([[0.5, 1.5, 2.5, -0.5, 1000.0, -1000.0] + [0.0] * 30], np.float32)
    q, s, z = ops.quantize_per_row(x, scale=1.0, zero_point=10)
    assert s.tolist() == [1.0] and z.tolist() == [10]
    assert q[0, :6].tolist() == [10, 12, 12, 10, 255, 0]


def test_quantize_per_row_nonfinite_row(isa):
    x = np.ones((3, 40), np.float32)
    x[1, 17] = np.nan
    x[2, 39] = np.inf
    q, s, z = ops.quantize_per_row(x)
    assert np.isfinite(s[0]) and np.isnan(s[1]) and np.isnan(s[2])
    assert not q[1:].any()


def test_quantize_per_channel_round_trip(rng):
    w = rng.standard_normal((50, 12)).astype(np.float32)
    w[:, 3] = 0.0
    q, s = ops.quantize_per_channel(w)
    assert q.dtype == np.int8 and s.shape == (12,) and s[3] == 1.0
    assert np.abs(q).max(0)[np.arange(12) != 3].min() == 127
    back = ops.dequantize_per_channel(q, s)
    assert np.all(np.abs(back - w) <= s / 2 * (1 + 1e-6))
    q0, s0 = ops.quantize_per_channel(w, axis=0)
    assert s0.shape == (50,) and np.allclose(ops.dequantize_per_channel(q0, s0, axis=0), w,
                                             atol=float(s0.max()))


def test_round_bfloat16():
    x = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, np.inf, -np.inf, np.nan, -0.0,
                  1e-40, -2.5], np.float32)
    r = ops.round_bfloat16(x)
    assert r[:3].tolist() == [1.0, 1.0, 1.0 + 2 ** -6 * 1.0]  # ties to even
    assert np.isinf(r[3]) and r[4] == np.inf and r[5] == -np.inf and np.isnan(r[6])
    assert np.signbit(r[7]) and r[9] == -2.5
    assert not (r.view(np.uint32) & 0xFFFF).any() or np.isnan(r).any()
    torch = pytest.importorskip("torch")
    y = np.random.default_rng(3).standard_normal(10000).astype(np.float32) * 1e3
    t = torch.from_numpy(y).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(ops.round_bfloat16(y), t)


@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 33, 17), (64, 300, 70), (17, 65, 33),
                                   (33, 64, 32), (7, 31, 16), (2, 1000, 5),
                                   # amx: several runs of K tiles and groups of panel pairs,
                                   # an odd last panel, partial row blocks
                                   (45, 530, 300), (20, 257, 161)])
def test_gemm_bf16_against_float64(isa, rng, shape, trans):
    m, k, n = shape
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    if trans:
        got = ops.gemm(np.ascontiguousarray(a.T), np.ascontiguousarray(b.T), trans_a=True,
                       trans_b=True, precision="bf16")
    else:
        got = ops.gemm(a, b, precision="bf16")
    ab = ops.round_bfloat16(a).astype(np.float64)
    bb = ops.round_bfloat16(b).astype(np.float64)
    exact = ab @ bb
    bound = k * 2.0 ** -24 * (np.abs(ab) @ np.abs(bb)) + 1e-30
    assert np.all(np.abs(got - exact) <= bound)
    # and it is not the float32 product: bf16 inputs lose about 3 decimal digits, far
    # more than the float32 sums do
    f32_err = np.abs(got - a.astype(np.float64) @ b.astype(np.float64)).max()
    assert f32_err > 4 * np.abs(got - exact).max()


def test_gemm_bf16_nonfinite_and_rows_independent(isa, rng):
    a = rng.standard_normal((40, 50)).astype(np.float32)
    b = rng.standard_normal((50, 20)).astype(np.float32)
    a[3, 7] = np.nan
    a[5, 0] = np.inf
    got = ops.gemm(a, b, precision="bf16")
    assert np.isnan(got[3]).all() and not np.isfinite(got[5]).any()
    assert np.isfinite(np.delete(got, [3, 5], axis=0)).all()
    for i in (0, 17, 39):  # the same bits for a row alone
        np.testing.assert_array_equal(ops.gemm(a[i:i + 1], b, precision="bf16"), got[i:i + 1])


@pytest.mark.parametrize("isa", [t for t in TIERS if t in ("avx512_bf16", "amx")] or [
    pytest.param(None, marks=pytest.mark.skip(reason="no bf16-kernel tier on this CPU"))],
    indirect=True)
def test_gemm_bf16_rows_independent_over_k_runs(isa, rng):
    """Past one run of K tiles and one group of panel pairs (the amx blocking), a row's
    bits still depend on that row alone, whatever the batch: the bf16 kernels' promise
    (the other tiers' rows follow their float32 GEMM's blocking, as float32 does)."""
    a = rng.standard_normal((70, 600)).astype(np.float32)
    b = rng.standard_normal((600, 300)).astype(np.float32)
    got = ops.gemm(a, b, precision="bf16")
    for lo, hi in ((0, 1), (5, 21), (33, 70)):
        np.testing.assert_array_equal(ops.gemm(a[lo:hi], b, precision="bf16"), got[lo:hi])


@pytest.mark.parametrize("call,exc,match", [
    (lambda: ops.gemm_int8(np.ones((2, 3), np.float32), np.ones((3, 2), np.int8)),
     TypeError, "'a' must be a uint8 or int8"),
    (lambda: ops.gemm_int8(np.ones((2, 3), np.uint8), np.ones((3, 2), np.int16)),
     TypeError, "'b' must be an int8"),
    (lambda: ops.gemm_int8(np.ones((2, 3), np.uint8), np.ones((4, 2), np.int8)),
     ValueError, "inner dimensions differ"),
    (lambda: ops.gemm_int8(np.ones((2, 3), np.uint8), np.ones((3, 2), np.int8), a_scale=1.0),
     ValueError, "pass both a_scale and b_scale"),
    (lambda: ops.gemm_int8(np.ones((2, 3), np.uint8), np.ones((3, 2), np.int8),
                           activation="relu"), ValueError, "bias, activation and out_scale"),
    (lambda: ops.gemm_int8(np.ones((2, 3), np.uint8), np.ones((3, 2), np.int8),
                           a_zero_point=300), ValueError, r"\[0, 255\]"),
    (lambda: ops.gemm_int8(np.ones((2, 3), np.uint8), np.ones((3, 2), np.int8),
                           a_zero_point=[1, 2, 3]), ValueError, r"shape \(2,\)"),
    (lambda: ops.gemm_int8(np.ones((2, 3), np.uint8), np.ones((3, 2), np.int8),
                           a_scale=[1, np.nan], b_scale=1), ValueError, "NaN"),
    (lambda: ops.quantize_per_row(np.ones((2, 3)), bits=9), ValueError, r"\[1, 8\]"),
    (lambda: ops.quantize_per_row(np.ones((2, 3)), scale=1.0), ValueError, "both"),
    (lambda: ops.quantize_per_row(np.ones((2, 3)), scale=-1.0, zero_point=0), ValueError,
     "> 0"),
    (lambda: ops.quantize_per_row(np.ones(3)), ValueError, "2-D"),
    (lambda: ops.quantize_per_channel(np.array([[np.inf]])), ValueError, "NaN or inf"),
    (lambda: ops.quantize_per_channel(np.ones((2, 2)), axis=2), ValueError, "'axis'"),
    (lambda: ops.dequantize_per_channel(np.ones((2, 2)), np.ones(2)), TypeError, "int8"),
    (lambda: ops.gemm(np.ones((2, 2)), np.ones((2, 2)), precision="fp16"), ValueError,
     "'precision'"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_k_limit():
    assert ops.INT8_MAX_K == 65536
    with pytest.raises(ValueError, match="65536"):
        ops.gemm_int8(np.zeros((1, 65537), np.uint8), np.zeros((65537, 1), np.int8))


def test_bf16_kernel_where_the_tier_has_one(isa):
    """The avx512_bf16 and amx tiers multiply in bf16 (and cpu_info says how); the
    others round and multiply in float32. Their int8 is VNNI's or AMX's, as avx_vnni's
    and avx512_vnni's."""
    has = _core.has_bf16_gemm()
    assert has == (isa in ("avx512_bf16", "amx"))
    lp = fm.cpu_info()["low_precision"]
    assert lp["bf16"].startswith(f"tier {isa}: ")
    assert ("dpbf16ps" in lp["bf16"]) == has
    assert ("vpdpbusd" in lp["int8"] or "tdpbusd" in lp["int8"]) == \
        (isa in ("avx_vnni", "avx512_vnni", "avx512_bf16", "amx"))
