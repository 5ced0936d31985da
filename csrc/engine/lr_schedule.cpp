// Keras 3's formulas (keras/src/optimizers/schedules/learning_rate_schedule.py), in
// double precision; the optimizer kernels take the result as float.
#include "engine/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace fastmlp {
namespace engine {

namespace {

double cosine_from(double lr, double step, double decay_steps, double alpha) {
  const double pi = 3.14159265358979323846;
  const double done = step / decay_steps;
  return lr * ((1.0 - alpha) * 0.5 * (1.0 + std::cos(pi * done)) + alpha);
}

}  // namespace

double LrSchedule::at(int64_t step_count) const {
  const double step = static_cast<double>(step_count);
  switch (kind) {
    case constant:
      return initial;
    case exponential: {
      double p = step / decay_steps;
      if (staircase) p = std::floor(p);
      return initial * std::pow(decay_rate, p);
    }
    case inverse_time: {
      double p = step / decay_steps;
      if (staircase) p = std::floor(p);
      return initial / (1.0 + decay_rate * p);
    }
    case piecewise: {
      size_t i = 0;
      while (i < boundaries.size() && step > boundaries[i]) ++i;
      return values[i];
    }
    case cosine: {
      if (!warmup) return cosine_from(initial, std::min(step, decay_steps), decay_steps, alpha);
      const double s = std::min(step, decay_steps + warmup_steps);
      if (s < warmup_steps)
        return (warmup_target - initial) * (s / warmup_steps) + initial;
      return cosine_from(warmup_target, s - warmup_steps, decay_steps, alpha);
    }
  }
  return initial;
}

}  // namespace engine
}  // namespace fastmlp
