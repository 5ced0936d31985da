// Counter-based random bits for the random layers (Dropout, GaussianNoise): a value's
// draw is a pure function of (seed, step, its index in the batch), so training is bitwise
// the same on any thread count and backward can recompute what forward drew.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/counter_hash.h"

namespace fastmlp {
namespace engine {

using counter_hash::mix32;  // (kernels/counter_hash.h)
using counter_hash::draw;

inline uint64_t mix64(uint64_t z) {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The 32-bit key of one layer's draws for one training step (then draw(key, i)).
inline uint32_t step_key(uint64_t seed, int64_t step, uint64_t salt = 0) {
  const uint64_t k = mix64(seed ^ mix64(static_cast<uint64_t>(step) + salt));
  return static_cast<uint32_t>(k ^ (k >> 32));
}

// A dropout rate as applied: a 16-bit draw below drop_below drops its value (the rate in
// steps of 1/65536), the kept are scaled by keep_scale (from that same rate).
struct DropoutRate {
  uint32_t drop_below = 0;
  float keep_scale = 1.f;
  explicit DropoutRate(float rate) {
    const long q = std::lround(static_cast<double>(rate) * 65536.0);
    drop_below = static_cast<uint32_t>(q > 65535 ? 65535 : q);
    keep_scale = static_cast<float>(65536.0 / (65536.0 - drop_below));
  }
};

}  // namespace engine
}  // namespace fastmlp
