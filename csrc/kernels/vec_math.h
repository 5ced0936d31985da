// A thin float SIMD layer and vectorized math (exp, sigmoid, tanh) for the kernel tiers.
//
// Every symbol here lives in the tier namespace fastmlp::<tier>::vm (FASTMLP_TIER_BEGIN),
// so each tier gets its own copy compiled with its own ISA flags (never merged by the
// linker into another tier: the SIGILL trap, see tier.h).
//
// One vector type per tier:
//   avx512  __m512, 16 lanes, tails with __mmask16 masked loads/stores
//   avx2    __m256,  8 lanes, tails with vmaskmovps (masked lanes are never touched)
//   generic __m128,  4 lanes (SSE2, the x86-64 baseline), tails through a stack buffer
//   neon    float32x4_t, 4 lanes (aarch64 generic and neon tiers), tails as SSE2
//   other   float,   1 lane  (scalar: builds for other CPUs)
// The math functions are written once on top of these operations. Every element goes
// through the same vector code whether it sits in the body or in the tail of a loop, so
// results never depend on alignment, on the position in a row or on how work is split
// across threads.
//
// Accuracy (measured against float64 by tests/test_kernel_accuracy.py):
//   exp      <= 2 ulp over the whole float range (denormal results rounded once;
//            overflow to +inf above ~88.72, 0 below ~-103.97; NaN propagates)
//   sigmoid  <= 3 ulp relative; exact limits 0 / 1 for +-inf, never NaN for non-NaN x
//   tanh     <= 3 ulp relative (<= 2 ulp for |x| < 1e-3, exactly x for |x| < 2^-26:
//            no cancellation), saturates to exactly +-1 for |x| >= ~9.01, tanh(-0) = -0
//   expm1, log1p (log1p for |u| <= 1): no cancellation near 0 (tiny x gives x)
//   exp_split / exp_mul: m * e^x rounded once, also where it lands in the denormal range
//   (the building block of gelu, silu, mish, ... in elementwise.cpp)
// The generic (SSE2) tier has no FMA: the same formulas evaluated with separate
// multiply and add, about one ulp looser.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/tier.h"

#if defined(FASTMLP_TIER_AVX512) || defined(FASTMLP_TIER_AVX2)
#include <immintrin.h>
#define FASTMLP_VM_X86 1
#elif defined(__SSE2__) && !defined(FASTMLP_TIER_NEON)
#include <emmintrin.h>
#define FASTMLP_VM_SSE2 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define FASTMLP_VM_NEON 1
#endif

