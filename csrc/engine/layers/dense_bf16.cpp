// Dense in bf16 (Keras' Dense after quantize("bf16")): parameters kernel [in, out]
// (holding bf16 values, as Python rounds them) and bias [out]; y = act(bf16(x) @ W + b)
// with float32 sums: the numerics of bf16 hardware.
// On tiers with a bf16 GEMM (KernelTable::gemm_bf16: vdpbf16ps, AMX) the kernel is packed
// once per weights version as bf16 and the GEMM rounds x itself; on the others x is
// rounded into scratch and a float32 Dense of the same parameters does the rest (the
// same numerics at the float32 rate). Inference only: training refuses.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

std::unique_ptr<Layer> make_dense(const LayerSpec& s);

namespace {

inline float round_to_bf16(float v) {  // nearest, ties to even; NaN stays a quiet NaN
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    u = 0x7fc00000u | (u & 0x80000000u);
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);  // (overflow rounds to inf, as it should)
    u &= 0xffff0000u;
  }
  std::memcpy(&v, &u, 4);
  return v;
}

LayerSpec float_spec(LayerSpec s) {
  s.kind = LayerKind::dense;
  return s;
}

class DenseBf16 final : public Layer {
 public:
  explicit DenseBf16(const LayerSpec& s) : Layer(s), dense_(make_dense(float_spec(s))) {
    if (s.rate > 0.f) throw std::invalid_argument("a bf16 dense layer fuses no dropout");
  }

  bool maps_widths() const override { return true; }
  std::vector<ParamShape> param_shapes() const override {
    std::vector<ParamShape> p{{in(), out(), false, {}, false}};
    if (spec_.use_bias) p.push_back({1, out(), true, {}, false});
    return p;
  }
  void set_first_param(int i) override {
    Layer::set_first_param(i);
    dense_->set_first_param(i);
  }

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    if (!c.k.gemm_bf16) {
      dense_->forward(c, rounded(x, rows), y, rows);
      return;
    }
    std::vector<float> pack(static_cast<size_t>(packed_size(c.k)));
    this->pack(c, pack.data());
    infer(c, pack.data(), x, y, rows, 0, 1, nullptr);
  }

  void infer(const PassContext& c, const float* packed, const float* x, float* y,
             int64_t rows, int part, int parts, int* nonfinite) const override {
    if (!c.k.gemm_bf16) {
      dense_->infer(c, packed, rounded(x, rows), y, rows, part, parts, nonfinite);
      return;
    }
    const int64_t units = (out() + kBf16NR - 1) / kBf16NR;
    const int64_t lo = units * part / parts * kBf16NR;
    const int64_t hi = std::min(out(), units * (part + 1) / parts * kBf16NR);
    Epilogue ep;
    ep.bias = spec_.use_bias ? c.params[first_param_ + 1].buf->data() : nullptr;
    ep.act = spec_.act;
    ep.alpha = spec_.alpha;
    ep.nonfinite = nonfinite;
    c.k.gemm_bf16(rows, out(), in(), x, in(), packed, y, out(), &ep, parts == 1 ? 0 : lo,
                  parts == 1 ? out() : hi);
  }

  int split_workers(const KernelTable& k, int64_t rows, int nth) const override {
    if (!k.gemm_bf16) return dense_->split_workers(k, rows, nth);
    return split_dense_columns(rows, in(), out(), kBf16NR, nth, 2.0);  // (>= 2x float32)
  }

  // gemm_bf16 flags non-finite input rows at any row count; the float fallback above
  // kGemvRows rows (where the float Dense's packed GEMM flags them).
  bool flags_nonfinite(int64_t rows) const override { return rows > kGemvRows; }
  int64_t packed_size(const KernelTable& k) const override {
    return k.gemm_bf16 ? (k.packed_bf16_size(in(), out()) + 3) / 4 : dense_->packed_size(k);
  }
  void pack(const PassContext& c, float* dst) const override {
    if (c.k.gemm_bf16) c.k.pack_bf16(in(), out(), c.params[first_param_].buf->data(), out(), dst);
    else dense_->pack(c, dst);
  }
  // The bf16 GEMM reads the pack at every batch size (the float fallback ignores it for
  // a few rows).
  bool packed_for_few_rows() const override { return true; }
  int64_t fma_per_row() const override { return in() * out(); }

  void backward(StepContext&, const float*, const float*, float*, float*,
                int64_t) const override {
    throw std::invalid_argument("a bf16-quantized Dense layer cannot be trained: train the "
                                "float32 model, then quantize it");
  }

 private:
  // x [rows, in] rounded to bf16, in this thread's scratch.
  const float* rounded(const float* x, int64_t rows) const {
    thread_local std::vector<float> r;
    const auto n = static_cast<size_t>(rows * in());
    r.resize(n);
    for (size_t i = 0; i < n; ++i) r[i] = round_to_bf16(x[i]);
    return r.data();
  }

  std::unique_ptr<Layer> dense_;  // the float32 layer of the same parameters
};

}  // namespace

std::unique_ptr<Layer> make_dense_bf16(const LayerSpec& s) {
  return std::make_unique<DenseBf16>(s);
}

}  // namespace engine
}  // namespace fastmlp
