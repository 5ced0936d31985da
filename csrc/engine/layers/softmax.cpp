// Softmax over each row (the model's last layer). With a cross-entropy loss the network
// fuses it into the loss (the loss reads the logits; this layer's backward never runs);
// with mse its backward is the softmax Jacobian applied to dy.
#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

class Softmax final : public Layer {
 public:
  explicit Softmax(const LayerSpec& s) : Layer(s) {}

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    forward_rows(c, x, y, 0, rows);
  }

  void backward(StepContext& /*c*/, const float* /*x*/, const float* y, float* dy, float* dx,
                int64_t rows) const override {
    if (!dx) return;
    const int64_t C = out();
    for (int64_t r = 0; r < rows; ++r) {
      const float* yr = y + r * C;
      const float* gr = dy + r * C;
      float dot = 0.f;
      for (int64_t j = 0; j < C; ++j) dot += yr[j] * gr[j];
      for (int64_t j = 0; j < C; ++j) dx[r * C + j] = yr[j] * (gr[j] - dot);
    }
  }

 protected:
  void forward_rows(const PassContext& c, const float* x, float* y, int64_t r0,
                    int64_t r1) const override {
    c.k.softmax(x + r0 * out(), y + r0 * out(), r1 - r0, out(), false);
  }
};

}  // namespace

std::unique_ptr<Layer> make_softmax(const LayerSpec& s) { return std::make_unique<Softmax>(s); }

}  // namespace engine
}  // namespace fastmlp
