// Thread-count control over the OpenMP runtime (libgomp), so OMP_NUM_THREADS,
// fastmlp.set_num_threads and threadpoolctl all act on the same knob.
#pragma once

namespace fastmlp {
bool have_openmp();
int get_num_threads();
void set_num_threads(int n);  // n >= 1
}  // namespace fastmlp
