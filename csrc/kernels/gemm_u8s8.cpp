// int8 GEMM: A (uint8, row-major) @ B (int8, packed once by pack_s8), exact int32 sums,
// written raw or dequantized with bias and activation (Int8Output, kernel_table.h).
//
//   for rows in blocks of int8_cfg::MC:      A block stays in L2
//     for each packed B panel (16 columns):  K * 16 bytes, in L1 across the block
//       for tiles of int8_cfg::MR rows:      MR x 16 int32 accumulators
//         per group of 4 k: one broadcast of 4 A bytes per row, 4 x 16 products
//       epilogue per row (one scalar loop the compiler vectorises: the same bits on
//       every tier, since every float operation is the same IEEE operation)
//
// The sums are integers, so any split of rows and panels between threads gives the same
// results, and every tier gives the same sums. How each tier multiplies:
//   avx2, avx512: vpmaddubsw + vpmaddwd (256-bit), exact because each pair of products
//     fits int16 (A <= 127 by the caller's promise, or split into its low 7 bits and its
//     top bit; see Int8Output);
//   avx_vnni: the same tiles with AVX-VNNI's ymm vpdpbusd (one instruction, any byte);
//   avx512_vnni, avx512_bf16: vpdpbusd, one zmm of 16 int32 sums per row;
//   amx: from int8_cfg::AMX_MIN_ROWS rows on, tdpbusd on 16 x 64-byte tiles, A copied
//     block by block with its rows zero padded to whole K tiles (B is packed tile-ready);
//     fewer rows take the VNNI tiles;
//   neon_dotprod: sdot, 4 x 4 int32 lanes per row (A's codes as signed bytes; full-range
//     bytes split as on AVX2);
//   generic, neon: portable integer loops.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <utility>

#include "kernels/entry_points.h"
#include "kernels/amx_tiles.h"
#include "kernels/gemm_blocking.h"

#if defined(__AVX2__) || defined(__AVX512VNNI__) || defined(__AMX_INT8__)
#include <immintrin.h>
#endif
#if defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>
#endif

FASTMLP_TIER_BEGIN

namespace {

constexpr int64_t NR = kInt8NR;
constexpr int64_t KG = kInt8KGroup;
constexpr int TP = int8_cfg::TILE_PANELS;
using int8_cfg::MC;
using int8_cfg::MR;

// Work below this many multiply-adds per thread stays on one thread.
constexpr double kMinMacsPerThread = 4e6;

inline int64_t k_groups(int64_t K) { return (K + KG - 1) / KG; }
inline int64_t n_panels(int64_t N) { return (N + NR - 1) / NR; }
// Groups of a panel: K's groups padded to whole AMX K tiles (kernel_table.h).
inline int64_t padded_groups(int64_t K) {
  return (k_groups(K) + kInt8KTile - 1) / kInt8KTile * kInt8KTile;
}
inline int64_t panel_bytes(int64_t K) { return padded_groups(K) * KG * NR; }

inline const int32_t* column_sums(const void* Bp, int64_t K, int64_t N) {
  return reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(Bp) +
                                          n_panels(N) * panel_bytes(K));
}

// The 4 bytes of a row from k = 4 g on, zero beyond K (the tail group).
inline uint32_t tail_group(const uint8_t* a, int64_t g, int64_t K) {
  uint8_t b[4] = {0, 0, 0, 0};
  for (int64_t t = 0; g * KG + t < K; ++t) b[t] = a[g * KG + t];
  uint32_t v;
  std::memcpy(&v, b, 4);
  return v;
}

#if defined(__AVX512VNNI__)

// acc + the 4-byte dot products of u8 a and s8 b (vpdpbusd), in inline asm: through
// _mm512_dpbusd_epi32 GCC 12 copied every sum of a tile to another register and back each
// step (32 moves and 2 stores per 16 vpdpbusd).
inline __m512i dpbusd(__m512i acc, __m512i a, __m512i b) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

