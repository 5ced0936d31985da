// bf16 GEMM: C = ep(bf16(A) @ B), B packed once as bf16 by pack_bf16, float32 sums
// (contract: KernelTable::gemm_bf16). Only tiers with AVX512-BF16 define it.
//
//   A is rounded to bf16 block by block, by the unit that multiplies the block, into a
//   per-thread copy whose rows are padded with zeros to whole K tiles: it stays in
//   cache, and NaN / inf rows are flagged on the way (Epilogue::nonfinite)
//   avx512_bf16: per two panels of 16 columns, tiles of bf16_cfg::MR rows; per pair of k
//     one broadcast and two vdpbf16ps per row, the pairs dealt round-robin to
//     bf16_cfg::CHAINS sums that are added at the end (the same order for any tile height)
//   amx: tdpbf16ps on 16 x 32-element tiles, 2 x 2 C tiles per pass over K, for every M
//     (a row's bits may not depend on how many rows come with it)
//   epilogue per row: + bias, then the tier's act_forward
#include <algorithm>
#include <cstring>
#include <utility>

#include "kernels/amx_tiles.h"
#include "kernels/entry_points.h"
#include "kernels/gemm_blocking.h"
#include "kernels/gemm_workspace.h"

#if defined(__AVX512BF16__)
#include <immintrin.h>

FASTMLP_TIER_BEGIN

namespace {

constexpr int64_t NR = kBf16NR;
constexpr int64_t KG = kBf16KGroup;
constexpr int64_t kTileK = KG * kBf16KTile;  // k per tile row: 32 bf16, 64 bytes
using bf16_cfg::MC;
using bf16_cfg::MR;

// Work below this many multiply-adds per thread stays on one thread.
constexpr double kMinMacsPerThread = 2e6;

inline int64_t n_panels(int64_t N) { return (N + NR - 1) / NR; }
inline int64_t padded_k(int64_t K) { return (K + kTileK - 1) / kTileK * kTileK; }
inline int64_t panel_bytes(int64_t K) { return padded_k(K) * NR * 2; }

inline uint16_t bf16_bits(float v) {  // nearest, ties to even; NaN stays a (quiet) NaN
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// A row into dst[kp] as bf16 (vcvtne2ps2bf16 rounds as bf16_bits does), zeros beyond K;
// false when the row holds NaN or inf.
bool row_to_bf16(const float* a, int64_t K, int64_t kp, uint16_t* dst) {
  const __m512i exp_mask = _mm512_set1_epi32(0x7f800000);
  __mmask16 bad = 0;
  auto check = [&](__m512 v) {  // exponent all ones: NaN or inf
    bad |= _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(v), exp_mask),
                                   exp_mask);
  };
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m512 lo = _mm512_loadu_ps(a + k), hi = _mm512_loadu_ps(a + k + 16);
    check(lo);
    check(hi);
    const __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
    _mm512_storeu_si512(dst + k, reinterpret_cast<const __m512i&>(v));
  }
  if (k < K) {
    const int64_t rem = K - k;
    const __mmask16 ml = rem >= 16 ? 0xffff : static_cast<__mmask16>((1u << rem) - 1);
    const __mmask16 mh = rem > 16 ? static_cast<__mmask16>((1u << (rem - 16)) - 1) : 0;
    const __m512 lo = _mm512_maskz_loadu_ps(ml, a + k), hi = _mm512_maskz_loadu_ps(mh, a + k + 16);
    check(lo);
    check(hi);
    const __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
    _mm512_storeu_si512(dst + k, reinterpret_cast<const __m512i&>(v));
    k += 32;
  }
  for (; k < kp; k += 32) _mm512_storeu_si512(dst + k, _mm512_setzero_si512());
  return bad == 0;
}

