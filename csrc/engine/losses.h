// The engine's losses (losses.cpp): one function per batch whatever the kind.
#pragma once
#include <cstdint>

#include "engine/types.h"
#include "kernels/kernel_table.h"

namespace fastmlp {
namespace engine {

// Loss of `rows` rows of the top output top[rows, C] against int32 labels (sparse
// cross-entropy) or float targets [rows, C] (the others). Writes the gradient of the MEAN
// loss into dy[rows, C] and each row's loss into row_loss when they are not null, and
// the number of rows predicted right into *correct when it is not null. Returns the sum of
// the row losses (accumulated in double, in row order).
double batch_loss(const KernelTable& k, LossKind kind, const float* top,
                  const int32_t* labels, const float* targets, int64_t rows, int64_t C,
                  float* dy, float* row_loss, int64_t* correct);

// Whether the loss takes logits, so that a final Softmax is fused into it in training.
bool loss_reads_logits(LossKind kind);

}  // namespace engine
}  // namespace fastmlp
