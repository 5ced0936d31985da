// The layer-kind interface. Each kind (dense, activation, rescaling, softmax, ...) is one
// class in its own file of this folder, made from its LayerSpec by the registry
// (registry.cpp). The network (../network.cpp) runs a list of them and owns what crosses
// layers: the workspaces, the parameters' storage, threading, the loss, and the fusion
// rules (a Dense's activation in its GEMM epilogue, the batch-1 update that also
// computes the next example's first layer, Softmax fused with cross-entropy, a leading
// Rescaling folded into the input gather, BatchNormalization folded into the Dense before
// it for inference).
//
// Contract, for every kind:
//   * x is the layer's input [rows, in], y its output [rows, out]; row-major, row stride
//     = the width; y never aliases x.
//   * forward and infer write all of y (infer: the part it is given) and nothing else.
//   * backward reads x and y as forward left them and dy (the gradient of the loss with
//     respect to y, which it may overwrite); writes dx [rows, in] when dx is not null;
//     then updates the layer's parameters through StepContext (or, with grads, writes
//     their gradients instead).
//   * A row's inference output depends on that row only, bit for bit, whatever the
//     rows passed with it, the part split, and the thread count.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/types.h"
#include "kernels/kernel_table.h"
#include "kernels/optimizer_config.h"

namespace fastmlp {
namespace engine {

// Inference threading: a part of a layer is worth a thread from this much work (about
// 1.5 us at batch 1; measured on Zen 4: 784-128-10 at batch 1 gains 1.17x split over 2
// threads, 128-128-128-10 and 784-48-10 at batch 4 lost 1.4x). A few-row dense part
// (GEMV: each weight used once per row) also needs kSplitMinGemvCols columns; an
// elementwise layer splits its rows above kSplitMinValues values per thread.
constexpr double kSplitMinFma = 49152;
constexpr int64_t kSplitMinGemvCols = 64;
constexpr double kSplitMinValues = 16384;
// Inference passes of up to this many rows stream a dense layer's live weights through
// gemm's GEMV-like path rather than the packed micro-kernel (too few FMA chains at one
// row: batch-1 predict is ~1.4x faster this way).
constexpr int64_t kGemvRows = 4;

struct ParamShape {
  int64_t rows = 0, cols = 0;
  bool vector = false;  // a bias: cols values
  ParamRule rule;       // its penalty and constraint (none by default)
  bool trainable = true;  // false: state the layer updates itself (moving statistics)
};

// What a pass gives a layer: the kernels and the network's parameters (a layer reads
// its own, from index first_param()); for training, the step it belongs to.
struct PassContext {
  const KernelTable& k;
  const std::vector<Param>& params;
  // Training forward: the 1-based count of the update this batch makes (random layers
  // draw from it: the same batch, step and seed give the same mask on any thread count).
  int64_t step = 0;
  // Network::weights_version() now (0: unknown): equal values mean unchanged weights,
  // so a layer may keep data made from its weights (dense_bf16's bf16 pack).
  uint64_t weights_version = 0;
};

// One training step (or compute_gradients) as the layers' backward sees it.
struct StepContext {
  const KernelTable& k;
  std::vector<Param>& params;
  OptimizerConfig opt;   // with `step` = this update's 1-based count
  int64_t fused_max_rows;  // Network::fused_max_rows
  float* dW;             // scratch for one weight gradient (the largest layer's)
  float* db;             // scratch for one bias gradient (the widest layer's)
  // Gradients go here instead of updates: compute_gradients, and training steps whose
  // update needs every gradient first (param_update.h), which set updates_state so the
  // layers still update their own state (moving statistics).
  const std::vector<float*>* grads = nullptr;
  bool updates_state = false;
  int64_t step = 0;  // PassContext::step of the forward pass being differentiated
  // Network::weights_version() during this step (bumped before its updates): what a
  // layer records for data it makes from its updated weights (PassContext).
  uint64_t weights_version = 0;
  // The batch-1 chain (layer 0, when chains_batch1()): the next example's input, and
  // where this layer's output for it goes, computed with the updated weights.
  const float* x_next = nullptr;
  float* y_next = nullptr;
};

class Layer {
 public:
  explicit Layer(const LayerSpec& s) : spec_(s) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const LayerSpec& spec() const { return spec_; }
  LayerKind kind() const { return spec_.kind; }
  int64_t in() const { return spec_.in; }
  int64_t out() const { return spec_.out; }

