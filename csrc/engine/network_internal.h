// What the parts of the network (network.cpp, network_train.cpp, network_infer.cpp)
// share: thread queries and the first non-finite row of a block of floats.
#pragma once
#include <cstdint>

#include "kernels/kernel_table.h"

#ifdef FASTMLP_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastmlp {
namespace engine {
namespace detail {

inline int max_threads() {
#ifdef FASTMLP_HAVE_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int thread_id() {
#ifdef FASTMLP_HAVE_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Index of the first row of x[rows, cols] (row stride ld, default cols) holding NaN or
// inf, or -1. Contiguous rows take one vectorised pass of the active tier (k.all_finite).
inline int64_t first_nonfinite_row(const KernelTable& k, const float* x, int64_t rows,
                                   int64_t cols, int64_t ld = -1) {
  if (ld >= 0 && ld != cols) {  // strided rows (a slice or a broadcast view)
    for (int64_t r = 0; r < rows; ++r)
      if (!k.all_finite(x + r * ld, cols)) return r;
    return -1;
  }
  const int64_t n = rows * cols;
  if (k.all_finite(x, n)) return -1;
  const uint32_t* u = reinterpret_cast<const uint32_t*>(x);
  constexpr uint32_t kExp = 0x7f800000u;
  for (int64_t i = 0; i < n; ++i)
    if ((u[i] & kExp) == kExp) return i / cols;
  return -1;
}

}  // namespace detail
}  // namespace engine
}  // namespace fastmlp
