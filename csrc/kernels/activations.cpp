// Activations, forward and backward (from y, or from x for the activations whose
// derivative needs it), over arrays: activation_math.h's formulas in elementwise_loops.h's
// loops, threads over contiguous chunks.
#include <cstring>

#include "kernels/activation_math.h"

FASTMLP_TIER_BEGIN

namespace {

void act_forward_range(Act act, float alpha, const float* x, float* y, int64_t n) {
  switch (act) {
    case Act::linear:
      if (x != y) std::memmove(y, x, static_cast<size_t>(n) * sizeof(float));
      break;
    case Act::relu: {
      // max(0, x) returns x when x is NaN: NaN propagates (like np.maximum).
      const vf z = zero();
      map1(x, y, n, [z](vf v) { return max(z, v); });
      break;
    }
    case Act::leaky_relu: {
      const vf z = zero(), a = set1(alpha);
      map1(x, y, n, [z, a](vf v) { return select(gt(v, z), v, mul(a, v)); });
      break;
    }
    case Act::sigmoid:
      map1(x, y, n, [](vf v) { return vm::sigmoid(v); });
      break;
    case Act::tanh:
      map1(x, y, n, [](vf v) { return vm::tanh(v); });
      break;
    case Act::gelu:
      map1(x, y, n, [](vf v) { return gelu_fwd(v); });
      break;
    case Act::gelu_tanh:
      map1(x, y, n, [](vf v) { return gelu_tanh_fwd(v); });
      break;
    case Act::silu:
      map1(x, y, n, [](vf v) { return silu_fwd(v); });
      break;
    case Act::elu: {
      const vf a = set1(alpha);
      map1(x, y, n, [a](vf v) { return select(gt(v, zero()), v, mul(a, vm::expm1(v))); });
      break;
    }
    case Act::selu: {
      const vf s = set1(kSeluScale), sa = set1(kSeluScaleAlpha);
      map1(x, y, n, [s, sa](vf v) {
        return select(gt(v, zero()), mul(s, v), mul(sa, vm::expm1(v)));
      });
      break;
    }
    case Act::softplus:
      map1(x, y, n, [](vf v) { return softplus_fwd(v); });
      break;
    case Act::hard_sigmoid: {
      // relu6(x + 3) / 6; x + 3 is exact near -3 (Sterbenz). max(0, NaN) = min(6, NaN) = NaN.
      const vf three = set1(3.0f), six = set1(6.0f), sixth = set1(1.0f / 6.0f);
      map1(x, y, n, [three, six, sixth](vf v) {
        return mul(min(six, max(zero(), add(v, three))), sixth);
      });
      break;
    }
    case Act::mish:
      map1(x, y, n, [](vf v) { return mish_fwd(v); });
      break;
  }
}

void act_backward_range(Act act, float alpha, const float* y, const float* dy, float* dx,
                        int64_t n) {
  switch (act) {
    case Act::linear:
      if (dy != dx) std::memmove(dx, dy, static_cast<size_t>(n) * sizeof(float));
      break;
    case Act::relu: {
      const vf z = zero();
      map2(y, dy, dx, n, [z](vf v, vf g) { return select(gt(v, z), g, z); });
      break;
    }
    case Act::leaky_relu: {
      const vf z = zero(), a = set1(alpha);
      map2(y, dy, dx, n, [z, a](vf v, vf g) { return select(gt(v, z), g, mul(a, g)); });
      break;
    }
    case Act::sigmoid: {
      // dy * y * (1 - y); 1 - y is exact for y in [0.5, 1], and y*(1-y) rounds once more.
      const vf one = set1(1.0f);
      map2(y, dy, dx, n, [one](vf v, vf g) { return mul(g, mul(v, sub(one, v))); });
      break;
    }
    case Act::tanh: {
      // dy * (1 - y^2) as dy * (1 - y) * (1 + y): no cancellation near |y| = 1 even
      // without FMA (one of 1 - y, 1 + y is exact there), same formula on every tier.
      const vf one = set1(1.0f);
      map2(y, dy, dx, n, [one](vf v, vf g) { return mul(g, mul(sub(one, v), add(one, v))); });
      break;
    }
    case Act::elu: {  // y > 0 ? 1 : y + alpha (= alpha e^x)
      const vf a = set1(alpha);
      map2(y, dy, dx, n, [a](vf v, vf g) { return select(gt(v, zero()), g, mul(g, add(v, a))); });
      break;
    }
    case Act::selu: {  // y > 0 ? scale : y + scale * alpha
      const vf s = set1(kSeluScale), sa = set1(kSeluScaleAlpha);
      map2(y, dy, dx, n, [s, sa](vf v, vf g) {
        return select(gt(v, zero()), mul(g, s), mul(g, add(v, sa)));
      });
      break;
    }
    case Act::softplus:  // sigmoid(x) = 1 - e^-y
      map2(y, dy, dx, n, [](vf v, vf g) { return mul(g, neg(vm::expm1(neg(v)))); });
      break;
    case Act::hard_sigmoid: {  // 1/6 where 0 < y < 1
      const vf one = set1(1.0f), sixth = set1(1.0f / 6.0f);
      map2(y, dy, dx, n, [one, sixth](vf v, vf g) {
        return keep_nan(v, select(gt(v, zero()), select(lt(v, one), mul(g, sixth), zero()), zero()));
      });
      break;
    }
    case Act::gelu:
    case Act::gelu_tanh:
    case Act::silu:
    case Act::mish:
      // Not a function of y (act_backward_needs_x): unsupported, see kernel_table.h.
      for (int64_t i = 0; i < n; ++i) dx[i] = NAN;
      break;
  }
}

void act_backward_x_range(Act act, float alpha, const float* x, const float* dy, float* dx,
                          int64_t n) {
  switch (act) {
    case Act::linear:
      if (dy != dx) std::memmove(dx, dy, static_cast<size_t>(n) * sizeof(float));
      break;
    case Act::relu:
      map2(x, dy, dx, n, [](vf v, vf g) { return select(gt(v, zero()), g, zero()); });
      break;
    case Act::leaky_relu: {
      const vf a = set1(alpha);
      map2(x, dy, dx, n, [a](vf v, vf g) { return select(gt(v, zero()), g, mul(a, g)); });
      break;
    }
    case Act::sigmoid:
      // sigmoid'(x) = e / (1 + e)^2, e = e^-|x| (1 - sigmoid(x) would cancel for x >> 0)
      map2(x, dy, dx, n, [](vf v, vf g) {
        vf ne;
        const vf q = exp_split(neg(abs(v)), ne);
        const OnePlus o(exp_join(q, ne));
        return exp_mul(o.div_square(g), q, ne);
      });
      break;
    case Act::tanh:
      // tanh'(x) = (1 - t)(1 + t), t = tanh(x), for |x| < 0.5; 4e / (1 + e)^2 with
      // e = e^-2|x| beyond (1 - |t| would cancel).
      map2(x, dy, dx, n, [](vf v, vf g) {
        const vf one = set1(1.0f);
        const vf t = vm::tanh(v);
        const vf near0 = mul(g, mul(sub(one, t), add(one, t)));
        vf ne;
        const vf ax = abs(v);
        const vf q = exp_split(neg(add(ax, ax)), ne);
        const OnePlus o(exp_join(q, ne));
        const vf far = exp_mul(o.div_square(mul(set1(4.0f), g)), q, ne);
        return select(lt(ax, set1(0.5f)), near0, far);
      });
      break;
    case Act::gelu:
      map2(x, dy, dx, n, [](vf v, vf g) { return gelu_bwd(v, g); });
      break;
    case Act::gelu_tanh:
      map2(x, dy, dx, n, [](vf v, vf g) { return gelu_tanh_bwd(v, g); });
      break;
    case Act::silu:
      map2(x, dy, dx, n, [](vf v, vf g) { return silu_bwd(v, g); });
      break;
    case Act::elu: {  // x > 0 ? 1 : alpha e^x
      const vf a = set1(alpha);
      map2(x, dy, dx, n, [a](vf v, vf g) {
        return select(gt(v, zero()), g, exp_dy(min(zero(), v), mul(a, g)));  // min(0, NaN) = NaN
      });
      break;
    }
    case Act::selu: {  // x > 0 ? scale : scale alpha e^x
      const vf s = set1(kSeluScale), sa = set1(kSeluScaleAlpha);
      map2(x, dy, dx, n, [s, sa](vf v, vf g) {
        return select(gt(v, zero()), mul(g, s), exp_dy(min(zero(), v), mul(sa, g)));
      });
      break;
    }
    case Act::softplus:  // sigmoid(x)
      map2(x, dy, dx, n, [](vf v, vf g) { return sigmoid_dy(v, g); });
      break;
    case Act::hard_sigmoid: {  // 1/6 on (-3, 3)
      const vf three = set1(3.0f), mthree = set1(-3.0f), sixth = set1(1.0f / 6.0f);
      map2(x, dy, dx, n, [three, mthree, sixth](vf v, vf g) {
        return keep_nan(v, select(gt(v, mthree), select(lt(v, three), mul(g, sixth), zero()), zero()));
      });
      break;
    }
    case Act::mish:
      map2(x, dy, dx, n, [](vf v, vf g) { return mish_bwd(v, g); });
      break;
  }
}

}  // namespace

void act_forward(Act act, float alpha, const float* x, float* y, int64_t n) {
  if (n <= 0) return;
  const int nt = threads_for_work(static_cast<double>(n) * act_cost(act));
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    act_forward_range(act, alpha, x + i0, y + i0, i1 - i0);
  });
}

void act_backward(Act act, float alpha, const float* y, const float* dy, float* dx,
                  int64_t n) {
  if (n <= 0) return;
  const int nt = threads_for_work(static_cast<double>(n) * 1.5);
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    act_backward_range(act, alpha, y + i0, dy + i0, dx + i0, i1 - i0);
  });
}

void act_backward_x(Act act, float alpha, const float* x, const float* dy, float* dx,
                    int64_t n) {
  if (n <= 0) return;
  const int nt = threads_for_work(static_cast<double>(n) * (act_cost(act) * 1.5 + 0.5));
  parallel_chunks(n, nt, 64, [&](int64_t i0, int64_t i1) {
    act_backward_x_range(act, alpha, x + i0, dy + i0, dx + i0, i1 - i0);
  });
}

FASTMLP_TIER_END