  // Its parameters, in Keras order (kernel, then bias); the network allocates them
  // consecutively from index first_param().
  virtual std::vector<ParamShape> param_shapes() const { return {}; }
  int first_param() const { return first_param_; }
  void set_first_param(int i) { first_param_ = i; }

  // Whether out() may differ from in() (the dense kinds); the others keep the width.
  virtual bool maps_widths() const { return false; }
  // Whether the layer is a linear map with its activation as an epilogue, so that the
  // same spec with act = linear (same parameters) computes its pre-activations: the
  // network then fuses a final sigmoid with binary cross-entropy through that twin.
  virtual bool has_linear_twin() const { return false; }

  // Training forward (live weights).
  virtual void forward(const PassContext& c, const float* x, float* y, int64_t rows) const = 0;
  // Inference: part `part` of `parts` of a `rows`-row pass (parts from split_workers; a
  // whole pass is part 0 of 1). `packed`: this layer's weights packed by pack() (null
  // when packed_size is 0, and for passes of at most kGemvRows rows unless
  // packed_for_few_rows). `nonfinite`
  // (layer 0, when flags_nonfinite): set to 1 when a row of x may hold NaN or inf.
  virtual void infer(const PassContext& c, const float* packed, const float* x, float* y,
                     int64_t rows, int part, int parts, int* nonfinite) const;
  // Threads (at most nth) worth splitting a `rows`-row inference pass of this layer
  // between; the default splits rows of an elementwise layer.
  virtual int split_workers(const KernelTable& k, int64_t rows, int nth) const;
  // Whether infer over `rows` rows reports non-finite input rows through `nonfinite`
  // (saving inference a separate pass over its input).
  virtual bool flags_nonfinite(int64_t rows) const { return false; }
  // Inference weights packed for k: floats needed (0: none), and the packing (made once
  // per weights version).
  virtual int64_t packed_size(const KernelTable& k) const { return 0; }
  virtual void pack(const PassContext& c, float* dst) const {}
  // Whether passes of at most kGemvRows rows read the pack too (a Dense's do not).
  virtual bool packed_for_few_rows() const { return true; }
  // Multiply-adds per row (predict's threading choices).
  virtual int64_t fma_per_row() const { return 0; }
  // Whether backward at batch 1 can also compute the next example's output
  // (StepContext::x_next / y_next).
  virtual bool chains_batch1() const { return false; }
  // Whether inference passes x through unchanged (Dropout): the network then skips the
  // layer in inference instead of copying (infer is never called).
  virtual bool identity_in_inference() const { return false; }

  virtual void backward(StepContext& c, const float* x, const float* y, float* dy,
                        float* dx, int64_t rows) const = 0;

 protected:
  // Rows [r0, r1) of an elementwise layer's pass; infer's default calls it for its part.
  virtual void forward_rows(const PassContext& c, const float* x, float* y, int64_t r0,
                            int64_t r1) const {}

  LayerSpec spec_;
  int first_param_ = -1;
};

// One optimizer step of parameter p from its gradient g (SGD or Adam, StepContext::opt);
// the layers with trainable parameters call it from backward. Networks whose updates
// need every gradient first (param_update.h: needs_whole_gradients) run backward with
// StepContext::grads instead, so this never sees the other optimizers.
void apply_update(const StepContext& c, Param& p, const float* g);
// The same step for elements [off, off + n) of p (g holds the whole gradient): updates are
// elementwise, so steps over slices give the bits of one step over the whole.
void apply_update_range(const StepContext& c, Param& p, const float* g, int64_t off,
                        int64_t n);

// A batch_norm layer's inference map, y = x * scale[j] + shift[j] for its out() columns,
// in double (batch_norm.cpp; the network folds it into the Dense before it).
void batch_norm_affine(const Layer& bn, const std::vector<Param>& p, double* scale,
                       double* shift);

// Threads (at most nth) worth splitting a dense layer's `rows`-row inference pass
// between, by output columns in units of nr: at least kSplitMinFma / speed multiply-adds
// each (speed: the kernel's rate relative to float32), and kSplitMinGemvCols columns each
// for a few rows.
int split_dense_columns(int64_t rows, int64_t in, int64_t out, int64_t nr, int nth,
                        double speed);

// The registry (registry.cpp): the layer for a spec; std::invalid_argument for a kind it
// does not know.
std::unique_ptr<Layer> make_layer(const LayerSpec& s);
// Name of a layer kind ("dense", ...), and the number of kinds (codes 0 .. n-1).
const char* layer_kind_name(LayerKind kind);
int num_layer_kinds();

}  // namespace engine
}  // namespace fastmlp
