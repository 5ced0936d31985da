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

#ifdef FASTMLP_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastmlp {
namespace engine {

namespace {

constexpr int64_t kTileRows = Network::kTileRows;
// Multi-threaded predict splits a batch into about kTilesPerThread tiles per thread of
// at least kMinStealRows rows (see balanced_tile_rows).
// (2: on a quiet machine 4 tiles per thread, of 128 rows at batch 1024, measured 2-3%
// slower on I1 / I2 at 2 threads than 256-row tiles: each packed weight panel then
// serves half as many register tiles.)
constexpr int64_t kTilesPerThread = 2;
constexpr int64_t kMinStealRows = 96;

int max_threads() {
#ifdef FASTMLP_HAVE_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int thread_id() {
#ifdef FASTMLP_HAVE_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, 1);
#else
  (void)p;
#endif
}

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

struct Xoshiro256ss {
  uint64_t s[4];
  explicit Xoshiro256ss(uint64_t seed) {
    uint64_t sm = seed;
    for (auto& v : s) v = splitmix64(sm);
  }
  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

// Index of the first row of x[rows, cols] (row stride ld, default cols) holding NaN or
// inf, or -1. Contiguous rows take one vectorised pass of the active tier (k.all_finite).
int64_t first_nonfinite_row(const KernelTable& k, const float* x, int64_t rows, int64_t cols,
                            int64_t ld = -1) {
  if (ld >= 0 && ld != cols) {  // strided rows (a slice or a broadcast view)
    for (int64_t r = 0; r < rows; ++r)
      if (!k.all_finite(x + r * ld, cols)) return r;
    return -1;
  }
  const int64_t n = rows * cols;
  if (k.all_finite(x, n)) return -1;
  const uint32_t* u = reinterpret_cast<const uint32_t*>(x);
  constexpr uint32_t kExp = 0x7f800000u;
  for (int64_t i = 0; i < n; ++i)
    if ((u[i] & kExp) == kExp) return i / cols;
  return -1;
}

}  // namespace

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

void shuffled_indices(int64_t n, uint64_t seed, int32_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(i);
  Xoshiro256ss rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t j = rng.next() % static_cast<uint64_t>(i + 1);
    const int32_t t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
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
    if (s.kind != LayerKind::dense && s.out != s.in)
      throw std::invalid_argument("layer " + std::to_string(l) + " must keep its width");
    if (s.kind == LayerKind::softmax && l + 1 != layers.size())
      throw std::invalid_argument("Softmax is only supported as the last layer");
    std::unique_ptr<Layer> layer = make_layer(s);
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
      } else if (top.kind() == LayerKind::dense && s.act == Act::sigmoid) {
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

void Network::infer_layer(const KernelTable& k, int l, int64_t rows, const float* cur,
                          float* y, const Packed* pk, int part, int parts,
                          int* input_nonfinite, const Layer* as, bool folded) const {
  const AlignedBuf* packed = pk && l < static_cast<int>(pk->w.size()) ? &pk->w[l] : nullptr;
  const Layer& L = as ? *as : *layers_[l];
  const PassContext c = folded ? PassContext{k, pk->folded} : pass_context(k);
  L.infer(c, packed && packed->size() ? packed->data() : nullptr, cur, y, rows, part, parts,
          l == 0 ? input_nonfinite : nullptr);
}

const float* Network::forward(const KernelTable& k, Workspace& ws, const float* in,
                              int64_t rows, bool fused, float* final_out, bool infer,
                              const Packed* pk, int first_layer, int* input_nonfinite,
                              int64_t step) {
  const int last = top_index(fused);
  const float* cur = first_layer > 0 ? ws.acts[first_layer - 1].data() : in;
  if (infer) {
    for (const InferStep& s : infer_steps_) {
      if (s.layer < first_layer) continue;
      if (s.layer > last) break;
      const int end = step_end(s, last);
      const bool to_final = end == last && final_out;
      // Fusion rule: a layer that is the identity in inference (Dropout) vanishes.
      if (s.identity && !to_final) continue;
      float* y = to_final ? final_out : ws.acts[end].data();
      infer_layer(k, s.layer, rows, cur, y, pk, 0, 1, input_nonfinite,
                  &step_layer(s, last, fused), s.fold >= 0);
      cur = y;
    }
    return cur;
  }
  PassContext c = pass_context(k);
  c.step = step;
  for (int l = first_layer; l <= last; ++l) {
    float* y = (l == last && final_out) ? final_out : ws.acts[l].data();
    layer_at(l, fused).forward(c, cur, y, rows);
    cur = y;
  }
  return cur;
}

void Network::gather_targets(Workspace& ws, const TargetView& y, const int32_t* idx,
                             int64_t row0, int64_t rows) const {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t src = idx ? idx[row0 + r] : row0 + r;
    if (y.labels) ws.labels[r] = y.labels[src];
    if (y.values)
      std::memcpy(const_cast<float*>(ws.targets.data()) + r * output_dim_,
                  y.values + src * output_dim_, sizeof(float) * output_dim_);
  }
  ws.weighted = y.weights != nullptr;
  if (ws.weighted)  // a loop of its own: the unweighted gather stays as it was
    for (int64_t r = 0; r < rows; ++r)
      ws.weights[r] = y.weights[idx ? idx[row0 + r] : row0 + r];
}

double Network::loss_rows(const float* top, Workspace& ws, int64_t rows, float* dy) const {
  // Weighted batches keep each row's loss to weight it; unweighted ones skip that pass.
  float* row_loss = ws.weighted ? ws.row_loss.data() : nullptr;
  const double sum = batch_loss(kernels(), loss_, loss_.from_logits || fused_top(), top,
                                ws.labels.data(), ws.targets.data(), rows, output_dim_, dy,
                                row_loss);
  if (!ws.weighted) return sum;
  return weight_rows(ws.weights.data(), rows, output_dim_, dy, row_loss);
}

double Network::metric_rows(const float* top, const Workspace& ws, int64_t rows,
                            double* sums) const {
  const FusedActivation act = fused_top() ? fused_activation(loss_) : FusedActivation::none;
  const float* w = ws.weighted ? ws.weights.data() : nullptr;
  batch_metrics(metrics_.data(), num_metrics(), act, top, ws.labels.data(), ws.targets.data(),
                w, rows, output_dim_, sums);
  if (!w) return static_cast<double>(rows);
  double wsum = 0.0;
  for (int64_t r = 0; r < rows; ++r) wsum += w[r];
  return wsum;
}

OptimizerConfig Network::step_config() const {
  OptimizerConfig opt = opt_;
  opt.step = step_;
  // step_ already counts this update: the schedule sees the updates before it.
  if (lr_schedule_.kind != LrSchedule::constant)
    opt.lr = static_cast<float>(lr_schedule_.at(step_ - 1));
  return opt;
}

double Network::backward(Workspace& ws, const float* in, int64_t rows, float* dy,
                         const std::vector<float*>* grads, const float* x_next,
                         int64_t step) {
  const bool fused = fused_top();
  const int top = top_index(fused);
  const OptimizerConfig opt = step_config();
  // An update that needs every gradient first collects them, then update_params.
  const bool whole = !grads && whole_gradients_;
  std::vector<float*> whole_ptrs;
  if (whole) {
    if (whole_grads_.size() != params_.size()) {
      whole_grads_.clear();
      for (const Param& p : params_) whole_grads_.emplace_back(p.rows * p.cols);
    }
    for (AlignedBuf& g : whole_grads_) whole_ptrs.push_back(g.data());
    grads = &whole_ptrs;
  }
  StepContext c{kernels(), params_, opt, fused_max_rows, dW_.data(), db_.data(), grads};
  c.updates_state = whole;
  c.step = step;
  float* cur = dy;
  float* other = (dy == ws.g0.data()) ? ws.g1.data() : ws.g0.data();
  for (int l = top; l >= 0; --l) {
    const float* x = l == 0 ? in : ws.acts[l - 1].data();
    float* dx = need_dx_[l] ? other : nullptr;
    // acts[0] is dead once layer 0's backward has read it: it takes the next output.
    c.x_next = l == 0 ? x_next : nullptr;
    c.y_next = l == 0 && x_next ? ws.acts[0].data() : nullptr;
    layer_at(l, fused).backward(c, x, ws.acts[l].data(), cur, dx, rows);
    if (!dx) break;
    float* t = cur; cur = other; other = t;
  }
  if (!whole) return 0.0;
  const double pen = add_penalty_gradients(params_, whole_ptrs);
  update_params(kernels(), params_, whole_ptrs, opt, nadam_);
  return pen;
}

namespace {

// Whether rows [start, start + rows) of the index list (null: the identity) are
// consecutive rows of x.
bool consecutive_rows(const int32_t* idx, int64_t start, int64_t rows) {
  if (!idx) return true;
  for (int64_t r = 1; r < rows; ++r)
    if (idx[start + r] != idx[start] + r) return false;
  return true;
}

}  // namespace

int64_t Network::train_batches(const InputView& x, const TargetView& y, const int32_t* idx,
                               int64_t n_idx, int64_t batch_size, int64_t first_batch,
                               int64_t n_batches, float* losses, float* metric_values,
                               double loss_limit) {
  const KernelTable& k = kernels();
  ensure_ws(train_ws_, batch_size, true);
  Workspace& ws = train_ws_;
  const bool fused = fused_top();
  const int nm = num_metrics();
  std::vector<double> msums(static_cast<size_t>(nm));
  int64_t done = 0;
  bad_input_row_ = -1;
  // Batch 1 with a dense first layer: each update of layer 0 also computes the next
  // example's layer-0 output, so W0 is read once per step instead of twice (the forward
  // then starts at layer 1; same bits as the plain forward, see dense_backward_update).
  const bool chain = batch_size == 1 && fused_max_rows >= 1 && !whole_gradients_ &&
                     layers_[0]->chains_batch1();
  bool have_next = false;  // ws.input and ws.acts[0] already hold this batch
  for (int64_t kb = 0; kb < n_batches; ++kb) {
    const int64_t start = (first_batch + kb) * batch_size;
    if (start >= n_idx) break;
    const int64_t rows = std::min(batch_size, n_idx - start);
    // Float rows laid out as layer 0 reads them (no Rescaling, row stride = width, the
    // batch's rows consecutive: train_on_batch, or fit without shuffling) are read in
    // place: copying them cost 2.5% of a T1 step at batch 64.
    const float* in = ws.input.data();
    if (!chain && reads_in_place(x) && consecutive_rows(idx, start, rows)) {
      in = static_cast<const float*>(x.data) + (idx ? idx[start] : start) * x.ld;
    } else if (!have_next) {
      k.gather_rows(x.data, x.is_u8, x.ld, idx, start, rows, input_dim_, in_scale_,
                    in_offset_, ws.input.data());
    }
    if (may_be_nonfinite(x.is_u8)) {  // ~1 ns per 16 values from cache
      const int64_t r = engine::first_nonfinite_row(k, in, rows, input_dim_);
      if (r >= 0) {
        bad_input_row_ = idx ? idx[start + r] : start + r;
        losses[kb] = std::numeric_limits<float>::quiet_NaN();
        for (int m = 0; m < nm; ++m) metric_values[kb * nm + m] = 0.f;
        ++done;
        break;
      }
    }
    // The next batch's rows (random rows of a data set larger than the caches, with a
    // shuffled index) are fetched while this step computes: gathering them cold stalled
    // on memory for ~5% of an E1 epoch.
    if (idx && kb + 1 < n_batches) {
      const int64_t next = start + batch_size;
      const int64_t nrows = std::min(batch_size, n_idx - next);
      const size_t esz = x.is_u8 ? 1 : sizeof(float);
      const size_t bytes = static_cast<size_t>(input_dim_) * esz;
      for (int64_t r = 0; r < nrows; ++r) {
        const char* row = static_cast<const char*>(x.data) +
                          static_cast<size_t>(idx[next + r]) * static_cast<size_t>(x.ld) * esz;
        for (size_t b = 0; b < bytes; b += 64) prefetch(row + b);
        prefetch(row + bytes - 1);
      }
    }
    gather_targets(ws, y, idx, start, rows);
    // The update this batch makes is number step_ + 1: its random layers draw from it.
    const float* top = forward(k, ws, in, rows, fused, nullptr, false, nullptr,
                               have_next ? 1 : 0, nullptr, step_ + 1);
    const double sum = loss_rows(top, ws, rows, ws.g0.data());
    const double loss = sum / static_cast<double>(rows);
    losses[kb] = static_cast<float>(loss);
    if (nm) {
      std::fill(msums.begin(), msums.end(), 0.0);
      const double wsum = metric_rows(top, ws, rows, msums.data());
      for (int m = 0; m < nm; ++m)
        metric_values[kb * nm + m] = wsum > 0.0 ? static_cast<float>(msums[m] / wsum) : 0.f;
    }
    ++done;
    // Checked before this batch's update: the weights stay those that gave `loss`.
    if (!std::isfinite(loss) || loss > loss_limit) break;
    ++step_;
    // Bumped before the weights change: a pack made from a half-updated state can never
    // carry the final version (packing also needs the lock this call holds exclusively).
    version_.fetch_add(1, std::memory_order_acq_rel);
    have_next = chain && kb + 1 < n_batches && start + 1 < n_idx;
    if (have_next)
      k.gather_rows(x.data, x.is_u8, x.ld, idx, start + 1, 1, input_dim_, in_scale_,
                    in_offset_, ws.input_next.data());
    const double pen = backward(ws, in, rows, ws.g0.data(), nullptr,
                                have_next ? ws.input_next.data() : nullptr,
                                step_);  // (step_ already counts this update)
    // Keras counts the penalties (at the weights the batch saw) in the reported loss.
    if (pen != 0.0) losses[kb] = static_cast<float>(loss + pen);
    if (have_next) std::swap(ws.input, ws.input_next);
  }
  return done;
}

namespace {

// Rows per tile for an N-row predict on `threads` threads: at most kTileRows, and tiles
// of about equal size in a multiple of `threads` (a whole multiple of 12 rows, which the
// register tiles of every tier divide, once tiles are large), so no thread idles while
// another works through a last full tile: 300 rows on 2 threads measured 1.12x over 1
// thread as 256 + 44.
// With room (kMinStealRows rows each) there are kTilesPerThread tiles per thread, taken
// dynamically: on a shared machine a descheduled thread then holds up one small tile,
// not half the batch. Rows are independent, so the tiling never changes a bit.
int64_t balanced_tile_rows(int64_t N, int threads) {
  int64_t ntiles = (N + kTileRows - 1) / kTileRows;
  if (threads <= 1) return std::min(N, kTileRows);
  ntiles = std::max(ntiles, std::min<int64_t>(kTilesPerThread * threads, N / kMinStealRows));
  ntiles = (ntiles + threads - 1) / threads * threads;  // at least one tile per thread
  int64_t rows = (N + ntiles - 1) / ntiles;
  if (rows >= kMinStealRows) rows = (rows + 11) / 12 * 12;  // whole register tiles
  return std::min(rows, kTileRows);
}

// Number of threads for `ntiles` independent tiles.
int tile_threads(int64_t ntiles) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), ntiles)));
}

