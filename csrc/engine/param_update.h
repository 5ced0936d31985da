// Updates that need a parameter's whole gradient before it changes: penalties
// (ParamRule l1/l2), gradient clipping (one parameter's norm, or all of them together),
// the RMSprop and Nadam steps, and MaxNorm constraints after the step. A network with
// any of them runs its layers' backward with StepContext::grads (gradients into whole
// buffers, no update), then update_params; the others keep the fused paths, where each
// layer updates its parameters as its gradient is produced.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/types.h"
#include "kernels/kernel_table.h"
#include "kernels/optimizer_config.h"

namespace fastmlp {
namespace engine {

// Whether training with optimizer o needs every gradient before any update.
bool needs_whole_gradients(const OptimizerConfig& o, const std::vector<Param>& params);

// Which optimizer state slots (Param::s0 .. s2) kind o keeps (slot k in bit k).
unsigned opt_slots(const OptimizerConfig& o);

// Nadam's product of momentum factors u_1 ... u_t, u_s = beta_1 (1 - 0.5 * 0.96^s)
// (Keras 3), kept incrementally: a step after the last costs one multiply, any other
// step (a restored checkpoint, a loaded model) one pass from the start.
class NadamProduct {
 public:
  double at(int64_t step, double beta1);

 private:
  int64_t step_ = 0;
  double beta1_ = -1.0, prod_ = 1.0;
};

// The penalty sum over parameters of l1 * sum |p| + l2 * sum p^2, in double.
double penalty(const std::vector<Param>& params);

// grads[i] += the gradient of parameter i's penalty; returns the penalty (one pass over
// each penalized parameter).
double add_penalty_gradients(const std::vector<Param>& params,
                             const std::vector<float*>& grads);

// One update of every parameter from its gradient (penalties already added): clipping,
// the optimizer's step with o.lr and o.step as this update's, then the constraints.
// Overwrites grads.
void update_params(const KernelTable& k, std::vector<Param>& params,
                   const std::vector<float*>& grads, const OptimizerConfig& o,
                   NadamProduct& nadam);

}  // namespace engine
}  // namespace fastmlp
