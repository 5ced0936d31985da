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
// row_loss when they are not null, and the number of accuracy units predicted right
// (accuracy_units per row) into *correct when it is not null. Returns the sum of the row
// losses (accumulated in double, in row order).
double batch_loss(const KernelTable& k, const LossConfig& cfg, bool logits, const float* top,
                  const int32_t* labels, const float* targets, int64_t rows, int64_t C,
                  float* dy, float* row_loss, int64_t* correct);

// What *correct counts per row: C for binary cross-entropy (each output is a yes/no
// prediction: Keras's binary accuracy at 0.5 averages them), else 1 (the row).
int64_t accuracy_units(const LossConfig& cfg, int64_t C);

// The final activation the loss takes in, when it is given probabilities: Softmax for the
// categorical cross-entropies, Sigmoid for binary cross-entropy (none with from_logits, or
// for the regression losses). The network then hands the loss that activation's input
// (logits) in training, evaluate and compute_gradients: one stable log-softmax or
// log-sigmoid instead of the clipped log of probabilities.
enum class FusedActivation { none, softmax, sigmoid };
FusedActivation fused_activation(const LossConfig& cfg);

}  // namespace engine
}  // namespace fastmlp