// R rows x TP panels of 16 columns, one zmm of sums per row and panel (the second panel
// pstride bytes after the first). Below int8_cfg::MIN_CHAINS rows the groups alternate
// between CH sets of sums (added at the end), so consecutive vpdpbusd do not wait on
// each other's results.
template <int R, bool FULL>
void tile(const uint8_t* A, int64_t lda, int64_t K, const uint8_t* panel, int64_t pstride,
          int32_t (*acc_out)[TP * NR]) {
  constexpr int CH = R >= int8_cfg::MIN_CHAINS ? 1 : (int8_cfg::MIN_CHAINS + R - 1) / R;
  __m512i acc[CH][R][TP];
  for (int c = 0; c < CH; ++c)
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < TP; ++q) acc[c][r][q] = _mm512_setzero_si512();
  const int64_t groups = k_groups(K), full = K / KG;
  int64_t g = 0;
  for (; g + CH <= full; g += CH) {
    for (int c = 0; c < CH; ++c) {
      const uint8_t* pg = panel + (g + c) * 64;
      __m512i b[TP];
      for (int q = 0; q < TP; ++q) b[q] = _mm512_loadu_si512(pg + q * pstride);
      for (int r = 0; r < R; ++r) {
        uint32_t v;
        std::memcpy(&v, A + r * lda + (g + c) * KG, 4);
        const __m512i a = _mm512_set1_epi32(static_cast<int32_t>(v));
        for (int q = 0; q < TP; ++q) acc[c][r][q] = dpbusd(acc[c][r][q], a, b[q]);
      }
    }
  }
  for (; g < groups; ++g) {  // (at most CH - 1 whole groups, then the tail group)
    __m512i b[TP];
    for (int q = 0; q < TP; ++q) b[q] = _mm512_loadu_si512(panel + q * pstride + g * 64);
    for (int r = 0; r < R; ++r) {
      uint32_t v;
      if (g < full) std::memcpy(&v, A + r * lda + g * KG, 4);
      else v = tail_group(A + r * lda, g, K);
      const __m512i a = _mm512_set1_epi32(static_cast<int32_t>(v));
      for (int q = 0; q < TP; ++q) acc[0][r][q] = dpbusd(acc[0][r][q], a, b[q]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < TP; ++q) {
      for (int c = 1; c < CH; ++c) acc[0][r][q] = _mm512_add_epi32(acc[0][r][q], acc[c][r][q]);
      _mm512_storeu_si512(acc_out[r] + q * NR, acc[0][r][q]);
    }
}

#elif defined(__AVX2__)

inline __m256i bcast_group(const uint8_t* a, int64_t g, int64_t K, bool tail) {
  uint32_t v;
  if (tail) v = tail_group(a, g, K);
  else std::memcpy(&v, a + g * KG, 4);
  return _mm256_set1_epi32(static_cast<int32_t>(v));
}

// 8 int32 sums of 4 products each, u8 a (bytes <= 127, or FULL) times s8 b (vpmaddubsw's
// pairs of products fit int16 only for 7-bit a).
template <bool FULL>
inline __m256i dot4(__m256i a, __m256i b) {
  const __m256i ones = _mm256_set1_epi16(1);
  if (!FULL) return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones);
  const __m256i low7 = _mm256_and_si256(a, _mm256_set1_epi8(0x7f));
  const __m256i top = _mm256_and_si256(_mm256_srli_epi16(a, 7), _mm256_set1_epi8(1));
  const __m256i lo = _mm256_madd_epi16(_mm256_maddubs_epi16(low7, b), ones);
  const __m256i hi = _mm256_madd_epi16(_mm256_maddubs_epi16(top, b), ones);
  return _mm256_add_epi32(lo, _mm256_slli_epi32(hi, 7));
}

// acc + 8 int32 sums of 4 products each, u8 a (bytes <= 127, or FULL) times s8 b.
template <bool FULL>
inline __m256i dot4_add(__m256i acc, __m256i a, __m256i b) {
#if defined(__AVXVNNI__)
  return _mm256_dpbusd_avx_epi32(acc, a, b);  // (exact for any u8 byte: no split)
#else
  return _mm256_add_epi32(acc, dot4<FULL>(a, b));
#endif
}

