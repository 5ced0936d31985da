// Fused in-place optimizer updates: one pass over the parameters, vectorized with the
// per-tier layer in vec_math.h, threads over contiguous chunks for large n (each element
// is updated by the same instructions wherever it falls: bitwise identical results for
// any thread count).
#include <cmath>

#include "kernels/entry_points.h"
#include "kernels/vec_functions.h"

FASTMLP_TIER_BEGIN

namespace {

using namespace vm;

// Streaming updates are memory bound: one thread per ~32k parameters (about 0.4-0.5 MB
// of traffic), no OpenMP call at all below two of those.
constexpr double kParamsPerThread = 1 << 15;

inline int threads_for_params(int64_t n) {
  return n < 2 * kParamsPerThread ? 1 : threads_for(static_cast<double>(n), kParamsPerThread);
}

// Runs step(i, count) over [i0, i1) in full vectors then one masked tail (count < W).
template <class Step>
inline void for_vectors(int64_t i0, int64_t i1, const Step& step) {
  int64_t i = i0;
  for (; i + W <= i1; i += W) step(i, int64_t(W));
  if (i < i1) step(i, i1 - i);
}

// State below kOptStateFlush in magnitude becomes 0 (kernel_table.h says why); NaN stays.
inline vf flush_state(vf x) { return select(lt(abs(x), set1(kOptStateFlush)), zero(), x); }

// Loads / stores a full vector or a masked tail (count < W).
inline vf ld(const float* p, int64_t count) { return count == W ? load(p) : load_n(p, count, 0.f); }
inline void st(float* p, vf v, int64_t count) {
  if (count == W) store(p, v); else store_n(p, v, count);
}

}  // namespace

void sgd_update(float* p, const float* g, float* v, int64_t n, float lr, float momentum,
                bool nesterov, float weight_decay) {
  if (n <= 0) return;
  const vf vlr = set1(lr), vmom = set1(momentum), vwd = set1(weight_decay);
  const bool use_wd = weight_decay != 0.f;
  const int nt = threads_for_params(n);
  if (momentum == 0.f) {
    // p -= lr * (g + wd * p)
    parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
      for_vectors(i0, i1, [&](int64_t i, int64_t c) {
        const vf pi = ld(p + i, c);
        vf gi = ld(g + i, c);
        if (use_wd) gi = fmadd(vwd, pi, gi);
        st(p + i, fnmadd(vlr, gi, pi), c);
      });
    });
    return;
  }
  // g' = g + wd * p;  v = mom * v + g';  p -= lr * (nesterov ? g' + mom * v : v)
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    for_vectors(i0, i1, [&](int64_t i, int64_t c) {
      const vf pi = ld(p + i, c);
      vf gi = ld(g + i, c);
      if (use_wd) gi = fmadd(vwd, pi, gi);
      const vf vi = flush_state(fmadd(vmom, ld(v + i, c), gi));
      st(v + i, vi, c);
      const vf upd = nesterov ? fmadd(vmom, vi, gi) : vi;
      st(p + i, fnmadd(vlr, upd, pi), c);
    });
  });
}

void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float lr,
                 float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                 int64_t step) {
  if (n <= 0) return;
  // Bias corrections in double: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),
  // the same quantity as lr * (m / bc1) / (sqrt(v / bc2) + eps) with one division.
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const vf vstep = set1(static_cast<float>(static_cast<double>(lr) / bc1));
  const vf vinv_sqrt_bc2 = set1(static_cast<float>(1.0 / std::sqrt(bc2)));
  const vf vb1 = set1(beta1), vb2 = set1(beta2);
  const vf v1mb1 = set1(1.0f - beta1), v1mb2 = set1(1.0f - beta2);
  const vf veps = set1(eps), vwd = set1(weight_decay);
  // AdamW: p *= (1 - lr * wd), as p - (lr * wd) * p.
  const vf vlrwd = set1(lr * weight_decay);
  const bool use_wd = weight_decay != 0.f;
  const int nt = threads_for_params(n);
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    for_vectors(i0, i1, [&](int64_t i, int64_t c) {
      vf pi = ld(p + i, c);
      vf gi = ld(g + i, c);
      if (use_wd) {
        if (decoupled) pi = fnmadd(vlrwd, pi, pi);
        else gi = fmadd(vwd, pi, gi);
      }
      const vf mi = flush_state(fmadd(vb1, ld(m + i, c), mul(v1mb1, gi)));
      const vf vi = flush_state(fmadd(vb2, ld(v + i, c), mul(v1mb2, mul(gi, gi))));
      st(m + i, mi, c);
      st(v + i, vi, c);
      const vf denom = fmadd(vm::sqrt(vi), vinv_sqrt_bc2, veps);
      st(p + i, fnmadd(vstep, div(mi, denom), pi), c);
    });
  });
}

FASTMLP_TIER_END
