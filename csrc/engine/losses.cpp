// The losses of a batch, from the top layer's output: per-row losses, their sum, the
// gradient with respect to that output, and the number of rows predicted right (the
// accuracy Keras would report for the loss). Cross-entropies read logits: a final
// Softmax is fused into them (the network skips it in training, see loss_reads_logits).
#include "engine/losses.h"

#include <cmath>

namespace fastmlp {
namespace engine {

namespace {

int64_t argmax_row(const float* r, int64_t n) {
  int64_t best = 0;
  float bv = r[0];
  for (int64_t j = 1; j < n; ++j)
    if (r[j] > bv) { bv = r[j]; best = j; }
  return best;
}

}  // namespace

bool loss_reads_logits(LossKind kind) { return kind != LossKind::mse; }

double batch_loss(const KernelTable& k, LossKind kind, const float* top,
                  const int32_t* labels, const float* targets, int64_t rows, int64_t C,
                  float* dy, float* row_loss, int64_t* correct) {
  const float inv_rows = 1.f / static_cast<float>(rows);
  double sum = 0.0;
  int64_t corr = 0;
  switch (kind) {
    case LossKind::sparse_ce: {
      // The top output is treated as logits (the final Softmax, if any, is fused here).
      sum = k.softmax_xent(top, labels, dy, row_loss, rows, C, inv_rows);
      for (int64_t r = 0; r < rows; ++r) corr += argmax_row(top + r * C, C) == labels[r];
      break;
    }
    case LossKind::categorical_ce: {
      for (int64_t r = 0; r < rows; ++r) {
        const float* x = top + r * C;
        const float* t = targets + r * C;
        float m = x[0];
        for (int64_t j = 1; j < C; ++j) m = x[j] > m ? x[j] : m;
        double s = 0.0;
        for (int64_t j = 0; j < C; ++j) s += std::exp(static_cast<double>(x[j] - m));
        const double lse = static_cast<double>(m) + std::log(s);
        double l = 0.0, tsum = 0.0;
        for (int64_t j = 0; j < C; ++j) {
          l += static_cast<double>(t[j]) * (lse - x[j]);
          tsum += t[j];
        }
        if (row_loss) row_loss[r] = static_cast<float>(l);
        sum += l;
        if (dy) {
          float* d = dy + r * C;
          for (int64_t j = 0; j < C; ++j) {
            const double p = std::exp(static_cast<double>(x[j]) - lse);
            d[j] = static_cast<float>((p * tsum - t[j]) * inv_rows);
          }
        }
        corr += argmax_row(x, C) == argmax_row(t, C);
      }
      break;
    }
    case LossKind::mse: {
      const float gscale = 2.f / (static_cast<float>(rows) * static_cast<float>(C));
      for (int64_t r = 0; r < rows; ++r) {
        const float* x = top + r * C;
        const float* t = targets + r * C;
        double l = 0.0;
        for (int64_t j = 0; j < C; ++j) {
          const float e = x[j] - t[j];
          l += static_cast<double>(e) * e;
          if (dy) dy[r * C + j] = gscale * e;
        }
        l /= static_cast<double>(C);
        if (row_loss) row_loss[r] = static_cast<float>(l);
        sum += l;
        if (C == 1)
          corr += (x[0] > 0.5f) == (t[0] > 0.5f);
        else
          corr += argmax_row(x, C) == argmax_row(t, C);
      }
      break;
    }
  }
  if (correct) *correct = corr;
  return sum;
}

}  // namespace engine
}  // namespace fastmlp