// Rows of x[rows, cols] holding NaN or inf get an all-NaN output row (a ReLU would
// otherwise turn -inf into 0 and hide it). Called after the forward pass when layer 0's
// GEMM flagged a non-finite pre-activation (Epilogue::nonfinite), or when k.all_finite(x)
// is false where that flag is not available (see Network::finish_input_check).
void nan_rows_for_nonfinite(const KernelTable& k, const float* x, int64_t rows, int64_t cols,
                            float* out, int64_t out_cols) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t r = 0; r < rows; ++r)
    if (!k.all_finite(x + r * cols, cols))
      for (int64_t j = 0; j < out_cols; ++j) out[r * out_cols + j] = nan;
}

}  // namespace

Network::InputCheck Network::start_input_check(bool is_u8, int64_t rows) const {
  InputCheck c;
  c.needed = may_be_nonfinite(is_u8);
  // Layer 0's GEMM flags a possibly non-finite row when it can: a separate pass over the
  // input took 2.8% of I1 at batch 1024.
  c.in_gemm = c.needed && layers_[0]->flags_nonfinite(rows);
  return c;
}

void Network::finish_input_check(const KernelTable& k, const InputCheck& c, const float* in,
                                 int64_t rows, float* out) const {
  if (!c.needed) return;
  const bool suspect = c.in_gemm ? c.flag != 0 : !k.all_finite(in, rows * input_dim_);
  if (suspect) nan_rows_for_nonfinite(k, in, rows, input_dim_, out, output_dim_);
}