// R rows x 16 columns, two ymm of sums per row. Below int8_cfg::MIN_CHAINS rows (AVX-VNNI:
// a vpdpbusd waits on the previous one's result) the groups alternate between CH sets
// of sums, added at the end.
template <int R, bool FULL>
void tile(const uint8_t* A, int64_t lda, int64_t K, const uint8_t* panel, int64_t /*pstride*/,
          int32_t (*acc_out)[TP * NR]) {
  constexpr int CH = R >= int8_cfg::MIN_CHAINS ? 1 : (int8_cfg::MIN_CHAINS + R - 1) / R;
  __m256i acc[CH][R][2];
  for (int c = 0; c < CH; ++c)
    for (int r = 0; r < R; ++r) acc[c][r][0] = acc[c][r][1] = _mm256_setzero_si256();
  const int64_t groups = k_groups(K), full = K / KG;
  // (plain loops: GCC still copies some sums to the stack each step, but off the chain of
  // vpdpbusd; about 1.5 of them issue per cycle on Sapphire Rapids)
  int64_t g = 0;
  for (; g + CH <= full; g += CH) {
    for (int c = 0; c < CH; ++c) {
      const uint8_t* pg = panel + (g + c) * 64;
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pg));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pg + 32));
      for (int r = 0; r < R; ++r) {
        const __m256i a = bcast_group(A + r * lda, g + c, K, false);
        acc[c][r][0] = dot4_add<FULL>(acc[c][r][0], a, b0);
        acc[c][r][1] = dot4_add<FULL>(acc[c][r][1], a, b1);
      }
    }
  }
  for (; g < groups; ++g) {
    const uint8_t* pg = panel + g * 64;
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pg));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pg + 32));
    for (int r = 0; r < R; ++r) {
      const __m256i a = bcast_group(A + r * lda, g, K, g >= full);
      acc[0][r][0] = dot4_add<FULL>(acc[0][r][0], a, b0);
      acc[0][r][1] = dot4_add<FULL>(acc[0][r][1], a, b1);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int h = 0; h < 2; ++h) {
      for (int c = 1; c < CH; ++c) acc[0][r][h] = _mm256_add_epi32(acc[0][r][h], acc[c][r][h]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc_out[r] + 8 * h), acc[0][r][h]);
    }
}

#elif defined(__ARM_FEATURE_DOTPROD)

// R rows x 16 columns as 4 x 4 int32 lanes per row, one sdot (signed 4-byte dot per lane)
// per row and quarter panel and group of 4 k. A's bytes go in as signed: exact for codes
// <= 127; full-range bytes are split into their low 7 bits and their top bit (x 128).
template <int R, bool FULL>
void tile(const uint8_t* A, int64_t lda, int64_t K, const uint8_t* panel, int64_t /*pstride*/,
          int32_t (*acc_out)[TP * NR]) {
  int32x4_t acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < 4; ++q) acc[r][q] = vdupq_n_s32(0);
  const int64_t groups = k_groups(K), full = K / KG;
  const uint8x16_t low7 = vdupq_n_u8(0x7f);
  const int32x4_t zero = vdupq_n_s32(0);
  for (int64_t g = 0; g < groups; ++g) {
    int8x16_t b[4];
    for (int q = 0; q < 4; ++q) b[q] = vld1q_s8(reinterpret_cast<const int8_t*>(panel + g * 64 + 16 * q));
    for (int r = 0; r < R; ++r) {
      uint32_t v;
      if (g < full) std::memcpy(&v, A + r * lda + g * KG, 4);
      else v = tail_group(A + r * lda, g, K);
      const uint8x16_t a = vreinterpretq_u8_u32(vdupq_n_u32(v));
      if (!FULL) {
        const int8x16_t as = vreinterpretq_s8_u8(a);
        for (int q = 0; q < 4; ++q) acc[r][q] = vdotq_s32(acc[r][q], b[q], as);
      } else {
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(a, low7));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(a, 7));
        for (int q = 0; q < 4; ++q)
          acc[r][q] = vaddq_s32(vdotq_s32(acc[r][q], b[q], lo),
                                vshlq_n_s32(vdotq_s32(zero, b[q], hi), 7));
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < 4; ++q) vst1q_s32(acc_out[r] + 4 * q, acc[r][q]);
}

