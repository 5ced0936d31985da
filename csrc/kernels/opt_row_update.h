// One vectorized optimizer step on a tile of parameters whose gradient is already
// summed (gemm_update: a gradient in scratch), or held in registers (step_reg: batch 1).
// Formulas as OptimizerConfig (optimizer_config.h).
// State values (velocity, Adam moments) below kOptStateFlush in magnitude are stored as 0.
#pragma once
#include <cmath>

#include "kernels/optimizer_config.h"
#include "kernels/simd.h"
#include "kernels/tier.h"

FASTMLP_TIER_BEGIN

// Bias corrections of step o.step (Adam), 1 for SGD.
inline void opt_bias_corrections(const OptimizerConfig& o, float* bc1, float* bc2) {
  *bc1 = *bc2 = 1.f;
  if (o.kind == 1) {
    // Subtracted in double, then rounded once (a float cast of beta^step underflows
    // after a few hundred steps, raising a floating-point underflow for nothing).
    *bc1 = static_cast<float>(1.0 - std::pow(double(o.beta1), double(o.step)));
    *bc2 = static_cast<float>(1.0 - std::pow(double(o.beta2), double(o.step)));
  }
}

// The same step on a rows x cols tile of a weight matrix (row stride ld, state laid out
// alike) from a gradient tile g (row stride ldg), in vector registers: the epilogue of a
// GEMM that updates weights in place. Lanes past `cols` are never touched.
namespace opt_tile {
enum Mode { sgd_plain, sgd_momentum, sgd_nesterov, adam };

struct Consts {
  simd::Vec lr, wd, mom, b1, b2, c1, c2, eps, ibc1, ibc2, keep, tiny;
};

// The step with the gradient in a register; returns the new parameters (as stored).
template <Mode MODE, bool FULL>
inline simd::Vec step_reg(float* p, simd::Vec g, float* s0, float* s1, const Consts& k,
                          simd::Mask m) {
  using namespace simd;
  auto ld = [m](const float* q) { return FULL ? load(q) : load_mask(q, m); };
  auto st = [m](float* q, Vec v) { if (FULL) store(q, v); else store_mask(q, v, m); };
  const Vec pv = ld(p);
  const Vec gv = fmadd(k.wd, pv, g);  // g + wd * p (L2 decay; 0 when decoupled)
  Vec pn;
  if (MODE == sgd_plain) {
    pn = sub(pv, mul(k.lr, gv));
  } else if (MODE == sgd_momentum || MODE == sgd_nesterov) {
    const Vec v = flush_tiny(fmadd(k.mom, ld(s0), gv), k.tiny);
    st(s0, v);
    pn = sub(pv, mul(k.lr, MODE == sgd_nesterov ? fmadd(k.mom, v, gv) : v));
  } else {
    const Vec mv = flush_tiny(fmadd(k.b1, ld(s0), mul(k.c1, gv)), k.tiny);
    const Vec vv = flush_tiny(fmadd(k.b2, ld(s1), mul(k.c2, mul(gv, gv))), k.tiny);
    st(s0, mv);
    st(s1, vv);
    const Vec den = add(sqrt(mul(vv, k.ibc2)), k.eps);
    pn = sub(mul(pv, k.keep), div(mul(k.lr, mul(mv, k.ibc1)), den));
  }
  st(p, pn);
  return pn;
}

template <Mode MODE, bool FULL>
inline void step(float* p, const float* g, float* s0, float* s1, const Consts& k,
                 simd::Mask m) {
  step_reg<MODE, FULL>(p, FULL ? simd::load(g) : simd::load_mask(g, m), s0, s1, k, m);
}

template <Mode MODE>
inline void tile(float* p, int64_t ld, const float* g, int64_t ldg, float* s0, float* s1,
                 int rows, int cols, const Consts& k) {
  using namespace simd;
  const int full = cols / VL * VL;
  const Mask m = mask_first(cols - full > 0 ? cols - full : VL);
  for (int r = 0; r < rows; ++r) {
    float* pr = p + r * ld;
    const float* gr = g + r * ldg;
    float* s0r = s0 ? s0 + r * ld : nullptr;
    float* s1r = s1 ? s1 + r * ld : nullptr;
    for (int j = 0; j < full; j += VL)
      step<MODE, true>(pr + j, gr + j, s0r ? s0r + j : nullptr, s1r ? s1r + j : nullptr, k, m);
    if (full < cols)
      step<MODE, false>(pr + full, gr + full, s0r ? s0r + full : nullptr,
                        s1r ? s1r + full : nullptr, k, m);
  }
}
}  // namespace opt_tile

inline opt_tile::Consts opt_consts(const OptimizerConfig& o, float bc1, float bc2) {
  using namespace simd;
  const bool decoupled = o.kind == 1 && o.decoupled;
  return {set1(o.lr), set1(decoupled ? 0.f : o.weight_decay), set1(o.momentum),
          set1(o.beta1), set1(o.beta2), set1(1.f - o.beta1), set1(1.f - o.beta2),
          set1(o.eps), set1(1.f / bc1), set1(1.f / bc2),
          set1(1.f - (decoupled ? o.lr * o.weight_decay : 0.f)), set1(kOptStateFlush)};
}

inline opt_tile::Mode opt_mode(const OptimizerConfig& o) {
  if (o.kind == 1) return opt_tile::adam;
  if (o.momentum == 0.f) return opt_tile::sgd_plain;
  return o.nesterov ? opt_tile::sgd_nesterov : opt_tile::sgd_momentum;
}

// The step on a tile with constants made once by the caller (opt_consts).
inline void opt_tile_apply(opt_tile::Mode mode, const opt_tile::Consts& k, float* p,
                           int64_t ld, const float* g, int64_t ldg, float* s0, float* s1,
                           int rows, int cols) {
  switch (mode) {
    case opt_tile::adam: opt_tile::tile<opt_tile::adam>(p, ld, g, ldg, s0, s1, rows, cols, k); break;
    case opt_tile::sgd_plain: opt_tile::tile<opt_tile::sgd_plain>(p, ld, g, ldg, s0, s1, rows, cols, k); break;
    case opt_tile::sgd_nesterov: opt_tile::tile<opt_tile::sgd_nesterov>(p, ld, g, ldg, s0, s1, rows, cols, k); break;
    default: opt_tile::tile<opt_tile::sgd_momentum>(p, ld, g, ldg, s0, s1, rows, cols, k); break;
  }
}

inline void opt_tile_update(float* p, int64_t ld, const float* g, int64_t ldg, float* s0,
                            float* s1, int rows, int cols, const OptimizerConfig& o, float bc1,
                            float bc2) {
  opt_tile_apply(opt_mode(o), opt_consts(o, bc1, bc2), p, ld, g, ldg, s0, s1, rows, cols);
}

FASTMLP_TIER_END
