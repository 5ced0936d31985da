// The network: construction from the layer specs, its settings (loss, optimizer),
// parameter storage, workspaces and memory accounting. Training lives in
// network_train.cpp, inference in network_infer.cpp (and inference_plan.cpp).
#include "engine/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "cpu/dispatch.h"
#include "engine/losses.h"
#include "engine/metrics.h"

namespace fastmlp {
namespace engine {

void AlignedBuf::resize(int64_t n) {
  std::free(p_);
  p_ = nullptr;
  n_ = n;
  if (n <= 0) return;
  size_t bytes = static_cast<size_t>(n) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p_) throw std::bad_alloc();
  std::memset(p_, 0, bytes);
}

Network::Network(std::vector<LayerSpec> layers, int64_t input_dim, float in_scale,
                 float in_offset)
    : input_dim_(input_dim), in_scale_(in_scale), in_offset_(in_offset) {
  if (layers.empty()) throw std::invalid_argument("a network needs at least one layer");
  int64_t width = input_dim;
  max_width_ = input_dim;
  bool seen_params = false;
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerSpec& s = layers[l];
    if (s.in != width)
      throw std::invalid_argument("layer " + std::to_string(l) + " expects " +
                                  std::to_string(s.in) + " inputs, gets " +
                                  std::to_string(width));
    if (s.kind == LayerKind::softmax && l + 1 != layers.size())
      throw std::invalid_argument("Softmax is only supported as the last layer");
    std::unique_ptr<Layer> layer = make_layer(s);
    if (!layer->maps_widths() && s.out != s.in)
      throw std::invalid_argument("layer " + std::to_string(l) + " must keep its width");
    layer->set_first_param(static_cast<int>(params_.size()));
    need_dx_.push_back(seen_params);
    for (const ParamShape& ps : layer->param_shapes()) {
      Param p;
      p.buf = std::make_unique<AlignedBuf>(ps.rows * ps.cols);
      p.rows = ps.rows; p.cols = ps.cols; p.vector = ps.vector;
      p.rule = ps.rule; p.trainable = ps.trainable;
      if (!ps.vector) max_w_ = std::max(max_w_, ps.rows * ps.cols);
      params_.push_back(std::move(p));
      seen_params = true;
    }
    width = s.out;
    max_width_ = std::max(max_width_, width);
    layers_.push_back(std::move(layer));
  }
  output_dim_ = width;
  dW_.resize(max_w_);
  db_.resize(max_width_);
  whole_gradients_ = needs_whole_gradients(opt_, params_);
  plan_inference();
}

void Network::set_loss(const LossConfig& c) {
  loss_ = c;
  metrics_.clear();  // they read the targets this loss takes: set_metrics sets them anew
  top_fusion_ = TopFusion::none;
  top_logits_.reset();
  const Layer& top = *layers_.back();
  const LayerSpec& s = top.spec();
  switch (fused_activation(c)) {
    case FusedActivation::softmax:
      if (top.kind() == LayerKind::softmax && layers_.size() >= 2)
        top_fusion_ = TopFusion::skip_last;
      break;
    case FusedActivation::sigmoid:
      if (top.kind() == LayerKind::activation && s.act == Act::sigmoid && layers_.size() >= 2) {
        top_fusion_ = TopFusion::skip_last;
      } else if (top.has_linear_twin() && s.act == Act::sigmoid) {
        // The sigmoid is the Dense's epilogue: its linear twin (same parameters) computes
        // the logits, and its backward takes the loss's gradient with respect to them.
        LayerSpec lin = s;
        lin.act = Act::linear;
        top_logits_ = make_layer(lin);
        top_logits_->set_first_param(top.first_param());
        top_fusion_ = TopFusion::linear_twin;
      }
      break;
    case FusedActivation::none:
      break;
  }
}

int Network::top_index(bool fused) const {
  return static_cast<int>(layers_.size()) - 1 -
         (fused && top_fusion_ == TopFusion::skip_last ? 1 : 0);
}

const Layer& Network::layer_at(int l, bool fused) const {
  if (fused && top_logits_ && l == static_cast<int>(layers_.size()) - 1) return *top_logits_;
  return *layers_[l];
}

void Network::set_optimizer(const OptimizerConfig& c) {
  const bool same_kind = (c.kind == opt_.kind);
  opt_ = c;
  const unsigned slots = opt_slots(c);
  for (Param& p : params_) {
    const int64_t n = p.buf->size();
    std::unique_ptr<AlignedBuf>* s[kOptSlots] = {&p.s0, &p.s1, &p.s2};
    for (int j = 0; j < kOptSlots; ++j) {
      // (untrainable state keeps slots too: files saved with them load unchanged)
      const bool need = (slots >> j & 1u) != 0;
      if (need && (!*s[j] || !same_kind)) *s[j] = std::make_unique<AlignedBuf>(n);
      if (!need) s[j]->reset();
    }
  }
  whole_gradients_ = needs_whole_gradients(opt_, params_);
  if (!whole_gradients_) whole_grads_.clear();
}