#else  // portable: the same sums in plain integer arithmetic

template <int R, bool FULL>
void tile(const uint8_t* A, int64_t lda, int64_t K, const uint8_t* panel, int64_t /*pstride*/,
          int32_t (*acc_out)[TP * NR]) {
  int32_t acc[R][NR] = {};
  const int64_t groups = k_groups(K), full = K / KG;
  for (int64_t g = 0; g < groups; ++g) {
    const auto* b = reinterpret_cast<const int8_t*>(panel + g * 64);
    for (int r = 0; r < R; ++r) {
      uint8_t a[4];
      if (g < full) {
        std::memcpy(a, A + r * lda + g * KG, 4);
      } else {
        const uint32_t v = tail_group(A + r * lda, g, K);
        std::memcpy(a, &v, 4);
      }
      for (int64_t c = 0; c < NR; ++c)
        acc[r][c] += a[0] * b[4 * c] + a[1] * b[4 * c + 1] + a[2] * b[4 * c + 2] +
                     a[3] * b[4 * c + 3];
    }
  }
  for (int r = 0; r < R; ++r) std::memcpy(acc_out[r], acc[r], sizeof(acc[r]));
}

#endif

// uint8 codes of float values (Int8Output::q): clamped in float first, so the conversion
// never overflows; NaN gives 0.
void requantize(const float* v, int64_t n, float inv, int32_t zero, uint8_t* q) {
  for (int64_t t = 0; t < n; ++t) {
    float x = v[t] * inv;
    x = x > -512.f ? x : -512.f;  // (NaN -> -512 -> 0)
    x = x < 512.f ? x : 512.f;
    int32_t c = static_cast<int32_t>(std::nearbyint(x)) + zero;
    c = c < 0 ? 0 : (c > 255 ? 255 : c);
    q[t] = static_cast<uint8_t>(c);
  }
}

#if defined(FASTMLP_TIER_AVX512) || defined(FASTMLP_TIER_AVX2)
// The integer ends of the vector epilogue, per register width (the float middle is
// written once, on simd::).
#if defined(FASTMLP_TIER_AVX512)
using IVec = __m512i;
inline IVec load_i32(const int32_t* p) { return _mm512_loadu_si512(p); }
inline IVec sub_mul_i32(IVec acc, int32_t z, IVec csum) {
  return _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(z), csum));
}
inline void store_i32(int32_t* p, IVec v, simd::Mask m) { _mm512_mask_storeu_epi32(p, m, v); }
inline simd::Vec to_float(IVec v) { return _mm512_cvtepi32_ps(v); }
// clamp(rint(x) + zero, 0, 255) of x (already clamped to +-512) into q[0, cols)
inline void store_codes(uint8_t* q, simd::Vec x, int32_t zero, int64_t cols) {
  const IVec c = _mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(x), _mm512_set1_epi32(zero)),
                                  _mm512_setzero_si512());
  _mm512_mask_cvtusepi32_storeu_epi8(q, simd::mask_first(static_cast<int>(cols)), c);
}
#else
using IVec = __m256i;
inline IVec load_i32(const int32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline IVec sub_mul_i32(IVec acc, int32_t z, IVec csum) {
  return _mm256_sub_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(z), csum));
}
inline void store_i32(int32_t* p, IVec v, simd::Mask m) { _mm256_maskstore_epi32(p, m, v); }
inline simd::Vec to_float(IVec v) { return _mm256_cvtepi32_ps(v); }
inline void store_codes(uint8_t* q, simd::Vec x, int32_t zero, int64_t cols) {
  const IVec c = _mm256_add_epi32(_mm256_cvtps_epi32(x), _mm256_set1_epi32(zero));
  // int32 -> int16 -> uint8, saturating (the clamp to [0, 255]); codes in order
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
  alignas(16) uint8_t bytes[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(bytes), _mm_packus_epi16(w, w));
  std::memcpy(q, bytes, static_cast<size_t>(cols));
}
#endif

