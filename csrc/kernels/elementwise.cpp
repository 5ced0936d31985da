// Activations (forward and backward), softmax / log-softmax, fused softmax cross-entropy
// and column sums, vectorized with the per-tier layer in vec_math.h.
//
// Threads: elementwise work is split into contiguous chunks, softmax work by rows,
// column sums by columns (never rows): every output element is computed by the same
// instructions in the same order whatever the thread count, so results are bitwise
// identical for 1 or N threads. Small work never starts threads (short rows from the
// GEMM epilogue return before touching the OpenMP runtime).
#include <cmath>

#include "kernels/entry_points.h"
#include "kernels/vec_math.h"

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
  return (act == Act::sigmoid || act == Act::tanh) ? 8.0 : 1.0;
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

void act_forward_range(Act act, float alpha, const float* x, float* y, int64_t n) {
  switch (act) {
    case Act::linear:
      if (x != y) std::memmove(y, x, static_cast<size_t>(n) * sizeof(float));
      break;
    case Act::relu: {
      // max(0, x) returns x when x is NaN: NaN propagates (like np.maximum).
      const vf z = zero();
      map1(x, y, n, [z](vf v) { return max(z, v); });
      break;
    }
    case Act::leaky_relu: {
      const vf z = zero(), a = set1(alpha);
      map1(x, y, n, [z, a](vf v) { return select(gt(v, z), v, mul(a, v)); });
      break;
    }
    case Act::sigmoid:
      map1(x, y, n, [](vf v) { return vm::sigmoid(v); });
      break;
    case Act::tanh:
      map1(x, y, n, [](vf v) { return vm::tanh(v); });
      break;
  }
}

void act_backward_range(Act act, float alpha, const float* y, const float* dy, float* dx,
                        int64_t n) {
  switch (act) {
    case Act::linear:
      if (dy != dx) std::memmove(dx, dy, static_cast<size_t>(n) * sizeof(float));
      break;
    case Act::relu: {
      const vf z = zero();
      map2(y, dy, dx, n, [z](vf v, vf g) { return select(gt(v, z), g, z); });
      break;
    }
    case Act::leaky_relu: {
      const vf z = zero(), a = set1(alpha);
      map2(y, dy, dx, n, [z, a](vf v, vf g) { return select(gt(v, z), g, mul(a, g)); });
      break;
    }
    case Act::sigmoid: {
      // dy * y * (1 - y); 1 - y is exact for y in [0.5, 1], and y*(1-y) rounds once more.
      const vf one = set1(1.0f);
      map2(y, dy, dx, n, [one](vf v, vf g) { return mul(g, mul(v, sub(one, v))); });
      break;
    }
    case Act::tanh: {
      // dy * (1 - y^2) as dy * (1 - y) * (1 + y): no cancellation near |y| = 1 even
      // without FMA (one of 1 - y, 1 + y is exact there), same formula on every tier.
      const vf one = set1(1.0f);
      map2(y, dy, dx, n, [one](vf v, vf g) { return mul(g, mul(sub(one, v), add(one, v))); });
      break;
    }
  }
}

// ---- row helpers for softmax ----------------------------------------------------------

inline float row_max(const float* x, int64_t c) {
  vf m0 = set1(-INFINITY), m1 = m0;
  int64_t j = 0;
  for (; j + 2 * W <= c; j += 2 * W) {
    m0 = max(m0, load(x + j));
    m1 = max(m1, load(x + j + W));
  }
  for (; j + W <= c; j += W) m0 = max(m0, load(x + j));
  if (j < c) m1 = max(m1, load_n(x + j, c - j, -INFINITY));
  return hmax(max(m0, m1));
}

