// Activations, softmax, fused softmax cross-entropy and column sums.
// PLACEHOLDER scalar versions: correct, not yet vectorized.
#include <cmath>

#include "kernels/entry_points.h"

FASTMLP_TIER_BEGIN

void act_forward(Act act, float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    switch (act) {
      case Act::linear: y[i] = v; break;
      case Act::relu: y[i] = v > 0.f ? v : 0.f; break;
      case Act::leaky_relu: y[i] = v > 0.f ? v : alpha * v; break;
      case Act::sigmoid: y[i] = 1.f / (1.f + std::exp(-v)); break;
      case Act::tanh: y[i] = std::tanh(v); break;
    }
  }
}

void act_backward(Act act, float alpha, const float* y, const float* dy, float* dx,
                  int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = y[i], g = dy[i];
    switch (act) {
      case Act::linear: dx[i] = g; break;
      case Act::relu: dx[i] = v > 0.f ? g : 0.f; break;
      case Act::leaky_relu: dx[i] = v > 0.f ? g : alpha * g; break;
      case Act::sigmoid: dx[i] = g * v * (1.f - v); break;
      case Act::tanh: dx[i] = g * (1.f - v * v); break;
    }
  }
}

void softmax(const float* x, float* y, int64_t rows, int64_t cols, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -INFINITY;
    for (int64_t j = 0; j < cols; ++j) m = xr[j] > m ? xr[j] : m;
    float s = 0.f;
    for (int64_t j = 0; j < cols; ++j) s += std::exp(xr[j] - m);
    if (log) {
      const float ls = std::log(s);
      for (int64_t j = 0; j < cols; ++j) yr[j] = xr[j] - m - ls;
    } else {
      const float inv = 1.f / s;
      for (int64_t j = 0; j < cols; ++j) yr[j] = std::exp(xr[j] - m) * inv;
    }
  }
}

double softmax_xent(const float* logits, const int32_t* labels, float* dlogits,
                    float* row_loss, int64_t rows, int64_t cols, float grad_scale) {
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = logits + r * cols;
    float m = -INFINITY;
    for (int64_t j = 0; j < cols; ++j) m = xr[j] > m ? xr[j] : m;
    float s = 0.f;
    for (int64_t j = 0; j < cols; ++j) s += std::exp(xr[j] - m);
    const float ls = std::log(s);
    const int32_t lab = labels[r];
    const float loss = -(xr[lab] - m - ls);
    if (row_loss) row_loss[r] = loss;
    total += loss;
    if (dlogits) {
      float* dr = dlogits + r * cols;
      const float inv = 1.f / s;
      for (int64_t j = 0; j < cols; ++j)
        dr[j] = (std::exp(xr[j] - m) * inv - (j == lab ? 1.f : 0.f)) * grad_scale;
    }
  }
  return total;
}

void colsum(const float* x, int64_t ldx, float* out, int64_t rows, int64_t cols) {
  for (int64_t j = 0; j < cols; ++j) out[j] = 0.f;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) out[j] += x[i * ldx + j];
}

FASTMLP_TIER_END
