// Counter-based random bits for the random layers (Dropout, GaussianNoise): a value's
// draw is a pure function of (seed, step, its index in the batch), so training is bitwise
// the same on any thread count and backward can recompute what forward drew.
#pragma once
#include <cstdint>

namespace fastmlp {
namespace engine {

inline uint32_t mix32(uint32_t h) {  // murmur3's finalizer: a bijection, well mixed
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

inline uint64_t mix64(uint64_t z) {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The 32-bit key of one layer's draws for one training step; draw i is
// mix32(key + i * 0x9e3779b9).
inline uint32_t step_key(uint64_t seed, int64_t step, uint64_t salt = 0) {
  const uint64_t k = mix64(seed ^ mix64(static_cast<uint64_t>(step) + salt));
  return static_cast<uint32_t>(k ^ (k >> 32));
}

inline uint32_t draw(uint32_t key, int64_t i) {
  return mix32(key + static_cast<uint32_t>(i) * 0x9e3779b9u);
}

}  // namespace engine
}  // namespace fastmlp