// Returns sum_j exp(x[j] - m); stores the exponentials into e when e is non-null
// (e may equal x).
inline float row_exp_sum(const float* x, float* e, int64_t c, float m) {
  const vf vm_ = set1(m);
  vf s0 = zero(), s1 = zero();
  int64_t j = 0;
  for (; j + 2 * W <= c; j += 2 * W) {
    const vf a = vm::exp(sub(load(x + j), vm_));
    const vf b = vm::exp(sub(load(x + j + W), vm_));
    if (e) { store(e + j, a); store(e + j + W, b); }
    s0 = add(s0, a);
    s1 = add(s1, b);
  }
  for (; j + W <= c; j += W) {
    const vf a = vm::exp(sub(load(x + j), vm_));
    if (e) store(e + j, a);
    s0 = add(s0, a);
  }
  if (j < c) {
    // Masked lanes load -inf: exp(-inf - m) = 0 adds nothing.
    const vf a = vm::exp(sub(load_n(x + j, c - j, -INFINITY), vm_));
    if (e) store_n(e + j, a, c - j);
    s1 = add(s1, a);
  }
  return hsum(add(s0, s1));
}

inline void row_scale(float* y, int64_t c, float s) {
  const vf vs = set1(s);
  map1(y, y, c, [vs](vf v) { return mul(v, vs); });
}

// Rows of at most W columns (e.g. 10 classes): the row stays in one register from the
// masked load to the masked store (no store-to-load round trips through y).
void softmax_rows_short(const float* x, float* y, int64_t r0, int64_t r1, int64_t cols) {
  for (int64_t r = r0; r < r1; ++r) {
    const vf v = load_n(x + r * cols, cols, -INFINITY);
    const vf e = vm::exp(sub(v, set1(hmax(v))));  // masked lanes: exp(-inf) = 0
    store_n(y + r * cols, mul(e, set1(1.0f / hsum(e))), cols);
  }
}

// log_softmax = x - max - log(sum exp(x - max)). The logs of W rows are taken together
// with the vector log (one lane per row: the value does not depend on the blocking).
void log_softmax_rows(const float* x, float* y, int64_t r0, int64_t r1, int64_t cols) {
  alignas(64) float mb[W], sb[W], lb[W];
  for (int64_t rb = r0; rb < r1; rb += W) {
    const int64_t nb = min_of<int64_t>(W, r1 - rb);
    for (int64_t i = 0; i < nb; ++i) {
      const float* xr = x + (rb + i) * cols;
      if (cols <= W) {
        const vf v = load_n(xr, cols, -INFINITY);
        mb[i] = hmax(v);
        sb[i] = hsum(vm::exp(sub(v, set1(mb[i]))));
      } else {
        mb[i] = row_max(xr, cols);
        sb[i] = row_exp_sum(xr, nullptr, cols, mb[i]);
      }
    }
    store(lb, vm::log(load_n(sb, nb, 1.0f)));
    for (int64_t i = 0; i < nb; ++i) {
      const vf vmx = set1(mb[i]), vls = set1(lb[i]);
      const float* xr = x + (rb + i) * cols;
      float* yr = y + (rb + i) * cols;
      map1(xr, yr, cols, [vmx, vls](vf v) { return sub(sub(v, vmx), vls); });
    }
  }
}

void softmax_rows(const float* x, float* y, int64_t r0, int64_t r1, int64_t cols, bool log) {
  if (log) return log_softmax_rows(x, y, r0, r1, cols);
  if (cols <= W) return softmax_rows_short(x, y, r0, r1, cols);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float m = row_max(xr, cols);
    const float s = row_exp_sum(xr, yr, cols, m);
    row_scale(yr, cols, 1.0f / s);
  }
}

