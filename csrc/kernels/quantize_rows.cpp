// Per-row asymmetric quantization of float activations to uint8 (contract: KernelTable::
// quantize_rows). The row's range is a min/max (exact in any order), the codes one
// multiply and one round-half-to-even each, so every tier gives the same bits.
#include <cmath>
#include <limits>

#include "kernels/entry_points.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

FASTMLP_TIER_BEGIN

namespace {

// Codes are clamped in float first (any |x * inv| beyond this saturates either way), so
// the conversion to int32 never overflows.
constexpr float kCodeLimit = 512.f;

// lo = min(0, min x), hi = max(0, max x); false when the row holds NaN or inf.
bool row_range(const float* x, int64_t n, float* lo, float* hi) {
  int64_t k = 0;
  float l = 0.f, h = 0.f;
  bool finite = true;
#if defined(__AVX512F__)
  // Four independent min / max chains (a single one waits on vmaxps's latency; min and
  // max are exact, so any order gives the same range). NaN and inf show as a NaN in
  // sum(v * 0), one multiply-add per vector (the exponent test took three instructions).
  // The last < 64 values go in masked vectors, zero filled: zeros never move min(0, ..)
  // or max(0, ..), so the whole row is done here.
  {
    __m512 vl[4], vh[4], nan_probe[4];
    const __m512 zero = _mm512_setzero_ps();
    for (int u = 0; u < 4; ++u) vl[u] = vh[u] = nan_probe[u] = zero;
    auto take = [&](int u, __m512 v) {
      nan_probe[u] = _mm512_fmadd_ps(v, zero, nan_probe[u]);
      vl[u] = _mm512_min_ps(vl[u], v);
      vh[u] = _mm512_max_ps(vh[u], v);
    };
    for (; k + 64 <= n; k += 64)
      for (int u = 0; u < 4; ++u) take(u, _mm512_loadu_ps(x + k + 16 * u));
    for (int u = 0; k < n; k += 16, ++u) {
      const int left = n - k < 16 ? static_cast<int>(n - k) : 16;
      take(u, _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << left) - 1u), x + k));
    }
    const __m512 probe = _mm512_add_ps(_mm512_add_ps(nan_probe[0], nan_probe[1]),
                                       _mm512_add_ps(nan_probe[2], nan_probe[3]));
    finite = _mm512_cmp_ps_mask(probe, probe, _CMP_UNORD_Q) == 0;
    l = _mm512_reduce_min_ps(
        _mm512_min_ps(_mm512_min_ps(vl[0], vl[1]), _mm512_min_ps(vl[2], vl[3])));
    h = _mm512_reduce_max_ps(
        _mm512_max_ps(_mm512_max_ps(vh[0], vh[1]), _mm512_max_ps(vh[2], vh[3])));
  }
#elif defined(__AVX2__)
  {
  __m256 vl = _mm256_set1_ps(l), vh = _mm256_set1_ps(h);
  __m256i bad = _mm256_setzero_si256();
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i max_finite = _mm256_set1_epi32(0x7f7fffff);
  for (; k + 8 <= n; k += 8) {
    const __m256 v = _mm256_loadu_ps(x + k);
    const __m256i mag = _mm256_and_si256(_mm256_castps_si256(v), abs_mask);
    bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(mag, max_finite));
    vl = _mm256_min_ps(vl, v);
    vh = _mm256_max_ps(vh, v);
  }
  finite = finite && _mm256_testz_si256(bad, bad) != 0;
  alignas(32) float bl[8], bh[8];
  _mm256_store_ps(bl, vl);
  _mm256_store_ps(bh, vh);
  for (int t = 0; t < 8; ++t) {
    l = bl[t] < l ? bl[t] : l;
    h = bh[t] > h ? bh[t] : h;
  }
  }
#endif
  for (; k < n; ++k) {
    finite = finite && std::isfinite(x[k]);
    l = x[k] < l ? x[k] : l;
    h = x[k] > h ? x[k] : h;
  }
  *lo = l;
  *hi = h;
  return finite;
}

inline uint8_t code_of(float x, float inv, int32_t zero, int32_t qmax) {
  float t = x * inv;
  t = t < -kCodeLimit ? -kCodeLimit : t;
  t = t > kCodeLimit ? kCodeLimit : t;
  int32_t v = static_cast<int32_t>(std::nearbyint(t)) + zero;
  v = v < 0 ? 0 : v;
  v = v > qmax ? qmax : v;
  return static_cast<uint8_t>(v);
}

#if defined(__AVX2__) && !defined(__AVX512F__)  // (quantize_row's AVX2 part)
// 8 codes as int32 (before the clamp to [0, 255], which the packs below saturate to);
// kClamp false: the caller knows |x * inv| <= kCodeLimit.
template <bool kClamp>
inline __m256i codes8(const float* x, __m256 inv, __m256i zero) {
  __m256 t = _mm256_mul_ps(_mm256_loadu_ps(x), inv);
  if (kClamp)
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-kCodeLimit)),
                      _mm256_set1_ps(kCodeLimit));
  return _mm256_add_epi32(_mm256_cvtps_epi32(t), zero);  // (round half to even)
}

