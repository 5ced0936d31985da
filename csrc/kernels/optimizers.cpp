// Fused in-place optimizer updates.
// PLACEHOLDER scalar versions: correct, not yet tuned.
#include <cmath>

#include "kernels/entry_points.h"

FASTMLP_TIER_BEGIN

void sgd_update(float* p, const float* g, float* v, int64_t n, float lr, float momentum,
                bool nesterov, float weight_decay) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] + weight_decay * p[i];
    if (momentum != 0.f) {
      const float vi = momentum * v[i] + gi;
      v[i] = vi;
      p[i] -= lr * (nesterov ? gi + momentum * vi : vi);
    } else {
      p[i] -= lr * gi;
    }
  }
}

void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float lr,
                 float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                 int64_t step) {
  const float bc1 = 1.f - static_cast<float>(std::pow(double(beta1), double(step)));
  const float bc2 = 1.f - static_cast<float>(std::pow(double(beta2), double(step)));
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i];
    if (!decoupled) gi += weight_decay * p[i];
    const float mi = beta1 * m[i] + (1.f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float pi = p[i];
    if (decoupled) pi -= lr * weight_decay * pi;
    p[i] = pi - lr * (mi / bc1) / (std::sqrt(vi / bc2) + eps);
  }
}

FASTMLP_TIER_END
