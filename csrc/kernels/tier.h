// Included first by every per-tier kernel source. FASTMLP_NS is the tier's namespace
// (generic, avx2, avx512, neon), set by CMake together with that tier's ISA flags.
// Everything a kernel source defines, inline helpers too, must live inside
// FASTMLP_TIER_BEGIN / FASTMLP_TIER_END so that no ISA-specific copy of a function can be
// merged by the linker into another tier's code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernel_table.h"

#ifndef FASTMLP_NS
#error "tier sources must be compiled with -DFASTMLP_NS=<tier>"
#endif

#ifdef FASTMLP_HAVE_OPENMP
#include <omp.h>
#endif

#define FASTMLP_TIER_BEGIN namespace fastmlp { namespace FASTMLP_NS {
#define FASTMLP_TIER_END } }

#define FASTMLP_STR2(x) #x
#define FASTMLP_STR(x) FASTMLP_STR2(x)

FASTMLP_TIER_BEGIN

// Threads worth starting for `work` units (roughly flops or bytes touched): small work
// stays on the calling thread so it never pays for waking a team.
inline int threads_for(double work, double min_work_per_thread = 1 << 16) {
#ifdef FASTMLP_HAVE_OPENMP
  const int max_threads = omp_get_max_threads();
  if (max_threads <= 1 || omp_in_parallel()) return 1;
  const double n = work / min_work_per_thread;
  if (n < 2.0) return 1;
  return n < max_threads ? static_cast<int>(n) : max_threads;
#else
  (void)work; (void)min_work_per_thread;
  return 1;
#endif
}

// f(i) for i in [0, n), split statically over `nthreads` threads. With one thread no
// OpenMP region is entered at all (a team of one still costs about a microsecond).
template <typename F>
inline void parallel_for(int64_t n, int nthreads, F&& f) {
  if (nthreads <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// [begin, end) of thread `tid`'s share of n items in a static split over nth threads.
inline void split_range(int64_t n, int tid, int nth, int64_t* begin, int64_t* end) {
  *begin = n * tid / nth;
  *end = n * (tid + 1) / nth;
}

template <typename T> inline T min_of(T a, T b) { return b < a ? b : a; }
template <typename T> inline T max_of(T a, T b) { return a < b ? b : a; }

FASTMLP_TIER_END
