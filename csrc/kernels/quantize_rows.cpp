// Per-row asymmetric quantization of float activations to uint8 (contract: KernelTable::
// quantize_rows). The row's range is a min/max (exact in any order), the codes one
// multiply and one round-half-to-even each, so every tier gives the same bits.
#include <cmath>

#include "kernels/entry_points.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

FASTMLP_TIER_BEGIN

namespace {

// Codes are clamped in float first (any |x * inv| beyond this saturates either way), so
// the conversion to int32 never overflows.
constexpr float kCodeLimit = 512.f;

// lo = min(0, min x), hi = max(0, max x) of a finite row.
void row_range(const float* x, int64_t n, float* lo, float* hi) {
  int64_t k = 0;
  float l = 0.f, h = 0.f;
#if defined(__AVX2__)
  __m256 vl = _mm256_setzero_ps(), vh = _mm256_setzero_ps();
  for (; k + 8 <= n; k += 8) {
    const __m256 v = _mm256_loadu_ps(x + k);
    vl = _mm256_min_ps(vl, v);
    vh = _mm256_max_ps(vh, v);
  }
  alignas(32) float bl[8], bh[8];
  _mm256_store_ps(bl, vl);
  _mm256_store_ps(bh, vh);
  for (int t = 0; t < 8; ++t) {
    l = bl[t] < l ? bl[t] : l;
    h = bh[t] > h ? bh[t] : h;
  }
#endif
  for (; k < n; ++k) {
    l = x[k] < l ? x[k] : l;
    h = x[k] > h ? x[k] : h;
  }
  *lo = l;
  *hi = h;
}

void quantize_row(const float* x, int64_t n, float inv, int32_t zero, int32_t qmax,
                  uint8_t* q) {
  for (int64_t k = 0; k < n; ++k) {
    float t = x[k] * inv;
    t = t < -kCodeLimit ? -kCodeLimit : t;
    t = t > kCodeLimit ? kCodeLimit : t;
    int32_t v = static_cast<int32_t>(std::nearbyint(t)) + zero;
    v = v < 0 ? 0 : v;
    v = v > qmax ? qmax : v;
    q[k] = static_cast<uint8_t>(v);
  }
}

}  // namespace

void quantize_rows(const float* x, int64_t rows, int64_t cols, int64_t ldx, int32_t qmax,
                   float static_scale, int32_t static_zero, uint8_t* q, int64_t ldq,
                   float* scale, int32_t* zero, int* nonfinite) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    uint8_t* qr = q + r * ldq;
    if (!all_finite(xr, cols)) {
      for (int64_t k = 0; k < cols; ++k) qr[k] = 0;
      scale[r] = std::nanf("");
      zero[r] = 0;
      if (nonfinite) *nonfinite = 1;
      continue;
    }
    float s;
    int32_t z;
    if (static_scale > 0.f) {
      s = static_scale;
      z = static_zero;
    } else {
      float lo, hi;
      row_range(xr, cols, &lo, &hi);
      s = hi > lo ? (hi - lo) / static_cast<float>(qmax) : 1.f;
      const float zf = std::nearbyint(-lo * (1.f / s));
      z = static_cast<int32_t>(zf < 0.f ? 0.f : (zf > qmax ? static_cast<float>(qmax) : zf));
    }
    scale[r] = s;
    zero[r] = z;
    quantize_row(xr, cols, 1.f / s, z, qmax, qr);
  }
}

FASTMLP_TIER_END
