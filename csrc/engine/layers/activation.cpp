// Activation: y = act(x) elementwise (relu, leaky_relu with slope alpha, sigmoid, tanh,
// ...; the kernel table's Act). Standing alone it is this layer; right after a Dense
// (linear) Python hands both over as one Dense, the activation in its GEMM epilogue.
#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

class Activation final : public Layer {
 public:
  explicit Activation(const LayerSpec& s) : Layer(s) {}

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    forward_rows(c, x, y, 0, rows);
  }

  void backward(StepContext& c, const float* x, const float* y, float* dy, float* dx,
                int64_t rows) const override {
    if (!dx) return;
    if (act_backward_needs_x(spec_.act))  // (gelu, silu, mish: one y, two x)
      c.k.act_backward_x(spec_.act, spec_.alpha, x, dy, dx, rows * out());
    else
      c.k.act_backward(spec_.act, spec_.alpha, y, dy, dx, rows * out());
  }

 protected:
  void forward_rows(const PassContext& c, const float* x, float* y, int64_t r0,
                    int64_t r1) const override {
    c.k.act_forward(spec_.act, spec_.alpha, x + r0 * out(), y + r0 * out(), (r1 - r0) * out());
  }
};

}  // namespace

std::unique_ptr<Layer> make_activation(const LayerSpec& s) {
  return std::make_unique<Activation>(s);
}

}  // namespace engine
}  // namespace fastmlp
