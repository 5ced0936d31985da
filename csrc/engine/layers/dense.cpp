// Dense: y = act(x @ W + b), W [in, out] and b [out] its parameters, the activation
// applied in the GEMM epilogue (the fusion the network relies on: a Dense followed by an
// activation layer is handed over as one Dense, for an activation whose derivative comes
// from y; the others, act_backward_needs_x, stay a separate Activation layer). Training multiplies by the live
// weights; inference by weights packed once per weights version, or, for a few rows, by
// the live weights with the packed path's bits (small_rows). Backward updates W tile by
// tile as the gradient is produced (dense_backward_update: no dW matrix) for small
// batches and Adam, else through a dW matrix and the optimizer kernel. A Dropout after
// it can be fused in too (rate > 0 in its spec; see drops()).
#include <algorithm>
#include <stdexcept>

#include "engine/layers/counter_rng.h"
#include "engine/layers/layer.h"

namespace fastmlp {
namespace engine {

namespace {

class Dense final : public Layer {
 public:
  explicit Dense(const LayerSpec& s) : Layer(s), rate_(s.rate) {
    if (drops() && !(s.act == Act::linear || s.act == Act::relu || s.act == Act::leaky_relu))
      throw std::invalid_argument("a dense layer fuses dropout only after linear, relu or "
                                  "leaky_relu");
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
    Epilogue ep = epilogue(c.params);
    DropoutMask m;
    if (drops()) {
      m = mask(c.step, y);
      ep.dropout = &m;
    }
    c.k.gemm(false, false, rows, out(), in(), 1.f, x, in(), weights(c.params), out(), 0.f,
             y, out(), &ep);
  }

  void infer(const PassContext& c, const float* packed, const float* x, float* y,
             int64_t rows, int part, int parts, int* nonfinite) const override {
    const int64_t nr = c.k.gemm_nr;
    const int64_t units = (out() + nr - 1) / nr;  // whole packed panels per part
    const int64_t lo = units * part / parts * nr;
    const int64_t hi = std::min(out(), units * (part + 1) / parts * nr);
    Epilogue ep = epilogue(c.params);
    ep.nonfinite = nonfinite;
    if (rows <= kGemvRows)
      small_rows(c.k, rows, x, weights(c.params), y, &ep, lo, hi);
    else if (parts == 1)
      c.k.gemm_packed(false, rows, out(), in(), x, in(), packed, y, out(), &ep);
    else
      c.k.gemm_packed_cols(false, rows, out(), in(), x, in(), packed, y, out(), &ep, lo, hi);
  }

  int split_workers(const KernelTable& k, int64_t rows, int nth) const override {
    return split_dense_columns(rows, in(), out(), k.gemm_nr, nth, 1.0);
  }

  // The packed GEMM flags a non-finite pre-activation (a NaN/inf input row makes every
  // one of its row's); the few-row path does not.
  bool flags_nonfinite(int64_t rows) const override { return rows > kGemvRows; }
  int64_t packed_size(const KernelTable& k) const override {
    return k.packed_b_size(in(), out());
  }
  void pack(const PassContext& c, float* dst) const override {
    c.k.pack_b(false, in(), out(), weights(c.params), out(), dst);
  }
  bool packed_for_few_rows() const override { return false; }  // (small_rows: live W)
  int64_t fma_per_row() const override { return in() * out(); }
  bool chains_batch1() const override { return true; }