// Rows [i0, i0 + rows) of A into a[copy_rows][kp] (rows beyond them zero); sets
// *nonfinite when one holds NaN or inf.
void block_to_bf16(const float* A, int64_t lda, int64_t i0, int64_t rows, int64_t copy_rows,
                   int64_t K, int64_t kp, uint16_t* a, int* nonfinite) {
  bool finite = true;
  for (int64_t r = 0; r < rows; ++r) finite &= row_to_bf16(A + (i0 + r) * lda, K, kp, a + r * kp);
  if (copy_rows > rows)
    std::memset(a + rows * kp, 0, static_cast<size_t>((copy_rows - rows) * kp) * 2);
  if (!finite && nonfinite) {
#pragma omp atomic write
    *nonfinite = 1;
  }
}

// The same from A stored transposed (K x M, row stride lda): row r of the block is
// column i0 + r of A (no NaN flag: only training multiplies this way).
void block_to_bf16_t(const float* A, int64_t lda, int64_t i0, int64_t rows, int64_t copy_rows,
                     int64_t K, int64_t kp, uint16_t* a) {
  alignas(64) uint16_t t[32];
  for (int64_t r0 = 0; r0 < rows; r0 += 32) {
    const int64_t n = std::min<int64_t>(32, rows - r0);
    const __mmask16 ml = n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1);
    const __mmask16 mh = n > 16 ? static_cast<__mmask16>((1u << (n - 16)) - 1) : 0;
    for (int64_t k = 0; k < K; ++k) {
      const float* src = A + k * lda + i0 + r0;
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(mh, src + 16),
                                             _mm512_maskz_loadu_ps(ml, src));
      _mm512_store_si512(t, reinterpret_cast<const __m512i&>(v));
      for (int64_t r = 0; r < n; ++r) a[(r0 + r) * kp + k] = t[r];
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    std::memset(a + r * kp + K, 0, static_cast<size_t>(kp - K) * 2);
  if (copy_rows > rows)
    std::memset(a + rows * kp, 0, static_cast<size_t>((copy_rows - rows) * kp) * 2);
}

// Output row i, columns [j, j + cols): acc + bias, then the activation; linear, relu
// and leaky_relu in registers (with act_forward's NaN handling: max(0, NaN) is NaN),
// the others by act_forward on the row's part.
void store_row(const float* acc, float* c, int64_t cols, const Epilogue* ep, int64_t j) {
  const float* bias = ep && ep->bias ? ep->bias + j : nullptr;
  const Act act = ep ? ep->act : Act::linear;
  const __m512 zero = _mm512_setzero_ps();
  const __m512 alpha = _mm512_set1_ps(ep ? ep->alpha : 0.f);
  for (int64_t t = 0; t < cols; t += 16) {
    const int64_t n = std::min<int64_t>(16, cols - t);
    const __mmask16 m = n == 16 ? static_cast<__mmask16>(0xffff)
                                : static_cast<__mmask16>((1u << n) - 1);
    __m512 v = _mm512_loadu_ps(acc + t);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + t));
    if (act == Act::relu) {
      v = _mm512_max_ps(zero, v);
    } else if (act == Act::leaky_relu) {
      const __mmask16 pos = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
      v = _mm512_mask_blend_ps(pos, _mm512_mul_ps(v, alpha), v);
    }
    _mm512_mask_storeu_ps(c + t, m, v);
  }
  if (act != Act::linear && act != Act::relu && act != Act::leaky_relu)
    act_forward(act, ep->alpha, c, c, cols);
}

#if !defined(__AMX_BF16__)

using bf16_cfg::CHAINS;

