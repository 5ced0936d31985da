// Defaults of the layer-kind interface (layer.h): an elementwise layer's inference is
// its forward over a range of rows, split between threads by rows.
#include "engine/layers/layer.h"

#include <algorithm>

namespace fastmlp {
namespace engine {

void Layer::infer(const PassContext& c, const float* /*packed*/, const float* x, float* y,
                  int64_t rows, int part, int parts, int* /*nonfinite*/) const {
  forward_rows(c, x, y, rows * part / parts, rows * (part + 1) / parts);
}

void apply_update(const StepContext& c, Param& p, const float* g) {
  apply_update_range(c, p, g, 0, p.buf->size());
}

void apply_update_range(const StepContext& c, Param& p, const float* g, int64_t off,
                        int64_t n) {
  const OptimizerConfig& o = c.opt;
  if (o.kind == 0)
    c.k.sgd_update(p.buf->data() + off, g + off, p.s0 ? p.s0->data() + off : nullptr, n,
                   o.lr, o.momentum, o.nesterov, o.weight_decay);
  else
    c.k.adam_update(p.buf->data() + off, g + off, p.s0->data() + off, p.s1->data() + off, n,
                    o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.decoupled, o.step);
}

int Layer::split_workers(const KernelTable& /*k*/, int64_t rows, int nth) const {
  const auto by_work =
      static_cast<int64_t>(static_cast<double>(rows) * out() / kSplitMinValues);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({nth, rows, by_work})));
}

int split_dense_columns(int64_t rows, int64_t in, int64_t out, int64_t nr, int nth,
                        double speed) {
  int64_t units = (out + nr - 1) / nr;
  if (rows <= kGemvRows) units = std::min(units, out / kSplitMinGemvCols);
  const auto by_work = static_cast<int64_t>(static_cast<double>(rows) * out * in /
                                            (speed * kSplitMinFma));
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({nth, units, by_work})));
}

}  // namespace engine
}  // namespace fastmlp
