// PLACEHOLDER naive GEMM (correct, slow); replaced by the blocked driver.
#include "kernels/entry_points.h"

FASTMLP_TIER_BEGIN

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc, const Epilogue* ep) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.f;
      for (int64_t k = 0; k < K; ++k) {
        const float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      float c = alpha * acc;
      if (beta != 0.f) c += beta * C[i * ldc + j];
      C[i * ldc + j] = c;
    }
    if (ep) {
      float* row = C + i * ldc;
      if (ep->bias)
        for (int64_t j = 0; j < N; ++j) row[j] += ep->bias[j];
      act_forward(ep->act, ep->alpha, row, row, N);
    }
  }
}

FASTMLP_TIER_END
