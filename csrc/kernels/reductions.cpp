// Column sums (threads over columns, never rows: bitwise the same for any thread count)
// and the all-finite check of an array.
#include "kernels/elementwise_loops.h"

FASTMLP_TIER_BEGIN

namespace {

// Column sums of x[rows, j0:j1]; 4 vectors of columns per sweep down the rows.
void colsum_range(const float* x, int64_t ldx, float* out, int64_t rows, int64_t j0,
                  int64_t j1) {
  int64_t j = j0;
  for (; j + 4 * W <= j1; j += 4 * W) {
    vf a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
    const float* p = x + j;
    for (int64_t i = 0; i < rows; ++i, p += ldx) {
      a0 = add(a0, load(p));
      a1 = add(a1, load(p + W));
      a2 = add(a2, load(p + 2 * W));
      a3 = add(a3, load(p + 3 * W));
    }
    store(out + j, a0);
    store(out + j + W, a1);
    store(out + j + 2 * W, a2);
    store(out + j + 3 * W, a3);
  }
  for (; j + W <= j1; j += W) {
    vf a0 = zero();
    const float* p = x + j;
    for (int64_t i = 0; i < rows; ++i, p += ldx) a0 = add(a0, load(p));
    store(out + j, a0);
  }
  if (j < j1) {
    const int64_t c = j1 - j;
    vf a0 = zero();
    const float* p = x + j;
    for (int64_t i = 0; i < rows; ++i, p += ldx) a0 = add(a0, load_n(p, c, 0.f));
    store_n(out + j, a0, c);
  }
}

}  // namespace

// (bits & exponent) + one exponent step sets the sign bit exactly for an all-ones
// exponent (NaN, inf): an and/add/or stream over 32 lanes that this tier's flags let the
// compiler vectorise (the baseline SSE2 copy in the engine took 3% of I1 at batch 1024).
bool all_finite(const float* x, int64_t n) {
  const uint32_t* u = reinterpret_cast<const uint32_t*>(x);
  constexpr uint32_t kExp = 0x7f800000u, kStep = 0x00800000u;
  uint32_t acc[32] = {};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 32; ++j) acc[j] |= (u[i + j] & kExp) + kStep;
  uint32_t bad = 0;
  for (; i < n; ++i) bad |= (u[i] & kExp) + kStep;
  for (int j = 0; j < 32; ++j) bad |= acc[j];
  return !(bad & 0x80000000u);
}

void colsum(const float* x, int64_t ldx, float* out, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  if (rows <= 0) {
    for (int64_t j = 0; j < cols; ++j) out[j] = 0.f;
    return;
  }
  const int nt = cols >= 8 * W ? threads_for_work(static_cast<double>(rows) * cols) : 1;
  parallel_chunks(cols, nt, 4 * W, [&](int64_t j0, int64_t j1) {
    colsum_range(x, ldx, out, rows, j0, j1);
  });
}

FASTMLP_TIER_END
