// The engine's metrics (metrics.cpp): what fit reports per batch beside the loss, and
// evaluate over all rows (compile's metrics=[...], python/fastmlp/metrics.py).
#pragma once
#include <cstdint>

#include "engine/losses.h"
#include "engine/types.h"

namespace fastmlp {
namespace engine {

// Adds to sums[m], for each of the n metrics ms[m], sum_r w[r] * value_r over `rows` rows
// (w null: every weight 1; in double, in row order), the value of a row being Keras 3's:
//   binary_accuracy: the fraction of the row's outputs with (p > threshold) == (t > 0.5);
//   sparse_categorical_accuracy / categorical_accuracy: argmax(p) == the label / argmax(t);
//   the top-k accuracies: fewer than k outputs strictly above the label's (ties count as
//     in the top k, as Keras's in_top_k), the label of a target row being its argmax;
//   mae / mse: the mean over the row of |p - t| / (p - t)^2.
// p is the model's output as predict returns it. `top` is what the loss reads: with
// `act` (the activation fused into the loss, losses.h) it holds that activation's input,
// and the metrics that need values (binary accuracy, mae, mse) apply it first; argmax and
// ranks are the same on logits. Sparse metrics read `labels`, the others `targets`.
void batch_metrics(const MetricConfig* ms, int n, FusedActivation act, const float* top,
                   const int32_t* labels, const float* targets, const float* w,
                   int64_t rows, int64_t C, double* sums);

}  // namespace engine
}  // namespace fastmlp