// R rows (bf16, row stride kp) times two panels (32 columns: each broadcast of A feeds
// two vdpbf16ps): CHAINS sums per row and panel, the pairs of k dealt round-robin.
template <int R>
void tile(const uint16_t* a, int64_t kp, int64_t pairs, const uint8_t* panel0,
          const uint8_t* panel1, float (*acc_out)[2 * NR]) {
  static_assert(CHAINS == 2, "the final sum adds two chains");
  __m512 acc[CHAINS][R][2];
  for (int c = 0; c < CHAINS; ++c)
    for (int r = 0; r < R; ++r) acc[c][r][0] = acc[c][r][1] = _mm512_setzero_ps();
  auto step = [&](int c, int64_t g) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(panel0 + g * 64);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(panel1 + g * 64);
    for (int r = 0; r < R; ++r) {
      int32_t v;
      std::memcpy(&v, a + r * kp + g * KG, 4);
      const __m512bh x = (__m512bh)_mm512_set1_epi32(v);
      acc[c][r][0] = _mm512_dpbf16_ps(acc[c][r][0], x, b0);
      acc[c][r][1] = _mm512_dpbf16_ps(acc[c][r][1], x, b1);
    }
  };
  int64_t g = 0;
  for (; g + CHAINS <= pairs; g += CHAINS)
    for (int c = 0; c < CHAINS; ++c) step(c, g + c);
  for (int c = 0; g < pairs; ++g, ++c) step(c, g);  // the last pair, to the first chain
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(acc_out[r], _mm512_add_ps(acc[0][r][0], acc[1][r][0]));
    _mm512_storeu_ps(acc_out[r] + NR, _mm512_add_ps(acc[0][r][1], acc[1][r][1]));
  }
}

using TileFn = void (*)(const uint16_t*, int64_t, int64_t, const uint8_t*, const uint8_t*,
                        float (*)[2 * NR]);

template <int... Rm1>
TileFn tile_of(int rows, std::integer_sequence<int, Rm1...>) {
  static constexpr TileFn fns[] = {&tile<Rm1 + 1>...};
  return fns[rows - 1];
}

constexpr int64_t kBlockRows = MC;  // rows converted and multiplied together
constexpr int64_t kPanelStep = 2;   // panels a unit's range is counted in
constexpr bool kWholeBlocks = false;  // no zero rows needed past M

// Rows [i0, i0 + rows) (bf16 in a, row stride kp) times panels [p0, p1), two at a time
// (a lone last panel is multiplied twice and its copy dropped, so every row sums in the
// same order).
void block_times_panels(int64_t i0, int64_t rows, int64_t p0, int64_t p1, int64_t N,
                        int64_t K, int64_t kp, const uint16_t* a, const uint8_t* Bp, float* C,
                        int64_t ldc, const Epilogue* ep) {
  const int64_t pairs = (K + KG - 1) / KG, pb = panel_bytes(K);
  float acc[MR][2 * NR];
  for (int64_t p = p0; p < p1; p += 2) {
    const uint8_t* b0 = Bp + p * pb;
    const uint8_t* b1 = p + 1 < p1 ? b0 + pb : b0;
    const int64_t j = p * NR, cols = std::min((p + 1 < p1 ? 2 : 1) * NR, N - j);
    for (int64_t i = 0; i < rows; i += MR) {
      const int tr = static_cast<int>(std::min<int64_t>(MR, rows - i));
      tile_of(tr, std::make_integer_sequence<int, MR>{})(a + i * kp, kp, pairs, b0, b1, acc);
      for (int r = 0; r < tr; ++r) store_row(acc[r], C + (i0 + i + r) * ldc + j, cols, ep, j);
    }
  }
}

#else  // __AMX_BF16__

using bf16_cfg::AMX_COLS;
using bf16_cfg::AMX_ROWS;
static_assert(AMX_ROWS == 32 && AMX_COLS == 2 * NR, "the AMX pass keeps 2 x 2 C tiles");

FASTMLP_AMX_DOT(DotBf16, _tile_dpbf16ps);

constexpr int64_t kBlockRows = AMX_ROWS;  // rows converted and multiplied together
constexpr int64_t kPanelStep = 2;         // panels a unit's range is counted in
constexpr bool kWholeBlocks = false;      // (tiles are configured to the block's rows)

