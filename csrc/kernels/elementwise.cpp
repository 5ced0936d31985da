// Activations (forward and backward), softmax / log-softmax, fused softmax cross-entropy
// and column sums, vectorized with the per-tier layer in vec_math.h.
//
// Threads: elementwise work is split into contiguous chunks, softmax work by rows,
// column sums by columns (never rows): every output element is computed by the same
// instructions in the same order whatever the thread count, so results are bitwise
// identical for 1 or N threads. Small work never starts threads (short rows from the
// GEMM epilogue return before touching the OpenMP runtime).
#include <cmath>

#include "kernels/entry_points.h"
#include "kernels/vec_math.h"

FASTMLP_TIER_BEGIN

namespace {

using namespace vm;

// Work units: about one unit per element per cheap operation; threads_for gives each
// thread at least kWorkPerThread units. Below kMinParallelWork no OpenMP call is made.
constexpr double kWorkPerThread = 1 << 16;
constexpr double kMinParallelWork = 2.0 * kWorkPerThread;

inline int threads_for_work(double work) {
  return work < kMinParallelWork ? 1 : threads_for(work, kWorkPerThread);
}

// Cost per element, in work units, of each activation's forward pass.
inline double act_cost(Act act) {
  switch (act) {
    case Act::sigmoid: case Act::tanh: return 8.0;
    case Act::silu: case Act::elu: case Act::selu: case Act::softplus: return 10.0;
    case Act::mish: return 12.0;
    case Act::gelu_tanh: return 14.0;
    case Act::gelu: return 20.0;
    default: return 1.0;
  }
}

// y[i] = f(x[i]) for i in [0, n); f maps a vf to a vf. Full vectors, then one masked tail.
template <class F>
inline void map1(const float* x, float* y, int64_t n, const F& f) {
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const vf a = f(load(x + i)), b = f(load(x + i + W));
    store(y + i, a);
    store(y + i + W, b);
  }
  for (; i + W <= n; i += W) store(y + i, f(load(x + i)));
  if (i < n) store_n(y + i, f(load_n(x + i, n - i, 0.f)), n - i);
}

// z[i] = f(a[i], b[i]).
template <class F>
inline void map2(const float* a, const float* b, float* z, int64_t n, const F& f) {
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const vf r0 = f(load(a + i), load(b + i));
    const vf r1 = f(load(a + i + W), load(b + i + W));
    store(z + i, r0);
    store(z + i + W, r1);
  }
  for (; i + W <= n; i += W) store(z + i, f(load(a + i), load(b + i)));
  if (i < n) store_n(z + i, f(load_n(a + i, n - i, 0.f), load_n(b + i, n - i, 0.f)), n - i);
}


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

void act_forward_range(Act act, float alpha, const float* x, float* y, int64_t n) {
  switch (act) {
    case Act::linear:
      if (x != y) std::memmove(y, x, static_cast<size_t>(n) * sizeof(float));
      break;
    case Act::relu: {
      // max(0, x) returns x when x is NaN: NaN propagates (like np.maximum).
      const vf z = zero();
      map1(x, y, n, [z](vf v) { return max(z, v); });
      break;
    }
    case Act::leaky_relu: {
      const vf z = zero(), a = set1(alpha);
      map1(x, y, n, [z, a](vf v) { return select(gt(v, z), v, mul(a, v)); });
      break;
    }
    case Act::sigmoid:
      map1(x, y, n, [](vf v) { return vm::sigmoid(v); });
      break;
    case Act::tanh:
      map1(x, y, n, [](vf v) { return vm::tanh(v); });
      break;
    case Act::gelu:
      map1(x, y, n, [](vf v) { return gelu_fwd(v); });
      break;
    case Act::gelu_tanh:
      map1(x, y, n, [](vf v) { return gelu_tanh_fwd(v); });
      break;
    case Act::silu:
      map1(x, y, n, [](vf v) { return silu_fwd(v); });
      break;
    case Act::elu: {
      const vf a = set1(alpha);
      map1(x, y, n, [a](vf v) { return select(gt(v, zero()), v, mul(a, vm::expm1(v))); });
      break;
    }
    case Act::selu: {
      const vf s = set1(kSeluScale), sa = set1(kSeluScaleAlpha);
      map1(x, y, n, [s, sa](vf v) {
        return select(gt(v, zero()), mul(s, v), mul(sa, vm::expm1(v)));
      });
      break;
    }
    case Act::softplus:
      map1(x, y, n, [](vf v) { return softplus_fwd(v); });
      break;
    case Act::hard_sigmoid: {
      // relu6(x + 3) / 6; x + 3 is exact near -3 (Sterbenz). max(0, NaN) = min(6, NaN) = NaN.
      const vf three = set1(3.0f), six = set1(6.0f), sixth = set1(1.0f / 6.0f);
      map1(x, y, n, [three, six, sixth](vf v) {
        return mul(min(six, max(zero(), add(v, three))), sixth);
      });
      break;
    }
    case Act::mish:
      map1(x, y, n, [](vf v) { return mish_fwd(v); });
      break;
  }
}

