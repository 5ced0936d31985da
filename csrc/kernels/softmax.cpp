// Softmax / log-softmax and the fused softmax cross-entropy, row by row (threads take
// whole rows; a row's result never depends on the thread count).
#include "kernels/elementwise_loops.h"

FASTMLP_TIER_BEGIN

namespace {

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

}  // namespace

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

FASTMLP_TIER_END
