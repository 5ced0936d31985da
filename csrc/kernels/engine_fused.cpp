// Engine kernels (models work), compiled once per tier:
//   * gather_rows: batch gather (optionally through an index list) with uint8/float ->
//     float conversion and the leading Rescaling (x * scale + offset) fused in.
//   * dense_backward_update: a dense layer's backward pass fused with its optimizer step:
//     dx = dz W^T with the old weights, then W updated tile by tile from x^T dz as the
//     GEMM micro-kernels produce it (gemm_update), never through a dW matrix; at batch 1
//     optionally fused with the next example's forward product through this layer.
#include <cmath>

#include "kernels/engine_kernels.h"
#include "kernels/entry_points.h"


FASTMLP_TIER_BEGIN

void gather_rows(const void* x, bool is_u8, int64_t ldx, const int32_t* idx, int64_t row0,
                 int64_t rows, int64_t cols, float scale, float offset, float* out) {
  const bool identity = (scale == 1.f && offset == 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t src = idx ? static_cast<int64_t>(idx[row0 + r]) : row0 + r;
    float* __restrict o = out + r * cols;
    if (is_u8) {
      const uint8_t* __restrict xr = static_cast<const uint8_t*>(x) + src * ldx;
      for (int64_t j = 0; j < cols; ++j) o[j] = static_cast<float>(xr[j]) * scale + offset;
    } else {
      const float* __restrict xr = static_cast<const float*>(x) + src * ldx;
      if (identity) {
        std::memcpy(o, xr, sizeof(float) * static_cast<size_t>(cols));
      } else {
        for (int64_t j = 0; j < cols; ++j) o[j] = xr[j] * scale + offset;
      }
    }
  }
}

void dense_backward_update(const float* x, const float* dz, int64_t rows, int64_t in,
                           int64_t out, float* W, float* s0, float* s1,
                           const EngineOptStep* opt, float* dx, const float* x_next,
                           float* y_next, const Epilogue* ep_next) {
  // dx with the weights before the step, then the weight gradient x^T dz computed by the
  // GEMM micro-kernels and applied tile by tile (gemm_update): no dW matrix is written.
  if (dx) gemm(false, true, rows, in, out, 1.f, dz, out, W, out, 0.f, dx, in, nullptr);
  // x_next only at batch 1 (the caller's contract): gemm_update's outer-product pass.
  gemm_update(true, false, in, out, rows, x, in, dz, out, W, s0, s1, opt,
              rows == 1 ? x_next : nullptr, y_next, ep_next);
}

FASTMLP_TIER_END
