// shuffled_indices: the permutations fit's epochs take (xoshiro256** + Fisher-Yates),
// the same on every platform for a given (n, seed).
#include <cstdint>

#include "engine/network.h"

namespace fastmlp {
namespace engine {

namespace {

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

struct Xoshiro256ss {
  uint64_t s[4];
  explicit Xoshiro256ss(uint64_t seed) {
    uint64_t sm = seed;
    for (auto& v : s) v = splitmix64(sm);
  }
  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

}  // namespace

void shuffled_indices(int64_t n, uint64_t seed, int32_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(i);
  Xoshiro256ss rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t j = rng.next() % static_cast<uint64_t>(i + 1);
    const int32_t t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
}

}  // namespace engine
}  // namespace fastmlp