// store_row for at most one vector of columns (cols <= simd::VL), lane for lane the
// scalar loop's arithmetic (no contraction: -ffp-contract=off), so the bits are the
// same. acc and csum hold whole vectors (panels are whole); b_scale and bias only cols.
inline void store_row_vec(const int32_t* acc, int64_t i, int64_t j, int64_t cols,
                          const int32_t* csum, const Int8Output& o) {
  const simd::Mask m = simd::mask_first(static_cast<int>(cols));
  const IVec d = sub_mul_i32(load_i32(acc), o.a_zero ? o.a_zero[i] : 0, load_i32(csum));
  if (o.c32) {
    store_i32(o.c32 + i * o.ldc + j, d, m);
    return;
  }
  const simd::Vec s = simd::mul(simd::set1(o.a_scale[i]), simd::load_mask(o.b_scale + j, m));
  simd::Vec v = simd::mul(to_float(d), s);
  if (o.ep.bias) v = simd::add(v, simd::load_mask(o.ep.bias + j, m));
  const Act act = o.ep.act;
  if (act == Act::relu) {
    v = simd::max(v, simd::zero());  // (vmaxps gives its second operand for NaN: +0)
  } else if (act == Act::leaky_relu) {
    v = simd::leaky(v, simd::set1(o.ep.alpha));
  } else if (act != Act::linear) {
    alignas(64) float c[simd::VL];
    simd::store(c, v);
    act_forward(act, o.ep.alpha, c, c, cols);
    v = simd::load(c);
  }
  if (!o.q) {
    simd::store_mask(o.c + i * o.ldc + j, v, m);
    return;
  }
  // requantize's clamp in float (NaN becomes -512, as there)
  const simd::Vec x = simd::mul(v, simd::set1(o.out_inv_scale));
  store_codes(o.q + i * o.ldc + j,
              simd::min(simd::max(x, simd::set1(-512.f)), simd::set1(512.f)), o.out_zero,
              cols);
}
#endif

// Output row i, columns [j, j + cols) (cols <= TP * NR) from its panels' sums.
void store_row(const int32_t* acc, int64_t i, int64_t j, int64_t cols, const int32_t* csum,
               const Int8Output& o) {
#if defined(FASTMLP_TIER_AVX512) || defined(FASTMLP_TIER_AVX2)
  for (int64_t t = 0; t < cols; t += simd::VL)
    store_row_vec(acc + t, i, j + t, std::min<int64_t>(simd::VL, cols - t), csum + t, o);
#else
  const int32_t z = o.a_zero ? o.a_zero[i] : 0;
  if (o.c32) {
    int32_t* c = o.c32 + i * o.ldc + j;
    for (int64_t t = 0; t < cols; ++t) c[t] = acc[t] - z * csum[t];
    return;
  }
  float c[TP * NR];  // (computed here, then stored or requantized: no aliasing to fear)
  const float sa = o.a_scale[i];
  const float* sb = o.b_scale + j;
  const float* bias = o.ep.bias ? o.ep.bias + j : nullptr;
  for (int64_t t = 0; t < cols; ++t) {
    const float s = sa * sb[t];
    float v = static_cast<float>(acc[t] - z * csum[t]) * s;
    if (bias) v = v + bias[t];
    c[t] = v;
  }
  const Act act = o.ep.act;
  if (act == Act::relu) {
    for (int64_t t = 0; t < cols; ++t) c[t] = c[t] > 0.f ? c[t] : 0.f;
  } else if (act == Act::leaky_relu) {
    const float al = o.ep.alpha;
    for (int64_t t = 0; t < cols; ++t) c[t] = c[t] > 0.f ? c[t] : c[t] * al;
  } else if (act != Act::linear) {
    act_forward(act, o.ep.alpha, c, c, cols);
  }
  if (o.q) requantize(c, cols, o.out_inv_scale, o.out_zero, o.q + i * o.ldc + j);
  else std::memcpy(o.c + i * o.ldc + j, c, static_cast<size_t>(cols) * sizeof(float));
#endif
}

using TileFn = void (*)(const uint8_t*, int64_t, int64_t, const uint8_t*, int64_t,
                        int32_t (*)[TP * NR]);

