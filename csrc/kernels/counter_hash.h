// The counter hash of the random layers (Dropout, GaussianNoise), shared by the engine
// (engine/layers/counter_rng.h) and the tiers' fused dropout (dropout_mask.cpp). The
// functions are static: each translation unit keeps its own copy, so a tier's copy built
// with ISA flags can never be merged by the linker into generic code (cmake/tiers.cmake).
#pragma once
#include <cstdint>

namespace fastmlp {
namespace counter_hash {

static inline uint32_t mix32(uint32_t h) {  // murmur3's finalizer: a bijection, well mixed
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// Draw i of a key: mix32(key + i * 0x9e3779b9).
static inline uint32_t draw(uint32_t key, int64_t i) {
  return mix32(key + static_cast<uint32_t>(i) * 0x9e3779b9u);
}

}  // namespace counter_hash
}  // namespace fastmlp
