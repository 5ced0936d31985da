// Dense, quantized to int8 (Keras' Dense after quantize("int8")): parameters kernel
// [in, out] (integer values in [-127, 127], held as floats like every parameter), bias
// [out] and kernel_scale [out], the weight W = kernel * kernel_scale per output column.
// A pass quantizes its input rows to 7-bit codes with a zero point (per row at run time,
// or one calibrated scale, spec.quant_scale > 0), multiplies them with the int8 kernel
// exactly (gemm_u8s8) and dequantizes in the epilogue with the bias and the activation:
//   y = act(float(sum_k (q[i,k] - zero_i) * kernel[k,j]) * (scale_i * kernel_scale_j) + b_j)
// The kernel is packed once per weights version (pack_s8). 7-bit codes keep the AVX2
// products exact (Int8Output::a_full_range); the 8th bit would add little next to the
// per-row scale. Inference only: training forward computes the same, backward refuses.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

constexpr int32_t kCodeMax = 127;

class DenseInt8 final : public Layer {
 public:
  explicit DenseInt8(const LayerSpec& s) : Layer(s) {
    if (s.in > kInt8MaxK)
      throw std::invalid_argument("an int8 dense layer takes at most " +
                                  std::to_string(kInt8MaxK) + " inputs, got " +
                                  std::to_string(s.in));
    if (s.rate > 0.f) throw std::invalid_argument("an int8 dense layer fuses no dropout");
    if (!(s.quant_scale >= 0.f && std::isfinite(s.quant_scale)) || s.quant_zero < 0 ||
        s.quant_zero > kCodeMax)
      throw std::invalid_argument("an int8 dense layer's input scale must be finite and "
                                  ">= 0 and its zero point in [0, 127]");
  }

  bool maps_widths() const override { return true; }
  std::vector<ParamShape> param_shapes() const override {
    std::vector<ParamShape> p{{in(), out(), false, {}, false}};
    if (spec_.use_bias) p.push_back({1, out(), true, {}, false});
    p.push_back({1, out(), true, {}, false});  // kernel_scale
    return p;
  }

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    std::vector<float> pack(static_cast<size_t>(packed_size(c.k)));
    this->pack(c, pack.data());
    infer(c, pack.data(), x, y, rows, 0, 1, nullptr);
  }

  void infer(const PassContext& c, const float* packed, const float* x, float* y,
             int64_t rows, int part, int parts, int* nonfinite) const override {
    const int64_t units = (out() + kInt8NR - 1) / kInt8NR;
    const int64_t lo = units * part / parts * kInt8NR;
    const int64_t hi = std::min(out(), units * (part + 1) / parts * kInt8NR);
    // Per-thread scratch for the codes (a column part re-quantizes the same rows: far
    // cheaper than the share of the GEMM it runs).
    thread_local std::vector<uint8_t> q;
    thread_local std::vector<float> scale;
    thread_local std::vector<int32_t> zero;
    q.resize(static_cast<size_t>(rows * in()));
    scale.resize(static_cast<size_t>(rows));
    zero.resize(static_cast<size_t>(rows));
    c.k.quantize_rows(x, rows, in(), in(), kCodeMax, spec_.quant_scale, spec_.quant_zero,
                      q.data(), in(), scale.data(), zero.data(), nonfinite);
    Int8Output o;
    o.c = y;
    o.ldc = out();
    o.a_zero = zero.data();
    o.a_scale = scale.data();
    o.b_scale = c.params[scale_param()].buf->data();
    o.ep.bias = spec_.use_bias ? c.params[first_param_ + 1].buf->data() : nullptr;
    o.ep.act = spec_.act;
    o.ep.alpha = spec_.alpha;
    o.a_full_range = false;
    c.k.gemm_u8s8(rows, out(), in(), q.data(), in(), packed, &o,
                  parts == 1 ? 0 : lo, parts == 1 ? out() : hi);
  }

  int split_workers(const KernelTable& k, int64_t rows, int nth) const override {
    return split_dense_columns(rows, in(), out(), kInt8NR, nth, 2.0);  // (>= 2x float32)
  }

  bool flags_nonfinite(int64_t) const override { return true; }  // (quantize_rows)
  int64_t packed_size(const KernelTable& k) const override {
    return (k.packed_s8_size(in(), out()) + 3) / 4;
  }
  void pack(const PassContext& c, float* dst) const override {
    const float* w = c.params[first_param_].buf->data();
    std::vector<int8_t> q(static_cast<size_t>(in() * out()));
    for (size_t i = 0; i < q.size(); ++i) {
      const float v = std::max(-127.f, std::min(127.f, std::nearbyint(w[i])));
      q[i] = static_cast<int8_t>(v);  // (Python only ever sets integers in range)
    }
    c.k.pack_s8(in(), out(), q.data(), out(), dst);
  }
  int64_t fma_per_row() const override { return in() * out() / 2; }

  void backward(StepContext&, const float*, const float*, float*, float*,
                int64_t) const override {
    throw std::invalid_argument("an int8-quantized Dense layer cannot be trained: train the "
                                "float32 model, then quantize it");
  }

 private:
  int scale_param() const { return first_param_ + (spec_.use_bias ? 2 : 1); }
};

}  // namespace

std::unique_ptr<Layer> make_dense_int8(const LayerSpec& s) {
  return std::make_unique<DenseInt8>(s);
}

}  // namespace engine
}  // namespace fastmlp