void act_backward_range(Act act, float alpha, const float* y, const float* dy, float* dx,
                        int64_t n) {
  switch (act) {
    case Act::linear:
      if (dy != dx) std::memmove(dx, dy, static_cast<size_t>(n) * sizeof(float));
      break;
    case Act::relu: {
      const vf z = zero();
      map2(y, dy, dx, n, [z](vf v, vf g) { return select(gt(v, z), g, z); });
      break;
    }
    case Act::leaky_relu: {
      const vf z = zero(), a = set1(alpha);
      map2(y, dy, dx, n, [z, a](vf v, vf g) { return select(gt(v, z), g, mul(a, g)); });
      break;
    }
    case Act::sigmoid: {
      // dy * y * (1 - y); 1 - y is exact for y in [0.5, 1], and y*(1-y) rounds once more.
      const vf one = set1(1.0f);
      map2(y, dy, dx, n, [one](vf v, vf g) { return mul(g, mul(v, sub(one, v))); });
      break;
    }
    case Act::tanh: {
      // dy * (1 - y^2) as dy * (1 - y) * (1 + y): no cancellation near |y| = 1 even
      // without FMA (one of 1 - y, 1 + y is exact there), same formula on every tier.
      const vf one = set1(1.0f);
      map2(y, dy, dx, n, [one](vf v, vf g) { return mul(g, mul(sub(one, v), add(one, v))); });
      break;
    }
    case Act::elu: {  // y > 0 ? 1 : y + alpha (= alpha e^x)
      const vf a = set1(alpha);
      map2(y, dy, dx, n, [a](vf v, vf g) { return select(gt(v, zero()), g, mul(g, add(v, a))); });
      break;
    }
    case Act::selu: {  // y > 0 ? scale : y + scale * alpha
      const vf s = set1(kSeluScale), sa = set1(kSeluScaleAlpha);
      map2(y, dy, dx, n, [s, sa](vf v, vf g) {
        return select(gt(v, zero()), mul(g, s), mul(g, add(v, sa)));
      });
      break;
    }
    case Act::softplus:  // sigmoid(x) = 1 - e^-y
      map2(y, dy, dx, n, [](vf v, vf g) { return mul(g, neg(vm::expm1(neg(v)))); });
      break;
    case Act::hard_sigmoid: {  // 1/6 where 0 < y < 1
      const vf one = set1(1.0f), sixth = set1(1.0f / 6.0f);
      map2(y, dy, dx, n, [one, sixth](vf v, vf g) {
        return keep_nan(v, select(gt(v, zero()), select(lt(v, one), mul(g, sixth), zero()), zero()));
      });
      break;
    }
    case Act::gelu:
    case Act::gelu_tanh:
    case Act::silu:
    case Act::mish:
      // Not a function of y (act_backward_needs_x): unsupported, see kernel_table.h.
      for (int64_t i = 0; i < n; ++i) dx[i] = NAN;
      break;
  }
}

