// GaussianNoise (Keras semantics): in training y = x + stddev * N(0, 1) per value, the
// identity in inference (the network skips it). The noise is counter-based, a pure
// function of (seed, step, position in the batch): bitwise the same on any thread count.
// Gradient: dx = dy.
#include <cmath>

#include "engine/layers/counter_rng.h"
#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

class GaussianNoise final : public Layer {
 public:
  explicit GaussianNoise(const LayerSpec& s) : Layer(s) {}

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    const uint32_t key = step_key(spec_.seed, c.step, 0x51ed27ull);
    const int64_t n = rows * out();
    const double two_pi = 6.283185307179586;
    for (int64_t p = 0; 2 * p < n; ++p) {  // Box-Muller: two normals per pair of draws
      const uint32_t h1 = draw(key, 2 * p);
      const uint32_t h2 = draw(key, 2 * p + 1);
      const double u1 = ((h1 >> 8) + 0.5) * (1.0 / 16777216.0);  // (0, 1)
      const double u2 = (h2 >> 8) * (1.0 / 16777216.0);
      const double r = std::sqrt(-2.0 * std::log(u1));
      y[2 * p] = x[2 * p] + spec_.stddev * static_cast<float>(r * std::cos(two_pi * u2));
      if (2 * p + 1 < n)
        y[2 * p + 1] =
            x[2 * p + 1] + spec_.stddev * static_cast<float>(r * std::sin(two_pi * u2));
    }
  }

  bool identity_in_inference() const override { return true; }

  void backward(StepContext& /*c*/, const float* /*x*/, const float* /*y*/, float* dy,
                float* dx, int64_t rows) const override {
    if (dx)
      for (int64_t i = 0, n = rows * out(); i < n; ++i) dx[i] = dy[i];
  }

 protected:
  void forward_rows(const PassContext& /*c*/, const float* x, float* y, int64_t r0,
                    int64_t r1) const override {
    for (int64_t i = r0 * out(); i < r1 * out(); ++i) y[i] = x[i];  // inference: identity
  }
};

}  // namespace

std::unique_ptr<Layer> make_gaussian_noise(const LayerSpec& s) {
  return std::make_unique<GaussianNoise>(s);
}

}  // namespace engine
}  // namespace fastmlp
