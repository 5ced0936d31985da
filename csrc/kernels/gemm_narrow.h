// GEMM for narrow outputs (N <= NARROW_MAX, e.g. the 10-class layer) when op(A) = A^T,
// i.e. A stored K x M: the weight gradient X^T dY of an output layer. Vectors run along M
// instead of N, so every lane does useful work (a 10-wide row would fill 10 of 16 lanes),
// and nothing is packed: row k of A is contiguous along M, row k of op(B) is NCOL floats.
//   acc[j][v] (lanes: rows i0 + v*VL ..) += A[k, rows] * B[k, j]
// The tile is written through a small column-major buffer with a scalar epilogue.
#pragma once
#include "kernels/gemm_blocking.h"

FASTMLP_TIER_BEGIN

namespace narrow {
constexpr int NARROW_MAX = 12;
#if defined(FASTMLP_TIER_AVX512)
constexpr int ACC = 24;  // zmm accumulators to spend
#else
constexpr int ACC = 12;
#endif
template <int NCOL> constexpr int vecs() { return 2 * NCOL <= ACC ? 2 : 1; }
}  // namespace narrow

// One tile: rows [i0, i0 + rows) (rows <= V*VL) x all NCOL columns.
template <int NCOL>
inline void gemm_narrow_tile(int64_t K, const float* A, int64_t lda, int64_t i0, int rows,
                             const float* B, int64_t ldb, bool trans_b, float* C, int64_t ldc,
                             float alpha, float beta, const Epilogue* ep) {
  using namespace simd;
  constexpr int V = narrow::vecs<NCOL>();
  Vec acc[NCOL][V];
  for (int j = 0; j < NCOL; ++j)
    for (int v = 0; v < V; ++v) acc[j][v] = zero();
  const bool full = rows == V * VL;
  Mask masks[V];
  for (int v = 0; v < V; ++v) {
    const int lanes = rows - v * VL;
    masks[v] = mask_first(lanes <= 0 ? 0 : lanes >= VL ? VL : lanes);
  }
  const float* a = A + i0;
  if (full && !trans_b) {  // the common case, kept free of per-iteration branches
    const float* b = B;
    for (int64_t k = 0; k < K; ++k, a += lda, b += ldb) {
      Vec av[V];
      for (int v = 0; v < V; ++v) av[v] = load(a + v * VL);
      for (int j = 0; j < NCOL; ++j) {
        const Vec bj = set1(b[j]);
        for (int v = 0; v < V; ++v) acc[j][v] = fmadd(av[v], bj, acc[j][v]);
      }
    }
  } else {
    for (int64_t k = 0; k < K; ++k, a += lda) {
      Vec av[V];
      for (int v = 0; v < V; ++v) av[v] = load_mask(a + v * VL, masks[v]);
      for (int j = 0; j < NCOL; ++j) {
        const Vec bj = set1(trans_b ? B[j * ldb + k] : B[k * ldb + j]);
        for (int v = 0; v < V; ++v) acc[j][v] = fmadd(av[v], bj, acc[j][v]);
      }
    }
  }
  alignas(64) float buf[NCOL][V * VL];
  for (int j = 0; j < NCOL; ++j)
    for (int v = 0; v < V; ++v) store(&buf[j][v * VL], acc[j][v]);
  for (int i = 0; i < rows; ++i) {
    float* c = C + (i0 + i) * ldc;
    for (int j = 0; j < NCOL; ++j) {
      float x = alpha * buf[j][i];
      if (beta != 0.f) x += beta * c[j];
      if (ep) {
        if (ep->bias) x += ep->bias[j];
        if (ep->act == Act::relu) x = x < 0.f ? 0.f : x;  // NaN propagates, like ops.relu
        else if (ep->act == Act::leaky_relu) x = x > 0.f ? x : ep->alpha * x;
      }
      c[j] = x;
    }
  }
}

template <int NCOL>
inline void gemm_narrow_cols(int64_t M, int64_t K, const float* A, int64_t lda, const float* B,
                             int64_t ldb, bool trans_b, float* C, int64_t ldc, float alpha,
                             float beta, const Epilogue* ep, int nthreads) {
  constexpr int64_t TILE = narrow::vecs<NCOL>() * simd::VL;
  const int64_t ntiles = (M + TILE - 1) / TILE;
  parallel_for(ntiles, nthreads, [&](int64_t t) {
    const int rows = static_cast<int>(min_of<int64_t>(TILE, M - t * TILE));
    gemm_narrow_tile<NCOL>(K, A, lda, t * TILE, rows, B, ldb, trans_b, C, ldc, alpha, beta, ep);
  });
}

FASTMLP_TIER_END
