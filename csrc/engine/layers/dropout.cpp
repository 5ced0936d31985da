// Dropout (inverted, Keras semantics): in training each value is zeroed with probability
// `rate` and the others scaled by 1 / (1 - rate); in inference the layer is the identity
// (the network skips it). The mask is a pure function of (seed, step, position in the
// batch): counter-based, so training is bitwise the same for any thread count, and
// backward recomputes it instead of storing it. Each 32-bit hash gives two 16-bit draws,
// so the rate is applied in steps of 1/65536 (and the scale uses that same rate).
// After a Dense whose activation's derivative follows from the sign of y (linear, relu,
// leaky_relu) the layer is fused into that Dense instead (python/fastmlp/_engine_plan.py,
// dense.cpp): the GEMM applies this same mask.
#include <cmath>

#include "engine/layers/counter_rng.h"
#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

class Dropout final : public Layer {
 public:
  explicit Dropout(const LayerSpec& s) : Layer(s), rate_(s.rate) {}

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    masked(x, y, rows * out(), c.step);
  }

  void infer(const PassContext& /*c*/, const float* /*packed*/, const float* x, float* y,
             int64_t rows, int part, int parts, int* /*nonfinite*/) const override {
    // Only reached when the network cannot skip the layer (it never does today).
    const int64_t r0 = rows * part / parts, r1 = rows * (part + 1) / parts;
    for (int64_t i = r0 * out(); i < r1 * out(); ++i) y[i] = x[i];
  }

  bool identity_in_inference() const override { return true; }

  void backward(StepContext& c, const float* /*x*/, const float* /*y*/, float* dy, float* dx,
                int64_t rows) const override {
    if (dx) masked(dy, dx, rows * out(), c.step);
  }

 private:
  // out[i] = in[i] * (kept(i) ? keep_scale : 0) for the mask of `step`.
  void masked(const float* in, float* o, int64_t n, int64_t step) const {
    const uint32_t key = step_key(spec_.seed, step);
    const uint32_t thr = rate_.drop_below;
    const float sc = rate_.keep_scale;
    const int64_t pairs = n / 2;
    for (int64_t p = 0; p < pairs; ++p) {  // two draws per hash; vectorises
      const uint32_t h = draw(key, p);
      o[2 * p] = (h & 0xffffu) >= thr ? in[2 * p] * sc : 0.f;
      o[2 * p + 1] = (h >> 16) >= thr ? in[2 * p + 1] * sc : 0.f;
    }
    if (n & 1) {
      const uint32_t h = draw(key, pairs);
      o[n - 1] = (h & 0xffffu) >= thr ? in[n - 1] * sc : 0.f;
    }
  }

  DropoutRate rate_;
};

}  // namespace

std::unique_ptr<Layer> make_dropout(const LayerSpec& s) { return std::make_unique<Dropout>(s); }

}  // namespace engine
}  // namespace fastmlp
