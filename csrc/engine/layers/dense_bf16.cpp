// Dense computing in bf16: y = act(bf16(x) @ bf16(W) + b) with float32 sums, the
// parameters kernel [in, out] and bias [out] kept in float32. Two users:
//   * quantize("bf16") (Keras' bf16 Dense, inference only): Python rounds the kernel;
//   * the mixed_bfloat16 policy (training): float32 master weights and optimizer state,
//     every GEMM (forward, dx = dy @ W^T, dW = x^T @ dy) on bf16-rounded operands,
//     float32 sums, the update in float32 (apply_update).
// On tiers with a bf16 GEMM (KernelTable::gemm_bf16: vdpbf16ps, AMX) the kernel rounds and
// packs; inference packs W once per weights version, training once per step. On the
// others the operands are rounded into scratch and the float32 kernels multiply them:
// the same numerics at the float32 rate (the sums' order may differ).
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

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

// Grow-only scratch (a smaller request after a bigger one neither frees nor refills).
template <typename T>
T* grown(std::vector<T>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v.data();
}

// Scratch of this thread: slot s holds n floats of x rounded to bf16.
const float* rounded(int slot, const float* x, int64_t n) {
  thread_local std::vector<float> r[3];
  float* out = grown(r[slot], n);
  for (int64_t i = 0; i < n; ++i) out[i] = round_to_bf16(x[i]);
  return out;
}

// Scratch of this thread for one packed bf16 operand.
void* pack_scratch(int64_t bytes) {
  thread_local std::vector<uint64_t> p;
  return grown(p, (bytes + 7) / 8);
}

class DenseBf16 final : public Layer {
 public:
  explicit DenseBf16(const LayerSpec& s) : Layer(s) {
    if (s.rate > 0.f) throw std::invalid_argument("a bf16 dense layer fuses no dropout");
  }

  bool maps_widths() const override { return true; }
  bool has_linear_twin() const override { return true; }
  std::vector<ParamShape> param_shapes() const override {
    const LayerSpec& s = spec_;
    std::vector<ParamShape> p{
        {in(), out(), false, {s.kernel_l1, s.kernel_l2, s.kernel_max_norm, s.kernel_max_norm_axis}}};
    if (s.use_bias) p.push_back({1, out(), true, {s.bias_l1, s.bias_l2, s.bias_max_norm, 0}});
    return p;
  }

  void forward(const PassContext& c, const float* x, float* y, int64_t rows) const override {
    const KernelTable& k = c.k;
    const Epilogue ep = epilogue(c.params);
    const float* W = weights(c.params);
    if (k.gemm_bf16) {
      const void* pw = training_pack(k, c.weights_version, W);
      k.gemm_bf16(false, rows, out(), in(), x, in(), pw, y, out(), &ep, 0, out());
    } else {
      k.gemm(false, false, rows, out(), in(), 1.f, rounded(0, x, rows * in()), in(),
             rounded(1, W, in() * out()), out(), 0.f, y, out(), &ep);
    }
  }

  void infer(const PassContext& c, const float* packed, const float* x, float* y,
             int64_t rows, int part, int parts, int* nonfinite) const override {
    const KernelTable& k = c.k;
    const int64_t nr = k.gemm_bf16 ? kBf16NR : k.gemm_nr;
    const int64_t units = (out() + nr - 1) / nr;
    const int64_t lo = parts == 1 ? 0 : units * part / parts * nr;
    const int64_t hi = parts == 1 ? out() : std::min(out(), units * (part + 1) / parts * nr);
    Epilogue ep = epilogue(c.params);
    ep.nonfinite = nonfinite;
    if (k.gemm_bf16)
      k.gemm_bf16(false, rows, out(), in(), x, in(), packed, y, out(), &ep, lo, hi);
    else
      k.gemm_packed_cols(false, rows, out(), in(), rounded(0, x, rows * in()), in(), packed,
                         y, out(), &ep, lo, hi);
  }

  int split_workers(const KernelTable& k, int64_t rows, int nth) const override {
    if (!k.gemm_bf16) return split_dense_columns(rows, in(), out(), k.gemm_nr, nth, 1.0);
    return split_dense_columns(rows, in(), out(), kBf16NR, nth, 2.0);  // (>= 2x float32)
  }

  // Both GEMMs flag a non-finite input row at any row count.
  bool flags_nonfinite(int64_t) const override { return true; }
  int64_t packed_size(const KernelTable& k) const override {
    return k.gemm_bf16 ? (k.packed_bf16_size(in(), out()) + 3) / 4
                       : k.packed_b_size(in(), out());
  }
  void pack(const PassContext& c, float* dst) const override {
    const float* W = weights(c.params);
    if (c.k.gemm_bf16) c.k.pack_bf16(false, in(), out(), W, out(), dst);
    else c.k.pack_b(false, in(), out(), rounded(1, W, in() * out()), out(), dst);
  }
  bool packed_for_few_rows() const override { return true; }
  int64_t fma_per_row() const override { return in() * out(); }

