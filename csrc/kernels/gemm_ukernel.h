// f32 GEMM micro-kernel: gemm_ukernel<ROWS, NVEC>, ROWS <= MR rows by NVEC vectors.
//
// Contract:
//   Ap: packed A micro-panel, kc steps of MR floats (row i of step k at Ap[k*MR + i]);
//       only the first ROWS of each step are read.
//   Bp: packed B micro-panel, kc steps of NR floats (zero-padded past N).
//   C:  ROWS x n_valid tile at C with row stride ldc; only those elements are touched.
//   st.first: this is the first K block: C = alpha*acc + beta*C (C not read when beta == 0).
//   otherwise C += alpha*acc.
//   st.ep (non-null only on the last K block): C = act(C + bias[0..n_valid)) before the store,
//       for linear/relu/leaky_relu; every other activation (sigmoid, tanh, gelu, ...) is
//       applied by the caller (act_forward) on the stored tile while it is still in L1.
#pragma once
#include "kernels/gemm_blocking.h"

FASTMLP_TIER_BEGIN

// Stores a ROWS x NVEC-vector accumulator tile into C (n_valid columns), applying
// alpha/beta and the linear/relu/leaky_relu epilogue (see the contract above).
template <int ROWS, int NVEC>
inline void gemm_store_tile(simd::Vec (&acc)[ROWS][NVEC], float* __restrict C, int64_t ldc,
                            int n_valid, float alpha, float beta, bool first,
                            const Epilogue* ep) {
  using namespace simd;
  // Lanes at or past n_valid are never stored.
  const int last_vec_lanes = n_valid - (NVEC - 1) * VL;  // in (0, VL]
  const bool full = last_vec_lanes == VL;
  if (full && alpha == 1.f && first && beta == 0.f && !ep) {
    // C = acc, the usual backward product: straight-line stores with the accumulators
    // still in registers (the general loop below spills them; at K = 10 that loop was a
    // third of the tile's time).
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NVEC; ++v) store(C + r * ldc + v * VL, acc[r][v]);
    return;
  }
  const Mask tail = mask_first(last_vec_lanes);
  const Vec valpha = set1(alpha), vbeta = set1(beta);
  const bool scale = alpha != 1.f;
  const bool read_c = !first || beta != 0.f;
  const Vec vbeta_or_one = first ? vbeta : set1(1.f);
  Vec bias[NVEC];
  const bool has_bias = ep && ep->bias;
  if (has_bias)
    for (int v = 0; v < NVEC; ++v)
      bias[v] = (v == NVEC - 1 && !full) ? load_mask(ep->bias + v * VL, tail)
                                         : load(ep->bias + v * VL);
  const Act act = ep ? ep->act : Act::linear;
  const Vec leak = set1(ep ? ep->alpha : 0.f);
  // x * 0 is 0 for finite x and NaN for NaN or +-inf; lanes past n_valid hold 0.
  int* const nonfinite = ep ? ep->nonfinite : nullptr;
  Vec probe = zero();

  for (int r = 0; r < ROWS; ++r) {
    float* c = C + r * ldc;
    for (int v = 0; v < NVEC; ++v) {
      const bool masked = v == NVEC - 1 && !full;
      Vec x = scale ? mul(acc[r][v], valpha) : acc[r][v];
      if (read_c) {
        const Vec old = masked ? load_mask(c + v * VL, tail) : load(c + v * VL);
        x = fmadd(old, vbeta_or_one, x);
      }
      if (has_bias) x = add(x, bias[v]);
      if (nonfinite) probe = add(probe, mul(x, zero()));
      if (act == Act::relu) x = max(zero(), x);  // maxps returns x (NaN) when x is NaN
      else if (act == Act::leaky_relu) x = leaky(x, leak);
      if (masked) store_mask(c + v * VL, x, tail);
      else store(c + v * VL, x);
    }
  }
  // Threads of one call may set the flag together: an atomic store keeps that defined.
  if (nonfinite && reduce_add(probe) != 0.f) __atomic_store_n(nonfinite, 1, __ATOMIC_RELAXED);
}


// DIRECT_A: Ap is not packed but points at row-major A (row stride lda, unit k stride);
// used when a panel of A would be read by too few B panels to repay packing it.
// ldbp: floats between consecutive k-steps of Bp (NR when packed; B's row stride when B is
// read in place, which the driver does only for whole NR-wide panels).
// The store parameters arrive by reference, not as float arguments: float arguments live
// in vector registers across the k loop, and with 12 accumulators + 2 B vectors + 1
// broadcast the AVX2 tile then spilled accumulators to the stack inside the loop (half
// the kernel's time at K = 10; 0.8x OpenBLAS at 128x512x512).
struct TileStore {
  float alpha, beta;
  bool first;
  const Epilogue* ep;
};

template <int ROWS, int NVEC, bool DIRECT_A>
inline void gemm_ukernel(int64_t kc, const float* __restrict Ap, int64_t lda,
                         const float* __restrict Bp, int64_t ldbp, float* __restrict C, int64_t ldc,
                         int n_valid, const TileStore& st) {
  using namespace simd;
  constexpr int MR = gemm_cfg::MR;
  Vec acc[ROWS][NVEC];
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < NVEC; ++v) acc[r][v] = zero();

  // One k-step: NVEC loads of B, ROWS broadcasts of A, ROWS*NVEC FMAs.
  auto step = [&](int64_t k) __attribute__((always_inline)) {
    Vec b[NVEC];
    for (int v = 0; v < NVEC; ++v) b[v] = load(Bp + k * ldbp + v * VL);
    for (int r = 0; r < ROWS; ++r) {
      const Vec a = set1(DIRECT_A ? Ap[r * lda + k] : Ap[k * MR + r]);
      for (int v = 0; v < NVEC; ++v) acc[r][v] = fmadd(a, b[v], acc[r][v]);
    }
  };
  // Unrolled by K_UNROLL (gemm_blocking.h). Each accumulator still sums k in order.
  constexpr int kUnroll = gemm_cfg::K_UNROLL;
  int64_t k = 0;
  for (; k + kUnroll <= kc; k += kUnroll) {
#pragma GCC unroll 4
    for (int u = 0; u < kUnroll; ++u) step(k + u);
  }
  for (; k < kc; ++k) step(k);

  gemm_store_tile<ROWS, NVEC>(acc, C, ldc, n_valid, st.alpha, st.beta, st.first, st.ep);
}

FASTMLP_TIER_END
