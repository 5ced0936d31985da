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
void softmax_rows_short(const float* x, float* y, int64_t r0, int64_t r1, int64_t cols,
                        bool log) {
  for (int64_t r = r0; r < r1; ++r) {
    const vf v = load_n(x + r * cols, cols, -INFINITY);
    const float m = hmax(v);
    const vf d = sub(v, set1(m));
    const vf e = vm::exp(d);  // masked lanes: exp(-inf) = 0
    const float s = hsum(e);
    vf out;
    if (log) {
      out = sub(d, set1(static_cast<float>(std::log(static_cast<double>(s)))));
    } else {
      out = mul(e, set1(1.0f / s));
    }
    store_n(y + r * cols, out, cols);
  }
}

void softmax_rows(const float* x, float* y, int64_t r0, int64_t r1, int64_t cols, bool log) {
  if (cols <= W) return softmax_rows_short(x, y, r0, r1, cols, log);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float m = row_max(xr, cols);
    if (log) {
      const float s = row_exp_sum(xr, nullptr, cols, m);
      const float ls = static_cast<float>(std::log(static_cast<double>(s)));
      const vf vmx = set1(m), vls = set1(ls);
      map1(xr, yr, cols, [vmx, vls](vf v) { return sub(sub(v, vmx), vls); });
    } else {
      const float s = row_exp_sum(xr, yr, cols, m);
      row_scale(yr, cols, 1.0f / s);
    }
  }
}

// One row of the fused softmax cross-entropy; returns the row loss in double.
inline double xent_row(const float* xr, int32_t lab, float* dr, int64_t cols,
                       float grad_scale) {
  if (cols <= W) {  // the whole row in one register
    const vf v = load_n(xr, cols, -INFINITY);
    const float m = hmax(v);
    const float xl = xr[lab];
    const vf e = vm::exp(sub(v, set1(m)));
    const float s = hsum(e);
    const double loss = std::log(static_cast<double>(s)) +
                        (static_cast<double>(m) - static_cast<double>(xl));
    if (dr) {
      const float inv = 1.0f / s;
      store_n(dr, mul(mul(e, set1(inv)), set1(grad_scale)), cols);
      // e[lab] recomputed with the same vector code, as a one-lane vector.
      const float el = first(vm::exp(sub(set1(xl), set1(m))));
      dr[lab] = (el * inv - 1.0f) * grad_scale;
    }
    return loss;
  }
  const float m = row_max(xr, cols);
  const float xl = xr[lab];  // read before dr (which may alias xr) is written
  const float s = row_exp_sum(xr, dr, cols, m);
  const double ls = std::log(static_cast<double>(s));
  // -log softmax[lab] = log(s) + m - x[lab]; m - x[lab] is exact in double.
  const double loss = ls + (static_cast<double>(m) - static_cast<double>(xl));
  if (dr) {
    const float inv = 1.0f / s;
    const float el = dr[lab];
    const vf vinv = set1(inv), vg = set1(grad_scale);
    map1(dr, dr, cols, [vinv, vg](vf e) { return mul(mul(e, vinv), vg); });
    dr[lab] = (el * inv - 1.0f) * grad_scale;
  }
  return loss;
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
  auto row = [&](int64_t r) {
    const double loss = xent_row(logits + r * cols, labels[r],
                                 dlogits ? dlogits + r * cols : nullptr, cols, grad_scale);
    if (row_loss) row_loss[r] = static_cast<float>(loss);
    return loss;
  };
  double total = 0.0;
  if (nt <= 1) {
    for (int64_t r = 0; r < rows; ++r) total += row(r);
    return total;
  }
  // Rows in parallel, then the row losses summed in row order on this thread: the same
  // additions in the same order as the serial loop above.
  // (A plain new[] rather than std::vector: no std:: template instantiated in tier code,
  // where the linker could pick one tier's copy for all, see tier.h.)
  struct Buf {
    double* p;
    ~Buf() { delete[] p; }
  } losses{new double[static_cast<size_t>(rows)]};
  parallel_chunks(rows, nt, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) losses.p[r] = row(r);
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