void Network::reset_optimizer_state() {
  for (Param& p : params_)
    for (auto* s : {&p.s0, &p.s1, &p.s2})
      if (*s) std::memset((*s)->data(), 0, sizeof(float) * (*s)->size());
  step_ = 0;
}

void Network::ensure_ws(Workspace& ws, int64_t rows, bool training) {
  const bool have_train = ws.g0.size() > 0;
  if (ws.rows >= rows && (!training || have_train)) return;
  rows = std::max(rows, ws.rows);
  ws.rows = rows;
  ws.input.resize(rows * input_dim_);
  ws.acts.clear();
  for (const auto& L : layers_) ws.acts.emplace_back(rows * L->out());
  if (training || have_train) {
    ws.g0.resize(rows * max_width_);
    ws.g1.resize(rows * max_width_);
    ws.input_next.resize(input_dim_);
  }
  ws.targets.resize(rows * output_dim_);
  ws.row_loss.resize(rows);
  ws.labels.assign(static_cast<size_t>(rows), 0);
  ws.weights.assign(static_cast<size_t>(rows), 1.f);
}

void Network::set_param(int i, const float* src) {
  std::memcpy(params_[i].buf->data(), src,
              sizeof(float) * static_cast<size_t>(params_[i].rows * params_[i].cols));
  version_.fetch_add(1, std::memory_order_acq_rel);
}

int64_t Network::ws_bytes(const Workspace& ws) {
  int64_t n = ws.input.size() + ws.input_next.size() + ws.g0.size() + ws.g1.size() + ws.targets.size() +
              ws.row_loss.size();
  for (const AlignedBuf& a : ws.acts) n += a.size();
  return n * static_cast<int64_t>(sizeof(float)) +
         static_cast<int64_t>(ws.labels.size() * sizeof(int32_t)) +
         static_cast<int64_t>(ws.weights.size() * sizeof(float));
}

MemoryUse Network::memory() const {
  MemoryUse m;
  for (const Param& p : params_) {
    m.weights += p.buf->size() * static_cast<int64_t>(sizeof(float));
    for (const auto* s : {&p.s0, &p.s1, &p.s2})
      if (*s) m.optimizer += (*s)->size() * static_cast<int64_t>(sizeof(float));
  }
  for (const AlignedBuf& g : whole_grads_)
    m.workspace += g.size() * static_cast<int64_t>(sizeof(float));
  m.checkpoints = checkpoint_bytes();
  m.workspace = ws_bytes(train_ws_) +
                (dW_.size() + db_.size()) * static_cast<int64_t>(sizeof(float));
  {
    std::lock_guard<std::mutex> g(pool_mu_);
    for (const auto& w : pool_) m.workspace += ws_bytes(*w);
  }
  {
    std::lock_guard<std::mutex> g(packed_mu_);
    if (packed_) {
      for (const AlignedBuf& b : packed_->w)
        m.packed += b.size() * static_cast<int64_t>(sizeof(float));
      for (const Param& p : packed_->folded)
        m.packed += p.buf->size() * static_cast<int64_t>(sizeof(float));
    }
  }
  return m;
}

void Network::release_caches() {
  {
    std::lock_guard<std::mutex> g(pool_mu_);
    pool_.clear();
  }
  {
    std::lock_guard<std::mutex> g(packed_mu_);
    packed_.reset();
  }
  train_ws_ = Workspace();
  whole_grads_.clear();
}

// Kept free for reuse: enough for a few concurrent callers, each with one per thread.
constexpr size_t kMaxPooledWorkspaces = 16;

std::unique_ptr<Network::Workspace> Network::acquire_ws(int64_t rows) {
  std::unique_ptr<Workspace> ws;
  {
    std::lock_guard<std::mutex> g(pool_mu_);
    // Prefer a workspace that is already large enough.
    for (size_t i = pool_.size(); i-- > 0;) {
      if (pool_[i]->rows >= rows) {
        ws = std::move(pool_[i]);
        pool_.erase(pool_.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
    if (!ws && !pool_.empty()) {
      ws = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  if (!ws) ws = std::make_unique<Workspace>();
  ensure_ws(*ws, rows, false);
  return ws;
}

void Network::release_ws(std::unique_ptr<Workspace> ws) {
  std::lock_guard<std::mutex> g(pool_mu_);
  if (pool_.size() < kMaxPooledWorkspaces) pool_.push_back(std::move(ws));
}

bool Network::rescales() const { return in_scale_ != 1.f || in_offset_ != 0.f; }

bool Network::reads_in_place(const InputView& x) const {
  return !x.is_u8 && !rescales() && x.ld == input_dim_;
}

bool Network::may_be_nonfinite(bool is_u8) const {
  if (!is_u8) return true;
  // uint8 values are finite, and x * scale + offset is monotonic in x: finite at 0 and
  // at 255 means finite for every byte (a huge Rescaling could overflow).
  return !(std::isfinite(in_offset_) && std::isfinite(255.f * in_scale_ + in_offset_));
}

}  // namespace engine
}  // namespace fastmlp
