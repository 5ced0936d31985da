// The engine's losses (losses.cpp): one function per batch whatever the kind.
#pragma once
#include <cstdint>

#include "engine/types.h"
#include "kernels/kernel_table.h"

namespace fastmlp {
namespace engine {

// Loss of `rows` rows of the top output top[rows, C] against int32 labels (sparse
// cross-entropy) or float targets [rows, C] (the others), with Keras 3's formulas (see
// losses.cpp). `logits`: the cross-entropies read `top` as logits (cfg.from_logits, or a
// final activation fused away: fused_activation); else as probabilities. Writes the
// gradient of the MEAN loss over the rows into dy[rows, C] and each row's loss into
// row_loss when they are not null. Returns the sum of the row losses (accumulated in
// double, in row order).
double batch_loss(const KernelTable& k, const LossConfig& cfg, bool logits, const float* top,
                  const int32_t* labels, const float* targets, int64_t rows, int64_t C,
                  float* dy, float* row_loss);

// Sample weights on a batch batch_loss computed: multiplies each row r of dy[rows, C]
// (when not null) by w[r] and returns sum_r w[r] * row_loss[r] (in double). The batch's
// loss is then that sum / rows (Keras 3's sum_over_batch_size), and dy its gradient.
double weight_rows(const float* w, int64_t rows, int64_t C, float* dy, const float* row_loss);

// The final activation the loss takes in, when it is given probabilities: Softmax for the
// categorical cross-entropies, Sigmoid for binary cross-entropy (none with from_logits, or
// for the regression losses). The network then hands the loss that activation's input
// (logits) in training, evaluate and compute_gradients: one stable log-softmax or
// log-sigmoid instead of the clipped log of probabilities.
enum class FusedActivation { none, softmax, sigmoid };
FusedActivation fused_activation(const LossConfig& cfg);

}  // namespace engine
}  // namespace fastmlp
