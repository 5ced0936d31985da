// Vectorized math (exp, log, sigmoid, tanh, expm1, log1p and the building blocks of the
// activations in activation_math.h), written once on top of vec_math.h's layer, so every
// element goes through the same vector code in the body or the tail of a loop.
//
// Accuracy (measured against float64 by tests/test_kernel_accuracy.py):
//   exp      <= 2 ulp over the whole float range (denormal results rounded once;
//            overflow to +inf above ~88.72, 0 below ~-103.97; NaN propagates)
//   sigmoid  <= 3 ulp relative; exact limits 0 / 1 for +-inf, never NaN for non-NaN x
//   tanh     <= 3 ulp relative (<= 2 ulp for |x| < 1e-3, exactly x for |x| < 2^-26:
//            no cancellation), saturates to exactly +-1 for |x| >= ~9.01, tanh(-0) = -0
//   expm1, log1p (log1p for |u| <= 1): no cancellation near 0 (tiny x gives x)
//   exp_split / exp_mul: m * e^x rounded once, also where it lands in the denormal range
//   (the building block of gelu, silu, mish, ... in activation_math.h)
// The generic (SSE2) tier has no FMA: the same formulas evaluated with separate
// multiply and add, about one ulp looser.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/vec_math.h"

FASTMLP_TIER_BEGIN
namespace vm {

// ---------------------------------------------------------------------------------------
// Math on top of the layer. Constants as bit patterns where exactness matters.
// ---------------------------------------------------------------------------------------

inline vf abs(vf x) { return and_(x, as_float(set1_i(0x7FFFFFFF))); }
inline vf sign_bit(vf x) { return and_(x, as_float(set1_i(static_cast<int32_t>(0x80000000u)))); }

// 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer.
constexpr float kExpShifter = 12582912.0f;

// x = n ln2 + r (n = round(x / ln2) into n, exactly; |r| <= ln2 / 2 in two steps, Cody-
// Waite into r); returns P(r), the degree-4 polynomial of e^r = 1 + r + r^2 P(r) (exp,
// tanh, expm1 share it).
inline vf exp_reduce(vf x, vf& n, vf& r) {
  const vf shifter = set1(kExpShifter);
  n = sub(fmadd(x, set1(1.44269502f), shifter), shifter);
  r = fnmadd(n, set1(0.693359375f), x);
  r = fnmadd(n, set1(-2.12194440e-4f), r);
  vf p = set1(1.38144463e-3f);
  p = fmadd(p, r, set1(8.36877897e-3f));
  p = fmadd(p, r, set1(4.16683927e-2f));
  p = fmadd(p, r, set1(1.66665196e-1f));
  return fmadd(p, r, set1(4.99999940e-1f));
}

// expm1(r) = r + r^2 P(r) of exp_reduce's r, with n as it sets it.
inline vf expm1_reduced(vf x, vf& n) {
  vf r;
  const vf p = exp_reduce(x, n, r);
  return fmadd(p, mul(r, r), r);
}

// exp(x) for every float x.
// Range reduction x = n*ln2 + r, |r| <= ln2/2 (n = round(x/ln2) by the 1.5*2^23 shifter
// trick), r computed with a two-part ln2 (the high part has 9 significant bits, so n*hi
// is exact for |n| <= 2^15 even without FMA). exp(r) = 1 + r + r^2*P(r), P of degree 4:
// our own near-minimax fit of relative error 4.4e-9 (coefficients rounded to float)
// on [-ln2/2, ln2/2], far below float's 6e-8 half-ulp. The result p * 2^n is scaled in
// two exact steps 2^(n>>1) * 2^(n - (n>>1)) so that n in [-150, 128] never builds an
// out-of-range exponent: denormal results are rounded once, overflow gives +inf.
inline vf exp(vf x) {
  // Below -104 the result rounds to 0: those lanes compute exp(0) and are zeroed at the
  // end, so that no lane underflows. An underflowing result costs a microcode assist on
  // x86 (about a hundred cycles) unless flush-to-zero is on: the -inf padding lanes of
  // a 10-class softmax row did that on every row, 3.5% of an E1 epoch.
  // Above 89 the result is +inf anyway. min(hi, x) returns x when x is NaN (and a NaN
  // is not below -104), so NaN propagates through the polynomial.
  const vmask under = lt(x, set1(-104.0f));
  x = min(set1(89.0f), select(under, zero(), x));
  const vf shifter = set1(kExpShifter);
  vf n, r;  // n: round(x / ln2) as a float
  vf p = exp_reduce(x, n, r);
  const vf t = add(n, shifter);
  const vf r2 = mul(r, r);
  p = fmadd(p, r2, add(r, set1(1.0f)));  // 1 + r + r^2 P(r)
#if defined(FASTMLP_TIER_AVX512)
  // vscalefps: p * 2^floor(n) with a single rounding, denormals and overflow included
  // (n is already an integer). Bitwise equal to the two-step scaling below.
  return select(under, zero(), _mm512_scalef_ps(p, n));
#else
  const vi ni = sub_i(as_int(t), as_int(shifter));  // n as an int32
  const vi n1 = sra_i<1>(ni);
  const vi n2 = sub_i(ni, n1);
  const vf s1 = as_float(shl_i<23>(add_i(n1, set1_i(127))));
  const vf s2 = as_float(shl_i<23>(add_i(n2, set1_i(127))));
  return select(under, zero(), mul(mul(p, s1), s2));
#endif
}

// log(x) for every float x: log(0) = -inf, log(+inf) = +inf, NaN for x < 0 and NaN.
// x = 2^k * f with f in [sqrt(1/2), sqrt(2)) (denormals pre-scaled by 2^23), then
// log(x) = k*ln2 + log1p(z), z = f - 1, log1p(z) = z + z^2 Q(z) with Q of degree 8 (our
// own near-minimax fit, relative error 4.6e-9 on [sqrt(1/2) - 1, sqrt(2) - 1]).
inline vf log(vf x) {
  const vmask den = lt(x, set1(1.17549435e-38f));  // below FLT_MIN (also 0, < 0)
  const vf xs = select(den, mul(x, set1(8388608.0f)), x);
  const vi bias = set1_i(0x3F3504F3);  // bits of sqrt(1/2)
  const vi ix = sub_i(as_int(xs), bias);
  const vf k = sub(to_float(sra_i<23>(ix)), select(den, set1(23.0f), zero()));
  const vf z = sub(as_float(add_i(and_i(ix, set1_i(0x007FFFFF)), bias)), set1(1.0f));
  vf q = set1(-7.621837407e-02f);
  q = fmadd(q, z, set1(1.290490478e-01f));
  q = fmadd(q, z, set1(-1.324319392e-01f));
  q = fmadd(q, z, set1(1.418176889e-01f));
  q = fmadd(q, z, set1(-1.660905331e-01f));
  q = fmadd(q, z, set1(2.000197619e-01f));
  q = fmadd(q, z, set1(-2.500158548e-01f));
  q = fmadd(q, z, set1(3.333332539e-01f));
  q = fmadd(q, z, set1(-4.999998808e-01f));
  vf r = fmadd(mul(z, z), q, z);
  r = fmadd(k, set1(-2.12194440e-4f), r);  // k * ln2, low part first
  r = fmadd(k, set1(0.693359375f), r);
  // Special values: NaN propagates (x * 0), +inf, -inf at 0, NaN below 0.
  r = add(r, mul(x, zero()));
  r = select(gt(x, set1(3.40282347e+38f)), x, r);
  r = select(eq(x, zero()), set1(-INFINITY), r);
  return select(lt(x, zero()), set1(NAN), r);
}

// sigmoid(x) = 1 / (1 + e^-x), evaluated with e = exp(-|x|) <= 1 (never overflows):
// x >= 0: 1 / (1 + e);  x < 0: e / (1 + e).  Exact 0 / 1 at -inf / +inf.
inline vf sigmoid(vf x) {
  const vf e = exp(sub(zero(), abs(x)));
  const vf num = select(lt(x, zero()), e, set1(1.0f));
  return div(num, add(set1(1.0f), e));
}

// tanh(|x|) = E / (E + 2) with E = expm1(2|x|), sign restored last (tanh(-0) = -0).
// expm1 without cancellation: 2|x| = n*ln2 + r, expm1(r) = r + r^2 P(r) (the exp
// polynomial), expm1 = 2^n * expm1(r) + (2^n - 1), one FMA; for |x| < ~0.17 (n = 0) this
// is the polynomial itself, so tiny and denormal x come out as x. |x| is clamped to 9.5,
// where the quotient rounds to exactly 1: saturation without inf / inf.
inline vf tanh(vf x) {
  const vf ax = min(set1(9.5f), abs(x));  // min(hi, NaN) = NaN
  const vf y = add(ax, ax);
  const vf shifter = set1(kExpShifter);
  vf n;  // round(y / ln2), 0..28
  const vf q = expm1_reduced(y, n);
  const vf t = add(n, shifter);
  const vf s = as_float(shl_i<23>(add_i(sub_i(as_int(t), as_int(shifter)), set1_i(127))));
  const vf e = fmadd(s, q, sub(s, set1(1.0f)));  // expm1(y); s - 1 exact for n <= 24
  return or_(div(e, add(e, set1(2.0f))), sign_bit(x));
}

// ---- building blocks of the activations in activation_math.h --------------------------

inline vf neg(vf x) { return xor_(x, as_float(set1_i(static_cast<int32_t>(0x80000000u)))); }

// hi + lo = a * b exactly, hi = fl(a * b) (|a|, |b| < 2^100, no underflow in lo). One
// FMA where fmadd is fused; Dekker's product (Veltkamp splits into 12 + 12 bits) on the
// tiers without FMA (built with -ffp-contract=off: no operation here is fused).
inline void two_prod(vf a, vf b, vf& hi, vf& lo) {
  hi = mul(a, b);
  if constexpr (kFusedFma) {
    lo = fmadd(a, b, neg(hi));
  } else {
    const vf c = set1(4097.0f);
    const vf ta = mul(a, c), ah = sub(ta, sub(ta, a)), al = sub(a, ah);
    const vf tb = mul(b, c), bh = sub(tb, sub(tb, b)), bl = sub(b, bh);
    lo = add(add(add(sub(mul(ah, bh), hi), mul(ah, bl)), mul(al, bh)), mul(al, bl));
  }
}

// s + e = a + b exactly, s = fl(a + b) (Knuth's TwoSum: any order of magnitudes).
inline void two_sum(vf a, vf b, vf& s, vf& e) {
  s = add(a, b);
  const vf bb = sub(s, a);
  e = add(sub(a, sub(s, bb)), sub(b, bb));
}

// e^(x + xl) = (1 + q) * 2^n: exp()'s range reduction and polynomial without its final
// steps, so that a caller can form m * e^x as (m + m q) * 2^n (exp_mul: one rounding
// for the product, and one more only where it lands in the denormal range) instead of
// rounding e^x first. xl is a small correction to x (|xl| <= ulp(x): the low part of a
// double-float argument), added to the reduced argument. q = expm1(r), |r| <= ln2 / 2.
// n is an integer held as a float, in [-217, 129]: x is clamped to 89 above, and q = -1
// (e^x = 0) below -150, where m * e^x rounds to 0 for any |m| < 2^60. NaN propagates.
inline vf exp_split(vf x, vf xl, vf& n) {
  const vmask under = lt(x, set1(-150.0f));
  x = min(set1(89.0f), select(under, zero(), x));
  const vf shifter = set1(12582912.0f);  // 1.5 * 2^23
  const vf t = fmadd(x, set1(1.44269502f), shifter);
  n = sub(t, shifter);
  vf r = fnmadd(n, set1(0.693359375f), x);
  r = fnmadd(n, set1(-2.12194440e-4f), r);
  r = add(r, xl);
  vf p = set1(1.38144463e-3f);
  p = fmadd(p, r, set1(8.36877897e-3f));
  p = fmadd(p, r, set1(4.16683927e-2f));
  p = fmadd(p, r, set1(1.66665196e-1f));
  p = fmadd(p, r, set1(4.99999940e-1f));
  return select(under, set1(-1.0f), fmadd(p, mul(r, r), r));  // r + r^2 P(r)
}
inline vf exp_split(vf x, vf& n) { return exp_split(x, zero(), n); }

// m * 2^n with one rounding (denormal results included), n an integer-valued float in
// [-252, 254] (and |m| * 2^(n >> 1) not denormal, true for every use here).
inline vf ldexp2(vf m, vf n) {
#if defined(FASTMLP_TIER_AVX512)
  return _mm512_scalef_ps(m, n);
#else
  const vf shifter = set1(12582912.0f);
  const vi ni = sub_i(as_int(add(n, shifter)), as_int(shifter));
  const vi n1 = sra_i<1>(ni);
  const vi n2 = sub_i(ni, n1);
  const vf s1 = as_float(shl_i<23>(add_i(n1, set1_i(127))));
  const vf s2 = as_float(shl_i<23>(add_i(n2, set1_i(127))));
  return mul(mul(m, s1), s2);
#endif
}

// m * e^x from exp_split's (q, n): (m + m q) scaled by 2^n, rounded once into the
// denormal range.
inline vf exp_mul(vf m, vf q, vf n) { return ldexp2(fmadd(m, q, m), n); }
// e^x itself from exp_split's (q, n).
inline vf exp_join(vf q, vf n) { return ldexp2(add(q, set1(1.0f)), n); }

// e^x - 1 for every float x, without cancellation: x = n ln2 + r, expm1(r) = r + r^2 P(r)
// (exp's polynomial), then 2^n expm1(r) + (2^n - 1) in one FMA (2^n - 1 exact for
// n <= 24; for small |x|, n = 0, this is the polynomial itself: tiny x gives x), and
// 2^n (1 + expm1(r)) scaled in two steps for n > 24 (the -1 is below half an ulp).
// Exactly -1 below ~-17.33 (x is clamped to -20), +inf above ~88.72, NaN propagates.
inline vf expm1(vf x) {
  x = min(set1(89.0f), max(set1(-20.0f), x));  // max(lo, NaN) = min(hi, NaN) = NaN
  const vf shifter = set1(kExpShifter);
  vf n;
  const vf q = expm1_reduced(x, n);
  const vf nc = min(n, set1(24.0f));
  const vf s = as_float(shl_i<23>(add_i(sub_i(as_int(add(nc, shifter)), as_int(shifter)),
                                        set1_i(127))));
  const vf small = fmadd(s, q, sub(s, set1(1.0f)));
  const vf big = ldexp2(add(q, set1(1.0f)), n);
  return select(gt(n, set1(24.0f)), big, small);
}

// log(1 + u) for u in (-1, 1], without cancellation: v = 1 + u rounded, c = u - (v - 1)
// its rounding error (exact: |u| <= 1), log1p(u) = log(v) + c / v. Tiny u gives u.
inline vf log1p(vf u) {
  const vf one = set1(1.0f);
  const vf v = add(one, u);
  const vf c = sub(u, sub(v, one));
  return add(vm::log(v), div(c, v));
}

}  // namespace vm
FASTMLP_TIER_END
