// Dropout fused into the preceding Dense (training): the mask applied to the GEMM's
// freshly stored tiles, and the backward of the Dense's activation and the mask in one
// pass. The draws are those of the Dropout layer (engine/layers/dropout.cpp): each hash
// of counter_hash::draw gives two 16-bit draws, one per element of an aligned pair.
#include "kernels/dropout_mask.h"

#include "kernels/counter_hash.h"
#include "kernels/entry_points.h"

FASTMLP_TIER_BEGIN

namespace {

inline float keep_lo(uint32_t h, uint32_t thr, float v, float sc) {
  return (h & 0xffffu) >= thr ? v * sc : 0.f;
}
inline float keep_hi(uint32_t h, uint32_t thr, float v, float sc) {
  return (h >> 16) >= thr ? v * sc : 0.f;
}

// p[0, n) = kept ? p * sc : 0, p[0] being element i0 of the mask.
void mask_run(uint32_t key, uint32_t thr, float sc, int64_t i0, float* p, int64_t n) {
  using counter_hash::draw;
  int64_t e = 0;
  if (i0 & 1) {  // a run starting on a pair's second element
    p[0] = keep_hi(draw(key, i0 >> 1), thr, p[0], sc);
    e = 1;
  }
  const int64_t q0 = (i0 + e) >> 1, pairs = (n - e) / 2;
  float* r = p + e;
  for (int64_t q = 0; q < pairs; ++q) {  // two draws per hash; vectorises
    const uint32_t h = draw(key, q0 + q);
    r[2 * q] = keep_lo(h, thr, r[2 * q], sc);
    r[2 * q + 1] = keep_hi(h, thr, r[2 * q + 1], sc);
  }
  if ((n - e) & 1) p[n - 1] = keep_lo(draw(key, q0 + pairs), thr, p[n - 1], sc);
}

}  // namespace

void apply_dropout(const DropoutMask& m, float* C, int64_t ldc, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* c = C + r * ldc;
    mask_run(m.key, m.drop_below, m.scale, c - m.origin, c, cols);
  }
}

void dropout_act_backward(Act act, float alpha, const DropoutMask* m, const float* y,
                          const float* dy, float* dz, int64_t n) {
  const float sc = m->scale;
  if (act == Act::relu) {  // y > 0 only where kept: no draws needed
    for (int64_t i = 0; i < n; ++i) dz[i] = y[i] > 0.f ? dy[i] * sc : 0.f;
    return;
  }
  // linear or leaky_relu: the mask first (the Dropout layer's backward), then act'.
  for (int64_t i = 0; i < n; ++i) dz[i] = dy[i];
  mask_run(m->key, m->drop_below, sc, 0, dz, n);
  if (act == Act::leaky_relu)
    for (int64_t i = 0; i < n; ++i) dz[i] = y[i] > 0.f ? dz[i] : alpha * dz[i];
}

FASTMLP_TIER_END