// Rows [i0, i0 + rows) (bf16 in a, row stride kp) times panels [p0, p1), in 2 x 2 tiles.
void block_times_panels(int64_t i0, int64_t rows, int64_t p0, int64_t p1, int64_t N,
                        int64_t K, int64_t kp, const uint16_t* a, const uint8_t* Bp, float* C,
                        int64_t ldc, const Epilogue* ep) {
  // (One pass over all of K per panel pair, as amx_block_runs with no runs: the K runs
  // that paid for int8 inference cost the mixed_bfloat16 E1 epoch 4-8%, 1.03-1.12x
  // bf16 predict at batch 1024 not being worth that.)
  const int64_t ktiles = kp / kTileK, pb = panel_bytes(K), lda = kp * 2;
  amx_configure(rows);
  alignas(64) float c[AMX_ROWS][AMX_COLS];
  const bool low_only = rows <= 16;
  for (int64_t p = p0; p < p1; p += 2) {
    const int64_t panels = std::min<int64_t>(2, p1 - p);
    const uint8_t* b0 = Bp + p * pb;
    const uint8_t* b1 = panels == 2 ? b0 + pb : b0;  // one panel: tmm1/3 repeat it, unused
    amx_pass_2x2<DotBf16>(reinterpret_cast<const uint8_t*>(a), lda, b0, b1, 0, ktiles,
                          low_only, false, c);
    const int64_t j = p * NR, cols = std::min(panels * NR, N - j);
    for (int64_t r = 0; r < rows; ++r) store_row(c[r], C + (i0 + r) * ldc + j, cols, ep, j);
  }
  _tile_release();
}

#endif  // __AMX_BF16__

// Units of kBlockRows rows times a run of panels (split further only when there are
// fewer row blocks than threads), each converting its rows to bf16 in its thread's part
// of `scratch` (kBlockRows x kp per thread).
void multiply(bool trans_a, int64_t M, int64_t N, int64_t K, int64_t kp, const float* A,
              int64_t lda, const uint8_t* Bp, float* C, int64_t ldc, const Epilogue* ep,
              int64_t p0, int64_t np, int nth, uint16_t* scratch) {
  const int64_t blocks = (M + kBlockRows - 1) / kBlockRows;
  const int64_t steps = (np + kPanelStep - 1) / kPanelStep;
  const int64_t chunks =
      std::min<int64_t>(steps, std::max<int64_t>(1, (nth + blocks - 1) / blocks));
  const int64_t p1 = p0 + np;
  int* nonfinite = ep ? ep->nonfinite : nullptr;
  parallel_for(blocks * chunks, nth, [&](int64_t u) {
#ifdef FASTMLP_HAVE_OPENMP
    // (a thread number of this team only: with one thread the caller may itself be
    // one of an outer team's threads)
    uint16_t* a = scratch + (nth > 1 ? omp_get_thread_num() : 0) * kBlockRows * kp;
#else
    uint16_t* a = scratch;
#endif
    const int64_t b = u / chunks, ch = u % chunks;
    const int64_t q0 = p0 + kPanelStep * (steps * ch / chunks);
    const int64_t q1 = std::min(p1, p0 + kPanelStep * (steps * (ch + 1) / chunks));
    const int64_t i0 = b * kBlockRows, rows = std::min(kBlockRows, M - i0);
    const int64_t copy_rows = kWholeBlocks ? kBlockRows : rows;
    if (trans_a)
      block_to_bf16_t(A, lda, i0, rows, copy_rows, K, kp, a);
    else
      block_to_bf16(A, lda, i0, rows, copy_rows, K, kp, a, ch == 0 ? nonfinite : nullptr);
    block_times_panels(i0, rows, q0, q1, N, K, kp, a, Bp, C, ldc, ep);
  });
}

