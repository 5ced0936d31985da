// The network engine: a Sequential MLP whose whole training steps, epochs and inference
// passes run here, calling SIMD work only through the active KernelTable.
//
// Layout: a chain of layers (dense with a fused activation, stand-alone activation,
// rescaling, softmax). A leading Rescaling is folded into the input gather. Weights
// and optimizer state live in 64-byte aligned buffers owned by the Network; Python sees
// the weights as read-only zero-copy NumPy views and writes them through set_param.
//
// Concurrency (see register_engine.cpp): callers hold lock() shared for the const-weight
// paths (predict, evaluate, compute_gradients, reading parameters) and exclusive for
// everything that changes the network (training, set_param, optimizer/loss settings).
// Read paths take their workspaces from a pool, so concurrent predicts run in parallel.
//
// Pre-packed weights: inference multiplies by weights packed once for the active tier
// (KernelTable::pack_b). Every path that changes weights bumps weights_version(); the
// packed copy is rebuilt when its (version, table) no longer match; so are the folded
// Dense + BatchNormalization weights (Fold) and a BatchNormalization's scale and shift.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "engine/layers/layer.h"
#include "engine/lr_schedule.h"
#include "engine/param_update.h"
#include "engine/types.h"
#include "kernels/kernel_table.h"
#include "kernels/optimizer_config.h"

namespace fastmlp {
namespace engine {

// A readers-writer lock that does not starve writers: a writer holds `gate_` while it
// waits for the readers inside to leave, so no new reader gets in meanwhile (std's
// shared_mutex on glibc prefers readers: a stream of predicts could block fit forever).
class RwLock {
 public:
  void lock() {
    std::lock_guard<std::mutex> g(gate_);
    rw_.lock();
  }
  void unlock() { rw_.unlock(); }
  void lock_shared() {
    { std::lock_guard<std::mutex> g(gate_); }
    rw_.lock_shared();
  }
  bool try_lock_shared() {
    if (!gate_.try_lock()) return false;
    gate_.unlock();
    return rw_.try_lock_shared();
  }
  void unlock_shared() { rw_.unlock_shared(); }

 private:
  std::mutex gate_;
  std::shared_mutex rw_;
};

// Bytes held by a network, by kind (Network::memory()).
struct MemoryUse {
  int64_t weights = 0, optimizer = 0, packed = 0, workspace = 0, checkpoints = 0;
  int64_t total() const { return weights + optimizer + packed + workspace + checkpoints; }
};

class Network {
 public:
  Network(std::vector<LayerSpec> layers, int64_t input_dim, float in_scale, float in_offset);

  // Rows per tile of an inference pass (predict, evaluate): a row's result depends only
  // on the row, so Python slices a big predict into whole tiles (exported as TILE_ROWS).
  static constexpr int64_t kTileRows = 256;

  int64_t input_dim() const { return input_dim_; }
  int64_t output_dim() const { return output_dim_; }
  // Parameters in Keras order: W0 [in, out], b0, W1, b1, ... (bias only when used).
  int num_params() const { return static_cast<int>(params_.size()); }
  // Read access to the weights (hold lock() at least shared while reading).
  const float* param(int i) const { return params_[i].buf->data(); }
  int64_t param_rows(int i) const { return params_[i].rows; }
  int64_t param_cols(int i) const { return params_[i].cols; }
  // True for a bias (1-D, param_cols(i) values); false for a kernel [rows, cols].
  bool param_is_vector(int i) const { return params_[i].vector; }
  // Copies param_rows(i) * param_cols(i) floats into parameter i (hold lock() exclusive)
  // and bumps weights_version().
  void set_param(int i, const float* src);
  // Row of x holding NaN or inf that stopped the last train_batches call, or -1.
  int64_t bad_input_row() const { return bad_input_row_; }
  // Incremented by every change of the weights (training steps, set_param).
  uint64_t weights_version() const { return version_.load(std::memory_order_acquire); }
  // Bytes of weights, optimizer state, packed weights and workspaces held now.
  MemoryUse memory() const;
  // Drops cached workspaces and packed weights (they are rebuilt on demand).
  void release_caches();