void Network::predict_split(const KernelTable& k, const InputView& x, float* out,
                            const Packed* pk, int nt, bool convert) {
  const int64_t rows = x.rows;
  std::unique_ptr<Workspace> ws = acquire_ws(rows);
  const int nl = static_cast<int>(layers_.size());
  const float* in = convert ? ws->input.data() : static_cast<const float*>(x.data);
  InputCheck check = start_input_check(x.is_u8, rows);
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp parallel num_threads(nt)
#endif
  {
    const int tid = thread_id();
#ifdef FASTMLP_HAVE_OPENMP
    const int nth = omp_get_num_threads();
#else
    const int nth = 1;
#endif
    if (convert) {
      const int64_t r0 = rows * tid / nth, r1 = rows * (tid + 1) / nth;
      k.gather_rows(x.data, x.is_u8, x.ld, nullptr, r0, r1 - r0, input_dim_, in_scale_,
                    in_offset_, ws->input.data() + r0 * input_dim_);
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp barrier
#endif
    }
    const float* cur = in;
    bool prev_split = false;
    for (const InferStep& s : infer_steps_) {
      if (s.identity && s.last != nl - 1) continue;  // (as in forward)
      const Layer& L = step_layer(s, nl - 1, false);
      // Every thread takes the same barrier decisions (they depend on shared data only).
      const int w = L.split_workers(k, rows, nth);
      if (s.layer > 0 && (w > 1 || prev_split)) {
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp barrier
#endif
      }
      float* y = s.last == nl - 1 ? out : ws->acts[s.last].data();
      if (tid < w)
        infer_layer(k, s.layer, rows, cur, y, pk, tid, w, check.gemm_flag(), &L, s.fold >= 0);
      cur = y;
      prev_split = w > 1;
    }
  }
  finish_input_check(k, check, in, rows, out);
  release_ws(std::move(ws));
}