  void backward(StepContext& c, const float* x, const float* y, float* dy, float* dx,
                int64_t rows) const override {
    const KernelTable& k = c.k;
    if (spec_.act != Act::linear) k.act_backward(spec_.act, spec_.alpha, y, dy, dy, rows * out());
    Param& pw = c.params[first_param_];
    const float* W = pw.buf->data();
    const int bi = spec_.use_bias ? first_param_ + 1 : -1;
    float* gW = c.grads ? (*c.grads)[first_param_] : c.dW;
    float* gb = bi < 0 ? nullptr : (c.grads ? (*c.grads)[bi] : c.db);
    if (k.gemm_bf16) {
      if (dx) {  // dx = dy @ W^T: B = W^T, packed from W
        void* pt = pack_scratch(k.packed_bf16_size(out(), in()));
        k.pack_bf16(true, out(), in(), W, out(), pt);
        k.gemm_bf16(false, rows, in(), out(), dy, out(), pt, dx, in(), nullptr, 0, in());
      }
      // dW = x^T @ dy: A = x read transposed, B = dy
      void* pd = pack_scratch(k.packed_bf16_size(rows, out()));
      k.pack_bf16(false, rows, out(), dy, out(), pd);
      k.gemm_bf16(true, in(), out(), rows, x, in(), pd, gW, out(), nullptr, 0, out());
    } else {
      const float* dyr = rounded(2, dy, rows * out());
      if (dx)
        k.gemm(false, true, rows, in(), out(), 1.f, dyr, out(), rounded(1, W, in() * out()),
               out(), 0.f, dx, in(), nullptr);
      k.gemm(true, false, in(), out(), rows, 1.f, rounded(0, x, rows * in()), in(), dyr, out(),
             0.f, gW, out(), nullptr);
    }
    if (gb) k.colsum(dy, out(), gb, rows, out());  // (the bias adds in float32)
    if (c.grads) return;
    if (gb) apply_update(c, c.params[bi], gb);
    if (!k.gemm_bf16 || c.weights_version == 0) {
      apply_update(c, pw, gW);
      return;
    }
    // The update slice by slice, each slice packed for the next step's forward while it
    // is still in cache (the next forward finds the pack at this step's weights version).
    // The update is elementwise, so slices on different threads never meet.
    uint64_t* pack = grown(wpack_, (k.packed_bf16_size(in(), out()) + 7) / 8);
    struct SliceUpdate {
      const StepContext& c;
      Param& p;
      const float* g;
      int64_t cols;
    } update{c, pw, gW, out()};
    k.pack_bf16_sliced(in(), out(), W, out(), pack, [](void* ctx, int64_t k0, int64_t k1) {
      auto* u = static_cast<SliceUpdate*>(ctx);
      apply_update_range(u->c, u->p, u->g, k0 * u->cols, (k1 - k0) * u->cols);
    }, &update);
    wpack_version_ = c.weights_version;
    wpack_table_ = &k;
  }

 private:
  const float* weights(const std::vector<Param>& p) const { return p[first_param_].buf->data(); }

  // W packed for a training forward: the pack the last update left, if it holds these
  // weights (same version, same table), else a fresh one.
  const void* training_pack(const KernelTable& k, uint64_t version, const float* W) const {
    if (version != 0 && version == wpack_version_ && &k == wpack_table_) return wpack_.data();
    uint64_t* pack = grown(wpack_, (k.packed_bf16_size(in(), out()) + 7) / 8);
    k.pack_bf16(false, in(), out(), W, out(), pack);
    wpack_version_ = version;
    wpack_table_ = version != 0 ? &k : nullptr;
    return pack;
  }

  // The bf16 pack of W for training forwards, and the weights it was made from
  // (Network::weights_version(); 0: none). Training runs one step at a time under the
  // network's exclusive lock, so these need no lock of their own.
  mutable std::vector<uint64_t> wpack_;
  mutable uint64_t wpack_version_ = 0;
  mutable const KernelTable* wpack_table_ = nullptr;
  Epilogue epilogue(const std::vector<Param>& p) const {
    Epilogue ep;
    ep.bias = spec_.use_bias ? p[first_param_ + 1].buf->data() : nullptr;
    ep.act = spec_.act;
    ep.alpha = spec_.alpha;
    return ep;
  }
};

}  // namespace

std::unique_ptr<Layer> make_dense_bf16(const LayerSpec& s) {
  return std::make_unique<DenseBf16>(s);
}

}  // namespace engine
}  // namespace fastmlp