void act_backward_x_range(Act act, float alpha, const float* x, const float* dy, float* dx,
                          int64_t n) {
  switch (act) {
    case Act::linear:
      if (dy != dx) std::memmove(dx, dy, static_cast<size_t>(n) * sizeof(float));
      break;
    case Act::relu:
      map2(x, dy, dx, n, [](vf v, vf g) { return select(gt(v, zero()), g, zero()); });
      break;
    case Act::leaky_relu: {
      const vf a = set1(alpha);
      map2(x, dy, dx, n, [a](vf v, vf g) { return select(gt(v, zero()), g, mul(a, g)); });
      break;
    }
    case Act::sigmoid:
      // sigmoid'(x) = e / (1 + e)^2, e = e^-|x| (1 - sigmoid(x) would cancel for x >> 0)
      map2(x, dy, dx, n, [](vf v, vf g) {
        vf ne;
        const vf q = exp_split(neg(abs(v)), ne);
        const OnePlus o(exp_join(q, ne));
        return exp_mul(o.div_square(g), q, ne);
      });
      break;
    case Act::tanh:
      // tanh'(x) = (1 - t)(1 + t), t = tanh(x), for |x| < 0.5; 4e / (1 + e)^2 with
      // e = e^-2|x| beyond (1 - |t| would cancel).
      map2(x, dy, dx, n, [](vf v, vf g) {
        const vf one = set1(1.0f);
        const vf t = vm::tanh(v);
        const vf near0 = mul(g, mul(sub(one, t), add(one, t)));
        vf ne;
        const vf ax = abs(v);
        const vf q = exp_split(neg(add(ax, ax)), ne);
        const OnePlus o(exp_join(q, ne));
        const vf far = exp_mul(o.div_square(mul(set1(4.0f), g)), q, ne);
        return select(lt(ax, set1(0.5f)), near0, far);
      });
      break;
    case Act::gelu:
      map2(x, dy, dx, n, [](vf v, vf g) { return gelu_bwd(v, g); });
      break;
    case Act::gelu_tanh:
      map2(x, dy, dx, n, [](vf v, vf g) { return gelu_tanh_bwd(v, g); });
      break;
    case Act::silu:
      map2(x, dy, dx, n, [](vf v, vf g) { return silu_bwd(v, g); });
      break;
    case Act::elu: {  // x > 0 ? 1 : alpha e^x
      const vf a = set1(alpha);
      map2(x, dy, dx, n, [a](vf v, vf g) {
        return select(gt(v, zero()), g, exp_dy(min(zero(), v), mul(a, g)));  // min(0, NaN) = NaN
      });
      break;
    }
    case Act::selu: {  // x > 0 ? scale : scale alpha e^x
      const vf s = set1(kSeluScale), sa = set1(kSeluScaleAlpha);
      map2(x, dy, dx, n, [s, sa](vf v, vf g) {
        return select(gt(v, zero()), mul(g, s), exp_dy(min(zero(), v), mul(sa, g)));
      });
      break;
    }
    case Act::softplus:  // sigmoid(x)
      map2(x, dy, dx, n, [](vf v, vf g) { return sigmoid_dy(v, g); });
      break;
    case Act::hard_sigmoid: {  // 1/6 on (-3, 3)
      const vf three = set1(3.0f), mthree = set1(-3.0f), sixth = set1(1.0f / 6.0f);
      map2(x, dy, dx, n, [three, mthree, sixth](vf v, vf g) {
        return keep_nan(v, select(gt(v, mthree), select(lt(v, three), mul(g, sixth), zero()), zero()));
      });
      break;
    }
    case Act::mish:
      map2(x, dy, dx, n, [](vf v, vf g) { return mish_bwd(v, g); });
      break;
  }
}

// ---- row helpers for softmax ----------------------------------------------------------