  void set_optimizer(const OptimizerConfig& c);
  void set_learning_rate(float lr) {
    opt_.lr = lr;
    lr_schedule_ = LrSchedule{};  // a constant rate replaces any schedule
    lr_schedule_.initial = lr;
  }
  // Every update then takes its rate from s.at(updates done before it).
  void set_lr_schedule(const LrSchedule& s) { lr_schedule_ = s; }
  const LrSchedule& lr_schedule() const { return lr_schedule_; }
  void reset_optimizer_state();
  int64_t step() const { return step_; }
  void set_step(int64_t s) { step_ = s; }
  // Optimizer state slot `which` (0 .. kOptSlots - 1; SGD: velocity; Adam, Nadam: m, v;
  // RMSprop: v, momentum, mean gradient) of parameter i, param_rows(i) * param_cols(i)
  // floats, or nullptr when the optimizer keeps none.
  float* opt_state(int i, int which) {
    const auto& s = which == 0 ? params_[i].s0 : which == 1 ? params_[i].s1 : params_[i].s2;
    return s ? s->data() : nullptr;
  }
  // The penalties of the parameters' rules at the current weights (param_update.h).
  double penalty() const { return engine::penalty(params_); }
  // The loss (losses.h), and with it the fusion of a final activation into it (fused_top).
  void set_loss(const LossConfig& c);
  LossKind loss() const { return loss_.kind; }
  const LossConfig& loss_config() const { return loss_; }
  // The metrics train_batches and evaluate report beside the loss (metrics.h), in order;
  // set_loss clears them (they read the targets the loss takes).
  void set_metrics(std::vector<MetricConfig> m) { metrics_ = std::move(m); }
  int num_metrics() const { return static_cast<int>(metrics_.size()); }
  // Batches with at most this many rows take the fused no-dW path (gemm_update); Adam
  // takes it at any batch size (with three state streams, skipping the dW round trip
  // measured 3-5% on E1; for SGD at T1 sizes the dW path measured ~1% faster).
  // 0 forces a dW matrix then a separate optimizer pass for every batch.
  int64_t fused_max_rows = 8;

  // Trains batches [first_batch, first_batch + n_batches) of the index list idx[0..n_idx)
  // (batch b covers idx[b*bs, min((b+1)*bs, n_idx))). Writes each batch's loss (with
  // y.weights: sum_r w_r l_r / rows) into losses[k] and its metrics (sum_r w_r m_r /
  // sum_r w_r, 0 when the weights sum to 0) into metric_values[k * num_metrics() + m]
  // (k counts from 0 for first_batch). Stops before
  // updating when a loss is not finite or exceeds loss_limit (fit's divergence bound),
  // or when a float batch holds NaN/inf (then its loss is NaN and bad_input_row() names
  // the row of x). Returns the number of batches completed (the stopping batch included
  // in the count, its weights untouched).
  int64_t train_batches(const InputView& x, const TargetView& y, const int32_t* idx,
                        int64_t n_idx, int64_t batch_size, int64_t first_batch,
                        int64_t n_batches, float* losses, float* metric_values,
                        double loss_limit = std::numeric_limits<double>::infinity());

  // Checkpoints (checkpoint.cpp): slot 0 or 1 holds a copy of the weights, optimizer
  // state and step (hold lock() exclusive for all three). restore_checkpoint returns
  // false, changing nothing, when the slot is empty or the optimizer's state has another
  // layout now; it bumps weights_version().
  static constexpr int kCheckpointSlots = 2;
  void save_checkpoint(int slot);
  bool restore_checkpoint(int slot);
  void discard_checkpoints();
  int64_t checkpoint_bytes() const;

