// LayerNormalization (Keras semantics, axis -1): each row is normalised over its values,
// y = gamma * (x - mean_r) / sqrt(var_r + epsilon) + beta, the same in training and
// inference. Parameters: gamma (scale=True), beta (center=True).
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

class LayerNorm final : public Layer {
 public:
  explicit LayerNorm(const LayerSpec& s) : Layer(s) {}

  std::vector<ParamShape> param_shapes() const override {
    std::vector<ParamShape> p;
    if (spec_.use_gamma) p.push_back({1, out(), true});
    if (spec_.center) p.push_back({1, out(), true});
    return p;
  }

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    forward_rows(c, x, y, 0, rows);
  }

  void backward(StepContext& c, const float* x, const float* /*y*/, float* dy, float* dx,
                int64_t rows) const override {
    const int64_t C = out();
    const float* g = gamma(c.params);
    std::vector<double> dg(C, 0.0), db(C, 0.0);
    std::vector<float> xh(C), dxh(C);
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * C;
      const float* gr = dy + r * C;
      float mean, inv;
      row_stats(xr, mean, inv);
      double s1 = 0.0, s2 = 0.0;
      for (int64_t j = 0; j < C; ++j) {
        xh[j] = (xr[j] - mean) * inv;
        dg[j] += static_cast<double>(gr[j]) * xh[j];
        db[j] += gr[j];
        dxh[j] = gr[j] * (g ? g[j] : 1.f);
        s1 += dxh[j];
        s2 += static_cast<double>(dxh[j]) * xh[j];
      }
      if (dx) {
        const float n = static_cast<float>(C);
        for (int64_t j = 0; j < C; ++j)
          dx[r * C + j] = inv / n * (n * dxh[j] - static_cast<float>(s1) -
                                     xh[j] * static_cast<float>(s2));
      }
    }
    std::vector<float> fg(C), fb(C);
    for (int64_t j = 0; j < C; ++j) {
      fg[j] = static_cast<float>(dg[j]);
      fb[j] = static_cast<float>(db[j]);
    }
    int i = first_param_;
    if (c.grads) {
      if (spec_.use_gamma) std::copy(fg.begin(), fg.end(), (*c.grads)[i++]);
      if (spec_.center) std::copy(fb.begin(), fb.end(), (*c.grads)[i++]);
      return;
    }
    if (spec_.use_gamma) apply_update(c, c.params[i++], fg.data());
    if (spec_.center) apply_update(c, c.params[i++], fb.data());
  }

 protected:
  void forward_rows(const PassContext& c, const float* x, float* y, int64_t r0,
                    int64_t r1) const override {
    const int64_t C = out();
    const float* g = gamma(c.params);
    const float* b = beta(c.params);
    for (int64_t r = r0; r < r1; ++r) {
      float mean, inv;
      row_stats(x + r * C, mean, inv);
      for (int64_t j = 0; j < C; ++j)
        y[r * C + j] = (g ? g[j] : 1.f) * ((x[r * C + j] - mean) * inv) + (b ? b[j] : 0.f);
    }
  }

 private:
  const float* gamma(const std::vector<Param>& p) const {
    return spec_.use_gamma ? p[first_param_].buf->data() : nullptr;
  }
  const float* beta(const std::vector<Param>& p) const {
    return spec_.center ? p[first_param_ + (spec_.use_gamma ? 1 : 0)].buf->data() : nullptr;
  }
  // A row's mean and 1 / sqrt(var + epsilon) (sums in double).
  void row_stats(const float* xr, float& mean, float& inv) const {
    const int64_t C = out();
    double s = 0.0, q = 0.0;
    for (int64_t j = 0; j < C; ++j) s += xr[j];
    mean = static_cast<float>(s / C);
    for (int64_t j = 0; j < C; ++j) {
      const double d = static_cast<double>(xr[j]) - mean;
      q += d * d;
    }
    inv = static_cast<float>(1.0 / std::sqrt(q / C + spec_.epsilon));
  }
};

}  // namespace

std::unique_ptr<Layer> make_layer_norm(const LayerSpec& s) {
  return std::make_unique<LayerNorm>(s);
}

}  // namespace engine
}  // namespace fastmlp
