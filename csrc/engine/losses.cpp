// The losses of a batch, from the top layer's output: per-row losses, their sum, and the
// gradient of the mean loss with respect to that output (metrics.cpp computes the
// accuracies and other metrics). Keras 3's formulas, one case per kind
// (t: the targets, o: the top output, e = o - t, eps = 1e-7, Keras's epsilon()):
//   sparse / categorical CE: per row -sum_j t_j log p_j, with p = softmax(o) for logits,
//     else p = clip(o / sum(o), eps, 1 - eps) (outputs taken as probabilities);
//   binary CE: per row the mean over its outputs of -(t log p + (1 - t) log(1 - p)), with
//     p = sigmoid(o) for logits (as max(o, 0) - o t + log1p(exp(-|o|)): no overflow), else
//     p = clip(o, eps, 1 - eps);
//   label smoothing (categorical, binary CE): t (1 - ls) + ls / C, t (1 - ls) + ls / 2;
//   mse, mae: per row the mean of e^2, |e|;
//   huber: per row the mean of 0.5 e^2 for |e| <= delta, else delta |e| - 0.5 delta^2.
// The batch's loss is the mean of its row losses; dy is the exact gradient of that mean
// (through the clip: zero where a probability is clipped). Sample weights (weight_rows)
// scale each row's loss and gradient row afterwards: sum_r w_r l_r / rows, Keras 3's
// sum_over_batch_size.
// A final Softmax / Sigmoid is fused into its cross-entropy by the network (it hands
// over the logits: fused_activation), so the clipping applies only to outputs the model
// computes as probabilities some other way.
#include "engine/losses.h"

#include <cmath>

