// An optimizer's settings, shared by the engine (csrc/engine, baseline code), which keeps
// one per network, and the fused update kernels (compiled once per tier), which get it
// with the step count filled in. Plain data: no ISA-specific code here.
#pragma once
#include <cstdint>

namespace fastmlp {

// One optimizer and the step it takes next.
//   kind 0 (SGD):  g' = g + wd * p; v = mom * v + g'; p -= lr * (nesterov ? g' + mom * v : v)
//                  (with momentum == 0 there is no velocity: p -= lr * g').
//   kind 1 (Adam): decoupled ? p -= lr * wd * p : g += wd * p; m, v moments with bias
//                  correction at the 1-based `step`; p -= lr * m_hat / (sqrt(v_hat) + eps).
// The same formulas as KernelTable::sgd_update / adam_update.
//   kind 2 (RMSprop), kind 3 (Nadam): Keras 3's formulas (engine/param_update.cpp; weight
//                  decay decoupled as Keras applies it: p -= lr * wd * p first).
// Gradient clipping (0: off), as Keras: clipvalue clamps each value, clipnorm rescales
// each parameter's gradient to a norm of at most clipnorm, global_clipnorm all of them
// together. The fused kernels take kinds 0 and 1 without clipping only.
struct OptimizerConfig {
  enum Kind : int32_t { sgd = 0, adam = 1, rmsprop = 2, nadam = 3 };
  int32_t kind = 0;
  float lr = 0.01f;
  float momentum = 0.f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-7f;
  float weight_decay = 0.f;
  bool nesterov = false;
  bool decoupled = false;
  float rho = 0.9f;        // RMSprop: decay of the squared-gradient average
  bool centered = false;   // RMSprop: divide by the gradient's variance estimate
  float clipnorm = 0.f, clipvalue = 0.f, global_clipnorm = 0.f;
  bool clips() const { return clipnorm > 0.f || clipvalue > 0.f || global_clipnorm > 0.f; }
  int64_t step = 1;  // 1-based, for Adam's bias correction (the engine sets it per step)
};

}  // namespace fastmlp