// Groups [g0, g1) of B's plain (not transposed) pack: rows k and k + 1, 16 columns at a
// time, make one 64-byte group of a panel (words 2c, 2c + 1); pairs outermost, so B is
// read in order. Groups past K are zeros.
void pack_groups(int64_t K, int64_t N, const float* B, int64_t ldb, int64_t g0, int64_t g1,
                 uint16_t* dst) {
  const int64_t kp = padded_k(K), np = n_panels(N);
  alignas(64) static constexpr uint16_t kInterleave[32] = {
      0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i order = _mm512_load_si512(kInterleave);
  for (int64_t g = g0; g < g1; ++g) {
    const int64_t k = g * KG;
    const float* r0 = k < K ? B + k * ldb : nullptr;
    const float* r1 = k + 1 < K ? B + (k + 1) * ldb : nullptr;
    for (int64_t p = 0; p < np; ++p) {
      const int64_t j0 = p * NR, n = std::min(NR, N - j0);
      const __mmask16 m = n == 16 ? static_cast<__mmask16>(0xffff)
                                  : static_cast<__mmask16>((1u << n) - 1);
      const __m512 lo = r0 ? _mm512_maskz_loadu_ps(m, r0 + j0) : _mm512_setzero_ps();
      const __m512 hi = r1 ? _mm512_maskz_loadu_ps(m, r1 + j0) : _mm512_setzero_ps();
      const __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
      _mm512_storeu_si512(dst + p * kp * NR + g * KG * NR,
                          _mm512_permutexvar_epi16(order, reinterpret_cast<const __m512i&>(v)));
    }
  }
}

}  // namespace

int64_t packed_bf16_size(int64_t K, int64_t N) { return n_panels(N) * panel_bytes(K); }

void pack_bf16_sliced(int64_t K, int64_t N, const float* B, int64_t ldb, void* Bp,
                      Bf16SliceFn before, void* ctx) {
  using bf16_cfg::SLICE_ROWS;
  static_assert(SLICE_ROWS % KG == 0, "slices start on whole pairs of k");
  const int64_t slices = (K + SLICE_ROWS - 1) / SLICE_ROWS, groups = padded_k(K) / KG;
  // Whole slices per thread: each slice's bits are the same whoever packs it.
  const int nth = threads_for(static_cast<double>(K) * N, bf16_cfg::SLICE_MIN_PER_THREAD);
#pragma omp parallel for schedule(static) num_threads(nth) if (nth > 1)
  for (int64_t s = 0; s < slices; ++s) {
    const int64_t k0 = s * SLICE_ROWS, k1 = std::min(K, k0 + SLICE_ROWS);
    before(ctx, k0, k1);
    pack_groups(K, N, B, ldb, k0 / KG, k1 >= K ? groups : k1 / KG, static_cast<uint16_t*>(Bp));
  }
}

void pack_bf16(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, void* Bp) {
  auto* dst = static_cast<uint16_t*>(Bp);
  const int64_t kp = padded_k(K), groups = kp / KG, np = n_panels(N);
  if (!trans_b) {
    pack_groups(K, N, B, ldb, 0, groups, dst);
    return;
  }
  // transposed: (k, j) is B[j * ldb + k]
  for (int64_t p = 0; p < np; ++p) {
    uint16_t* panel = dst + p * kp * NR;
    const int64_t j0 = p * NR, n = std::min(NR, N - j0);
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t c = 0; c < NR; ++c)
        for (int64_t t = 0; t < KG; ++t) {
          const int64_t k = g * KG + t;
          panel[g * KG * NR + KG * c + t] =
              (k < K && c < n) ? bf16_bits(B[(j0 + c) * ldb + k]) : 0;
        }
  }
}

void gemm_bf16(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const void* Bp, float* C, int64_t ldc, const Epilogue* ep, int64_t j0,
               int64_t j1) {
  j1 = std::min(j1, N);
  if (M <= 0 || j1 <= j0) return;
  const int64_t kp = padded_k(K);
  const bool whole = j0 == 0 && j1 >= N;
  const int nth = whole ? threads_for(static_cast<double>(M) * K * (j1 - j0), kMinMacsPerThread)
                        : 1;
  // (allocated here, on the calling thread: a failure throws before any thread starts)
  thread_local ScratchBuffer scratch;
  auto* a = reinterpret_cast<uint16_t*>(
      scratch.get(static_cast<size_t>(nth * kBlockRows * kp / 2 + 16)));
  const int64_t p0 = j0 / NR, np = n_panels(j1) - p0;
  multiply(trans_a, M, N, K, kp, A, lda, static_cast<const uint8_t*>(Bp), C, ldc, ep, p0, np,
           nth, a);
}

FASTMLP_TIER_END

#endif  // __AVX512BF16__
