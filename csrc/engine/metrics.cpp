// Metrics of a batch (metrics.h): one loop over the rows per metric, so the default of a
// single accuracy costs one argmax per row, as when the loss computed it.
#include "engine/metrics.h"

#include <cmath>
#include <vector>

namespace fastmlp {
namespace engine {

namespace {

// First index of the largest value (NaN never wins), as NumPy's and Keras's argmax on
// finite rows.
int64_t argmax_row(const float* r, int64_t n) {
  int64_t best = 0;
  float bv = r[0];
  for (int64_t j = 1; j < n; ++j)
    if (r[j] > bv) { bv = r[j]; best = j; }
  return best;
}

// Whether the label's output is among the k largest: fewer than k outputs strictly above
// it (a NaN there is never in the top k).
bool in_top_k(const float* r, int64_t n, int64_t label, int64_t k) {
  const float v = r[label];
  if (std::isnan(v)) return false;
  int64_t above = 0;
  for (int64_t j = 0; j < n; ++j) above += r[j] > v;
  return above < k;
}

// The model's outputs of one row (p) from what the loss reads (see metrics.h).
void row_outputs(FusedActivation act, const float* x, int64_t C, double* p) {
  switch (act) {
    case FusedActivation::none:
      for (int64_t j = 0; j < C; ++j) p[j] = x[j];
      break;
    case FusedActivation::sigmoid:
      for (int64_t j = 0; j < C; ++j) p[j] = 1.0 / (1.0 + std::exp(-static_cast<double>(x[j])));
      break;
    case FusedActivation::softmax: {
      float m = x[0];
      for (int64_t j = 1; j < C; ++j) m = x[j] > m ? x[j] : m;
      double s = 0.0;
      for (int64_t j = 0; j < C; ++j) s += p[j] = std::exp(static_cast<double>(x[j] - m));
      for (int64_t j = 0; j < C; ++j) p[j] /= s;
      break;
    }
  }
}

// sum_r w[r] * f(r) (w null: sum_r f(r)), the kind's switch outside the row loop.
template <class F>
double weighted_sum(const float* w, int64_t rows, F f) {
  double s = 0.0;
  if (w) {
    for (int64_t r = 0; r < rows; ++r) s += static_cast<double>(w[r]) * f(r);
  } else {
    for (int64_t r = 0; r < rows; ++r) s += f(r);
  }
  return s;
}

}  // namespace

void batch_metrics(const MetricConfig* ms, int n, FusedActivation act, const float* top,
                   const int32_t* labels, const float* targets, const float* w,
                   int64_t rows, int64_t C, double* sums) {
  std::vector<double> p;  // one row's outputs, for the metrics that need values
  const auto x = [&](int64_t r) { return top + r * C; };
  const auto t = [&](int64_t r) { return targets + r * C; };
  for (int i = 0; i < n; ++i) {
    const MetricConfig& m = ms[i];
    double s = 0.0;
    switch (m.kind) {
      case MetricKind::sparse_categorical_accuracy:
        s = weighted_sum(w, rows, [&](int64_t r) {
          return static_cast<double>(argmax_row(x(r), C) == labels[r]);
        });
        break;
      case MetricKind::categorical_accuracy:
        s = weighted_sum(w, rows, [&](int64_t r) {
          return static_cast<double>(argmax_row(x(r), C) == argmax_row(t(r), C));
        });
        break;
      case MetricKind::sparse_top_k_categorical_accuracy:
        s = weighted_sum(w, rows, [&](int64_t r) {
          return static_cast<double>(in_top_k(x(r), C, labels[r], m.k));
        });
        break;
      case MetricKind::top_k_categorical_accuracy:
        s = weighted_sum(w, rows, [&](int64_t r) {
          return static_cast<double>(in_top_k(x(r), C, argmax_row(t(r), C), m.k));
        });
        break;
      case MetricKind::binary_accuracy:
      case MetricKind::mae:
      case MetricKind::mse:
        p.resize(static_cast<size_t>(C));
        s = weighted_sum(w, rows, [&](int64_t r) {
          row_outputs(act, x(r), C, p.data());
          const float* tr = t(r);
          double v = 0.0;
          for (int64_t j = 0; j < C; ++j) {
            const double e = p[j] - tr[j];
            v += m.kind == MetricKind::binary_accuracy ? ((p[j] > m.threshold) == (tr[j] > 0.5f))
                 : m.kind == MetricKind::mae         ? std::fabs(e)
                                                     : e * e;
          }
          return v / static_cast<double>(C);
        });
        break;
    }
    sums[i] += s;
  }
}

}  // namespace engine
}  // namespace fastmlp
