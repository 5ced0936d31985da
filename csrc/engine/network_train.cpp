// Training: the forward pass of a step, the loss and metrics of a batch, backward with
// the fused or whole-gradient updates, the epoch loop over batches (train_batches),
// compute_gradients and apply_gradients.
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
#include "engine/network_internal.h"

namespace fastmlp {
namespace engine {

namespace {


inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, 1);
#else
  (void)p;
#endif
}

}  // namespace

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
  c.weights_version = weights_version();
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
      const int64_t r = detail::first_nonfinite_row(k, in, rows, input_dim_);
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
