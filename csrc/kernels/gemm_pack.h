// Packing routines of the GEMM driver.
//   pack_a_panel: rows [i0, i0+rows) x depth [p0, p0+kc) of op(A) into MR-interleaved
//                 steps: dst[k*MR + i]. Only `rows` lanes of each step are written.
//   pack_b_panel: depth [p0, p0+kc) x cols [j0, j0+cols) of op(B) into NR-wide steps:
//                 dst[k*NR + j], zero-padded for j >= cols so the micro-kernel may load
//                 whole vectors.
#pragma once
#include "kernels/gemm_blocking.h"

FASTMLP_TIER_BEGIN

inline void pack_a_panel(bool trans_a, const float* A, int64_t lda, int64_t i0, int rows,
                         int64_t p0, int64_t kc, float* __restrict dst) {
  constexpr int MR = gemm_cfg::MR;
  if (trans_a) {  // A stored K x M: each step is a contiguous run of `rows` floats
    const float* src = A + p0 * lda + i0;
    for (int64_t k = 0; k < kc; ++k) {
      for (int i = 0; i < rows; ++i) dst[k * MR + i] = src[i];
      src += lda;
    }
  } else {  // A stored M x K: read each row contiguously, scatter with stride MR
    for (int i = 0; i < rows; ++i) {
      const float* src = A + (i0 + i) * lda + p0;
      float* d = dst + i;
      for (int64_t k = 0; k < kc; ++k) d[k * MR] = src[k];
    }
  }
}

inline void pack_b_panel(bool trans_b, const float* B, int64_t ldb, int64_t p0, int64_t kc,
                         int64_t j0, int cols, float* __restrict dst) {
  using namespace simd;
  constexpr int NR = gemm_cfg::NR, NV = gemm_cfg::NV;
  if (!trans_b) {  // B stored K x N: each step is a contiguous run of `cols` floats
    const float* src = B + p0 * ldb + j0;
    if (cols == NR) {
      for (int64_t k = 0; k < kc; ++k) {
        for (int v = 0; v < NV; ++v) store(dst + k * NR + v * VL, load(src + v * VL));
        src += ldb;
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        for (int v = 0; v < NV; ++v) {
          const int lanes = cols - v * VL;
          Vec x = lanes >= VL ? load(src + v * VL)
                  : lanes > 0 ? load_mask(src + v * VL, mask_first(lanes))
                              : zero();
          store(dst + k * NR + v * VL, x);
        }
        src += ldb;
      }
    }
  } else {  // B stored N x K: read each column of op(B) contiguously, scatter
    for (int j = 0; j < cols; ++j) {
      const float* src = B + (j0 + j) * ldb + p0;
      float* d = dst + j;
      for (int64_t k = 0; k < kc; ++k) d[k * NR] = src[k];
    }
    for (int j = cols; j < NR; ++j)
      for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = 0.f;
  }
}

FASTMLP_TIER_END
