#include "cpu/threads.h"

#ifdef FASTMLP_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastmlp {

bool have_openmp() {
#ifdef FASTMLP_HAVE_OPENMP
  return true;
#else
  return false;
#endif
}

int get_num_threads() {
#ifdef FASTMLP_HAVE_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) {
#ifdef FASTMLP_HAVE_OPENMP
  omp_set_num_threads(n < 1 ? 1 : n);
#else
  (void)n;
#endif
}

}  // namespace fastmlp
