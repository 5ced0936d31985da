// Whole-gradient updates (param_update.h). Sums (penalties, norms) run in double in a
// fixed order, and every elementwise step reads only its own element: the results are
// the same bits for any thread count.
#include "engine/param_update.h"

#include <algorithm>
#include <cmath>

namespace fastmlp {
namespace engine {

namespace {

// Keras' backend epsilon, which MaxNorm adds to the norm it divides by.
constexpr double kNormEpsilon = 1e-7;

int64_t count(const Param& p) { return p.rows * p.cols; }

double sum_squares(const float* g, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(g[i]) * g[i];
  return s;
}

void scale(float* g, int64_t n, float f) {
  for (int64_t i = 0; i < n; ++i) g[i] *= f;
}

// Keras' clip_by_norm: g * clip / max(norm, clip), the factor rounded once.
float clip_factor(double norm, float clip) {
  return norm > clip ? static_cast<float>(clip / norm) : 1.f;
}

void clip_gradients(const std::vector<Param>& params, const std::vector<float*>& grads,
                    const OptimizerConfig& o) {
  if (o.global_clipnorm > 0.f) {
    double s = 0.0;
    for (size_t i = 0; i < params.size(); ++i) s += sum_squares(grads[i], count(params[i]));
    const float f = clip_factor(std::sqrt(s), o.global_clipnorm);
    if (f != 1.f)
      for (size_t i = 0; i < params.size(); ++i) scale(grads[i], count(params[i]), f);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const int64_t n = count(params[i]);
    float* g = grads[i];
    if (o.clipnorm > 0.f) {
      const float f = clip_factor(std::sqrt(sum_squares(g, n)), o.clipnorm);
      if (f != 1.f) scale(g, n, f);
    }
    if (o.clipvalue > 0.f)
      for (int64_t j = 0; j < n; ++j) g[j] = std::clamp(g[j], -o.clipvalue, o.clipvalue);
  }
}

// Keras 3 RMSprop: v = rho v + (1 - rho) g^2; centered: a = rho a + (1 - rho) g and
// the denominator v - a^2 + eps, else v + eps; inc = lr g / sqrt(den); with momentum,
// m = momentum m + inc and p -= m, else p -= inc. Slots: s0 v, s1 m, s2 a.
void rmsprop_step(Param& p, const float* g, const OptimizerConfig& o) {
  const int64_t n = count(p);
  float* w = p.buf->data();
  float* v = p.s0->data();
  float* m = p.s1 ? p.s1->data() : nullptr;
  float* a = p.s2 ? p.s2->data() : nullptr;
  const float rho = o.rho, one_rho = 1.f - o.rho;
  for (int64_t i = 0; i < n; ++i) {
    v[i] = rho * v[i] + one_rho * g[i] * g[i];
    float den = v[i] + o.eps;
    if (a) {
      a[i] = rho * a[i] + one_rho * g[i];
      den = v[i] - a[i] * a[i] + o.eps;
    }
    const float inc = o.lr * g[i] / std::sqrt(den);
    if (m) {
      m[i] = o.momentum * m[i] + inc;
      w[i] -= m[i];
    } else {
      w[i] -= inc;
    }
  }
}

// Keras 3 Nadam at step t = o.step (1-based), u_s = beta_1 (1 - 0.5 * 0.96^s):
// m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
// m_hat = u_{t+1} m / (1 - prod_{t+1}) + (1 - u_t) g / (1 - prod_t), prod_t = u_1 ... u_t;
// p -= lr m_hat / (sqrt(v / (1 - beta_2^t)) + eps). Slots: s0 m, s1 v.
void nadam_step(Param& p, const float* g, const OptimizerConfig& o, double prod_t) {
  const double t = static_cast<double>(o.step);
  const double u_t = o.beta1 * (1.0 - 0.5 * std::pow(0.96, t));
  const double u_next = o.beta1 * (1.0 - 0.5 * std::pow(0.96, t + 1.0));
  const double prod_next = prod_t * u_next;
  const auto cm = static_cast<float>(u_next / (1.0 - prod_next));
  const auto cg = static_cast<float>((1.0 - u_t) / (1.0 - prod_t));
  const auto inv_bc2 = static_cast<float>(1.0 / (1.0 - std::pow(double(o.beta2), t)));
  const int64_t n = count(p);
  float* w = p.buf->data();
  float* m = p.s0->data();
  float* v = p.s1->data();
  const float b1c = 1.f - o.beta1, b2c = 1.f - o.beta2;
  for (int64_t i = 0; i < n; ++i) {
    m[i] += (g[i] - m[i]) * b1c;
    v[i] += (g[i] * g[i] - v[i]) * b2c;
    const float m_hat = cm * m[i] + cg * g[i];
    w[i] -= o.lr * m_hat / (std::sqrt(v[i] * inv_bc2) + o.eps);
  }
}

// Keras 3's decoupled weight decay of RMSprop and Nadam: p -= lr * wd * p, first.
void decay(Param& p, const OptimizerConfig& o) {
  if (o.weight_decay == 0.f) return;
  const float f = o.lr * o.weight_decay;
  float* w = p.buf->data();
  for (int64_t i = 0; i < count(p); ++i) w[i] -= w[i] * f;
}

// Keras' MaxNorm: each norm over the rule's axis above max_norm is scaled down to it,
// p * clip(norm, 0, max) / (eps + norm) (a norm below max shrinks by eps / norm too).
void apply_max_norm(Param& p) {
  const ParamRule& r = p.rule;
  if (!(r.max_norm > 0.f)) return;
  float* w = p.buf->data();
  const int64_t rows = p.rows, cols = p.cols;
  auto fix = [&](double sq) {
    const double norm = std::sqrt(sq);
    return static_cast<float>(std::min(norm, double(r.max_norm)) / (kNormEpsilon + norm));
  };
  if (p.vector) {
    scale(w, cols, fix(sum_squares(w, cols)));
  } else if (r.max_norm_axis == 0) {  // one norm per column (a Dense unit's weights)
    std::vector<double> sq(static_cast<size_t>(cols), 0.0);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) sq[j] += double(w[i * cols + j]) * w[i * cols + j];
    std::vector<float> f(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) f[j] = fix(sq[j]);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) w[i * cols + j] *= f[j];
  } else {  // one norm per row (an input's weights)
    for (int64_t i = 0; i < rows; ++i) scale(w + i * cols, cols, fix(sum_squares(w + i * cols, cols)));
  }
}

}  // namespace

