// The activations' vector formulas, f(x) and dy * f'(x) on one vector (activations.cpp
// maps them over arrays). Per tier, on vec_math.h's layer.
#pragma once
#include <cmath>

#include "kernels/elementwise_loops.h"

FASTMLP_TIER_BEGIN

namespace {

// ---- the transcendental activations ----------------------------------------------------
//
// Each is f(x) and dy * f'(x), for every float x (limits at +-inf, NaN propagates),
// written so that nothing cancels, few roundings add up and nothing rounds twice into the
// denormal range. Where a result is a factor m times e^z (the x << 0 side of gelu,
// silu, mish, the derivatives, ...), e^z comes split as (1 + q) 2^n (vm::exp_split) and
// m e^z = (m + m q) 2^n (vm::exp_mul, dy folded into m): one rounding for the product,
// one more only where it lands in the denormal range. 1 + e for e in [0, 1] is kept
// exact as a float pair (OnePlus). Accuracy in kernel_table.h (4 ulp), measured by
// tests/test_activations_new.py.

// Keras' SELU constants, and their product, as floats.
constexpr float kSeluAlpha = 1.67326319f;
constexpr float kSeluScale = 1.05070102f;
constexpr float kSeluScaleAlpha = 1.75809932f;
constexpr float kInvSqrt2Pi = 0.398942292f;  // 1 / sqrt(2 pi)

// 1 + e = hi + lo exactly, for e in [0, 1] (Fast2Sum).
struct OnePlus {
  vf hi, lo;
  explicit OnePlus(vf e) {
    hi = add(set1(1.0f), e);
    lo = sub(e, sub(hi, set1(1.0f)));
  }
  vf div(vf v) const {  // v / (1 + e); lo == 0 keeps y0 (inf stays inf)
    const vf y0 = vm::div(v, hi);
    return select(eq(lo, zero()), y0, fnmadd(y0, vm::div(lo, hi), y0));
  }
  vf square() const { return fmadd(hi, hi, mul(add(lo, lo), hi)); }  // (1 + e)^2
  void square(vf& sh, vf& sl) const {  // (1 + e)^2 = sh + sl (to ~2^-46)
    two_prod(hi, hi, sh, sl);
    sl = fmadd(add(lo, lo), hi, sl);
  }
  vf div_square(vf v) const {  // v / (1 + e)^2
    vf sh, sl;
    square(sh, sl);
    const vf y0 = vm::div(v, sh);
    return select(eq(sl, zero()), y0, fnmadd(y0, vm::div(sl, sh), y0));
  }
};

// (vh + vl) / (dh + dl) for double-float operands, rounded about once: the quotient of
// the high parts, corrected by the exact residual (two_prod).
inline vf div_dd(vf vh, vf vl, vf dh, vf dl) {
  const vf y0 = vm::div(vh, dh);
  vf ph, pl;
  two_prod(y0, dh, ph, pl);
  const vf r = fnmadd(y0, dl, add(sub(sub(vh, ph), pl), vl));
  return add(y0, vm::div(r, dh));
}

// gelu(x) = x Phi(x). Two regions of a = |x|:
//   a < 0.5: Phi(x) = 1/2 + x P(x^2), P of degree 4;
//   a >= 0.5: a Phi(-a) = e^(-a^2/2) H(a), with the smooth, bounded H(a) = a e^(a^2/2)
//   Phi(-a) (a times a Mills ratio: from 0.15 up to 1/sqrt(2 pi)) in three pieces of
//   degree 8, picked per lane (one Horner, coefficients selected): [0.5, 1.5) in
//   2(a - 1), [1.5, 3) in a - 2.25, [3, 15.5] in 1/a - 0.19892 (a is clamped at 15.5,
//   beyond which the tail is below every float).
// Our own near-minimax fits, relative error < 3e-9 (P < 1e-10); the constant term of
// each is a float pair (hi + lo), so it adds no rounding of its own. Every variable is
// exact (Sterbenz) except 1/a, where H is flat (relative slope < 0.15). e^(-a^2/2) takes
// a^2 as a double-float (two_prod): a rounded a^2 would cost up to a^2/2 ulp.
// Then gelu(x) = -e^(-a^2/2) H (x < 0) and x - e^(-a^2/2) H (x >= 0, at least 0.69 x):
// no cancellation, no division.
struct GeluTerms {
  vf a;     // min(|x|, 15.5)
  vf phi0;  // 1/2 + x P(x^2): Phi(x) when a < 0.5
  vf h;     // H(a) when a >= 0.5
  vf q, n;  // e^(-a^2/2) = (1 + q) 2^n
};

inline GeluTerms gelu_terms(vf x) {
  // Degrees 8..1, then the constant's high part; the low parts below.
  static constexpr float kH1[9] = {-9.02017234e-07f, 5.82775147e-06f, -3.35672739e-05f,
                                   0.000190054183f, -0.000989407534f, 0.00462776329f,
                                   -0.0188142061f, 0.0621071458f, 0.261578292f};
  static constexpr float kH2[9] = {-1.18524522e-05f, 4.64196346e-05f, -0.000160063195f,
                                   0.000565463735f, -0.0018662191f, 0.00562723866f,
                                   -0.0150938286f, 0.0338947289f, 0.345716864f};
  static constexpr float kH3[9] = {-4.93677187f, -1.11259735f, 2.12868929f, -0.803865969f,
                                   -0.183650479f, 0.427181393f, -0.208458707f,
                                   -0.129316434f, 0.384735823f};
  GeluTerms g;
  const vf a = min(set1(15.5f), abs(x));  // min(hi, NaN) = NaN
  g.a = a;
  // Phi(x) - 1/2 = x P(x^2) for |x| < 0.5
  const vf u = mul(x, x);
  vf p = set1(0.000108995613f);
  p = fmadd(p, u, set1(-0.00118575664f));
  p = fmadd(p, u, set1(0.00997339934f));
  p = fmadd(p, u, set1(-0.0664903745f));
  p = add(fmadd(p, u, set1(-1.13666676e-08f)), set1(0.398942292f));
  g.phi0 = fmadd(x, p, set1(0.5f));
  // H(a) for a >= 0.5
  const vmask m1 = lt(a, set1(1.5f)), m2 = lt(a, set1(3.0f));
  const vf v = select(m1, mul(sub(a, set1(1.0f)), set1(2.0f)),
                      select(m2, sub(a, set1(2.25f)),
                             sub(vm::div(set1(1.0f), a), set1(0.198924735f))));
  auto pick = [m1, m2](int k) {
    return select(m1, set1(kH1[k]), select(m2, set1(kH2[k]), set1(kH3[k])));
  };
  vf h = pick(0);
  for (int k = 1; k < 8; ++k) h = fmadd(h, v, pick(k));
  const vf c0lo = select(m1, set1(9.48285894e-11f),
                         select(m2, set1(-4.82857443e-09f), set1(-8.03632894e-09f)));
  g.h = add(fmadd(h, v, c0lo), pick(8));
  // e^(-a^2/2), with a^2 = sh + sl exactly
  vf sh, sl;
  two_prod(a, a, sh, sl);
  g.q = exp_split(mul(sh, set1(-0.5f)), mul(sl, set1(-0.5f)), g.n);
  return g;
}

inline vf gelu_fwd(vf x) {
  const GeluTerms g = gelu_terms(x);
  const vf eh = exp_mul(g.h, g.q, g.n);  // e^(-a^2/2) H = a Phi(-a)
  const vf tail = select(lt(x, zero()), neg(eh), sub(x, eh));
  return select(lt(g.a, set1(0.5f)), mul(x, g.phi0), tail);
}

// gelu'(x) = Phi(x) + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi). With S = H / a
// (= Phi(-a) e^(a^2/2)) and E = e^(-a^2/2): x < 0: E (S - a / sqrt(2 pi)); x >= 0:
// 1 + E (a / sqrt(2 pi) - S); a < 0.5: Phi(x) + x E / sqrt(2 pi).
inline vf gelu_bwd(vf x, vf dy) {
  const GeluTerms g = gelu_terms(x);
  const vf c = set1(kInvSqrt2Pi);
  const vf e = exp_join(g.q, g.n);
  const vf s = vm::div(g.h, g.a);
  const vf ac = mul(g.a, c);
  const vf dneg = exp_mul(mul(sub(s, ac), dy), g.q, g.n);
  const vf dpos = mul(fmadd(e, sub(ac, s), set1(1.0f)), dy);
  const vf dsmall = mul(fmadd(mul(x, e), c, g.phi0), dy);
  return select(lt(g.a, set1(0.5f)), dsmall, select(lt(x, zero()), dneg, dpos));
}

// x sigmoid(w) for silu (w = x) and gelu_tanh (w = x (c1 + c2 x^2)), with e = e^-|w|:
//   w >= 0: x / (1 + e);  w < 0: x e / (1 + e)
// and its derivative s + x w' s (1 - s), s = sigmoid(w):
//   w >= 0: (1 + e + x w' e) / (1 + e)^2;  w < 0: e (1 + e + x w') / (1 + e)^2.
struct SigmoidW {
  vf xc;       // x clamped where it multiplies e (no inf * 0)
  vmask wneg;  // w < 0
  vf q, n;     // e = e^-|w| = (1 + q) 2^n
  vf e;
  vf qh, ql;   // gelu_tanh: c1 + c2 x^2 as a double-float
};

inline vf sigmoid_w_fwd(const SigmoidW& r, vf x) {
  const OnePlus o(r.e);
  return select(r.wneg, exp_mul(o.div(r.xc), r.q, r.n), o.div(x));
}

// x w' comes as a double-float xw + xwl.
inline vf sigmoid_w_bwd(const SigmoidW& r, vf xw, vf xwl, vf dy) {
  // The numerator (1 + e + x w' or 1 + e + x w' e, which cancels next to a zero of the
  // derivative), its product with dy and the quotient are formed as double-floats:
  // one rounding for all three.
  const OnePlus o(r.e);
  vf ph, pl, s, es;
  two_prod(xw, r.e, ph, pl);
  pl = fmadd(xwl, r.e, pl);
  const vf t = select(r.wneg, xw, ph), tl = select(r.wneg, xwl, pl);
  two_sum(o.hi, t, s, es);
  const vf nl = add(es, add(o.lo, tl));
  vf mh, ml;
  two_prod(s, dy, mh, ml);
  ml = fmadd(nl, dy, ml);
  vf sh, sl;
  o.square(sh, sl);
  const vf d = div_dd(mh, ml, sh, sl);
  return select(r.wneg, exp_mul(d, r.q, r.n), d);
}

// gelu_tanh(x) = x (1 + tanh(u)) / 2 = x sigmoid(w), u = sqrt(2/pi) (x + 0.044715 x^3),
// w = 2u = x (c1 + c2 x^2), formed as a double-float wh + wl (e^w has condition number
// |w|, up to ~100 before the result underflows: a float w would cost 100 ulp). x is
// clamped to [-12, 12] (beyond, sigmoid(w) is 0 or 1 in float).
constexpr float kC1 = 1.59576917f, kC1lo = -4.53406805e-08f;  // 2 sqrt(2 / pi)
constexpr float kC2 = 0.0713548139f, kC2lo = 2.39883247e-09f;  // c1 * 0.044715

inline SigmoidW gelu_tanh_terms(vf x) {
  SigmoidW r;
  const vf xc = min(set1(12.0f), max(set1(-12.0f), x));  // NaN stays NaN
  r.xc = xc;
  vf sh, sl, ph, pl, wh, wl;
  two_prod(xc, xc, sh, sl);
  two_prod(set1(kC2), sh, ph, pl);
  pl = add(pl, fmadd(set1(kC2), sl, mul(set1(kC2lo), sh)));
  two_sum(set1(kC1), ph, r.qh, r.ql);
  r.ql = add(r.ql, add(pl, set1(kC1lo)));
  two_prod(xc, r.qh, wh, wl);
  wl = fmadd(xc, r.ql, wl);
  r.wneg = lt(wh, zero());
  // -|w| = -|wh| + (wh < 0 ? wl : -wl)
  r.q = exp_split(neg(abs(wh)), select(r.wneg, wl, neg(wl)), r.n);
  r.e = exp_join(r.q, r.n);
  return r;
}

inline vf gelu_tanh_fwd(vf x) { return sigmoid_w_fwd(gelu_tanh_terms(x), x); }

inline vf gelu_tanh_bwd(vf x, vf dy) {
  const SigmoidW r = gelu_tanh_terms(x);
  // w' = c1 + 3 c2 x^2 = 3 (c1 + c2 x^2) - 2 c1 from the double-float, and x w' as one
  vf th, tl, w1, w1l, xw, xwl;
  two_prod(set1(3.0f), r.qh, th, tl);
  two_sum(th, set1(-2.0f * kC1), w1, w1l);
  w1l = add(w1l, add(tl, fmadd(set1(3.0f), r.ql, set1(-2.0f * kC1lo))));
  two_prod(r.xc, w1, xw, xwl);
  xwl = fmadd(r.xc, w1l, xwl);
  return sigmoid_w_bwd(r, xw, xwl, dy);
}

// silu(x) = x sigmoid(x); x clamped to [-160, 160] where it multiplies e.
inline SigmoidW silu_terms(vf x) {
  SigmoidW r;
  r.xc = min(set1(160.0f), max(set1(-160.0f), x));
  r.wneg = lt(x, zero());
  r.q = exp_split(neg(abs(x)), r.n);
  r.e = exp_join(r.q, r.n);
  return r;
}

inline vf silu_fwd(vf x) { return sigmoid_w_fwd(silu_terms(x), x); }

inline vf silu_bwd(vf x, vf dy) {
  const SigmoidW r = silu_terms(x);
  return sigmoid_w_bwd(r, r.xc, zero(), dy);
}

// mish(x) = x tanh(softplus(x)) = x (1 - c), with u = e^-|x|:
//   x < 0 (u = e^x):   tanh(softplus(x)) = u (u + 2) / D, D = u (u + 2) + 2, taken as
//                      u (1 - c), c = u (u + 1) / D (the factor u through exp_mul)
//   x >= 0 (u = e^-x): tanh(softplus(x)) = 1 - c, c = 2u^2 / D, D = 2u^2 + 2u + 1
// (x - x c: c <= 2/5, so its errors are damped). No overflow, no cancellation.
// mish'(x) = tanh(sp) + x sech^2(sp) sigmoid(x):
//   x < 0:  u ((1 - c) + x (1 - b)) = u ((1 + x) - (c + x b)), with
//           4 (1 + u) / D^2 = 1 - b, b = u (u^3 + 4u^2 + 8u + 4) / D^2 (small where u is)
//   x >= 0: (1 - c) + 4x u^2 (1 + u) / D^2 (all terms >= 0).
struct MishTerms {
  vmask xneg;
  vf xc, q, n, u, c, d;
};

inline MishTerms mish_terms(vf x) {
  MishTerms m;
  m.xneg = lt(x, zero());
  m.xc = min(set1(160.0f), max(set1(-160.0f), x));
  m.q = exp_split(neg(abs(x)), m.n);
  const vf u = exp_join(m.q, m.n);
  m.u = u;
  const vf one = set1(1.0f), two = set1(2.0f);
  const vf u2 = mul(two, mul(u, u));
  const vf cn = select(m.xneg, mul(u, add(u, one)), u2);
  m.d = select(m.xneg, fmadd(u, add(u, two), two), add(u2, fmadd(two, u, one)));
  m.c = vm::div(cn, m.d);
  return m;
}

inline vf mish_fwd(vf x) {
  const MishTerms m = mish_terms(x);
  return select(m.xneg, exp_mul(fnmadd(m.xc, m.c, m.xc), m.q, m.n), fnmadd(m.xc, m.c, x));
}

inline vf mish_bwd(vf x, vf dy) {
  const MishTerms m = mish_terms(x);
  const vf one = set1(1.0f), u = m.u, xc = m.xc;
  const vf d2 = mul(m.d, m.d);
  // x < 0
  vf bp = add(u, set1(4.0f));
  bp = fmadd(bp, u, set1(8.0f));
  bp = fmadd(bp, u, set1(4.0f));
  const vf b = vm::div(mul(u, bp), d2);
  const vf dneg = mul(sub(add(one, xc), fmadd(xc, b, m.c)), dy);
  // x >= 0
  const vf t2 = vm::div(mul(mul(set1(4.0f), xc), mul(mul(u, u), add(one, u))), d2);
  const vf dpos = mul(add(sub(one, m.c), t2), dy);
  return select(m.xneg, exp_mul(dneg, m.q, m.n), dpos);
}

// softplus(x) = max(x, 0) + log1p(e^-|x|): both terms >= 0, no overflow.
inline vf softplus_fwd(vf x) {
  return add(max(zero(), x), vm::log1p(vm::exp(neg(abs(x)))));  // max(0, NaN) = NaN
}

// dy sigmoid(x): x >= 0: dy / (1 + e); x < 0: dy e / (1 + e), e = e^-|x|.
inline vf sigmoid_dy(vf x, vf dy) {
  vf n;
  const vf q = exp_split(neg(abs(x)), n);
  const OnePlus o(exp_join(q, n));
  const vf d = o.div(dy);
  return select(lt(x, zero()), exp_mul(d, q, n), d);
}

// c e^x for x <= 0 (elu / selu below 0; c carries dy).
inline vf exp_dy(vf x, vf c) {
  vf n;
  const vf q = exp_split(x, n);
  return exp_mul(c, q, n);
}

// NaN where x is NaN, else v (for the piecewise-constant derivatives).
inline vf keep_nan(vf x, vf v) { return select(eq(x, x), v, x); }

}  // namespace

FASTMLP_TIER_END
