// Packing routines of the GEMM driver.
//   pack_a_*:     rows [i0, i0+rows) x depth [p0, p0+kc) of op(A) into MR-interleaved
//                 steps: dst[k*MR + i]. Only `rows` lanes of each step are written.
//   pack_b_panel: depth [p0, p0+kc) x cols [j0, j0+cols) of op(B) into NR-wide steps:
//                 dst[k*NR + j], zero-padded for j >= cols so the micro-kernel may load
//                 whole vectors.
#pragma once
#include "kernels/gemm_blocking.h"

FASTMLP_TIER_BEGIN

// Transposed A (stored K x M): steps are contiguous runs of op(A)'s rows. Packs
// `n_panels` consecutive panels (rows [i0, i0+rows_total)) eight k-steps at a time across
// all of them, so the few source lines in flight stay in L1 even when lda is a power of
// two (a panel-at-a-time walk down a 2 KiB stride thrashes two L1 sets).
inline void pack_a_panels_trans(const float* A, int64_t lda, int64_t i0, int64_t rows_total,
                                int64_t p0, int64_t kc, float* __restrict dst) {
  using namespace simd;
  constexpr int MR = gemm_cfg::MR;
  constexpr int64_t KSTEP = 8;
  const int64_t n_panels = (rows_total + MR - 1) / MR;
  for (int64_t kb = 0; kb < kc; kb += KSTEP) {
    const int64_t ke = min_of(kc, kb + KSTEP);
    for (int64_t p = 0; p < n_panels; ++p) {
      const int rows = static_cast<int>(min_of<int64_t>(MR, rows_total - p * MR));
      const float* src = A + (p0 + kb) * lda + i0 + p * MR;
      float* d = dst + p * MR * kc;
      if (MR <= VL) {
        // Masked loads never fault past the end of A. Stores are whole vectors (masked
        // stores are slow on some CPUs, Zen 4 among them): each spills VL - MR lanes
        // into the next step, which overwrites them; the panel's last step is masked so
        // nothing lands past the panel.
        const Mask m = mask_first(rows);
        for (int64_t k = kb; k < ke; ++k, src += lda) {
          if (k + 1 < kc) store(d + k * MR, load_mask(src, m));
          else store_mask(d + k * MR, load_mask(src, m), m);
        }
      } else {
        for (int64_t k = kb; k < ke; ++k, src += lda)
          for (int i = 0; i < rows; ++i) d[k * MR + i] = src[i];
      }
    }
  }
}

// Row-major A (stored M x K): read each row contiguously, scatter with stride MR.
inline void pack_a_panel(const float* A, int64_t lda, int64_t i0, int rows, int64_t p0,
                         int64_t kc, float* __restrict dst) {
  constexpr int MR = gemm_cfg::MR;
  for (int i = 0; i < rows; ++i) {
    const float* src = A + (i0 + i) * lda + p0;
    float* d = dst + i;
    for (int64_t k = 0; k < kc; ++k) d[k * MR] = src[k];
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
