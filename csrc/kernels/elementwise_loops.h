// What the elementwise kernels share (activations.cpp, softmax.cpp, reductions.cpp):
// the thread budget of elementwise work and the map loops over full vectors plus one
// masked tail, on the per-tier vector layer (vec_math.h).
//
// Threads: elementwise work is split into contiguous chunks, softmax work by rows,
// column sums by columns (never rows): every output element is computed by the same
// instructions in the same order whatever the thread count, so results are bitwise
// identical for 1 or N threads. Small work never starts threads (short rows from the
// GEMM epilogue return before touching the OpenMP runtime).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/entry_points.h"
#include "kernels/vec_functions.h"

FASTMLP_TIER_BEGIN

namespace {

using namespace vm;

// Work units: about one unit per element per cheap operation; threads_for gives each
// thread at least kWorkPerThread units. Below kMinParallelWork no OpenMP call is made.
constexpr double kWorkPerThread = 1 << 16;
constexpr double kMinParallelWork = 2.0 * kWorkPerThread;

inline int threads_for_work(double work) {
  return work < kMinParallelWork ? 1 : threads_for(work, kWorkPerThread);
}

// Cost per element, in work units, of each activation's forward pass.
inline double act_cost(Act act) {
  switch (act) {
    case Act::sigmoid: case Act::tanh: return 8.0;
    case Act::silu: case Act::elu: case Act::selu: case Act::softplus: return 10.0;
    case Act::mish: return 12.0;
    case Act::gelu_tanh: return 14.0;
    case Act::gelu: return 20.0;
    default: return 1.0;
  }
}

// y[i] = f(x[i]) for i in [0, n); f maps a vf to a vf. Full vectors, then one masked tail.
template <class F>
inline void map1(const float* x, float* y, int64_t n, const F& f) {
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const vf a = f(load(x + i)), b = f(load(x + i + W));
    store(y + i, a);
    store(y + i + W, b);
  }
  for (; i + W <= n; i += W) store(y + i, f(load(x + i)));
  if (i < n) store_n(y + i, f(load_n(x + i, n - i, 0.f)), n - i);
}

// z[i] = f(a[i], b[i]).
template <class F>
inline void map2(const float* a, const float* b, float* z, int64_t n, const F& f) {
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const vf r0 = f(load(a + i), load(b + i));
    const vf r1 = f(load(a + i + W), load(b + i + W));
    store(z + i, r0);
    store(z + i + W, r1);
  }
  for (; i + W <= n; i += W) store(z + i, f(load(a + i), load(b + i)));
  if (i < n) store_n(z + i, f(load_n(a + i, n - i, 0.f), load_n(b + i, n - i, 0.f)), n - i);
}

}  // namespace

FASTMLP_TIER_END