namespace fastmlp {
namespace engine {

namespace {

constexpr double kEps = 1e-7;
constexpr double kOneMinusEps = 1.0 - 1e-7;

// clip(p, eps, 1 - eps); NaN stays NaN (as Keras's clip).
double clip_prob(double p) { return p < kEps ? kEps : (p > kOneMinusEps ? kOneMinusEps : p); }
// Whether the clip passes p through (its derivative is 1, else 0).
bool unclipped(double p) { return p > kEps && p < kOneMinusEps; }

double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

}  // namespace

FusedActivation fused_activation(const LossConfig& cfg) {
  if (cfg.from_logits) return FusedActivation::none;
  switch (cfg.kind) {
    case LossKind::sparse_ce:
    case LossKind::categorical_ce: return FusedActivation::softmax;
    case LossKind::binary_ce: return FusedActivation::sigmoid;
    default: return FusedActivation::none;
  }
}

double batch_loss(const KernelTable& k, const LossConfig& cfg, bool logits, const float* top,
                  const int32_t* labels, const float* targets, int64_t rows, int64_t C,
                  float* dy, float* row_loss) {
  const float inv_rows = 1.f / static_cast<float>(rows);
  const double ls = cfg.label_smoothing;
  double sum = 0.0;
  switch (cfg.kind) {
    case LossKind::sparse_ce: {
      if (logits) {
        // One fused kernel pass (a final Softmax, if any, is skipped by the network).
        sum = k.softmax_xent(top, labels, dy, row_loss, rows, C, inv_rows);
        break;
      }
      for (int64_t r = 0; r < rows; ++r) {
        const float* o = top + r * C;
        const int32_t y = labels[r];
        double s = 0.0;
        for (int64_t j = 0; j < C; ++j) s += o[j];
        const double p = static_cast<double>(o[y]) / s;
        const double l = -std::log(clip_prob(p));
        if (row_loss) row_loss[r] = static_cast<float>(l);
        sum += l;
        if (dy) {
          // d(-log(o_y / s)) / do_j = 1 / s - [j == y] / o_y, where the clip passes p.
          float* d = dy + r * C;
          const bool live = unclipped(p);
          const double a = live ? 1.0 / s : 0.0;
          for (int64_t j = 0; j < C; ++j) d[j] = static_cast<float>(a * inv_rows);
          if (live) d[y] = static_cast<float>((a - 1.0 / o[y]) * inv_rows);
        }
      }
      break;
    }
    case LossKind::categorical_ce: {
      const double keep = 1.0 - ls, add = ls / static_cast<double>(C);
      for (int64_t r = 0; r < rows; ++r) {
        const float* x = top + r * C;
        const float* t = targets + r * C;
        double l = 0.0;
        if (logits) {
          float m = x[0];
          for (int64_t j = 1; j < C; ++j) m = x[j] > m ? x[j] : m;
          double s = 0.0;
          for (int64_t j = 0; j < C; ++j) s += std::exp(static_cast<double>(x[j] - m));
          const double lse = static_cast<double>(m) + std::log(s);
          double tsum = 0.0;
          for (int64_t j = 0; j < C; ++j) {
            const double tj = t[j] * keep + add;
            l += tj * (lse - x[j]);
            tsum += tj;
          }
          if (dy) {
            float* d = dy + r * C;
            for (int64_t j = 0; j < C; ++j) {
              const double p = std::exp(static_cast<double>(x[j]) - lse);
              d[j] = static_cast<float>((p * tsum - (t[j] * keep + add)) * inv_rows);
            }
          }
        } else {
          // p_j = o_j / s clipped: d(-sum t_i log p_i) / do_j = A / s - t_j / o_j (the
          // second term only where p_j is not clipped), A = sum of t_i over unclipped p_i.
          double s = 0.0;
          for (int64_t j = 0; j < C; ++j) s += x[j];
          double A = 0.0;
          for (int64_t j = 0; j < C; ++j) {
            const double tj = t[j] * keep + add;
            const double p = static_cast<double>(x[j]) / s;
            l -= tj * std::log(clip_prob(p));
            if (unclipped(p)) A += tj;
          }
          if (dy) {
            float* d = dy + r * C;
            for (int64_t j = 0; j < C; ++j) {
              const double tj = t[j] * keep + add;
              const double p = static_cast<double>(x[j]) / s;
              const double g = A / s - (unclipped(p) ? tj / x[j] : 0.0);
              d[j] = static_cast<float>(g * inv_rows);
            }
          }
        }
        if (row_loss) row_loss[r] = static_cast<float>(l);
        sum += l;
      }
      break;
    }
    case LossKind::binary_ce: {
      const double keep = 1.0 - ls, add = 0.5 * ls;
      const double gscale = 1.0 / (static_cast<double>(rows) * static_cast<double>(C));
      for (int64_t r = 0; r < rows; ++r) {
        const float* x = top + r * C;
        const float* t = targets + r * C;
        double l = 0.0;
        for (int64_t j = 0; j < C; ++j) {
          const double z = x[j];
          const double tj = t[j] * keep + add;
          double g;
          if (logits) {
            l += (z > 0.0 ? z : 0.0) - z * tj + std::log1p(std::exp(-std::fabs(z)));
            g = sigmoid(z) - tj;
          } else {
            const double q = clip_prob(z);
            l -= tj * std::log(q) + (1.0 - tj) * std::log(1.0 - q);
            g = unclipped(z) ? (q - tj) / (q * (1.0 - q)) : 0.0;
          }
          if (dy) dy[r * C + j] = static_cast<float>(g * gscale);
        }
        l /= static_cast<double>(C);
        if (row_loss) row_loss[r] = static_cast<float>(l);
        sum += l;
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
      }
      break;
    }
    case LossKind::mae:
    case LossKind::huber: {
      const bool mae = cfg.kind == LossKind::mae;
      const double delta = cfg.delta;
      const double gscale = 1.0 / (static_cast<double>(rows) * static_cast<double>(C));
      for (int64_t r = 0; r < rows; ++r) {
        const float* x = top + r * C;
        const float* t = targets + r * C;
        double l = 0.0;
        for (int64_t j = 0; j < C; ++j) {
          const double e = x[j] - t[j];  // the float32 difference, as Keras computes it
          const double ae = std::fabs(e);
          const double sign = e > 0.0 ? 1.0 : (e < 0.0 ? -1.0 : 0.0);
          double g;
          if (mae) {
            l += ae;
            g = sign;
          } else if (ae <= delta) {
            l += 0.5 * e * e;
            g = e;
          } else {
            l += delta * ae - 0.5 * delta * delta;
            g = delta * sign;
          }
          if (dy) dy[r * C + j] = static_cast<float>(g * gscale);
        }
        l /= static_cast<double>(C);
        if (row_loss) row_loss[r] = static_cast<float>(l);
        sum += l;
      }
      break;
    }
  }
  return sum;
}

double weight_rows(const float* w, int64_t rows, int64_t C, float* dy, const float* row_loss) {
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    sum += static_cast<double>(w[r]) * row_loss[r];
    if (dy) {
      float* d = dy + r * C;
      for (int64_t j = 0; j < C; ++j) d[j] *= w[r];
    }
  }
  return sum;
}

}  // namespace engine
}  // namespace fastmlp