// Fused softmax cross-entropy over rows [r0, r1): writes dlogits (when non-null) and
// calls emit(r, loss) in row order with the row loss in double,
//   -log softmax[lab] = log(s) + (m - x[lab])   (m - x[lab] exact in double),
// log(s) from the vector log over blocks of W rows.
template <class Emit>
void xent_rows(const float* logits, const int32_t* labels, float* dlogits, int64_t r0,
               int64_t r1, int64_t cols, float grad_scale, const Emit& emit) {
  alignas(64) float mb[W], sb[W], xb[W], lb[W];
  const vf vg = set1(grad_scale);
  for (int64_t rb = r0; rb < r1; rb += W) {
    const int64_t nb = min_of<int64_t>(W, r1 - rb);
    for (int64_t i = 0; i < nb; ++i) {
      const int64_t r = rb + i;
      const float* xr = logits + r * cols;
      float* dr = dlogits ? dlogits + r * cols : nullptr;
      const int32_t lab = labels[r];
      const float xl = xr[lab];  // read before dr (which may alias xr) is written
      float m, s, el = 0.f;
      if (cols <= W) {  // the whole row in one register
        const vf v = load_n(xr, cols, -INFINITY);
        m = hmax(v);
        const vf e = vm::exp(sub(v, set1(m)));
        s = hsum(e);
        if (dr) {
          store_n(dr, mul(mul(e, set1(1.0f / s)), vg), cols);
          // e[lab] recomputed by the same vector code (equal to the lane stored).
          el = first(vm::exp(sub(set1(xl), set1(m))));
        }
      } else {
        m = row_max(xr, cols);
        s = row_exp_sum(xr, dr, cols, m);
        if (dr) {
          el = dr[lab];
          const vf vinv = set1(1.0f / s);
          map1(dr, dr, cols, [vinv, vg](vf e) { return mul(mul(e, vinv), vg); });
        }
      }
      if (dr) dr[lab] = (el * (1.0f / s) - 1.0f) * grad_scale;
      mb[i] = m;
      sb[i] = s;
      xb[i] = xl;
    }
    store(lb, vm::log(load_n(sb, nb, 1.0f)));
    for (int64_t i = 0; i < nb; ++i)
      emit(rb + i, static_cast<double>(lb[i]) +
                       (static_cast<double>(mb[i]) - static_cast<double>(xb[i])));
  }
}

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

void act_forward(Act act, float alpha, const float* x, float* y, int64_t n) {
  if (n <= 0) return;
  const int nt = threads_for_work(static_cast<double>(n) * act_cost(act));
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    act_forward_range(act, alpha, x + i0, y + i0, i1 - i0);
  });
}

void act_backward(Act act, float alpha, const float* y, const float* dy, float* dx,
                  int64_t n) {
  if (n <= 0) return;
  const int nt = threads_for_work(static_cast<double>(n) * 1.5);
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    act_backward_range(act, alpha, y + i0, dy + i0, dx + i0, i1 - i0);
  });
}

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

void softmax(const float* x, float* y, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  const int nt = threads_for_work(static_cast<double>(rows) * (cols * 6.0 + 64.0));
  parallel_chunks(rows, nt, 1, [&](int64_t r0, int64_t r1) {
    softmax_rows(x, y, r0, r1, cols, log);
  });
}

double softmax_xent(const float* logits, const int32_t* labels, float* dlogits,
                    float* row_loss, int64_t rows, int64_t cols, float grad_scale) {
  if (rows <= 0 || cols <= 0) return 0.0;
  const int nt = threads_for_work(static_cast<double>(rows) * (cols * 6.0 + 96.0));
  double total = 0.0;
  if (nt <= 1) {
    xent_rows(logits, labels, dlogits, 0, rows, cols, grad_scale, [&](int64_t r, double l) {
      if (row_loss) row_loss[r] = static_cast<float>(l);
      total += l;
    });
    return total;
  }
  // Rows in parallel, then the row losses summed in row order on this thread: the same
  // additions in the same order as the serial loop above. (A plain new[] rather than
  // std::vector: no std:: template instantiated in tier code, see tier.h.)
  struct Buf {
    double* p;
    ~Buf() { delete[] p; }
  } losses{new double[static_cast<size_t>(rows)]};
  parallel_chunks(rows, nt, 1, [&](int64_t r0, int64_t r1) {
    xent_rows(logits, labels, dlogits, r0, r1, cols, grad_scale, [&](int64_t r, double l) {
      if (row_loss) row_loss[r] = static_cast<float>(l);
      losses.p[r] = l;
    });
  });
  for (int64_t r = 0; r < rows; ++r) total += losses.p[r];
  return total;
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
