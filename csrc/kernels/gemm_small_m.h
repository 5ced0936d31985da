// GEMM for M <= SMALL_M rows (GEMV-like: inference at batch 1, training at batch 1):
// no packing, every element of B is read exactly once. op(A) rows are first copied into
// a small contiguous buffer by the caller (a_rows, M x K).
//   B not transposed (K x N): for a chunk of columns, stream B row by row, broadcasting
//     A[m, k] into about 16 accumulators.
//   B transposed (N x K): each output is a dot product of contiguous rows; four columns
//     of C at a time share the loads of A.
#pragma once
#include "kernels/gemm_ukernel.h"

FASTMLP_TIER_BEGIN

namespace small_m {
// Vectors per column chunk for ROWS rows: about 16 accumulators (8 where the tier has 16
// registers), so one row of B is read in long contiguous runs (1 KiB at batch 1 on
// AVX-512) and enough independent FMA chains hide their latency.
#if defined(FASTMLP_TIER_AVX512)
constexpr int ACC = 16;
#else
constexpr int ACC = 8;
#endif
// Measured: more than ~8 accumulators only pays at one row (spills otherwise).
template <int ROWS> constexpr int nvec() { return ROWS == 1 ? ACC : 4; }
}  // namespace small_m

// C[0..ROWS, j0..j0+cols) for B stored K x N, with NV = ceil(cols / VL) vectors.
template <int ROWS, int NV>
inline void gemm_small_m_chunk(const float* a_rows, int64_t K, const float* B, int64_t ldb,
                               int64_t j0, int cols, float* C, int64_t ldc, float alpha,
                               float beta, const Epilogue* ep) {
  using namespace simd;
  Vec acc[ROWS][NV];
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = zero();
  const float* b = B + j0;
  if (cols == NV * VL) {
    for (int64_t k = 0; k < K; ++k, b += ldb) {
      Vec bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = load(b + v * VL);
      for (int r = 0; r < ROWS; ++r) {
        const Vec a = set1(a_rows[r * K + k]);
        for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(a, bv[v], acc[r][v]);
      }
    }
  } else {  // only the last vector is partial
    const Mask tail = mask_first(cols - (NV - 1) * VL);
    for (int64_t k = 0; k < K; ++k, b += ldb) {
      Vec bv[NV];
      for (int v = 0; v + 1 < NV; ++v) bv[v] = load(b + v * VL);
      bv[NV - 1] = load_mask(b + (NV - 1) * VL, tail);
      for (int r = 0; r < ROWS; ++r) {
        const Vec a = set1(a_rows[r * K + k]);
        for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(a, bv[v], acc[r][v]);
      }
    }
  }
  Epilogue local;
  gemm_store_tile<ROWS, NV>(acc, C + j0, ldc, cols, alpha, beta, true,
                            epilogue_from_col(ep, j0, &local));
}

// C[m, j0..j0+4) for B stored N x K (op(B) = B^T): dot products of contiguous rows.
template <int ROWS>
inline void gemm_small_m_dots(const float* a_rows, int64_t K, const float* B, int64_t ldb,
                              int64_t j0, int cols, float out[ROWS][4]) {
  using namespace simd;
  Vec acc[ROWS][4];
  for (int r = 0; r < ROWS; ++r)
    for (int j = 0; j < 4; ++j) acc[r][j] = zero();
  const float* brow[4];
  for (int j = 0; j < 4; ++j) brow[j] = B + (j0 + (j < cols ? j : 0)) * ldb;
  int64_t k = 0;
  for (; k + VL <= K; k += VL) {
    Vec bv[4];
    for (int j = 0; j < 4; ++j) bv[j] = load(brow[j] + k);
    for (int r = 0; r < ROWS; ++r) {
      const Vec a = load(a_rows + r * K + k);
      for (int j = 0; j < 4; ++j) acc[r][j] = fmadd(a, bv[j], acc[r][j]);
    }
  }
  if (k < K) {
    const Mask m = mask_first(static_cast<int>(K - k));
    Vec bv[4];
    for (int j = 0; j < 4; ++j) bv[j] = load_mask(brow[j] + k, m);
    for (int r = 0; r < ROWS; ++r) {
      const Vec a = load_mask(a_rows + r * K + k, m);
      for (int j = 0; j < 4; ++j) acc[r][j] = fmadd(a, bv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < ROWS; ++r)
    for (int j = 0; j < 4; ++j) out[r][j] = reduce_add(acc[r][j]);
}

FASTMLP_TIER_END