  void backward(StepContext& c, const float* x, const float* y, float* dy, float* dx,
                int64_t rows) const override {
    const KernelTable& k = c.k;
    const int64_t n = rows * out();
    if (drops()) {  // y holds the masked values: one pass takes act' and the mask
      const DropoutMask m = mask(c.step, nullptr);
      k.dropout_act_backward(spec_.act, spec_.alpha, &m, y, dy, dy, n);
    } else if (spec_.act != Act::linear) {
      k.act_backward(spec_.act, spec_.alpha, y, dy, dy, n);
    }
    Param& pw = c.params[first_param_];
    float* W = pw.buf->data();
    const int bi = spec_.use_bias ? first_param_ + 1 : -1;
    if (c.grads) {
      if (dx) k.gemm(false, true, rows, in(), out(), 1.f, dy, out(), W, out(), 0.f, dx, in(),
                     nullptr);
      k.gemm(true, false, in(), out(), rows, 1.f, x, in(), dy, out(), 0.f,
             (*c.grads)[first_param_], out(), nullptr);
      if (bi >= 0) k.colsum(dy, out(), (*c.grads)[bi], rows, out());
      return;
    }
    // The bias goes first when the weight pass also runs the next forward (which adds it).
    const bool next = c.x_next && rows == 1 && rows <= c.fused_max_rows;
    auto step_bias = [&] {
      if (bi < 0) return;
      if (rows == 1) {
        apply_update(c, c.params[bi], dy);
      } else {
        k.colsum(dy, out(), c.db, rows, out());
        apply_update(c, c.params[bi], c.db);
      }
    };
    if (next) step_bias();
    if (rows <= c.fused_max_rows || (c.opt.kind == 1 && c.fused_max_rows > 0)) {
      Epilogue ep = epilogue(c.params);
      DropoutMask m_next;  // the next example's forward is the next step's
      if (next && drops()) {
        m_next = mask(c.step + 1, c.y_next);
        ep.dropout = &m_next;
      }
      k.dense_backward_update(x, dy, rows, in(), out(), W, pw.s0 ? pw.s0->data() : nullptr,
                              pw.s1 ? pw.s1->data() : nullptr, &c.opt, dx,
                              next ? c.x_next : nullptr, c.y_next, &ep);
    } else {
      if (dx) k.gemm(false, true, rows, in(), out(), 1.f, dy, out(), W, out(), 0.f, dx, in(),
                     nullptr);
      k.gemm(true, false, in(), out(), rows, 1.f, x, in(), dy, out(), 0.f, c.dW, out(),
             nullptr);
      apply_update(c, pw, c.dW);
    }
    if (!next) step_bias();
  }

 private:
  // Fusion rule: a Dropout after this layer (spec rate > 0) is applied by it, in training.
  bool drops() const { return spec_.rate > 0.f; }
  // The mask of training step `step` over an output that starts at `y`.
  DropoutMask mask(int64_t step, const float* y) const {
    DropoutMask m;
    m.key = step_key(spec_.seed, step);
    m.drop_below = rate_.drop_below;
    m.scale = rate_.keep_scale;
    m.origin = y;
    return m;
  }
  const float* weights(const std::vector<Param>& p) const {
    return p[first_param_].buf->data();
  }
  Epilogue epilogue(const std::vector<Param>& p) const {
    Epilogue ep;
    ep.bias = spec_.use_bias ? p[first_param_ + 1].buf->data() : nullptr;
    ep.act = spec_.act;
    ep.alpha = spec_.alpha;
    return ep;
  }

  DropoutRate rate_;

  // y[rows, out] = ep(x @ W) for output columns [j0, j1), with the bits of gemm_packed
  // (see KernelTable::gemm_kc): K is split into the blocks the packed path uses, each
  // summed as one chain and added in order, so a row predicted alone equals that row of
  // a batch (each column is its own FMA chain, so any column split gives the same bits).
  void small_rows(const KernelTable& k, int64_t rows, const float* x, const float* W,
                  float* y, const Epilogue* ep, int64_t j0, int64_t j1) const {
    const int64_t N = out(), K = in();
    if (j1 <= j0) return;
    Epilogue part;
    const Epilogue* pep = epilogue_from_col(ep, j0, &part);
    const int64_t n_kb = (K + k.gemm_kc - 1) / k.gemm_kc;
    const int64_t kc = (K + n_kb - 1) / n_kb;
    for (int64_t pc = 0; pc < K; pc += kc) {
      const int64_t kk = std::min(kc, K - pc);
      const bool last = pc + kk >= K;
      k.gemm(false, false, rows, j1 - j0, kk, 1.f, x + pc, K, W + pc * N + j0, N,
             pc == 0 ? 0.f : 1.f, y + j0, N, last ? pep : nullptr);
    }
  }
};

}  // namespace

std::unique_ptr<Layer> make_dense(const LayerSpec& s) { return std::make_unique<Dense>(s); }

}  // namespace engine
}  // namespace fastmlp
