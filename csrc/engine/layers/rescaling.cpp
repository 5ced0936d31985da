// Rescaling: y = x * scale + offset elementwise (Keras' Rescaling). A leading Rescaling
// never reaches this layer: the network folds it into gathering the input rows.
#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

class Rescaling final : public Layer {
 public:
  explicit Rescaling(const LayerSpec& s) : Layer(s) {}

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    forward_rows(c, x, y, 0, rows);
  }

  void backward(StepContext& /*c*/, const float* /*x*/, const float* /*y*/, float* dy,
                float* dx, int64_t rows) const override {
    if (!dx) return;
    const float sc = spec_.scale;
    for (int64_t i = 0, n = rows * out(); i < n; ++i) dx[i] = dy[i] * sc;
  }

 protected:
  void forward_rows(const PassContext& /*c*/, const float* x, float* y, int64_t r0,
                    int64_t r1) const override {
    const float sc = spec_.scale, sh = spec_.offset;
    for (int64_t i = r0 * out(), e = r1 * out(); i < e; ++i) y[i] = x[i] * sc + sh;
  }
};

}  // namespace

std::unique_ptr<Layer> make_rescaling(const LayerSpec& s) {
  return std::make_unique<Rescaling>(s);
}

}  // namespace engine
}  // namespace fastmlp
