// RoundBF16: y = x rounded to the nearest bfloat16 (ties to even; NaN stays NaN), kept in
// float32. A bf16 Dense (Dense after quantize("bf16")) is this layer, then a float Dense
// whose kernel holds bf16 values: bf16 GEMM inputs with float32 accumulation, the
// numerics of bf16 hardware. Backward passes the gradient straight through.
#include <cstring>

#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

inline float round_to_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    u = 0x7fc00000u | (u & 0x80000000u);  // a quiet NaN of the same sign
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);  // (overflow rounds to inf, as it should)
    u &= 0xffff0000u;
  }
  std::memcpy(&v, &u, 4);
  return v;
}

class RoundBF16 final : public Layer {
 public:
  explicit RoundBF16(const LayerSpec& s) : Layer(s) {}

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    forward_rows(c, x, y, 0, rows);
  }

  void backward(StepContext& /*c*/, const float* /*x*/, const float* /*y*/, float* dy,
                float* dx, int64_t rows) const override {
    if (dx) std::memcpy(dx, dy, static_cast<size_t>(rows * out()) * sizeof(float));
  }

 protected:
  void forward_rows(const PassContext& /*c*/, const float* x, float* y, int64_t r0,
                    int64_t r1) const override {
    for (int64_t i = r0 * out(), e = r1 * out(); i < e; ++i) y[i] = round_to_bf16(x[i]);
  }
};

}  // namespace

std::unique_ptr<Layer> make_round_bf16(const LayerSpec& s) {
  return std::make_unique<RoundBF16>(s);
}

}  // namespace engine
}  // namespace fastmlp