// Rows per thread from which predict gives each thread its own row tiles rather than
// splitting layers by columns. Measured on 2 threads (Zen 4), row tiles won from 8 rows
// per thread: I1 (784-128-10) at batch 64 by 9%, at 128 by 14%; I2 (784-512-512-10,
// 2.6 MB of weights) at batch 64 by 9%; columns won below that (I2 at batch 6 by 35%).
// Each row-tile thread streams all the weights, so the bar rises with their size (one
// row per 32 KB, 8 to 32 rows): the column split shares that traffic on many cores.
int64_t Network::min_rows_per_tile_thread(int64_t fma_per_row) {
  const int64_t bytes = fma_per_row * 4;  // one float weight per multiply-add
  return std::min<int64_t>(32, std::max<int64_t>(8, bytes / 32768));
}

int64_t Network::fma_per_row() const {
  int64_t n = 0;
  for (const auto& L : layers_) n += L->fma_per_row();
  return n;
}

void Network::predict(const InputView& x, float* out) {
  const KernelTable& k = kernels();
  const int64_t N = x.rows;
  if (N <= 0) return;
  const bool convert = !reads_in_place(x);
  // A few rows stream the live weights (small_rows_dense) and need no Dense packs.
  std::shared_ptr<const Packed> pk = packed_for(k, N > kGemvRows);
  // A few rows per thread: the threads split each layer's output columns instead (the
  // weights' memory traffic is split too, which matters most at batch 1). Only when some
  // layer is worth it: one team for the whole pass, barriers between layers, none around
  // layers that thread 0 does alone. With more rows each thread runs whole row tiles:
  // no barrier between layers, but every thread reads all the weights.
  const int avail = max_threads();
  const int64_t row_fma = fma_per_row();
  if (avail > 1 && N <= kTileRows && N < min_rows_per_tile_thread(row_fma) * avail) {
    int nt = 1;
    const int last = static_cast<int>(layers_.size()) - 1;
    for (const InferStep& s : infer_steps_)
      if (!s.identity) nt = std::max(nt, step_layer(s, last, false).split_workers(k, N, avail));
    if (nt > 1) return predict_split(k, x, out, pk.get(), nt, convert);
  }
  // Row tiles on as many threads as the pass has work for (kSplitMinFma multiply-adds
  // each, as a split layer needs): a 20-32-3 model at batch 64 ran 5% slower on 2.
  const int64_t fma = N * row_fma;
  const int use = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(avail, static_cast<int64_t>(fma / kSplitMinFma))));
  const int64_t tile_rows = balanced_tile_rows(N, use);
  const int64_t ntiles = (N + tile_rows - 1) / tile_rows;
  const int nt = std::min(use, tile_threads(ntiles));
  // Workspaces sized as before balancing (a full tile once N exceeds one): their size
  // stays the same whatever the row count, and the pool reuses them.
  const int64_t ws_rows = std::min(N, kTileRows);
  auto run_tile = [&](int64_t t, Workspace& ws) {
    const int64_t r0 = t * tile_rows;
    const int64_t rows = std::min(tile_rows, N - r0);
    const float* in;
    if (convert) {
      k.gather_rows(x.data, x.is_u8, x.ld, nullptr, r0, rows, input_dim_, in_scale_,
                    in_offset_, ws.input.data());
      in = ws.input.data();
    } else {
      in = static_cast<const float*>(x.data) + r0 * x.ld;
    }
    InputCheck check = start_input_check(x.is_u8, rows);
    forward(k, ws, in, rows, false, out + r0 * output_dim_, true, pk.get(), 0,
            check.gemm_flag());
    finish_input_check(k, check, in, rows, out + r0 * output_dim_);
  };
  if (nt <= 1) {
    std::unique_ptr<Workspace> ws = acquire_ws(ws_rows);
    for (int64_t t = 0; t < ntiles; ++t) run_tile(t, *ws);
    release_ws(std::move(ws));
    return;
  }
  std::vector<std::unique_ptr<Workspace>> wss;
  for (int t = 0; t < nt; ++t) wss.push_back(acquire_ws(ws_rows));
  {
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(nt)
#endif
    for (int64_t t = 0; t < ntiles; ++t) run_tile(t, *wss[thread_id()]);
  }
  for (auto& w : wss) release_ws(std::move(w));
}