template <bool FULL, int... Rm1>
TileFn tile_of(int rows, std::integer_sequence<int, Rm1...>) {
  static constexpr TileFn fns[] = {&tile<Rm1 + 1, FULL>...};
  return fns[rows - 1];
}

// The tile of `rows` (1..MR) rows.
template <bool FULL>
TileFn tile_for(int rows) {
  return tile_of<FULL>(rows, std::make_integer_sequence<int, MR>{});
}

// Rows [i0, i1) times panels [p, min(p + TP, p_end)) (a lone last panel of a pair is
// multiplied twice, the copy dropped).
void rows_times_panels(int64_t i0, int64_t i1, int64_t p, int64_t p_end, int64_t N,
                       int64_t K, const uint8_t* A, int64_t lda, const uint8_t* Bp,
                       const int32_t* csum, const Int8Output& o) {
  const uint8_t* panel = Bp + p * panel_bytes(K);
  const int64_t here = std::min<int64_t>(TP, p_end - p);
  const int64_t pstride = here > 1 ? panel_bytes(K) : 0;
  const int64_t j = p * NR, cols = std::min(here * NR, N - j);
  int32_t acc[MR][TP * NR];
  for (int64_t i = i0; i < i1; i += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, i1 - i));
    const TileFn fn = o.a_full_range ? tile_for<true>(rows) : tile_for<false>(rows);
    fn(A + i * lda, lda, K, panel, pstride, acc);
    for (int r = 0; r < rows; ++r) store_row(acc[r], i + r, j, cols, csum + j, o);
  }
}

#if defined(__AMX_INT8__)

using int8_cfg::AMX_COLS;
using int8_cfg::AMX_ROWS;
constexpr int64_t kTileK = KG * kInt8KTile;  // bytes of K per tile row
static_assert(AMX_ROWS == 32 && AMX_COLS == 2 * NR, "amx_block keeps 2 x 2 C tiles");

FASTMLP_AMX_DOT(DotU8S8, _tile_dpbusd);

// Rows [i0, i0 + rows) (rows <= AMX_ROWS) times panels [p0, p1). `a` receives the rows,
// each zero padded to kpad bytes, so every K tile is whole (B's padding is zero too).
void amx_block(int64_t i0, int64_t rows, int64_t p0, int64_t p1, int64_t N, int64_t K,
               const uint8_t* A, int64_t lda, const uint8_t* Bp, const int32_t* csum,
               const Int8Output& o, uint8_t* a) {
  const int64_t kpad = (K + kTileK - 1) / kTileK * kTileK, ktiles = kpad / kTileK;
  for (int64_t r = 0; r < rows; ++r) {  // (tiles are configured to the block's rows)
    uint8_t* dst = a + r * kpad;
    std::memcpy(dst, A + (i0 + r) * lda, K);
    std::memset(dst + K, 0, kpad - K);
  }
  amx_block_runs<DotU8S8, int8_cfg::AMX_K_TILES, int8_cfg::AMX_PAIRS, int32_t>(
      a, kpad, rows, ktiles, Bp, panel_bytes(K), p0, p1,
      [&](int64_t p, const int32_t (*c)[AMX_COLS]) {
        for (int64_t q = 0; q < std::min<int64_t>(2, p1 - p); ++q) {
          const int64_t j = (p + q) * NR, cols = std::min(NR, N - j);
          for (int64_t r = 0; r < rows; ++r)
            store_row(&c[r][q * NR], i0 + r, j, cols, csum + j, o);
        }
      });
}

// A thread's zero-padded copy of A's rows (plain malloc: a std::vector instantiation
// would be a weak symbol the linker may merge across tiers).
struct RowScratch {
  uint8_t* p = nullptr;
  size_t n = 0;
  ~RowScratch() { std::free(p); }
  uint8_t* get(size_t need) {
    if (need > n) {
      std::free(p);
      p = static_cast<uint8_t*>(std::malloc(need));
      n = p ? need : 0;
    }
    return p;
  }
};

