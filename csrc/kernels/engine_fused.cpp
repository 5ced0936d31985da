// Engine kernels (models work), compiled once per tier:
//   * gather_rows: batch gather (optionally through an index list) with uint8/float ->
//     float conversion and the leading Rescaling (x * scale + offset) fused in.
//   * dense_backward_update: for small batches, one pass over a dense layer's weights that
//     computes dx = dz W^T with the old weights, the weight gradient x^T dz one row at a
//     time (never a dW matrix), and applies the optimizer step to that row in place. Each
//     weight, velocity or moment is read and written once per step.
// Rows of W are split across threads; every element is computed by one thread with the
// same instruction sequence whatever the thread count, so results are bitwise identical
// for any number of threads on a given tier.
#include <cmath>

#include "kernels/engine_kernels.h"
#include "kernels/entry_points.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

FASTMLP_TIER_BEGIN

namespace {

// Dot product of a[0..n) and b[0..n) with a fixed summation order for this tier.
inline float engine_dot(const float* a, const float* b, int64_t n) {
  int64_t j = 0;
#if defined(__AVX512F__)
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  for (; j + 32 <= n; j += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j + 16), _mm512_loadu_ps(b + j + 16), acc1);
  }
  if (j + 16 <= n) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), acc0);
    j += 16;
  }
  if (j < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - j)) - 1u);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + j), _mm512_maskz_loadu_ps(m, b + j),
                           acc1);
    j = n;
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
#elif defined(__AVX2__)
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; j + 16 <= n; j += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), acc1);
  }
  for (; j + 8 <= n; j += 8)
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
  __m256 s = _mm256_add_ps(acc0, acc1);
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  float r = _mm_cvtss_f32(q);
  for (; j < n; ++j) r += a[j] * b[j];
  return r;
#else
  float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
  for (; j + 4 <= n; j += 4) {
    s0 += a[j] * b[j]; s1 += a[j + 1] * b[j + 1];
    s2 += a[j + 2] * b[j + 2]; s3 += a[j + 3] * b[j + 3];
  }
  for (; j < n; ++j) s0 += a[j] * b[j];
  return (s0 + s1) + (s2 + s3);
#endif
}

constexpr int64_t kColBlock = 512;

// Update one block of a weight row: p[0..n), grad g[0..n) (already summed over rows).
inline void engine_row_update(float* __restrict p, const float* __restrict g,
                              float* __restrict s0, float* __restrict s1, int64_t n,
                              const EngineOptStep& o, float bc1, float bc2) {
  if (o.kind == 0) {
    const float lr = o.lr, wd = o.weight_decay, mom = o.momentum;
    if (mom != 0.f) {
      if (o.nesterov) {
        for (int64_t j = 0; j < n; ++j) {
          const float gj = g[j] + wd * p[j];
          const float vj = mom * s0[j] + gj;
          s0[j] = vj;
          p[j] -= lr * (gj + mom * vj);
        }
      } else {
        for (int64_t j = 0; j < n; ++j) {
          const float gj = g[j] + wd * p[j];
          const float vj = mom * s0[j] + gj;
          s0[j] = vj;
          p[j] -= lr * vj;
        }
      }
    } else {
      for (int64_t j = 0; j < n; ++j) p[j] -= lr * (g[j] + wd * p[j]);
    }
  } else {
    const float b1 = o.beta1, b2 = o.beta2, eps = o.eps, lr = o.lr, wd = o.weight_decay;
    const float c1 = 1.f - b1, c2 = 1.f - b2;
    const float ibc1 = 1.f / bc1, ibc2 = 1.f / bc2;
    const float l2 = o.decoupled ? 0.f : wd;
    const float dec = o.decoupled ? lr * wd : 0.f;
    for (int64_t j = 0; j < n; ++j) {
      const float gj = g[j] + l2 * p[j];
      const float mj = b1 * s0[j] + c1 * gj;
      const float vj = b2 * s1[j] + c2 * gj * gj;
      s0[j] = mj;
      s1[j] = vj;
      const float pj = p[j] - dec * p[j];
      p[j] = pj - lr * (mj * ibc1) / (std::sqrt(vj * ibc2) + eps);
    }
  }
}

}  // namespace