inline float row_max(const float* x, int64_t c) {
  vf m0 = set1(-INFINITY), m1 = m0;
  int64_t j = 0;
  for (; j + 2 * W <= c; j += 2 * W) {
    m0 = max(m0, load(x + j));
    m1 = max(m1, load(x + j + W));
  }
  for (; j + W <= c; j += W) m0 = max(m0, load(x + j));
  if (j < c) m1 = max(m1, load_n(x + j, c - j, -INFINITY));
  return hmax(max(m0, m1));
}

// Returns sum_j exp(x[j] - m); stores the exponentials into e when e is non-null
// (e may equal x).
inline float row_exp_sum(const float* x, float* e, int64_t c, float m) {
  const vf vm_ = set1(m);
  vf s0 = zero(), s1 = zero();
  int64_t j = 0;
  for (; j + 2 * W <= c; j += 2 * W) {
    const vf a = vm::exp(sub(load(x + j), vm_));
    const vf b = vm::exp(sub(load(x + j + W), vm_));
    if (e) { store(e + j, a); store(e + j + W, b); }
    s0 = add(s0, a);
    s1 = add(s1, b);
  }
  for (; j + W <= c; j += W) {
    const vf a = vm::exp(sub(load(x + j), vm_));
    if (e) store(e + j, a);
    s0 = add(s0, a);
  }
  if (j < c) {
    // Masked lanes load -inf: exp(-inf - m) = 0 adds nothing.
    const vf a = vm::exp(sub(load_n(x + j, c - j, -INFINITY), vm_));
    if (e) store_n(e + j, a, c - j);
    s1 = add(s1, a);
  }
  return hsum(add(s0, s1));
}

inline void row_scale(float* y, int64_t c, float s) {
  const vf vs = set1(s);
  map1(y, y, c, [vs](vf v) { return mul(v, vs); });
}

// Rows of at most W columns (e.g. 10 classes): the row stays in one register from the
// masked load to the masked store (no store-to-load round trips through y).
void softmax_rows_short(const float* x, float* y, int64_t r0, int64_t r1, int64_t cols) {
  for (int64_t r = r0; r < r1; ++r) {
    const vf v = load_n(x + r * cols, cols, -INFINITY);
    const vf e = vm::exp(sub(v, set1(hmax(v))));  // masked lanes: exp(-inf) = 0
    store_n(y + r * cols, mul(e, set1(1.0f / hsum(e))), cols);
  }
}

// log_softmax = x - max - log(sum exp(x - max)). The logs of W rows are taken together
// with the vector log (one lane per row: the value does not depend on the blocking).
void log_softmax_rows(const float* x, float* y, int64_t r0, int64_t r1, int64_t cols) {
  alignas(64) float mb[W], sb[W], lb[W];
  for (int64_t rb = r0; rb < r1; rb += W) {
    const int64_t nb = min_of<int64_t>(W, r1 - rb);
    for (int64_t i = 0; i < nb; ++i) {
      const float* xr = x + (rb + i) * cols;
      if (cols <= W) {
        const vf v = load_n(xr, cols, -INFINITY);
        mb[i] = hmax(v);
        sb[i] = hsum(vm::exp(sub(v, set1(mb[i]))));
      } else {
        mb[i] = row_max(xr, cols);
        sb[i] = row_exp_sum(xr, nullptr, cols, mb[i]);
      }
    }
    store(lb, vm::log(load_n(sb, nb, 1.0f)));
    for (int64_t i = 0; i < nb; ++i) {
      const vf vmx = set1(mb[i]), vls = set1(lb[i]);
      const float* xr = x + (rb + i) * cols;
      float* yr = y + (rb + i) * cols;
      map1(xr, yr, cols, [vmx, vls](vf v) { return sub(sub(v, vmx), vls); });
    }
  }
}

void softmax_rows(const float* x, float* y, int64_t r0, int64_t r1, int64_t cols, bool log) {
  if (log) return log_softmax_rows(x, y, r0, r1, cols);
  if (cols <= W) return softmax_rows_short(x, y, r0, r1, cols);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float m = row_max(xr, cols);
    const float s = row_exp_sum(xr, yr, cols, m);
    row_scale(yr, cols, 1.0f / s);
  }
}

