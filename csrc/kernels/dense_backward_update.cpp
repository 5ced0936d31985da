// dense_backward_update: a dense layer's backward pass fused with its optimizer step:
// dx = dz W^T with the old weights, then W updated tile by tile from x^T dz as the GEMM
// micro-kernels produce it (gemm_update), never through a dW matrix; at batch 1
// optionally fused with the next example's forward product through this layer.
// Compiled once per tier.
#include "kernels/entry_points.h"
#include "kernels/optimizer_config.h"


FASTMLP_TIER_BEGIN

void dense_backward_update(const float* x, const float* dz, int64_t rows, int64_t in,
                           int64_t out, float* W, float* s0, float* s1,
                           const OptimizerConfig* opt, float* dx, const float* x_next,
                           float* y_next, const Epilogue* ep_next) {
  // dx with the weights before the step, then the weight gradient x^T dz computed by the
  // GEMM micro-kernels and applied tile by tile (gemm_update): no dW matrix is written.
  if (dx) gemm(false, true, rows, in, out, 1.f, dz, out, W, out, 0.f, dx, in, nullptr);
  // x_next only at batch 1 (the caller's contract): gemm_update's outer-product pass.
  gemm_update(true, false, in, out, rows, x, in, dz, out, W, s0, s1, opt,
              rows == 1 ? x_next : nullptr, y_next, ep_next);
}

FASTMLP_TIER_END
