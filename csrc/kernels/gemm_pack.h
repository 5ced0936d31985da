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

// Row-major A (stored M x K): each step k gathers one float from every row.
inline void pack_a_panel(const float* A, int64_t lda, int64_t i0, int rows, int64_t p0,
                         int64_t kc, float* __restrict dst) {
  constexpr int MR = gemm_cfg::MR;
  int i = 0;
#if defined(FASTMLP_TIER_AVX512) || defined(FASTMLP_TIER_AVX2)
  // Four rows at a time, 4 x 4 blocks transposed in registers (a scalar scatter with
  // stride MR took ~14% of a 1024-row inference GEMM).
  const int64_t k4 = kc & ~int64_t(3);
  for (; i + 4 <= rows; i += 4) {
    const float* src = A + (i0 + i) * lda + p0;
    for (int64_t k = 0; k < k4; k += 4) {
      __m128 r0 = _mm_loadu_ps(src + k), r1 = _mm_loadu_ps(src + lda + k);
      __m128 r2 = _mm_loadu_ps(src + 2 * lda + k), r3 = _mm_loadu_ps(src + 3 * lda + k);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      _mm_storeu_ps(dst + k * MR + i, r0);
      _mm_storeu_ps(dst + (k + 1) * MR + i, r1);
      _mm_storeu_ps(dst + (k + 2) * MR + i, r2);
      _mm_storeu_ps(dst + (k + 3) * MR + i, r3);
    }
    for (int64_t k = k4; k < kc; ++k)
      for (int r = 0; r < 4; ++r) dst[k * MR + i + r] = src[r * lda + k];
  }
#endif
  for (; i < rows; ++i) {
    const float* src = A + (i0 + i) * lda + p0;
    float* d = dst + i;
    for (int64_t k = 0; k < kc; ++k) d[k * MR] = src[k];
  }
}

#if defined(FASTMLP_TIER_AVX512) || defined(FASTMLP_TIER_AVX2)
// dst[c * ldd + r] = src[r * lds + c] for an 8 x 8 block (unaligned rows).
inline void transpose_8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {  // interleave row pairs: (r0 r1) lanes 0,1 | 4,5 ...
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {  // gather 4-row columns within each 128-bit half
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {  // join the halves of rows 0-3 and 4-7
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}
#endif

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
  } else {  // B stored N x K: op(B)'s columns are B's rows; transpose them into steps
    int j = 0;
#if defined(FASTMLP_TIER_AVX512) || defined(FASTMLP_TIER_AVX2)
    // 8 x 8 blocks transposed in registers: a scalar scatter of W^T (dY W^T in every
    // training step) took a quarter of a 128x512x512 product.
    const int64_t k8 = kc & ~int64_t(7);
    for (; j + 8 <= cols; j += 8) {
      const float* src = B + (j0 + j) * ldb + p0;
      for (int64_t k = 0; k < k8; k += 8) transpose_8x8(src + k, ldb, dst + k * NR + j, NR);
      for (int64_t k = k8; k < kc; ++k)
        for (int i = 0; i < 8; ++i) dst[k * NR + j + i] = src[i * ldb + k];
    }
#endif
    for (; j < cols; ++j) {
      const float* src = B + (j0 + j) * ldb + p0;
      float* d = dst + j;
      for (int64_t k = 0; k < kc; ++k) d[k * NR] = src[k];
    }
    for (j = cols; j < NR; ++j)
      for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = 0.f;
  }
}

FASTMLP_TIER_END