int64_t Network::evaluate(const InputView& x, const TargetView& y, double* loss_sum,
                          double* metric_sums, double* weight_sum) {
  const KernelTable& k = kernels();
  const int64_t N = x.rows;
  const int nm = num_metrics();
  *loss_sum = 0.0;
  *weight_sum = 0.0;
  std::fill(metric_sums, metric_sums + nm, 0.0);
  if (N <= 0) return -1;
  const bool fused = fused_top();
  std::shared_ptr<const Packed> pk = packed_for(k, N > kGemvRows);
  const int64_t ntiles = (N + kTileRows - 1) / kTileRows;
  const int nt = tile_threads(ntiles);
  const int64_t tile_rows = std::min(N, kTileRows);
  std::vector<std::unique_ptr<Workspace>> wss;
  for (int t = 0; t < nt; ++t) wss.push_back(acquire_ws(tile_rows));
  std::vector<double> sums(static_cast<size_t>(ntiles), 0.0);
  // Per tile (summed in tile order after: the result does not depend on the threads).
  std::vector<double> msums(static_cast<size_t>(ntiles * nm), 0.0);
  std::vector<double> wsums(static_cast<size_t>(ntiles), 0.0);
  std::vector<int64_t> bad(static_cast<size_t>(ntiles), -1);
  auto run_tile = [&](int64_t t, Workspace& ws) {
    const int64_t r0 = t * kTileRows;
    const int64_t rows = std::min(kTileRows, N - r0);
    k.gather_rows(x.data, x.is_u8, x.ld, nullptr, r0, rows, input_dim_, in_scale_,
                  in_offset_, ws.input.data());
    if (may_be_nonfinite(x.is_u8)) {
      const int64_t b = engine::first_nonfinite_row(k, ws.input.data(), rows, input_dim_);
      if (b >= 0) {
        bad[t] = r0 + b;
        return;
      }
    }
    gather_targets(ws, y, nullptr, r0, rows);
    const float* top = forward(k, ws, ws.input.data(), rows, fused, nullptr, true, pk.get());
    sums[t] = loss_rows(top, ws, rows, nullptr);
    wsums[t] = metric_rows(top, ws, rows, msums.data() + t * nm);
  };
  if (nt <= 1) {
    for (int64_t t = 0; t < ntiles; ++t) run_tile(t, *wss[0]);
  } else {
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nt)
#endif
    for (int64_t t = 0; t < ntiles; ++t) run_tile(t, *wss[thread_id()]);
  }
  for (auto& w : wss) release_ws(std::move(w));
  for (int64_t t = 0; t < ntiles; ++t) {
    if (bad[t] >= 0) return bad[t];
    *loss_sum += sums[t];
    *weight_sum += wsums[t];
    for (int m = 0; m < nm; ++m) metric_sums[m] += msums[t * nm + m];
  }
  // Keras' loss counts the penalties once per mean: each row carries them here (with
  // weights too: sum(w l) / N + penalties).
  if (const double pen = penalty(); pen != 0.0) *loss_sum += pen * static_cast<double>(N);
  return -1;
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

