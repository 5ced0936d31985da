// A thin float32 vector layer over each tier's registers, used by the GEMM micro-kernels
// (and free for other kernels). Lives in the tier namespace, like everything in kernels/.
//   VL         lanes per vector
//   Mask       a lane mask for tails: mask_first(n) enables lanes [0, n), n <= VL
//   load/store full vectors; load_mask/store_mask touch only enabled lanes (masked
//   loads never fault on disabled lanes; masked stores never write them).
#pragma once
#include "kernels/tier.h"

#if defined(FASTMLP_TIER_AVX512) || defined(FASTMLP_TIER_AVX2)
#include <immintrin.h>
#elif defined(FASTMLP_TIER_NEON)
#include <arm_neon.h>
#endif

FASTMLP_TIER_BEGIN
namespace simd {

#if defined(FASTMLP_TIER_AVX512)

constexpr int VL = 16;
using Vec = __m512;
using Mask = __mmask16;
inline Mask mask_first(int n) { return static_cast<Mask>(_cvtu32_mask16((1u << n) - 1u)); }
inline Vec zero() { return _mm512_setzero_ps(); }
inline Vec set1(float x) { return _mm512_set1_ps(x); }
inline Vec load(const float* p) { return _mm512_loadu_ps(p); }
inline Vec load_mask(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline void store_mask(float* p, Vec v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
inline Vec sub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
inline Vec div(Vec a, Vec b) { return _mm512_div_ps(a, b); }
inline Vec sqrt(Vec a) { return _mm512_sqrt_ps(a); }
inline Vec max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
inline Vec min(Vec a, Vec b) { return _mm512_min_ps(a, b); }
// x > 0 ? x : a * x
inline Vec leaky(Vec x, Vec a) {
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LE_OQ);
  return _mm512_mask_mul_ps(x, neg, x, a);
}
inline float reduce_add(Vec v) { return _mm512_reduce_add_ps(v); }
// Lanes with |x| < tiny become +0; NaN (unordered: "not less") and the rest pass.
inline Vec flush_tiny(Vec x, Vec tiny) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(x), tiny, _CMP_NLT_UQ), x);
}

#elif defined(FASTMLP_TIER_AVX2)

