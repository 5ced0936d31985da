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
// results. AVX2 (and the AVX-512 tier, which runs the same 256-bit code) multiplies with
// vpmaddubsw + vpmaddwd, exact because each pair of products fits int16 (A <= 127 by the
// caller's promise, or split into its low 7 bits and its top bit; see Int8Output).
#include <algorithm>
#include <cstring>

#include "kernels/entry_points.h"
#include "kernels/gemm_blocking.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

FASTMLP_TIER_BEGIN

namespace {

constexpr int64_t NR = kInt8NR;
constexpr int64_t KG = kInt8KGroup;
using int8_cfg::MC;
using int8_cfg::MR;

// Work below this many multiply-adds per thread stays on one thread.
constexpr double kMinMacsPerThread = 4e6;

inline int64_t k_groups(int64_t K) { return (K + KG - 1) / KG; }
inline int64_t n_panels(int64_t N) { return (N + NR - 1) / NR; }
inline int64_t panel_bytes(int64_t K) { return k_groups(K) * KG * NR; }

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

#if defined(__AVX2__)

inline __m256i bcast_group(const uint8_t* a, int64_t g, int64_t K, bool tail) {
  uint32_t v;
  if (tail) v = tail_group(a, g, K);
  else std::memcpy(&v, a + g * KG, 4);
  return _mm256_set1_epi32(static_cast<int32_t>(v));
}

// 8 int32 sums of 4 products each, u8 a (bytes <= 127, or FULL) times s8 b.
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

template <int R, bool FULL>
void tile(const uint8_t* A, int64_t lda, int64_t K, const uint8_t* panel,
          int32_t (*acc_out)[NR]) {
  __m256i acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const int64_t groups = k_groups(K), full = K / KG;
  for (int64_t g = 0; g < groups; ++g) {
    const bool tail = g >= full;
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + g * 64));
    const __m256i b1 =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + g * 64 + 32));
    for (int r = 0; r < R; ++r) {
      const __m256i a = bcast_group(A + r * lda, g, K, tail);
      acc[r][0] = _mm256_add_epi32(acc[r][0], dot4<FULL>(a, b0));
      acc[r][1] = _mm256_add_epi32(acc[r][1], dot4<FULL>(a, b1));
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc_out[r]), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc_out[r] + 8), acc[r][1]);
  }
}

#else  // portable: the same sums in plain integer arithmetic

template <int R, bool FULL>
void tile(const uint8_t* A, int64_t lda, int64_t K, const uint8_t* panel,
          int32_t (*acc_out)[NR]) {
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

// Output row i, columns [j, j + cols) (cols <= NR) from its panel's sums.
void store_row(const int32_t* acc, int64_t i, int64_t j, int64_t cols, const int32_t* csum,
               const Int8Output& o) {
  const int32_t z = o.a_zero ? o.a_zero[i] : 0;
  if (o.c32) {
    int32_t* c = o.c32 + i * o.ldc + j;
    for (int64_t t = 0; t < cols; ++t) c[t] = acc[t] - z * csum[t];
    return;
  }
  float* c = o.c + i * o.ldc + j;
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
}

using TileFn = void (*)(const uint8_t*, int64_t, int64_t, const uint8_t*, int32_t (*)[NR]);

template <bool FULL>
TileFn tile_for(int rows) {
  static_assert(MR == 4, "tile_for lists MR variants");
  switch (rows) {
    case 1: return &tile<1, FULL>;
    case 2: return &tile<2, FULL>;
    case 3: return &tile<3, FULL>;
    default: return &tile<4, FULL>;
  }
}

// Rows [i0, i1) times panel p.
void rows_times_panel(int64_t i0, int64_t i1, int64_t p, int64_t N, int64_t K,
                      const uint8_t* A, int64_t lda, const uint8_t* Bp, const int32_t* csum,
                      const Int8Output& o) {
  const uint8_t* panel = Bp + p * panel_bytes(K);
  const int64_t j = p * NR, cols = std::min(NR, N - j);
  int32_t acc[MR][NR];
  for (int64_t i = i0; i < i1; i += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, i1 - i));
    const TileFn fn = o.a_full_range ? tile_for<true>(rows) : tile_for<false>(rows);
    fn(A + i * lda, lda, K, panel, acc);
    for (int r = 0; r < rows; ++r) store_row(acc[r], i + r, j, cols, csum + j, o);
  }
}

}  // namespace

int64_t packed_s8_size(int64_t K, int64_t N) {
  return n_panels(N) * panel_bytes(K) + n_panels(N) * NR * 4;
}

void pack_s8(int64_t K, int64_t N, const int8_t* B, int64_t ldb, void* Bp) {
  auto* dst = static_cast<int8_t*>(Bp);
  const int64_t np = n_panels(N), groups = k_groups(K);
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
  // Row-block-major units: a thread's consecutive panels reuse its A block from L2.
  parallel_for(blocks * np, nth, [&](int64_t u) {
    const int64_t b = u / np, p = p0 + u % np;
    rows_times_panel(b * MC, std::min(M, (b + 1) * MC), p, N, K, A, lda, bp, csum, *out);
  });
}

FASTMLP_TIER_END