  // out[rows, output_dim] = the layers applied to x (Keras semantics: softmax included).
  // Rows go through every layer in tiles of kTileRows with the pre-packed weights, so a
  // row's result does not depend on the other rows of the call (bitwise), nor on the
  // thread count. Threads take whole tiles; a call of one tile on several threads splits
  // each layer's output columns instead (predict_split). NaN or inf in a row of x gives an
  // all-NaN output row.
  void predict(const InputView& x, float* out);
  // Over all of x: the sum of the per-row losses times the row weights (y.weights, else
  // 1), each with the penalties added (their mean is Keras' loss, regularization
  // included), each metric's sum of row value times weight into
  // metric_sums[num_metrics()], and the sum of the weights. Returns -1 when every value
  // of x is finite, else the index of the first row holding NaN or inf (then the sums
  // are not meaningful).
  int64_t evaluate(const InputView& x, const TargetView& y, double* loss_sum,
                   double* metric_sums, double* weight_sum);
  // Index of the first row of x holding NaN or inf, or that a leading Rescaling turns
  // inf, or -1. One vectorised pass: fit checks its whole x with it before training.
  int64_t first_nonfinite_row(const InputView& x) const;
  // Whether the values the first layer sees (x after a leading Rescaling) can hold NaN or
  // inf: float input always; uint8 only through a Rescaling that overflows float32.
  bool may_be_nonfinite(bool is_u8) const;
  // A leading Rescaling (x * scale + offset, fused into gathering the input).
  bool rescales() const;
  // Whether layer 0 can read x as it is: float32, no Rescaling, rows of input_dim floats
  // back to back (otherwise rows are gathered and converted first).
  bool reads_in_place(const InputView& x) const;
  // Gradients of the loss of all rows of x as one batch (with y.weights: sum_r w_r l_r /
  // rows) plus the penalties, in parameter order, into grads[i] (each sized like param
  // i). Returns that loss. No update.
  double compute_gradients(const InputView& x, const TargetView& y,
                           const std::vector<float*>& grads);
  // One update from gradients as compute_gradients gives them (penalties included), in
  // parameter order, each sized like its parameter: what a training step does after its
  // backward (clipping, the step, constraints), for data-parallel training that averages
  // gradients between processes. Overwrites grads.
  void apply_gradients(const std::vector<float*>& grads);

 private:
  struct BufferRef {
    float* data;
    size_t count;
  };
  struct Checkpoint {
    std::vector<float> values;
    std::vector<bool> layout;  // which of state_buffers() were saved
    int64_t step = 0;
    bool valid = false;
  };
  std::vector<BufferRef> state_buffers();
  // Buffers for `rows` rows: gathered input, every layer's output, two gradient buffers,
  // labels / targets / weights of the batch, per-row losses.
  struct Workspace {
    int64_t rows = 0;
    AlignedBuf input, input_next;  // input_next: batch-1 training's next example
    std::vector<AlignedBuf> acts;
    AlignedBuf g0, g1, targets, row_loss;
    std::vector<int32_t> labels;
    std::vector<float> weights;
    bool weighted = false;  // the batch gathered weights (gather_targets)
  };

  // Weights packed for one kernel table at one weights version; immutable once built and
  // shared by the calls using it (a newer pack replaces it, old users keep theirs alive).
  // `folded`: the folded dense layers' parameters (see Fold), W' and b' for each fold.
  // Without `complete`, the packs that only many-row passes read (a Dense's) are missing.
  struct Packed {
    uint64_t version = 0;
    const KernelTable* table = nullptr;
    bool complete = false;
    std::vector<AlignedBuf> w;  // per layer (empty for layers with no packed form)
    std::vector<Param> folded;
  };
  // Fusion rule (inference): a BatchNormalization after a linear Dense folds into it,
  // W'[:, j] = W[:, j] * s_j, b'_j = (b_j - moving_mean_j) * s_j + beta_j with
  // s = gamma / sqrt(moving_var + eps), and an Activation layer after the BN becomes the
  // folded Dense's epilogue. The twins are Dense layers reading Packed::folded.
  struct Fold {
    int dense = 0, bn = 0;
    int act = -1;  // the activation layer folded in, or -1
    std::unique_ptr<Layer> linear, with_act;
  };
  // One layer run by an inference pass: layers [layer, last] (a fold covers 2 or 3).
  struct InferStep {
    int layer = 0, last = 0;
    int fold = -1;          // index in folds_, or -1: layer_at(layer)
    bool identity = false;  // the identity in inference: skipped (see forward)
  };
  // The inference steps up to layer `last` (top_index): a fold whose activation lies
  // beyond `last` (fused into the loss) runs as its linear twin.
  const Layer& step_layer(const InferStep& s, int last, bool fused) const;
  int step_end(const InferStep& s, int last) const { return s.last > last ? last : s.last; }
  // Fills folds_ and infer_steps_ (constructor).
  void plan_inference();
  // The folded parameters of fold f into dst[2f], dst[2f + 1].
  void fold_params(int f, std::vector<Param>& dst) const;

