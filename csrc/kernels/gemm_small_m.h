// GEMM for M <= SMALL_M rows (GEMV-like: inference at batch 1, training at batch 1):
// no packing, every element of B is read exactly once. op(A) rows are first copied into
// a small contiguous buffer by the caller (a_rows, M x K).
//   B not transposed (K x N): for a chunk of columns, stream B row by row, broadcasting
//     A[m, k] into up to SMALL_M x NVEC accumulators.
//   B transposed (N x K): each output is a dot product of contiguous rows; four columns
//     of C at a time share the loads of A.
#pragma once
#include "kernels/gemm_ukernel.h"

FASTMLP_TIER_BEGIN

namespace small_m {
constexpr int NVEC = 4;  // columns per chunk = NVEC * VL
}

template <int ROWS>
inline void gemm_small_m_chunk(const float* a_rows, int64_t K, const float* B, int64_t ldb,
                               int64_t j0, int cols, float* C, int64_t ldc, float alpha,
                               float beta, const Epilogue* ep) {
  using namespace simd;
  constexpr int NV = small_m::NVEC;
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
  } else {
    for (int64_t k = 0; k < K; ++k, b += ldb) {
      Vec bv[NV];
      for (int v = 0; v < NV; ++v) {
        const int lanes = cols - v * VL;
        bv[v] = lanes >= VL ? load(b + v * VL)
                : lanes > 0 ? load_mask(b + v * VL, mask_first(lanes))
                            : zero();
      }
      for (int r = 0; r < ROWS; ++r) {
        const Vec a = set1(a_rows[r * K + k]);
        for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(a, bv[v], acc[r][v]);
      }
    }
  }
  // Store through the shared tile epilogue, one vector-count variant per column count.
  Epilogue local;
  const Epilogue* pep = nullptr;
  if (ep) {
    local = *ep;
    if (local.bias) local.bias += j0;
    pep = &local;
  }
  const int nvec = (cols + VL - 1) / VL;
  float* c = C + j0;
  // Copy the used vectors into exactly-sized tiles (the compiler keeps them in registers).
  switch (nvec) {
    case 1: { Vec t[ROWS][1]; for (int r = 0; r < ROWS; ++r) t[r][0] = acc[r][0];
              gemm_store_tile<ROWS, 1>(t, c, ldc, cols, alpha, beta, true, pep); break; }
    case 2: { Vec t[ROWS][2]; for (int r = 0; r < ROWS; ++r) for (int v = 0; v < 2; ++v) t[r][v] = acc[r][v];
              gemm_store_tile<ROWS, 2>(t, c, ldc, cols, alpha, beta, true, pep); break; }
    case 3: { Vec t[ROWS][3]; for (int r = 0; r < ROWS; ++r) for (int v = 0; v < 3; ++v) t[r][v] = acc[r][v];
              gemm_store_tile<ROWS, 3>(t, c, ldc, cols, alpha, beta, true, pep); break; }
    default: gemm_store_tile<ROWS, NV>(acc, c, ldc, cols, alpha, beta, true, pep); break;
  }
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