int64_t Network::first_nonfinite_row(const InputView& x) const {
  const KernelTable& k = kernels();
  if (!may_be_nonfinite(x.is_u8)) return -1;
  if (!x.is_u8 && !rescales()) {
    return engine::first_nonfinite_row(k, static_cast<const float*>(x.data), x.rows, x.cols, x.ld);
  }
  // What the first layer sees, x * scale + offset, as training gathers it: a finite x
  // can still overflow. Checked a block of rows at a time.
  constexpr int64_t kBlock = 64;
  std::vector<float> buf(static_cast<size_t>(kBlock * x.cols));
  for (int64_t r0 = 0; r0 < x.rows; r0 += kBlock) {
    const int64_t n = std::min(kBlock, x.rows - r0);
    k.gather_rows(x.data, x.is_u8, x.ld, nullptr, r0, n, x.cols, in_scale_, in_offset_,
                  buf.data());
    const int64_t r = engine::first_nonfinite_row(k, buf.data(), n, x.cols);
    if (r >= 0) return r0 + r;
  }
  return -1;
}

double Network::compute_gradients(const InputView& x, const TargetView& y,
                                  const std::vector<float*>& grads) {
  const KernelTable& k = kernels();
  const int64_t rows = x.rows;
  Workspace ws;
  ensure_ws(ws, rows, true);
  k.gather_rows(x.data, x.is_u8, x.ld, nullptr, 0, rows, input_dim_, in_scale_, in_offset_,
                ws.input.data());
  gather_targets(ws, y, nullptr, 0, rows);
  const float* top = forward(k, ws, ws.input.data(), rows, fused_top(), nullptr, false,
                             nullptr, 0, nullptr, step_ + 1);
  const double sum = loss_rows(top, ws, rows, ws.g0.data());
  backward(ws, ws.input.data(), rows, ws.g0.data(), &grads, nullptr, step_ + 1);
  return sum / static_cast<double>(rows) + add_penalty_gradients(params_, grads);
}

void Network::apply_gradients(const std::vector<float*>& grads) {
  ++step_;
  version_.fetch_add(1, std::memory_order_acq_rel);  // before the weights change (train_batches)
  update_params(kernels(), params_, grads, step_config(), nadam_);
}

}  // namespace engine
}  // namespace fastmlp
