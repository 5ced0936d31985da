// gather_rows: a batch's rows of x (optionally through an index list) as float32, with
// the uint8/float conversion and the leading Rescaling (x * scale + offset) fused in.
// Compiled once per tier.
#include <cstring>

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

FASTMLP_TIER_END