// Fused softmax cross-entropy over rows [r0, r1): writes dlogits (when non-null) and
// calls emit(r, loss) in row order with the row loss in double,
//   -log softmax[lab] = log(s) + (m - x[lab])   (m - x[lab] exact in double),
// log(s) from the vector log over blocks of W rows.
template <class Emit>
void xent_rows(const float* logits, const int32_t* labels, float* dlogits, int64_t r0,
               int64_t r1, int64_t cols, float grad_scale, const Emit& emit) {
  alignas(64) float mb[W], sb[W], xb[W], lb[W];
  const vf vg = set1(grad_scale);
  for (int64_t rb = r0; rb < r1; rb += W) {
    const int64_t nb = min_of<int64_t>(W, r1 - rb);
    for (int64_t i = 0; i < nb; ++i) {
      const int64_t r = rb + i;
      const float* xr = logits + r * cols;
      float* dr = dlogits ? dlogits + r * cols : nullptr;
      const int32_t lab = labels[r];
      const float xl = xr[lab];  // read before dr (which may alias xr) is written
      float m, s, el = 0.f;
      if (cols <= W) {  // the whole row in one register
        const vf v = load_n(xr, cols, -INFINITY);
        m = hmax(v);
        const vf e = vm::exp(sub(v, set1(m)));
        s = hsum(e);
        if (dr) {
          store_n(dr, mul(mul(e, set1(1.0f / s)), vg), cols);
          // e[lab] recomputed by the same vector code (equal to the lane stored).
          el = first(vm::exp(sub(set1(xl), set1(m))));
        }
      } else {
        m = row_max(xr, cols);
        s = row_exp_sum(xr, dr, cols, m);
        if (dr) {
          el = dr[lab];
          const vf vinv = set1(1.0f / s);
          map1(dr, dr, cols, [vinv, vg](vf e) { return mul(mul(e, vinv), vg); });
        }
      }
      if (dr) dr[lab] = (el * (1.0f / s) - 1.0f) * grad_scale;
      mb[i] = m;
      sb[i] = s;
      xb[i] = xl;
    }
    store(lb, vm::log(load_n(sb, nb, 1.0f)));
    for (int64_t i = 0; i < nb; ++i)
      emit(rb + i, static_cast<double>(lb[i]) +
                       (static_cast<double>(mb[i]) - static_cast<double>(xb[i])));
  }
}

// Column sums of x[rows, j0:j1]; 4 vectors of columns per sweep down the rows.
void colsum_range(const float* x, int64_t ldx, float* out, int64_t rows, int64_t j0,
                  int64_t j1) {
  int64_t j = j0;
  for (; j + 4 * W <= j1; j += 4 * W) {
    vf a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
    const float* p = x + j;
    for (int64_t i = 0; i < rows; ++i, p += ldx) {
      a0 = add(a0, load(p));
      a1 = add(a1, load(p + W));
      a2 = add(a2, load(p + 2 * W));
      a3 = add(a3, load(p + 3 * W));
    }
    store(out + j, a0);
    store(out + j + W, a1);
    store(out + j + 2 * W, a2);
    store(out + j + 3 * W, a3);
  }
  for (; j + W <= j1; j += W) {
    vf a0 = zero();
    const float* p = x + j;
    for (int64_t i = 0; i < rows; ++i, p += ldx) a0 = add(a0, load(p));
    store(out + j, a0);
  }
  if (j < j1) {
    const int64_t c = j1 - j;
    vf a0 = zero();
    const float* p = x + j;
    for (int64_t i = 0; i < rows; ++i, p += ldx) a0 = add(a0, load_n(p, c, 0.f));
    store_n(out + j, a0, c);
  }
}

}  // namespace