void gather_rows(const void* x, bool is_u8, int64_t ldx, const int32_t* idx, int64_t row0,
                 int64_t rows, int64_t cols, float scale, float offset, float* out) {
  const bool identity = (scale == 1.f && offset == 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t src = idx ? static_cast<int64_t>(idx[row0 + r]) : row0 + r;
    float* __restrict o = out + r * cols;
    if (is_u8) {
      const uint8_t* __restrict xr = static_cast<const uint8_t*>(x) + src * ldx;
      for (int64_t j = 0; j < cols; ++j) o[j] = static_cast<float>(xr[j]) * scale + offset;
    } else {
      const float* __restrict xr = static_cast<const float*>(x) + src * ldx;
      if (identity) {
        std::memcpy(o, xr, sizeof(float) * static_cast<size_t>(cols));
      } else {
        for (int64_t j = 0; j < cols; ++j) o[j] = xr[j] * scale + offset;
      }
    }
  }
}

void dense_backward_update(const float* x, const float* dz, int64_t rows, int64_t in,
                           int64_t out, float* W, float* s0, float* s1,
                           const EngineOptStep* opt, float* dx) {
  const EngineOptStep o = *opt;
  float bc1 = 1.f, bc2 = 1.f;
  if (o.kind == 1) {
    bc1 = 1.f - static_cast<float>(std::pow(double(o.beta1), double(o.step)));
    bc2 = 1.f - static_cast<float>(std::pow(double(o.beta2), double(o.step)));
  }
  // Plain SGD without momentum or decay leaves rows whose inputs are all zero untouched
  // (e.g. the blank border pixels of MNIST-like images).
  const bool skip_zero_rows =
      (o.kind == 0 && o.momentum == 0.f && o.weight_decay == 0.f);
  auto row = [&](int64_t i) {
    float* Wi = W + i * out;
    if (dx)
      for (int64_t r = 0; r < rows; ++r) dx[r * in + i] = engine_dot(Wi, dz + r * out, out);
    if (skip_zero_rows) {
      bool all_zero = true;
      for (int64_t r = 0; r < rows; ++r) all_zero &= (x[r * in + i] == 0.f);
      if (all_zero) return;
    }
    alignas(64) float g[kColBlock];
    for (int64_t j0 = 0; j0 < out; j0 += kColBlock) {
      const int64_t n = min_of(kColBlock, out - j0);
      {
        const float x0 = x[i];
        const float* __restrict d0 = dz + j0;
        for (int64_t j = 0; j < n; ++j) g[j] = x0 * d0[j];
      }
      for (int64_t r = 1; r < rows; ++r) {
        const float xr = x[r * in + i];
        const float* __restrict dr = dz + r * out + j0;
        for (int64_t j = 0; j < n; ++j) g[j] += xr * dr[j];
      }
      engine_row_update(Wi + j0, g, s0 ? s0 + i * out + j0 : nullptr,
                        s1 ? s1 + i * out + j0 : nullptr, n, o, bc1, bc2);
    }
  };
  // ~0.5M multiply-adds per thread (~0.1 ms): a batch-1 step of a 784x128 layer (~30 us)
  // stays on one thread, where waking a second one costs more than it saves.
  const int nt = threads_for(static_cast<double>(in) * out * (rows + 4), 1 << 19);
  if (nt > 1) {
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nt)
#endif
    for (int64_t i = 0; i < in; ++i) row(i);
  } else {
    // Serial: never enter an OpenMP region (even a disabled one costs a team set-up).
    for (int64_t i = 0; i < in; ++i) row(i);
  }
}

FASTMLP_TIER_END
