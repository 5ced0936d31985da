// Learning-rate schedules (Keras 3's, python/fastmlp/schedules.py): evaluated by the
// network for every update inside its C++ loop, so a schedule costs no Python per batch.
#pragma once
#include <cstdint>
#include <vector>

namespace fastmlp {
namespace engine {

struct LrSchedule {
  enum Kind : int32_t { constant = 0, exponential = 1, piecewise = 2, cosine = 3,
                        inverse_time = 4 };
  Kind kind = constant;
  double initial = 0.0, decay_steps = 1.0, decay_rate = 1.0, alpha = 0.0;
  bool staircase = false;
  bool warmup = false;  // cosine: warm up linearly from `initial` to warmup_target
  double warmup_target = 0.0, warmup_steps = 0.0;
  std::vector<double> boundaries, values;  // piecewise: values.size() = boundaries + 1

  // The rate for the update that follows `step` updates (Keras' optimizer.iterations).
  double at(int64_t step) const;
};

}  // namespace engine
}  // namespace fastmlp
