// Plain types shared by the network (network.h) and its layer kinds (layers/): layer
// specs, aligned buffers, parameters, input and target views.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "kernels/kernel_table.h"

namespace fastmlp {
namespace engine {

// Codes of the layer kinds (layers/registry.cpp maps each to its class and name).
enum class LayerKind : int32_t {
  dense = 0, activation = 1, rescaling = 2, softmax = 3, dropout = 4, batch_norm = 5,
  layer_norm = 6, gaussian_noise = 7, dense_int8 = 8,
  dense_bf16 = 9
};
// Codes of the losses (losses.cpp computes each; python/fastmlp/losses.py mirrors them).
enum class LossKind : int32_t {
  sparse_ce = 0, categorical_ce = 1, mse = 2, binary_ce = 3, mae = 4, huber = 5
};
// A loss and its settings, with Keras 3's meaning (losses.cpp).
struct LossConfig {
  LossKind kind = LossKind::sparse_ce;
  // Cross-entropies: the model's outputs are logits (true) or probabilities (false, the
  // Keras default: clipped to [1e-7, 1 - 1e-7]; a final Softmax, or Sigmoid for binary
  // CE, is fused instead: the loss reads its input, see Network::fused_top).
  bool from_logits = false;
  // Categorical and binary CE: targets become t (1 - ls) + ls / C (binary: + ls / 2).
  float label_smoothing = 0.f;
  float delta = 1.f;  // huber: quadratic for |error| <= delta, linear beyond
};

// Codes of the metrics computed per batch beside the loss (metrics.cpp computes each;
// python/fastmlp/metrics.py mirrors them).
enum class MetricKind : int32_t {
  binary_accuracy = 0, sparse_categorical_accuracy = 1, categorical_accuracy = 2,
  sparse_top_k_categorical_accuracy = 3, top_k_categorical_accuracy = 4, mae = 5, mse = 6
};
// A metric and its settings, with Keras 3's meaning (metrics.cpp).
struct MetricConfig {
  MetricKind kind = MetricKind::sparse_categorical_accuracy;
  int32_t k = 5;            // top-k accuracies
  float threshold = 0.5f;   // binary accuracy: an output above it predicts 1
};

// What Python's layers hand the engine (one per engine layer); each kind reads the
// fields it needs (layers/registry.cpp lists the kinds).
struct LayerSpec {
  LayerKind kind = LayerKind::dense;
  int64_t in = 0, out = 0;
  Act act = Act::linear;
  float alpha = 0.01f;   // leaky_relu slope
  bool use_bias = true;
  float scale = 1.f, offset = 0.f;  // rescaling: x * scale + offset
  float rate = 0.f;                 // dropout: the fraction of values dropped
  uint64_t seed = 0;                // dropout, gaussian_noise: the random stream
  float stddev = 0.f;               // gaussian_noise
  float momentum = 0.99f, epsilon = 1e-3f;  // batch_norm (momentum), both norms
  bool center = true, use_gamma = true;     // both norms: beta / gamma parameters
  // dense: penalties (Keras' kernel_regularizer / bias_regularizer, L1 and L2 parts) and
  // MaxNorm constraints (0: none; the kernel's norm taken over `kernel_max_norm_axis`).
  float kernel_l1 = 0.f, kernel_l2 = 0.f, bias_l1 = 0.f, bias_l2 = 0.f;
  float kernel_max_norm = 0.f, bias_max_norm = 0.f;
  int32_t kernel_max_norm_axis = 0;
  // dense_int8: the input's quantization, one scale and zero point for every row
  // (calibrated), or per row at run time when quant_scale is 0.
  float quant_scale = 0.f;
  int32_t quant_zero = 0;
};

// What a parameter adds to the loss and how it is held after each update (Keras'
// regularizers and constraints): loss += l1 * sum |p| + l2 * sum p^2; then, with
// max_norm > 0, the norms over `max_norm_axis` (0: each column of a [rows, cols] kernel;
// 1: each row; a bias has one norm) are clipped to max_norm.
struct ParamRule {
  float l1 = 0.f, l2 = 0.f, max_norm = 0.f;
  int32_t max_norm_axis = 0;
  bool penalized() const { return l1 != 0.f || l2 != 0.f; }
  bool any() const { return penalized() || max_norm > 0.f; }
};

// A float buffer aligned to 64 bytes (zero-initialised).
class AlignedBuf {
 public:
  AlignedBuf() = default;
  explicit AlignedBuf(int64_t n) { resize(n); }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  AlignedBuf(AlignedBuf&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  AlignedBuf& operator=(AlignedBuf&& o) noexcept {
    if (this != &o) { std::free(p_); p_ = o.p_; n_ = o.n_; o.p_ = nullptr; o.n_ = 0; }
    return *this;
  }
  ~AlignedBuf() { std::free(p_); }
  void resize(int64_t n);  // discards contents, zero-fills
  float* data() { return p_; }
  const float* data() const { return p_; }
  int64_t size() const { return n_; }

 private:
  float* p_ = nullptr;
  int64_t n_ = 0;
};

// One parameter tensor with its optimizer state slots (OptimizerConfig says which kind
// keeps which), null when the optimizer keeps none. `rows` x `cols` floats.
struct Param {
  std::unique_ptr<AlignedBuf> buf, s0, s1, s2;
  int64_t rows = 0, cols = 0;
  bool vector = false;  // a bias
  ParamRule rule;
  bool trainable = true;  // false: a layer's own state, never given to the optimizer
};
// Optimizer state slots per parameter (Param::s0 .. s2).
constexpr int kOptSlots = 3;

// A 2-D input: uint8 or float32 rows with row stride `ld` (elements).
struct InputView {
  const void* data = nullptr;
  bool is_u8 = false;
  int64_t rows = 0, cols = 0, ld = 0;
};

// Targets: int32 labels (sparse CE) or float rows [rows, cols] (categorical CE, mse),
// and optional per-row weights (fit's sample_weight / class_weight; null: every row 1).
struct TargetView {
  const int32_t* labels = nullptr;
  const float* values = nullptr;
  const float* weights = nullptr;
  int64_t cols = 0;
};

}  // namespace engine
}  // namespace fastmlp