constexpr int VL = 8;
using Vec = __m256;
using Mask = __m256i;
inline Mask mask_first(int n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}
inline Vec zero() { return _mm256_setzero_ps(); }
inline Vec set1(float x) { return _mm256_set1_ps(x); }
inline Vec load(const float* p) { return _mm256_loadu_ps(p); }
inline Vec load_mask(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
inline void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline void store_mask(float* p, Vec v, Mask m) { _mm256_maskstore_ps(p, m, v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
inline Vec sub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
inline Vec div(Vec a, Vec b) { return _mm256_div_ps(a, b); }
inline Vec sqrt(Vec a) { return _mm256_sqrt_ps(a); }
inline Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
inline Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
inline Vec leaky(Vec x, Vec a) {
  const __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
  return _mm256_blendv_ps(_mm256_mul_ps(x, a), x, pos);
}
inline Vec flush_tiny(Vec x, Vec tiny) {  // |x| not below tiny (true for NaN) keeps x
  const __m256 mag = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
  return _mm256_and_ps(x, _mm256_cmp_ps(mag, tiny, _CMP_NLT_UQ));
}
inline float reduce_add(Vec v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#elif defined(FASTMLP_TIER_NEON)

// armv8-a Advanced SIMD: 4 lanes in a q register. Tails go through a small stack buffer
// (NEON has no masked loads/stores): masked lanes of memory are never read or written.
constexpr int VL = 4;
using Vec = float32x4_t;
struct Mask { int n; };
inline Mask mask_first(int n) { return Mask{n}; }
inline Vec zero() { return vdupq_n_f32(0.f); }
inline Vec set1(float x) { return vdupq_n_f32(x); }
inline Vec load(const float* p) { return vld1q_f32(p); }
inline Vec load_mask(const float* p, Mask m) {
  float buf[4] = {0.f, 0.f, 0.f, 0.f};
  for (int i = 0; i < m.n; ++i) buf[i] = p[i];
  return vld1q_f32(buf);
}
inline void store(float* p, Vec v) { vst1q_f32(p, v); }
inline void store_mask(float* p, Vec v, Mask m) {
  float buf[4];
  vst1q_f32(buf, v);
  for (int i = 0; i < m.n; ++i) p[i] = buf[i];
}
inline Vec fmadd(Vec a, Vec b, Vec c) { return vfmaq_f32(c, a, b); }  // a*b + c, one rounding
inline Vec add(Vec a, Vec b) { return vaddq_f32(a, b); }
inline Vec mul(Vec a, Vec b) { return vmulq_f32(a, b); }
inline Vec sub(Vec a, Vec b) { return vsubq_f32(a, b); }
inline Vec div(Vec a, Vec b) { return vdivq_f32(a, b); }
inline Vec flush_tiny(Vec x, Vec tiny) {  // NaN compares false: kept
  return vbslq_f32(vcltq_f32(vabsq_f32(x), tiny), vdupq_n_f32(0.f), x);
}
inline Vec sqrt(Vec a) { return vsqrtq_f32(a); }
// b when either is NaN, like maxps (vmaxq_f32 would return NaN)
inline Vec max(Vec a, Vec b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
inline Vec min(Vec a, Vec b) { return vbslq_f32(vcltq_f32(a, b), a, b); }  // (as minps)
// x > 0 ? x : a * x
inline Vec leaky(Vec x, Vec a) { return vbslq_f32(vcgtq_f32(x, vdupq_n_f32(0.f)), x, vmulq_f32(x, a)); }
// (v0 + v1) + (v2 + v3), the order of the generic tier
inline float reduce_add(Vec v) {
  const float32x2_t p = vpadd_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(p, 0) + vget_lane_f32(p, 1);
}

#else  // generic: a 4-lane struct the compiler maps onto SSE2 registers (or NEON / scalar)

constexpr int VL = 4;
struct Vec { float v[4]; };
struct Mask { int n; };
inline Mask mask_first(int n) { return Mask{n}; }
inline Vec zero() { return Vec{{0.f, 0.f, 0.f, 0.f}}; }
inline Vec set1(float x) { return Vec{{x, x, x, x}}; }
inline Vec load(const float* p) { return Vec{{p[0], p[1], p[2], p[3]}}; }
inline Vec load_mask(const float* p, Mask m) {
  Vec r = zero();
  for (int i = 0; i < m.n; ++i) r.v[i] = p[i];
  return r;
}
inline void store(float* p, Vec v) { for (int i = 0; i < 4; ++i) p[i] = v.v[i]; }
inline void store_mask(float* p, Vec v, Mask m) { for (int i = 0; i < m.n; ++i) p[i] = v.v[i]; }
inline Vec fmadd(Vec a, Vec b, Vec c) {
  Vec r;
  for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] * b.v[i] + c.v[i];
  return r;
}
inline Vec add(Vec a, Vec b) { Vec r; for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] + b.v[i]; return r; }
inline Vec mul(Vec a, Vec b) { Vec r; for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] * b.v[i]; return r; }
inline Vec sub(Vec a, Vec b) { Vec r; for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] - b.v[i]; return r; }
inline Vec div(Vec a, Vec b) { Vec r; for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] / b.v[i]; return r; }
inline Vec flush_tiny(Vec x, Vec tiny) {
  Vec r;
  for (int i = 0; i < 4; ++i)
    r.v[i] = __builtin_fabsf(x.v[i]) < tiny.v[i] ? 0.f : x.v[i];  // NaN kept
  return r;
}
inline Vec sqrt(Vec a) { Vec r; for (int i = 0; i < 4; ++i) r.v[i] = __builtin_sqrtf(a.v[i]); return r; }
inline Vec max(Vec a, Vec b) {
  Vec r;
  for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i];  // b if NaN, like maxps
  return r;
}
inline Vec min(Vec a, Vec b) {
  Vec r;
  for (int i = 0; i < 4; ++i) r.v[i] = a.v[i] < b.v[i] ? a.v[i] : b.v[i];  // b if NaN, like minps
  return r;
}
inline Vec leaky(Vec x, Vec a) {
  Vec r;
  for (int i = 0; i < 4; ++i) r.v[i] = x.v[i] > 0.f ? x.v[i] : a.v[i] * x.v[i];
  return r;
}
inline float reduce_add(Vec v) { return (v.v[0] + v.v[1]) + (v.v[2] + v.v[3]); }

#endif

}  // namespace simd
FASTMLP_TIER_END
