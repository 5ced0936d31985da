// A thin float SIMD layer for the kernel tiers (the math on top of it: vec_functions.h).
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
// through the same vector code whether it sits in the body or in the tail of a loop, so
// results never depend on alignment, on the position in a row or on how work is split
// across threads.
//
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