// Codes of x[0, 32) into q, in order, clamped to [0, qmax] (vmax: qmax in every byte).
template <bool kClamp>
inline void codes32(const float* x, __m256 inv, __m256i zero, __m256i vmax, uint8_t* q) {
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i p01 = _mm256_packs_epi32(codes8<kClamp>(x, inv, zero),
                                         codes8<kClamp>(x + 8, inv, zero));
  const __m256i p23 = _mm256_packs_epi32(codes8<kClamp>(x + 16, inv, zero),
                                         codes8<kClamp>(x + 24, inv, zero));
  // packus interleaves the 128-bit lanes: 4-byte groups back in order.
  const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(p01, p23), order);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm256_min_epu8(b, vmax));
}
#endif

// in_range: |x * inv| <= kCodeLimit for every x of the row, so the float clamp can go.
void quantize_row(const float* x, int64_t n, float inv, int32_t zero, int32_t qmax,
                  bool in_range, uint8_t* q) {
  int64_t k = 0;
#if defined(__AVX512F__)
  if (in_range) {  // 64 codes per step: convert (half to even), pack to int16 (exact:
                   // |code| <= 512), add the zero point, pack to bytes with saturation
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512i vz = _mm512_set1_epi16(static_cast<int16_t>(zero));
    const __m512i vmax = _mm512_set1_epi8(static_cast<char>(qmax));
    // The packs interleave the four 128-bit lanes: 4-byte groups back in order.
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7,
                                            11, 15);
    for (; k + 64 <= n; k += 64) {
      __m512i c[4];
      for (int u = 0; u < 4; ++u)
        c[u] = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + k + 16 * u), vinv));
      const __m512i w01 = _mm512_add_epi16(_mm512_packs_epi32(c[0], c[1]), vz);
      const __m512i w23 = _mm512_add_epi16(_mm512_packs_epi32(c[2], c[3]), vz);
      const __m512i b = _mm512_permutexvar_epi32(order, _mm512_packus_epi16(w01, w23));
      _mm512_storeu_si512(q + k, _mm512_min_epu8(b, vmax));
    }
  }
  {  // 16 codes per vector: clamp in float, convert (half to even), saturate to bytes
    const __m512 vinv = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-kCodeLimit),
                 hi = _mm512_set1_ps(kCodeLimit);
    const __m512i vz = _mm512_set1_epi32(zero), z0 = _mm512_setzero_si512();
    const __m128i vmax = _mm_set1_epi8(static_cast<char>(qmax));
    for (; k + 16 <= n; k += 16) {
      __m512 t = _mm512_mul_ps(_mm512_loadu_ps(x + k), vinv);
      t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
      const __m512i c = _mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(t), vz), z0);
      const __m128i b = _mm512_cvtusepi32_epi8(c);  // (> 255 saturates to 255)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), _mm_min_epu8(b, vmax));
    }
  }
#elif defined(__AVX2__)  // (AVX-512 leaves fewer than 16 values: the scalar tail)
  const __m256 vinv = _mm256_set1_ps(inv);
  const __m256i vz = _mm256_set1_epi32(zero);
  const __m256i vmax = _mm256_set1_epi8(static_cast<char>(qmax));
  if (in_range)
    for (; k + 32 <= n; k += 32) codes32<false>(x + k, vinv, vz, vmax, q + k);
  for (; k + 32 <= n; k += 32) codes32<true>(x + k, vinv, vz, vmax, q + k);
#endif
  for (; k < n; ++k) q[k] = code_of(x[k], inv, zero, qmax);
}

}  // namespace

void quantize_rows(const float* x, int64_t rows, int64_t cols, int64_t ldx, int32_t qmax,
                   float static_scale, int32_t static_zero, uint8_t* q, int64_t ldq,
                   float* scale, int32_t* zero, int* nonfinite) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * ldx;
    uint8_t* qr = q + r * ldq;
    float lo, hi;
    if (!row_range(xr, cols, &lo, &hi)) {
      for (int64_t k = 0; k < cols; ++k) qr[k] = 0;
      scale[r] = std::nanf("");
      zero[r] = 0;
      if (nonfinite) *nonfinite = 1;
      continue;
    }
    float s;
    int32_t z;
    if (static_scale > 0.f) {
      s = static_scale;
      z = static_zero;
    } else {
      const float range = hi - lo, fq = static_cast<float>(qmax);
      s = hi > lo ? range / fq : 1.f;
      // A range past FLT_MAX (hi - lo overflowed) is split: each half fits.
      if (range > std::numeric_limits<float>::max()) s = hi / fq - lo / fq;
      // A range below 255 normal floats' worth would give a subnormal or zero scale,
      // whose inverse overflows: the smallest normal scale maps such rows to codes
      // within 1 of the zero point instead.
      s = s < std::numeric_limits<float>::min() ? std::numeric_limits<float>::min() : s;
      const float zf = std::nearbyint(-lo * (1.f / s));
      z = static_cast<int32_t>(zf < 0.f ? 0.f : (zf > qmax ? static_cast<float>(qmax) : zf));
    }
    scale[r] = s;
    zero[r] = z;
    const float inv = 1.f / s;
    // (x * inv rounds monotonically, so the row's largest |x| bounds every |x * inv|)
    const float reach = (hi > -lo ? hi : -lo) * inv;
    quantize_row(xr, cols, inv, z, qmax, reach <= kCodeLimit, qr);
  }
}

FASTMLP_TIER_END