  float* mparam(int i) { return params_[i].buf->data(); }
  void ensure_ws(Workspace& ws, int64_t rows, bool training);
  static int64_t ws_bytes(const Workspace& ws);
  // The packed weights for table k (hold lock() shared at least, so the version is stable).
  // With `many_rows` false (a pass of at most kGemvRows rows) the Dense packs may be left
  // out; then null when nothing else is packed or folded.
  std::shared_ptr<const Packed> packed_for(const KernelTable& k, bool many_rows = true);
  // Tile workspaces for read-only calls (predict, evaluate) from a pool.
  std::unique_ptr<Workspace> acquire_ws(int64_t rows);
  void release_ws(std::unique_ptr<Workspace> ws);
  // Forward over `rows` rows from `in` (rows x input_dim). When `final_out` is set the
  // last computed layer writes there. With `fused` (fused_top()) the top hands out the
  // logits of the activation fused into the loss (top_index, layer_at). With
  // `infer`, dense layers multiply by the packed weights `pk` (or, for a few rows, by the
  // live weights with the same bits: small_rows_dense); else by the live weights.
  // Starts at layer `first_layer` (then ws.acts[first_layer - 1] holds its input).
  // `input_nonfinite` (InputCheck::gemm_flag): layer 0's Epilogue::nonfinite. `step`:
  // PassContext::step (training). Inference skips layers that are the identity there.
  const float* forward(const KernelTable& k, Workspace& ws, const float* in, int64_t rows,
                       bool fused_top, float* final_out, bool infer = false,
                       const Packed* pk = nullptr, int first_layer = 0,
                       int* input_nonfinite = nullptr, int64_t step = 0);
  // How an inference pass learns of rows of its input holding NaN or inf (their output
  // rows must be all NaN): layer 0's GEMM flags them when layer 0 is dense and on the
  // packed path (no extra pass over the input), else one pass checks the input after.
  struct InputCheck {
    bool needed = false;   // float input (uint8 is always finite)
    bool in_gemm = false;  // layer 0 sets `flag`: pass gemm_flag() to it
    int flag = 0;
    int* gemm_flag() { return in_gemm ? &flag : nullptr; }
  };
  InputCheck start_input_check(bool is_u8, int64_t rows) const;
  // After the pass: all-NaN output rows for the input rows that hold NaN or inf.
  void finish_input_check(const KernelTable& k, const InputCheck& c, const float* in,
                          int64_t rows, float* out) const;
  // Rows per thread from which predict runs row tiles on each thread (see predict).
  static int64_t min_rows_per_tile_thread(int64_t fma_per_row);
  // Multiply-adds of all layers for one row (Layer::fma_per_row).
  int64_t fma_per_row() const;
  // predict for one row tile on `nt` threads that split each layer (see predict).
  void predict_split(const KernelTable& k, const InputView& x, float* out, const Packed* pk,
                     int nt, bool convert);
  // Layer l's inference over part `part` of `parts` of a `rows`-row pass (see
  // Layer::infer); `input_nonfinite`: as in forward (layer 0 only). `as`: the layer run in
  // layer l's place (layer_at), else layers_[l].
  // `folded`: `as` is a fold's twin, reading pk->folded.
  void infer_layer(const KernelTable& k, int l, int64_t rows, const float* cur, float* y,
                   const Packed* pk, int part, int parts, int* input_nonfinite,
                   const Layer* as = nullptr, bool folded = false) const;
  // Loss of the batch from the top output (the logits of a fused activation when
  // fused_top()); optional gradient into dy. Returns the sum of the row losses, times the
  // rows' weights when the batch has them (dy then weighted too).
  double loss_rows(const float* top, Workspace& ws, int64_t rows, float* dy) const;
  // Adds each metric's sum of row value times weight over the batch to sums (metrics.h);
  // returns the batch's sum of weights (rows when unweighted).
  double metric_rows(const float* top, const Workspace& ws, int64_t rows, double* sums) const;
  void gather_targets(Workspace& ws, const TargetView& y, const int32_t* idx, int64_t row0,
                      int64_t rows) const;
  // With x_next (batch 1, layer 0 chains_batch1), layer 0's update also computes the
  // next example's layer-0 output into ws.acts[0] (see StepContext::x_next).
  // Returns the penalty at the weights before the update (0 without penalties).
  double backward(Workspace& ws, const float* in, int64_t rows, float* dy,
                  const std::vector<float*>* grads, const float* x_next, int64_t step);
  // Fusion rule: a final Softmax is folded into a cross-entropy loss, a final Sigmoid into
  // binary cross-entropy (losses.h fused_activation): training, evaluate and
  // compute_gradients hand the loss its input, the logits. A stand-alone final activation
  // layer is skipped (top_index); a final Dense with the activation in its epilogue runs as
  // its linear twin (top_logits_, same parameters): see layer_at. Decided by set_loss.
  bool fused_top() const { return top_fusion_ != TopFusion::none; }
  // The last layer a pass runs (fused: the fused activation layer skipped).
  int top_index(bool fused) const;
  // Layer l as a pass runs it (fused: the top Dense's linear twin in its place).
  const Layer& layer_at(int l, bool fused) const;
  PassContext pass_context(const KernelTable& k) const {
    PassContext c{k, params_};
    c.weights_version = weights_version();
    return c;
  }
  // The optimizer settings of the update step_ counts (its rate from the schedule).
  OptimizerConfig step_config() const;

  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<bool> need_dx_;  // per layer: a layer below it has parameters
  std::vector<Param> params_;
  int64_t input_dim_ = 0, output_dim_ = 0, max_width_ = 0, max_w_ = 0;
  float in_scale_ = 1.f, in_offset_ = 0.f;
  OptimizerConfig opt_;
  // Training collects every gradient, then update_params (needs_whole_gradients), into
  // whole_grads_ (allocated on first use).
  bool whole_gradients_ = false;
  std::vector<AlignedBuf> whole_grads_;
  NadamProduct nadam_;
  LrSchedule lr_schedule_;  // constant: opt_.lr
  LossConfig loss_;
  std::vector<MetricConfig> metrics_;
  enum class TopFusion { none, skip_last, linear_twin };
  TopFusion top_fusion_ = TopFusion::none;
  std::unique_ptr<Layer> top_logits_;  // TopFusion::linear_twin: the top Dense, act linear
  std::vector<Fold> folds_;
  std::vector<InferStep> infer_steps_;
  bool few_row_packs_ = false;  // some layer packs for few-row passes too, or folds_
  int64_t step_ = 0;
  int64_t bad_input_row_ = -1;
  Checkpoint checkpoints_[kCheckpointSlots];
  Workspace train_ws_;  // training only (under the exclusive lock)
  AlignedBuf dW_, db_;
  std::atomic<uint64_t> version_{1};
  mutable std::mutex packed_mu_;  // guards packed_
  std::shared_ptr<const Packed> packed_;
  mutable std::mutex pool_mu_;  // guards pool_
  std::vector<std::unique_ptr<Workspace>> pool_;
  RwLock lock_;

 public:
  RwLock& lock() { return lock_; }
};

// A permutation of [0, n) from a xoshiro256** stream seeded by splitmix64(seed)
// (Fisher-Yates). Deterministic for a given (n, seed) on every platform.
void shuffled_indices(int64_t n, uint64_t seed, int32_t* out);

}  // namespace engine
}  // namespace fastmlp