bool needs_whole_gradients(const OptimizerConfig& o, const std::vector<Param>& params) {
  if (o.kind != OptimizerConfig::sgd && o.kind != OptimizerConfig::adam) return true;
  if (o.clips()) return true;
  for (const Param& p : params)
    if (p.rule.any()) return true;
  return false;
}

unsigned opt_slots(const OptimizerConfig& o) {
  switch (o.kind) {
    case OptimizerConfig::sgd: return o.momentum != 0.f ? 1u : 0u;
    case OptimizerConfig::rmsprop:
      return 1u | (o.momentum > 0.f ? 2u : 0u) | (o.centered ? 4u : 0u);
    default: return 3u;  // Adam, Nadam: m and v
  }
}

double NadamProduct::at(int64_t step, double beta1) {
  if (beta1 != beta1_ || step < step_) {
    beta1_ = beta1;
    step_ = 0;
    prod_ = 1.0;
  }
  for (; step_ < step; ++step_)
    prod_ *= beta1 * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(step_ + 1)));
  return prod_;
}

double penalty(const std::vector<Param>& params) {
  double s = 0.0;
  for (const Param& p : params) {
    if (!p.rule.penalized()) continue;
    const float* w = p.buf->data();
    double a1 = 0.0, a2 = 0.0;
    for (int64_t i = 0; i < count(p); ++i) {
      a1 += std::fabs(double(w[i]));
      a2 += double(w[i]) * w[i];
    }
    s += p.rule.l1 * a1 + p.rule.l2 * a2;
  }
  return s;
}

double add_penalty_gradients(const std::vector<Param>& params,
                             const std::vector<float*>& grads) {
  double s = 0.0;
  for (size_t k = 0; k < params.size(); ++k) {
    const Param& p = params[k];
    if (!p.rule.penalized()) continue;
    const float* w = p.buf->data();
    float* g = grads[k];
    const float l1 = p.rule.l1, two_l2 = 2.f * p.rule.l2;
    double a1 = 0.0, a2 = 0.0;
    for (int64_t i = 0; i < count(p); ++i) {
      a1 += std::fabs(double(w[i]));
      a2 += double(w[i]) * w[i];
      // d|w|/dw: sign(w), 0 at 0 (as Keras' ops.sign)
      const float sign = w[i] > 0.f ? 1.f : (w[i] < 0.f ? -1.f : 0.f);
      g[i] += l1 * sign + two_l2 * w[i];
    }
    s += p.rule.l1 * a1 + p.rule.l2 * a2;
  }
  return s;
}

void update_params(const KernelTable& k, std::vector<Param>& params,
                   const std::vector<float*>& grads, const OptimizerConfig& o,
                   NadamProduct& nadam) {
  clip_gradients(params, grads, o);
  const double prod_t = o.kind == OptimizerConfig::nadam ? nadam.at(o.step, o.beta1) : 1.0;
  for (size_t i = 0; i < params.size(); ++i) {
    Param& p = params[i];
    if (!p.trainable) continue;  // a layer's own state (its gradient is 0)
    const float* g = grads[i];
    const int64_t n = count(p);
    switch (o.kind) {
      case OptimizerConfig::sgd:
        k.sgd_update(p.buf->data(), g, p.s0 ? p.s0->data() : nullptr, n, o.lr, o.momentum,
                     o.nesterov, o.weight_decay);
        break;
      case OptimizerConfig::adam:
        k.adam_update(p.buf->data(), g, p.s0->data(), p.s1->data(), n, o.lr, o.beta1,
                      o.beta2, o.eps, o.weight_decay, o.decoupled, o.step);
        break;
      case OptimizerConfig::rmsprop:
        decay(p, o);
        rmsprop_step(p, g, o);
        break;
      default:
        decay(p, o);
        nadam_step(p, g, o, prod_t);
        break;
    }
    apply_max_norm(p);
  }
}

}  // namespace engine
}  // namespace fastmlp