void act_forward(Act act, float alpha, const float* x, float* y, int64_t n) {
  if (n <= 0) return;
  const int nt = threads_for_work(static_cast<double>(n) * act_cost(act));
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    act_forward_range(act, alpha, x + i0, y + i0, i1 - i0);
  });
}

void act_backward(Act act, float alpha, const float* y, const float* dy, float* dx,
                  int64_t n) {
  if (n <= 0) return;
  const int nt = threads_for_work(static_cast<double>(n) * 1.5);
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    act_backward_range(act, alpha, y + i0, dy + i0, dx + i0, i1 - i0);
  });
}

void act_backward_x(Act act, float alpha, const float* x, const float* dy, float* dx,
                    int64_t n) {
  if (n <= 0) return;
  const int nt = threads_for_work(static_cast<double>(n) * (act_cost(act) * 1.5 + 0.5));
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    act_backward_x_range(act, alpha, x + i0, dy + i0, dx + i0, i1 - i0);
  });
}

// (bits & exponent) + one exponent step sets the sign bit exactly for an all-ones
// exponent (NaN, inf): an and/add/or stream over 32 lanes that this tier's flags let the
// compiler vectorise (the baseline SSE2 copy in the engine took 3% of I1 at batch 1024).
bool all_finite(const float* x, int64_t n) {
  const uint32_t* u = reinterpret_cast<const uint32_t*>(x);
  constexpr uint32_t kExp = 0x7f800000u, kStep = 0x00800000u;
  uint32_t acc[32] = {};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 32; ++j) acc[j] |= (u[i + j] & kExp) + kStep;
  uint32_t bad = 0;
  for (; i < n; ++i) bad |= (u[i] & kExp) + kStep;
  for (int j = 0; j < 32; ++j) bad |= acc[j];
  return !(bad & 0x80000000u);
}

void softmax(const float* x, float* y, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  const int nt = threads_for_work(static_cast<double>(rows) * (cols * 6.0 + 64.0));
  parallel_chunks(rows, nt, 1, [&](int64_t r0, int64_t r1) {
    softmax_rows(x, y, r0, r1, cols, log);
  });
}

double softmax_xent(const float* logits, const int32_t* labels, float* dlogits,
                    float* row_loss, int64_t rows, int64_t cols, float grad_scale) {
  if (rows <= 0 || cols <= 0) return 0.0;
  const int nt = threads_for_work(static_cast<double>(rows) * (cols * 6.0 + 96.0));
  double total = 0.0;
  if (nt <= 1) {
    xent_rows(logits, labels, dlogits, 0, rows, cols, grad_scale, [&](int64_t r, double l) {
      if (row_loss) row_loss[r] = static_cast<float>(l);
      total += l;
    });
    return total;
  }
  // Rows in parallel, then the row losses summed in row order on this thread: the same
  // additions in the same order as the serial loop above. (A plain new[] rather than
  // std::vector: no std:: template instantiated in tier code, see tier.h.)
  struct Buf {
    double* p;
    ~Buf() { delete[] p; }
  } losses{new double[static_cast<size_t>(rows)]};
  parallel_chunks(rows, nt, 1, [&](int64_t r0, int64_t r1) {
    xent_rows(logits, labels, dlogits, r0, r1, cols, grad_scale, [&](int64_t r, double l) {
      if (row_loss) row_loss[r] = static_cast<float>(l);
      losses.p[r] = l;
    });
  });
  for (int64_t r = 0; r < rows; ++r) total += losses.p[r];
  return total;
}

void colsum(const float* x, int64_t ldx, float* out, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  if (rows <= 0) {
    for (int64_t j = 0; j < cols; ++j) out[j] = 0.f;
    return;
  }
  const int nt = cols >= 8 * W ? threads_for_work(static_cast<double>(rows) * cols) : 1;
  parallel_chunks(cols, nt, 4 * W, [&](int64_t j0, int64_t j1) {
    colsum_range(x, ldx, out, rows, j0, j1);
  });
}

FASTMLP_TIER_END