FASTMLP_TIER_BEGIN
namespace vm {

// ---------------------------------------------------------------------------------------
// The vector layer.
// ---------------------------------------------------------------------------------------
#if defined(FASTMLP_TIER_AVX512)

constexpr int W = 16;
using vf = __m512;
using vi = __m512i;
using vmask = __mmask16;

inline vmask tail_mask(int64_t n) {  // n in [0, 16]
  return static_cast<vmask>((n >= 16) ? 0xFFFFu : ((1u << n) - 1u));
}
inline vf load(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, vf v) { _mm512_storeu_ps(p, v); }
inline vf load_n(const float* p, int64_t n, float fill) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail_mask(n), p);
}
inline void store_n(float* p, vf v, int64_t n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
inline vf set1(float a) { return _mm512_set1_ps(a); }
inline vf zero() { return _mm512_setzero_ps(); }
inline vf add(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf div(vf a, vf b) { return _mm512_div_ps(a, b); }
inline vf sqrt(vf a) { return _mm512_sqrt_ps(a); }
inline vf fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }    // a*b + c
inline vf fnmadd(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a*b
// max(a, b) = a > b ? a : b  (b is returned when either is NaN)
inline vf max(vf a, vf b) { return _mm512_max_ps(a, b); }
inline vf min(vf a, vf b) { return _mm512_min_ps(a, b); }
inline vf and_(vf a, vf b) { return _mm512_and_ps(a, b); }
inline vf or_(vf a, vf b) { return _mm512_or_ps(a, b); }
inline vf xor_(vf a, vf b) { return _mm512_xor_ps(a, b); }
inline vmask gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
inline vmask lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline vmask eq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
inline vf select(vmask m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }  // m ? a : b
inline vi as_int(vf a) { return _mm512_castps_si512(a); }
inline vf as_float(vi a) { return _mm512_castsi512_ps(a); }
inline vi add_i(vi a, vi b) { return _mm512_add_epi32(a, b); }
inline vi sub_i(vi a, vi b) { return _mm512_sub_epi32(a, b); }
inline vi and_i(vi a, vi b) { return _mm512_and_si512(a, b); }
inline vf to_float(vi a) { return _mm512_cvtepi32_ps(a); }
inline vi set1_i(int32_t a) { return _mm512_set1_epi32(a); }
template <int S> inline vi shl_i(vi a) { return _mm512_slli_epi32(a, S); }
template <int S> inline vi sra_i(vi a) { return _mm512_srai_epi32(a, S); }
// Own tree reductions (fixed order; GCC 12's _mm512_reduce_* warn under -Wall).
inline float hsum(vf a) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}
inline float hmax(vf a) {
  const __m256 h = _mm256_max_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}
inline float first(vf a) { return _mm512_cvtss_f32(a); }

#elif defined(FASTMLP_TIER_AVX2)

constexpr int W = 8;
using vf = __m256;
using vi = __m256i;
using vmask = __m256;

inline __m256i tail_mask_i(int64_t n) {  // lanes < n all-ones
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n < 8 ? n : 8)), idx);
}
inline vf load(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, vf v) { _mm256_storeu_ps(p, v); }
inline vf load_n(const float* p, int64_t n, float fill) {
  const __m256i m = tail_mask_i(n);
  return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m),
                          _mm256_castsi256_ps(m));
}
inline void store_n(float* p, vf v, int64_t n) { _mm256_maskstore_ps(p, tail_mask_i(n), v); }
inline vf set1(float a) { return _mm256_set1_ps(a); }
inline vf zero() { return _mm256_setzero_ps(); }
inline vf add(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf div(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf sqrt(vf a) { return _mm256_sqrt_ps(a); }
inline vf fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf fnmadd(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
inline vf max(vf a, vf b) { return _mm256_max_ps(a, b); }
inline vf min(vf a, vf b) { return _mm256_min_ps(a, b); }
inline vf and_(vf a, vf b) { return _mm256_and_ps(a, b); }
inline vf or_(vf a, vf b) { return _mm256_or_ps(a, b); }
inline vf xor_(vf a, vf b) { return _mm256_xor_ps(a, b); }
inline vmask gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
inline vmask lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline vmask eq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
inline vf select(vmask m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
inline vi as_int(vf a) { return _mm256_castps_si256(a); }
inline vf as_float(vi a) { return _mm256_castsi256_ps(a); }
inline vi add_i(vi a, vi b) { return _mm256_add_epi32(a, b); }
inline vi sub_i(vi a, vi b) { return _mm256_sub_epi32(a, b); }
inline vi and_i(vi a, vi b) { return _mm256_and_si256(a, b); }
inline vf to_float(vi a) { return _mm256_cvtepi32_ps(a); }
inline vi set1_i(int32_t a) { return _mm256_set1_epi32(a); }
template <int S> inline vi shl_i(vi a) { return _mm256_slli_epi32(a, S); }
template <int S> inline vi sra_i(vi a) { return _mm256_srai_epi32(a, S); }
inline float hsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}
inline float first(vf a) { return _mm256_cvtss_f32(a); }
inline float hmax(vf a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

#elif defined(FASTMLP_VM_NEON)

// aarch64: Advanced SIMD is part of the armv8-a baseline (as SSE2 is of x86-64), so both
// arm64 tiers use 4-lane float32x4_t. The neon tier fuses a*b + c (vfmaq_f32); the
// generic tier, like the SSE2 one, multiplies and adds separately (and is built with
// -ffp-contract=off): the same operation sequence as the x86 generic tier.
// Comparisons and max/min follow the x86 operand conventions (max(a, b) = a > b ? a : b,
// so b comes back when either is NaN); reductions use the SSE2 tier's order. Tails go
// through a stack buffer: no lane past n is read or written.
constexpr int W = 4;
using vf = float32x4_t;
using vi = int32x4_t;
using vmask = uint32x4_t;

inline vf load(const float* p) { return vld1q_f32(p); }
inline void store(float* p, vf v) { vst1q_f32(p, v); }
inline vf load_n(const float* p, int64_t n, float fill) {
  float buf[4] = {fill, fill, fill, fill};
  for (int64_t i = 0; i < n && i < 4; ++i) buf[i] = p[i];
  return vld1q_f32(buf);
}
inline void store_n(float* p, vf v, int64_t n) {
  float buf[4];
  vst1q_f32(buf, v);
  for (int64_t i = 0; i < n && i < 4; ++i) p[i] = buf[i];
}
inline vf set1(float a) { return vdupq_n_f32(a); }
inline vf zero() { return vdupq_n_f32(0.f); }
inline vf add(vf a, vf b) { return vaddq_f32(a, b); }
inline vf sub(vf a, vf b) { return vsubq_f32(a, b); }
inline vf mul(vf a, vf b) { return vmulq_f32(a, b); }
inline vf div(vf a, vf b) { return vdivq_f32(a, b); }
inline vf sqrt(vf a) { return vsqrtq_f32(a); }
#if defined(FASTMLP_TIER_NEON)
inline vf fmadd(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }   // a*b + c
inline vf fnmadd(vf a, vf b, vf c) { return vfmsq_f32(c, a, b); }  // c - a*b
#else
inline vf fmadd(vf a, vf b, vf c) { return vaddq_f32(vmulq_f32(a, b), c); }
inline vf fnmadd(vf a, vf b, vf c) { return vsubq_f32(c, vmulq_f32(a, b)); }
#endif
inline vmask gt(vf a, vf b) { return vcgtq_f32(a, b); }
inline vmask lt(vf a, vf b) { return vcltq_f32(a, b); }
inline vmask eq(vf a, vf b) { return vceqq_f32(a, b); }
inline vf select(vmask m, vf a, vf b) { return vbslq_f32(m, a, b); }  // m ? a : b
inline vf max(vf a, vf b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
inline vf min(vf a, vf b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
inline vi as_int(vf a) { return vreinterpretq_s32_f32(a); }
inline vf as_float(vi a) { return vreinterpretq_f32_s32(a); }
inline vf and_(vf a, vf b) { return as_float(vandq_s32(as_int(a), as_int(b))); }
inline vf or_(vf a, vf b) { return as_float(vorrq_s32(as_int(a), as_int(b))); }
inline vf xor_(vf a, vf b) { return as_float(veorq_s32(as_int(a), as_int(b))); }
inline vi add_i(vi a, vi b) { return vaddq_s32(a, b); }  // wraps, like paddd
inline vi sub_i(vi a, vi b) { return vsubq_s32(a, b); }
inline vi and_i(vi a, vi b) { return vandq_s32(a, b); }
inline vf to_float(vi a) { return vcvtq_f32_s32(a); }
inline vi set1_i(int32_t a) { return vdupq_n_s32(a); }
template <int S> inline vi shl_i(vi a) { return vshlq_n_s32(a, S); }
template <int S> inline vi sra_i(vi a) { return vshrq_n_s32(a, S); }
// (a0 + a2) + (a1 + a3), the SSE2 tier's order
inline float hsum(vf a) {
  const float32x2_t s = vadd_f32(vget_low_f32(a), vget_high_f32(a));
  return vget_lane_f32(s, 0) + vget_lane_f32(s, 1);
}
inline float first(vf a) { return vgetq_lane_f32(a, 0); }
inline float hmax(vf a) {
  const vf s = max(a, vcombine_f32(vget_high_f32(a), vget_high_f32(a)));
  const float s0 = vgetq_lane_f32(s, 0), s1 = vgetq_lane_f32(s, 1);
  return s0 > s1 ? s0 : s1;
}

#elif defined(FASTMLP_VM_SSE2)

constexpr int W = 4;
using vf = __m128;
using vi = __m128i;
using vmask = __m128;

inline vf load(const float* p) { return _mm_loadu_ps(p); }
inline void store(float* p, vf v) { _mm_storeu_ps(p, v); }
inline vf load_n(const float* p, int64_t n, float fill) {
  alignas(16) float buf[4] = {fill, fill, fill, fill};
  for (int64_t i = 0; i < n && i < 4; ++i) buf[i] = p[i];
  return _mm_load_ps(buf);
}
inline void store_n(float* p, vf v, int64_t n) {
  alignas(16) float buf[4];
  _mm_store_ps(buf, v);
  for (int64_t i = 0; i < n && i < 4; ++i) p[i] = buf[i];
}
inline vf set1(float a) { return _mm_set1_ps(a); }
inline vf zero() { return _mm_setzero_ps(); }
inline vf add(vf a, vf b) { return _mm_add_ps(a, b); }
inline vf sub(vf a, vf b) { return _mm_sub_ps(a, b); }
inline vf mul(vf a, vf b) { return _mm_mul_ps(a, b); }
inline vf div(vf a, vf b) { return _mm_div_ps(a, b); }
inline vf sqrt(vf a) { return _mm_sqrt_ps(a); }
inline vf fmadd(vf a, vf b, vf c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
inline vf fnmadd(vf a, vf b, vf c) { return _mm_sub_ps(c, _mm_mul_ps(a, b)); }
inline vf max(vf a, vf b) { return _mm_max_ps(a, b); }
inline vf min(vf a, vf b) { return _mm_min_ps(a, b); }
inline vf and_(vf a, vf b) { return _mm_and_ps(a, b); }
inline vf or_(vf a, vf b) { return _mm_or_ps(a, b); }
inline vf xor_(vf a, vf b) { return _mm_xor_ps(a, b); }
inline vmask gt(vf a, vf b) { return _mm_cmpgt_ps(a, b); }
inline vmask lt(vf a, vf b) { return _mm_cmplt_ps(a, b); }
inline vmask eq(vf a, vf b) { return _mm_cmpeq_ps(a, b); }
inline vf select(vmask m, vf a, vf b) { return _mm_or_ps(_mm_and_ps(m, a), _mm_andnot_ps(m, b)); }
inline vi as_int(vf a) { return _mm_castps_si128(a); }
inline vf as_float(vi a) { return _mm_castsi128_ps(a); }
inline vi add_i(vi a, vi b) { return _mm_add_epi32(a, b); }
inline vi sub_i(vi a, vi b) { return _mm_sub_epi32(a, b); }
inline vi and_i(vi a, vi b) { return _mm_and_si128(a, b); }
inline vf to_float(vi a) { return _mm_cvtepi32_ps(a); }
inline vi set1_i(int32_t a) { return _mm_set1_epi32(a); }
template <int S> inline vi shl_i(vi a) { return _mm_slli_epi32(a, S); }
template <int S> inline vi sra_i(vi a) { return _mm_srai_epi32(a, S); }
inline float hsum(vf a) {
  __m128 s = _mm_add_ps(a, _mm_movehl_ps(a, a));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}
inline float first(vf a) { return _mm_cvtss_f32(a); }
inline float hmax(vf a) {
  __m128 s = _mm_max_ps(a, _mm_movehl_ps(a, a));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

#else  // scalar: one lane; plain code the compiler may still vectorize across a loop

constexpr int W = 1;
using vf = float;
using vi = int32_t;
using vmask = bool;

inline vf load(const float* p) { return *p; }
inline void store(float* p, vf v) { *p = v; }
inline vf load_n(const float* p, int64_t n, float fill) { return n > 0 ? *p : fill; }
inline void store_n(float* p, vf v, int64_t n) { if (n > 0) *p = v; }
inline vf set1(float a) { return a; }
inline vf zero() { return 0.f; }
inline vf add(vf a, vf b) { return a + b; }
inline vf sub(vf a, vf b) { return a - b; }
inline vf mul(vf a, vf b) { return a * b; }
inline vf div(vf a, vf b) { return a / b; }
inline vf sqrt(vf a) { return std::sqrt(a); }
inline vf fmadd(vf a, vf b, vf c) { return a * b + c; }
inline vf fnmadd(vf a, vf b, vf c) { return c - a * b; }
inline vf max(vf a, vf b) { return a > b ? a : b; }
inline vf min(vf a, vf b) { return a < b ? a : b; }
inline vi as_int(vf a) { vi r; std::memcpy(&r, &a, 4); return r; }
inline vf as_float(vi a) { vf r; std::memcpy(&r, &a, 4); return r; }
inline vf and_(vf a, vf b) { return as_float(as_int(a) & as_int(b)); }
inline vf or_(vf a, vf b) { return as_float(as_int(a) | as_int(b)); }
inline vf xor_(vf a, vf b) { return as_float(as_int(a) ^ as_int(b)); }
inline vmask gt(vf a, vf b) { return a > b; }
inline vmask lt(vf a, vf b) { return a < b; }
inline vmask eq(vf a, vf b) { return a == b; }
inline vf select(vmask m, vf a, vf b) { return m ? a : b; }
inline vi add_i(vi a, vi b) { return static_cast<vi>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }
inline vi sub_i(vi a, vi b) { return static_cast<vi>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b)); }
inline vi set1_i(int32_t a) { return a; }
inline vi and_i(vi a, vi b) { return a & b; }
inline vf to_float(vi a) { return static_cast<float>(a); }
template <int S> inline vi shl_i(vi a) { return static_cast<vi>(static_cast<uint32_t>(a) << S); }
template <int S> inline vi sra_i(vi a) { return a >> S; }  // arithmetic on every target GCC supports
inline float hsum(vf a) { return a; }
inline float hmax(vf a) { return a; }
inline float first(vf a) { return a; }

#endif

// Whether fmadd rounds once (a true fused multiply-add) on this tier.
#if defined(FASTMLP_TIER_AVX512) || defined(FASTMLP_TIER_AVX2) || defined(FASTMLP_TIER_NEON)
constexpr bool kFusedFma = true;
#else
constexpr bool kFusedFma = false;
#endif

// ---------------------------------------------------------------------------------------
// Math on top of the layer. Constants as bit patterns where exactness matters.
// ---------------------------------------------------------------------------------------

inline vf abs(vf x) { return and_(x, as_float(set1_i(0x7FFFFFFF))); }
inline vf sign_bit(vf x) { return and_(x, as_float(set1_i(static_cast<int32_t>(0x80000000u)))); }

// exp(x) for every float x.
// Range reduction x = n*ln2 + r, |r| <= ln2/2 (n = round(x/ln2) by the 1.5*2^23 shifter
// trick), r computed with a two-part ln2 (the high part has 9 significant bits, so n*hi
// is exact for |n| <= 2^15 even without FMA). exp(r) = 1 + r + r^2*P(r), P of degree 4:
// our own near-minimax fit of relative error 4.4e-9 (coefficients rounded to float)
// on [-ln2/2, ln2/2], far below float's 6e-8 half-ulp. The result p * 2^n is scaled in
// two exact steps 2^(n>>1) * 2^(n - (n>>1)) so that n in [-150, 128] never builds an
// out-of-range exponent: denormal results are rounded once, overflow gives +inf.
inline vf exp(vf x) {
  // Below -104 the result rounds to 0: those lanes compute exp(0) and are zeroed at the
  // end, so that no lane underflows. An underflowing result costs a microcode assist on
  // x86 (about a hundred cycles) unless flush-to-zero is on: the -inf padding lanes of
  // a 10-class softmax row did that on every row, 3.5% of an E1 epoch.
  // Above 89 the result is +inf anyway. min(hi, x) returns x when x is NaN (and a NaN
  // is not below -104), so NaN propagates through the polynomial.
  const vmask under = lt(x, set1(-104.0f));
  x = min(set1(89.0f), select(under, zero(), x));
  const vf shifter = set1(12582912.0f);  // 1.5 * 2^23
  const vf t = fmadd(x, set1(1.44269502f), shifter);
  const vf n = sub(t, shifter);  // round(x / ln2) as a float
  vf r = fnmadd(n, set1(0.693359375f), x);
  r = fnmadd(n, set1(-2.12194440e-4f), r);
  vf p = set1(1.38144463e-3f);
  p = fmadd(p, r, set1(8.36877897e-3f));
  p = fmadd(p, r, set1(4.16683927e-2f));
  p = fmadd(p, r, set1(1.66665196e-1f));
  p = fmadd(p, r, set1(4.99999940e-1f));
  const vf r2 = mul(r, r);
  p = fmadd(p, r2, add(r, set1(1.0f)));  // 1 + r + r^2 P(r)
#if defined(FASTMLP_TIER_AVX512)
  // vscalefps: p * 2^floor(n) with a single rounding, denormals and overflow included
  // (n is already an integer). Bitwise equal to the two-step scaling below.
  return select(under, zero(), _mm512_scalef_ps(p, n));
#else
  const vi ni = sub_i(as_int(t), as_int(shifter));  // n as an int32
  const vi n1 = sra_i<1>(ni);
  const vi n2 = sub_i(ni, n1);
  const vf s1 = as_float(shl_i<23>(add_i(n1, set1_i(127))));
  const vf s2 = as_float(shl_i<23>(add_i(n2, set1_i(127))));
  return select(under, zero(), mul(mul(p, s1), s2));
#endif
}

// log(x) for every float x: log(0) = -inf, log(+inf) = +inf, NaN for x < 0 and NaN.
// x = 2^k * f with f in [sqrt(1/2), sqrt(2)) (denormals pre-scaled by 2^23), then
// log(x) = k*ln2 + log1p(z), z = f - 1, log1p(z) = z + z^2 Q(z) with Q of degree 8 (our
// own near-minimax fit, relative error 4.6e-9 on [sqrt(1/2) - 1, sqrt(2) - 1]).
inline vf log(vf x) {
  const vmask den = lt(x, set1(1.17549435e-38f));  // below FLT_MIN (also 0, < 0)
  const vf xs = select(den, mul(x, set1(8388608.0f)), x);
  const vi bias = set1_i(0x3F3504F3);  // bits of sqrt(1/2)
  const vi ix = sub_i(as_int(xs), bias);
  const vf k = sub(to_float(sra_i<23>(ix)), select(den, set1(23.0f), zero()));
  const vf z = sub(as_float(add_i(and_i(ix, set1_i(0x007FFFFF)), bias)), set1(1.0f));
  vf q = set1(-7.621837407e-02f);
  q = fmadd(q, z, set1(1.290490478e-01f));
  q = fmadd(q, z, set1(-1.324319392e-01f));
  q = fmadd(q, z, set1(1.418176889e-01f));
  q = fmadd(q, z, set1(-1.660905331e-01f));
  q = fmadd(q, z, set1(2.000197619e-01f));
  q = fmadd(q, z, set1(-2.500158548e-01f));
  q = fmadd(q, z, set1(3.333332539e-01f));
  q = fmadd(q, z, set1(-4.999998808e-01f));
  vf r = fmadd(mul(z, z), q, z);
  r = fmadd(k, set1(-2.12194440e-4f), r);  // k * ln2, low part first
  r = fmadd(k, set1(0.693359375f), r);
  // Special values: NaN propagates (x * 0), +inf, -inf at 0, NaN below 0.
  r = add(r, mul(x, zero()));
  r = select(gt(x, set1(3.40282347e+38f)), x, r);
  r = select(eq(x, zero()), set1(-INFINITY), r);
  return select(lt(x, zero()), set1(NAN), r);
}

// sigmoid(x) = 1 / (1 + e^-x), evaluated with e = exp(-|x|) <= 1 (never overflows):
// x >= 0: 1 / (1 + e);  x < 0: e / (1 + e).  Exact 0 / 1 at -inf / +inf.
inline vf sigmoid(vf x) {
  const vf e = exp(sub(zero(), abs(x)));
  const vf num = select(lt(x, zero()), e, set1(1.0f));
  return div(num, add(set1(1.0f), e));
}

// tanh(|x|) = E / (E + 2) with E = expm1(2|x|), sign restored last (tanh(-0) = -0).
// expm1 without cancellation: 2|x| = n*ln2 + r, expm1(r) = r + r^2 P(r) (the exp
// polynomial), expm1 = 2^n * expm1(r) + (2^n - 1), one FMA; for |x| < ~0.17 (n = 0) this
// is the polynomial itself, so tiny and denormal x come out as x. |x| is clamped to 9.5,
// where the quotient rounds to exactly 1: saturation without inf / inf.
inline vf tanh(vf x) {
  const vf ax = min(set1(9.5f), abs(x));  // min(hi, NaN) = NaN
  const vf y = add(ax, ax);
  const vf shifter = set1(12582912.0f);  // 1.5 * 2^23
  const vf t = fmadd(y, set1(1.44269502f), shifter);
  const vf n = sub(t, shifter);  // round(y / ln2), 0..28
  vf r = fnmadd(n, set1(0.693359375f), y);
  r = fnmadd(n, set1(-2.12194440e-4f), r);
  vf p = set1(1.38144463e-3f);
  p = fmadd(p, r, set1(8.36877897e-3f));
  p = fmadd(p, r, set1(4.16683927e-2f));
  p = fmadd(p, r, set1(1.66665196e-1f));
  p = fmadd(p, r, set1(4.99999940e-1f));
  const vf q = fmadd(p, mul(r, r), r);  // expm1(r)
  const vf s = as_float(shl_i<23>(add_i(sub_i(as_int(t), as_int(shifter)), set1_i(127))));
  const vf e = fmadd(s, q, sub(s, set1(1.0f)));  // expm1(y); s - 1 exact for n <= 24
  return or_(div(e, add(e, set1(2.0f))), sign_bit(x));
}

// ---- building blocks of the activations in elementwise.cpp --------------------------

inline vf neg(vf x) { return xor_(x, as_float(set1_i(static_cast<int32_t>(0x80000000u)))); }

// hi + lo = a * b exactly, hi = fl(a * b) (|a|, |b| < 2^100, no underflow in lo). One
// FMA where fmadd is fused; Dekker's product (Veltkamp splits into 12 + 12 bits) on the
// tiers without FMA (built with -ffp-contract=off: no operation here is fused).
inline void two_prod(vf a, vf b, vf& hi, vf& lo) {
  hi = mul(a, b);
  if constexpr (kFusedFma) {
    lo = fmadd(a, b, neg(hi));
  } else {
    const vf c = set1(4097.0f);
    const vf ta = mul(a, c), ah = sub(ta, sub(ta, a)), al = sub(a, ah);
    const vf tb = mul(b, c), bh = sub(tb, sub(tb, b)), bl = sub(b, bh);
    lo = add(add(add(sub(mul(ah, bh), hi), mul(ah, bl)), mul(al, bh)), mul(al, bl));
  }
}

// s + e = a + b exactly, s = fl(a + b) (Knuth's TwoSum: any order of magnitudes).
inline void two_sum(vf a, vf b, vf& s, vf& e) {
  s = add(a, b);
  const vf bb = sub(s, a);
  e = add(sub(a, sub(s, bb)), sub(b, bb));
}

// e^(x + xl) = (1 + q) * 2^n: exp()'s range reduction and polynomial without its final
// steps, so that a caller can form m * e^x as (m + m q) * 2^n (exp_mul: one rounding
// for the product, and one more only where it lands in the denormal range) instead of
// rounding e^x first. xl is a small correction to x (|xl| <= ulp(x): the low part of a
// double-float argument), added to the reduced argument. q = expm1(r), |r| <= ln2 / 2.
// n is an integer held as a float, in [-217, 129]: x is clamped to 89 above, and q = -1
// (e^x = 0) below -150, where m * e^x rounds to 0 for any |m| < 2^60. NaN propagates.
inline vf exp_split(vf x, vf xl, vf& n) {
  const vmask under = lt(x, set1(-150.0f));
  x = min(set1(89.0f), select(under, zero(), x));
  const vf shifter = set1(12582912.0f);  // 1.5 * 2^23
  const vf t = fmadd(x, set1(1.44269502f), shifter);
  n = sub(t, shifter);
  vf r = fnmadd(n, set1(0.693359375f), x);
  r = fnmadd(n, set1(-2.12194440e-4f), r);
  r = add(r, xl);
  vf p = set1(1.38144463e-3f);
  p = fmadd(p, r, set1(8.36877897e-3f));
  p = fmadd(p, r, set1(4.16683927e-2f));
  p = fmadd(p, r, set1(1.66665196e-1f));
  p = fmadd(p, r, set1(4.99999940e-1f));
  return select(under, set1(-1.0f), fmadd(p, mul(r, r), r));  // r + r^2 P(r)
}
inline vf exp_split(vf x, vf& n) { return exp_split(x, zero(), n); }

// m * 2^n with one rounding (denormal results included), n an integer-valued float in
// [-252, 254] (and |m| * 2^(n >> 1) not denormal, true for every use here).
inline vf ldexp2(vf m, vf n) {
#if defined(FASTMLP_TIER_AVX512)
  return _mm512_scalef_ps(m, n);
#else
  const vf shifter = set1(12582912.0f);
  const vi ni = sub_i(as_int(add(n, shifter)), as_int(shifter));
  const vi n1 = sra_i<1>(ni);
  const vi n2 = sub_i(ni, n1);
  const vf s1 = as_float(shl_i<23>(add_i(n1, set1_i(127))));
  const vf s2 = as_float(shl_i<23>(add_i(n2, set1_i(127))));
  return mul(mul(m, s1), s2);
#endif
}

// m * e^x from exp_split's (q, n): (m + m q) scaled by 2^n, rounded once into the
// denormal range.
inline vf exp_mul(vf m, vf q, vf n) { return ldexp2(fmadd(m, q, m), n); }
// e^x itself from exp_split's (q, n).
inline vf exp_join(vf q, vf n) { return ldexp2(add(q, set1(1.0f)), n); }

// e^x - 1 for every float x, without cancellation: x = n ln2 + r, expm1(r) = r + r^2 P(r)
// (exp's polynomial), then 2^n expm1(r) + (2^n - 1) in one FMA (2^n - 1 exact for
// n <= 24; for small |x|, n = 0, this is the polynomial itself: tiny x gives x), and
// 2^n (1 + expm1(r)) scaled in two steps for n > 24 (the -1 is below half an ulp).
// Exactly -1 below ~-17.33 (x is clamped to -20), +inf above ~88.72, NaN propagates.
inline vf expm1(vf x) {
  x = min(set1(89.0f), max(set1(-20.0f), x));  // max(lo, NaN) = min(hi, NaN) = NaN
  const vf shifter = set1(12582912.0f);
  const vf t = fmadd(x, set1(1.44269502f), shifter);
  const vf n = sub(t, shifter);
  vf r = fnmadd(n, set1(0.693359375f), x);
  r = fnmadd(n, set1(-2.12194440e-4f), r);
  vf p = set1(1.38144463e-3f);
  p = fmadd(p, r, set1(8.36877897e-3f));
  p = fmadd(p, r, set1(4.16683927e-2f));
  p = fmadd(p, r, set1(1.66665196e-1f));
  p = fmadd(p, r, set1(4.99999940e-1f));
  const vf q = fmadd(p, mul(r, r), r);  // expm1(r)
  const vf nc = min(n, set1(24.0f));
  const vf s = as_float(shl_i<23>(add_i(sub_i(as_int(add(nc, shifter)), as_int(shifter)),
                                        set1_i(127))));
  const vf small = fmadd(s, q, sub(s, set1(1.0f)));
  const vf big = ldexp2(add(q, set1(1.0f)), n);
  return select(gt(n, set1(24.0f)), big, small);
}

// log(1 + u) for u in (-1, 1], without cancellation: v = 1 + u rounded, c = u - (v - 1)
// its rounding error (exact: |u| <= 1), log1p(u) = log(v) + c / v. Tiny u gives u.
inline vf log1p(vf u) {
  const vf one = set1(1.0f);
  const vf v = add(one, u);
  const vf c = sub(u, sub(v, one));
  return add(vm::log(v), div(c, v));
}

}  // namespace vm
FASTMLP_TIER_END

// ---------------------------------------------------------------------------------------
// Threading helper: split [0, n) into one contiguous chunk per thread, chunk starts
// aligned to `align` elements. Elementwise kernels compute every element with the same
// code wherever it falls, so the split never changes a result.
// ---------------------------------------------------------------------------------------
FASTMLP_TIER_BEGIN
namespace vm {

template <class Body>
inline void parallel_chunks(int64_t n, int nthreads, int64_t align, const Body& body) {
#ifdef FASTMLP_HAVE_OPENMP
  if (nthreads > 1) {
#pragma omp parallel num_threads(nthreads)
    {
      const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t blocks = (n + align - 1) / align;
      const int64_t b0 = blocks * t / T, b1 = blocks * (t + 1) / T;
      const int64_t i0 = b0 * align, i1 = b1 * align < n ? b1 * align : n;
      if (i0 < i1) body(i0, i1);
    }
    return;
  }
#else
  (void)nthreads; (void)align;
#endif
  body(int64_t(0), n);
}

}  // namespace vm
FASTMLP_TIER_END
