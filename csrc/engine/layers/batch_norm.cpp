// BatchNormalization (Keras semantics): in training each column is normalised with the
// batch's mean and (biased) variance, y = gamma * (x - mean) / sqrt(var + epsilon) + beta,
// and the moving statistics follow: moving = moving * momentum + batch * (1 - momentum)
// (updated by the training step, with the parameters; never by compute_gradients). In
// inference the moving statistics are used: a per-column affine map, computed once per
// weights version (the layer's pack), or folded into a linear Dense before the layer.
// Parameters, in Keras order: gamma (scale=True), beta (center=True), moving_mean,
// moving_variance; the optimizer updates only gamma and beta.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

class BatchNorm final : public Layer {
 public:
  explicit BatchNorm(const LayerSpec& s) : Layer(s) {}

  std::vector<ParamShape> param_shapes() const override {
    std::vector<ParamShape> p;
    if (spec_.use_gamma) p.push_back({1, out(), true});
    if (spec_.center) p.push_back({1, out(), true});
    p.push_back({1, out(), true, {}, false});  // moving_mean
    p.push_back({1, out(), true, {}, false});  // moving_variance
    return p;
  }

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    std::vector<float> mean, inv;
    batch_stats(x, rows, mean, inv, nullptr);
    const float* g = gamma(c.params);
    const float* b = beta(c.params);
    const int64_t C = out();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < C; ++j) {
        const float xh = (x[r * C + j] - mean[j]) * inv[j];
        y[r * C + j] = (g ? g[j] : 1.f) * xh + (b ? b[j] : 0.f);
      }
  }

  // Inference: y = x * scale + shift per column, from the moving statistics (in double).
  void affine(const std::vector<Param>& p, double* scale, double* shift) const {
    const float* g = gamma(p);
    const float* b = beta(p);
    const float* mm = p[stat_index()].buf->data();
    const float* mv = p[stat_index() + 1].buf->data();
    for (int64_t j = 0; j < out(); ++j) {
      scale[j] = (g ? g[j] : 1.0) / std::sqrt(static_cast<double>(mv[j]) + spec_.epsilon);
      shift[j] = (b ? b[j] : 0.0) - mm[j] * scale[j];
    }
  }

  // The scale and shift as floats, computed once per weights version: the pack. (After a
  // linear Dense the network folds the layer into it instead: Network::Fold.)
  int64_t packed_size(const KernelTable& /*k*/) const override { return 2 * out(); }
  void pack(const PassContext& c, float* dst) const override {
    const int64_t C = out();
    std::vector<double> sc(C), sh(C);
    affine(c.params, sc.data(), sh.data());
    for (int64_t j = 0; j < C; ++j) {
      dst[j] = static_cast<float>(sc[j]);
      dst[C + j] = static_cast<float>(sh[j]);
    }
  }

  void infer(const PassContext& c, const float* packed, const float* x, float* y,
             int64_t rows, int part, int parts, int* /*nonfinite*/) const override {
    const int64_t C = out();
    std::vector<float> own;
    if (!packed) {  // (the network always packs; a caller that does not still works)
      own.resize(2 * C);
      pack(c, own.data());
      packed = own.data();
    }
    const float* sc = packed;
    const float* sh = packed + C;
    const int64_t r0 = rows * part / parts, r1 = rows * (part + 1) / parts;
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < C; ++j) y[r * C + j] = x[r * C + j] * sc[j] + sh[j];
  }

  void backward(StepContext& c, const float* x, const float* /*y*/, float* dy, float* dx,
                int64_t rows) const override {
    const int64_t C = out();
    std::vector<float> mean, inv, var;
    batch_stats(x, rows, mean, inv, &var);
    std::vector<double> dg(C, 0.0), db(C, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < C; ++j) {
        const float xh = (x[r * C + j] - mean[j]) * inv[j];
        dg[j] += static_cast<double>(dy[r * C + j]) * xh;
        db[j] += dy[r * C + j];
      }
    const float* g = gamma(c.params);
    if (dx) {
      const float n = static_cast<float>(rows);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < C; ++j) {
          const float xh = (x[r * C + j] - mean[j]) * inv[j];
          const float k = (g ? g[j] : 1.f) * inv[j] / n;
          dx[r * C + j] = k * (n * dy[r * C + j] - static_cast<float>(db[j]) -
                               xh * static_cast<float>(dg[j]));
        }
    }
    std::vector<float> fg(C), fb(C);
    for (int64_t j = 0; j < C; ++j) {
      fg[j] = static_cast<float>(dg[j]);
      fb[j] = static_cast<float>(db[j]);
    }
    int i = first_param_;
    if (c.grads) {  // gradients only: the moving statistics are not parameters of the loss
      if (spec_.use_gamma) std::copy(fg.begin(), fg.end(), (*c.grads)[i++]);
      if (spec_.center) std::copy(fb.begin(), fb.end(), (*c.grads)[i++]);
      std::fill((*c.grads)[i], (*c.grads)[i] + C, 0.f);
      std::fill((*c.grads)[i + 1], (*c.grads)[i + 1] + C, 0.f);
      if (!c.updates_state) return;
    }
    float* mm = c.params[stat_index()].buf->data();
    float* mv = c.params[stat_index() + 1].buf->data();
    const float m = spec_.momentum;
    for (int64_t j = 0; j < C; ++j) {
      mm[j] = mm[j] * m + mean[j] * (1.f - m);
      mv[j] = mv[j] * m + var[j] * (1.f - m);
    }
    if (c.grads) return;
    if (spec_.use_gamma) apply_update(c, c.params[i++], fg.data());
    if (spec_.center) apply_update(c, c.params[i++], fb.data());
  }

 private:
  int stat_index() const {
    return first_param_ + (spec_.use_gamma ? 1 : 0) + (spec_.center ? 1 : 0);
  }
  const float* gamma(const std::vector<Param>& p) const {
    return spec_.use_gamma ? p[first_param_].buf->data() : nullptr;
  }
  const float* beta(const std::vector<Param>& p) const {
    return spec_.center ? p[first_param_ + (spec_.use_gamma ? 1 : 0)].buf->data() : nullptr;
  }

  // Column means and 1 / sqrt(var + epsilon) over the batch (sums in double, row order:
  // the same bits whatever the thread count); the biased variances too when asked.
  void batch_stats(const float* x, int64_t rows, std::vector<float>& mean,
                   std::vector<float>& inv, std::vector<float>* var_out) const {
    const int64_t C = out();
    std::vector<double> s(C, 0.0), q(C, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < C; ++j) s[j] += x[r * C + j];
    mean.resize(C);
    for (int64_t j = 0; j < C; ++j) mean[j] = static_cast<float>(s[j] / rows);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < C; ++j) {
        const double d = static_cast<double>(x[r * C + j]) - mean[j];
        q[j] += d * d;
      }
    inv.resize(C);
    if (var_out) var_out->resize(C);
    for (int64_t j = 0; j < C; ++j) {
      const double v = q[j] / rows;
      inv[j] = static_cast<float>(1.0 / std::sqrt(v + spec_.epsilon));
      if (var_out) (*var_out)[j] = static_cast<float>(v);
    }
  }
};

}  // namespace

void batch_norm_affine(const Layer& bn, const std::vector<Param>& p, double* scale,
                       double* shift) {
  static_cast<const BatchNorm&>(bn).affine(p, scale, shift);
}

std::unique_ptr<Layer> make_batch_norm(const LayerSpec& s) {
  return std::make_unique<BatchNorm>(s);
}

}  // namespace engine
}  // namespace fastmlp