// The whole product in AMX tiles: units of AMX_ROWS rows times a run of panel pairs
// (split further only when there are fewer row blocks than threads).
void amx_gemm(int64_t M, int64_t N, int64_t K, const uint8_t* A, int64_t lda,
              const uint8_t* Bp, const int32_t* csum, const Int8Output& o, int64_t p0,
              int64_t p1, int nth) {
  const int64_t blocks = (M + AMX_ROWS - 1) / AMX_ROWS, pairs = (p1 - p0 + 1) / 2;
  const int64_t chunks = std::min<int64_t>(pairs, std::max<int64_t>(1, (nth + blocks - 1) / blocks));
  const int64_t kpad = (K + kTileK - 1) / kTileK * kTileK;
  parallel_for(blocks * chunks, nth, [&](int64_t u) {
    thread_local RowScratch scratch;
    uint8_t* a = scratch.get(static_cast<size_t>(AMX_ROWS * kpad));
    const int64_t b = u / chunks, ch = u % chunks;
    const int64_t q0 = p0 + 2 * (pairs * ch / chunks);
    const int64_t q1 = std::min(p1, p0 + 2 * (pairs * (ch + 1) / chunks));
    const int64_t i0 = b * AMX_ROWS, rows = std::min(AMX_ROWS, M - i0);
    if (!a) {  // no memory for the copy: the same sums from the VNNI tiles
      for (int64_t p = q0; p < q1; p += TP)
        rows_times_panels(i0, i0 + rows, p, q1, N, K, A, lda, Bp, csum, o);
      return;
    }
    amx_block(i0, rows, q0, q1, N, K, A, lda, Bp, csum, o, a);
  });
}

#endif  // __AMX_INT8__

}  // namespace

int64_t packed_s8_size(int64_t K, int64_t N) {
  return n_panels(N) * panel_bytes(K) + n_panels(N) * NR * 4;
}

void pack_s8(int64_t K, int64_t N, const int8_t* B, int64_t ldb, void* Bp) {
  auto* dst = static_cast<int8_t*>(Bp);
  const int64_t np = n_panels(N), groups = padded_groups(K);
  auto* csum = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(Bp) + np * panel_bytes(K));
  for (int64_t p = 0; p < np; ++p) {
    int8_t* panel = dst + p * panel_bytes(K);
    for (int64_t c = 0; c < NR; ++c) {
      const int64_t j = p * NR + c;
      int32_t s = 0;
      for (int64_t g = 0; g < groups; ++g)
        for (int64_t t = 0; t < KG; ++t) {
          const int64_t k = g * KG + t;
          const int8_t v = (k < K && j < N) ? B[k * ldb + j] : 0;
          panel[g * 64 + 4 * c + t] = v;
          s += v;
        }
      csum[j] = s;
    }
  }
}

void gemm_u8s8(int64_t M, int64_t N, int64_t K, const uint8_t* A, int64_t lda, const void* Bp,
               const Int8Output* out, int64_t j0, int64_t j1) {
  j1 = std::min(j1, N);
  if (M <= 0 || j1 <= j0) return;
  const auto* bp = static_cast<const uint8_t*>(Bp);
  const int32_t* csum = column_sums(Bp, K, N);
  const int64_t p0 = j0 / NR, np = n_panels(j1) - p0;
  const int64_t blocks = (M + MC - 1) / MC;
  const bool whole = j0 == 0 && j1 >= N;
  const int nth = whole ? threads_for(static_cast<double>(M) * K * (j1 - j0), kMinMacsPerThread)
                        : 1;
#if defined(__AMX_INT8__)
  if (M >= int8_cfg::AMX_MIN_ROWS) {
    amx_gemm(M, N, K, A, lda, bp, csum, *out, p0, p0 + np, nth);
    return;
  }
#endif
  // Row-block-major units of TP panels: a thread's consecutive panels reuse its A block
  // from L2.
  const int64_t ng = (np + TP - 1) / TP;
  parallel_for(blocks * ng, nth, [&](int64_t u) {
    const int64_t b = u / ng, p = p0 + (u % ng) * TP;
    rows_times_panels(b * MC, std::min(M, (b + 1) * MC), p, p0 + np, N, K, A, lda, bp, csum,
                      *out);
  });
}

FASTMLP_TIER_END
