// f32 GEMM driver (BLIS-style): C = epilogue(alpha * op(A) @ op(B) + beta * C).
//
//   threads: each takes a row slice (whole MR panels) or a column slice (whole NR
//   panels) of C and runs the loops below on it alone (gemm_blocked_1t)
//   for jc in N step NC:                 B block columns
//     for pc in K step KC:               K blocks (equal split, never threaded)
//       pack B[pc:, jc:] into NR panels  (unless read in place or pre-packed)
//       for ic in M step MC:             A blocks
//         pack A[ic:, pc:] into MR panels (unless read in place)
//         for jr, ir tiles:              jr-major: the B panel is reused across ir
//           micro-kernel MR x NR
//
// Threads only ever split M and N, so every C element is summed in the same order
// whatever the thread count: results are bitwise identical for 1..n threads.
// M <= SMALL_M takes the unpacked GEMV-like path in gemm_small_m.h; transposed A with
// few output columns the along-M path in gemm_narrow.h.
#include <array>
#include <utility>

#include "kernels/dropout_mask.h"
#include "kernels/entry_points.h"
#include "kernels/gemm_narrow.h"
#include "kernels/gemm_pack.h"
#include "kernels/gemm_small_m.h"
#include "kernels/gemm_ukernel.h"
#include "kernels/gemm_workspace.h"
#include "kernels/opt_row_update.h"

FASTMLP_TIER_BEGIN

namespace {

using gemm_cfg::MR;
using gemm_cfg::NR;
using gemm_cfg::NV;

// Work below this many flops per thread stays on one thread (~10 us of FMAs).
constexpr double kMinFlopsPerThread = 1.5e6;

using UKernel = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                         int, const TileStore&);

template <bool D, int R, size_t... Vs>
constexpr std::array<UKernel, NV> ukernel_row(std::index_sequence<Vs...>) {
  return {&gemm_ukernel<R, static_cast<int>(Vs) + 1, D>...};
}

template <bool D, size_t... Rs>
constexpr std::array<std::array<UKernel, NV>, MR> ukernel_grid(std::index_sequence<Rs...>) {
  return {ukernel_row<D, static_cast<int>(Rs) + 1>(std::make_index_sequence<NV>{})...};
}

// ukernels[direct_a][rows-1][nvec-1]: exact-size variants for M and N tails.
constexpr std::array<std::array<std::array<UKernel, NV>, MR>, 2> ukernels = {
    ukernel_grid<false>(std::make_index_sequence<MR>{}),
    ukernel_grid<true>(std::make_index_sequence<MR>{})};

// A row-major A panel is read in place, not packed, when few B panels would reuse the
// packed copy: packing it is a strided scatter that costs about as much as 2-3 of its
// uses (narrow outputs such as the 10-class layer of an MLP).
// Likewise when K is tiny (dY W^T of a 10-class layer): a panel of A is then a few
// hundred contiguous bytes that any cache serves as well as a packed copy.
constexpr int64_t kDirectAMaxPanels = 2;
constexpr int64_t kDirectAMaxDepth = 32;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Layout of a pre-packed B (and of the per-call packing): N blocks of nc_max columns in
// order, each K x round_up(nc, NR) floats; inside, K blocks in order, each a run of
// kc x NR panels. Blocking depends only on (K, N), so a pack made once stays valid.
inline int64_t packed_b_offset(int64_t K, int64_t jc, int64_t pc, int64_t nc) {
  return jc * K + pc * round_up(nc, NR);
}

// The tile stores apply linear / relu / leaky_relu in registers; every other activation
// (sigmoid, tanh, gelu, silu, ...: the transcendental ones, and hard_sigmoid) runs as
// the vectorised act_forward over the freshly stored tile.
bool post_activation(const Epilogue* ep) {
  return ep && ep->act != Act::linear && ep->act != Act::relu && ep->act != Act::leaky_relu;
}

// act_forward on a freshly stored tile (still in L1).
void apply_post_act(const Epilogue* ep, float* C, int64_t ldc, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) act_forward(ep->act, ep->alpha, C + r * ldc, C + r * ldc, cols);
}

// K == 0 or alpha == 0: C = epilogue(beta * C), never reading C when beta == 0.
void gemm_scale_only(int64_t M, int64_t N, float beta, float* C, int64_t ldc,
                     const Epilogue* ep) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.f) {
      for (int64_t j = 0; j < N; ++j) c[j] = 0.f;
    } else if (beta != 1.f) {
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
    if (ep) {
      if (ep->bias)
        for (int64_t j = 0; j < N; ++j) c[j] += ep->bias[j];
      if (ep->nonfinite && !all_finite(c, N)) __atomic_store_n(ep->nonfinite, 1, __ATOMIC_RELAXED);
      act_forward(ep->act, ep->alpha, c, c, N);
    }
  }
}

using SmallChunk = void (*)(const float*, int64_t, const float*, int64_t, int64_t, int,
                           float*, int64_t, float, float, const Epilogue*);

template <int ROWS, size_t... Vs>
constexpr std::array<SmallChunk, sizeof...(Vs)> small_m_tail_table(std::index_sequence<Vs...>) {
  return {&gemm_small_m_chunk<ROWS, static_cast<int>(Vs) + 1>...};
}

// small_m_tails<ROWS>[nv-1]: the chunk kernel for a last chunk of nv vectors.
template <int ROWS>
constexpr auto small_m_tails =
    small_m_tail_table<ROWS>(std::make_index_sequence<small_m::nvec<ROWS>()>{});

template <int ROWS>
void small_m_rows(const float* a_rows, int64_t N, int64_t K, const float* B, int64_t ldb,
                  bool trans_b, float alpha, float beta, float* C, int64_t ldc,
                  const Epilogue* ep, int nthreads) {
  if (!trans_b) {
    constexpr int NV = small_m::nvec<ROWS>();
    constexpr int64_t W = NV * simd::VL;
    const int64_t full = N / W;  // whole chunks; then one chunk of the remaining columns
    const int64_t rest = N - full * W;
    parallel_for(full + (rest > 0), nthreads, [&](int64_t c) {
      const int64_t j0 = c * W;
      if (c < full) {
        gemm_small_m_chunk<ROWS, NV>(a_rows, K, B, ldb, j0, static_cast<int>(W), C, ldc,
                                     alpha, beta, ep);
      } else {
        const int nv = static_cast<int>((rest + simd::VL - 1) / simd::VL);
        small_m_tails<ROWS>[nv - 1](a_rows, K, B, ldb, j0, static_cast<int>(rest), C, ldc,
                                    alpha, beta, ep);
      }
    });
  } else {
    parallel_for(ceil_div(N, 4), nthreads, [&](int64_t c) {
      const int64_t j0 = c * 4;
      const int cols = static_cast<int>(min_of<int64_t>(4, N - j0));
      float dots[ROWS][4];
      gemm_small_m_dots<ROWS>(a_rows, K, B, ldb, j0, cols, dots);
      for (int r = 0; r < ROWS; ++r) {
        float* crow = C + r * ldc + j0;
        for (int j = 0; j < cols; ++j) {
          float x = alpha * dots[r][j];
          if (beta != 0.f) x += beta * crow[j];
          if (ep) {
            if (ep->bias) x += ep->bias[j0 + j];
            if (ep->act == Act::relu) x = x < 0.f ? 0.f : x;  // NaN propagates
            else if (ep->act == Act::leaky_relu) x = x > 0.f ? x : ep->alpha * x;
          }
          crow[j] = x;
        }
      }
    });
  }
}

void gemm_small_m(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                  float* C, int64_t ldc, const Epilogue* ep) {
  // op(A) rows, contiguous (a few KB at most for MLP widths).
  static thread_local ScratchBuffer a_buf;
  float* a_rows = a_buf.get(static_cast<size_t>(M * K));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k)
      a_rows[i * K + k] = trans_a ? A[k * lda + i] : A[i * lda + k];
  const int nthreads = threads_for(2.0 * M * N * K, kMinFlopsPerThread);
  switch (M) {
    case 1: small_m_rows<1>(a_rows, N, K, B, ldb, trans_b, alpha, beta, C, ldc, ep, nthreads); break;
    case 2: small_m_rows<2>(a_rows, N, K, B, ldb, trans_b, alpha, beta, C, ldc, ep, nthreads); break;
    case 3: small_m_rows<3>(a_rows, N, K, B, ldb, trans_b, alpha, beta, C, ldc, ep, nthreads); break;
    default: small_m_rows<4>(a_rows, N, K, B, ldb, trans_b, alpha, beta, C, ldc, ep, nthreads); break;
  }
  if (post_activation(ep)) apply_post_act(ep, C, ldc, M, N);
}

// An optimizer step applied to W[M, N] (row stride ldw) straight from the GEMM tiles
// (gemm_blocked with a single K block): the gradient never goes to memory.
struct TileUpdate {
  float* W;
  float* s0;
  float* s1;
  int64_t ldw;
  opt_tile::Mode mode;
  opt_tile::Consts k;
};

// One thread's GEMM: the five BLIS loops over its own packed buffers (thread_local).
// With `upd`, C is not written: each A panel's gradient rows step W (see below).
// [j_lo, j_hi) (j_lo a multiple of NR; j_hi < 0: all of N) restricts the output columns
// to whole panels of pre-packed B: the engine splits columns between its own threads.
void gemm_blocked_1t(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                     float* C, int64_t ldc, const Epilogue* ep, const float* Bpre,
                     const TileUpdate* upd, int64_t j_lo = 0, int64_t j_hi = -1) {
  if (j_hi < 0) j_hi = N;
  // Equal blocks no larger than the table's maxima.
  const int64_t n_kb = ceil_div(K, gemm_cfg::KC);
  const int64_t kc_max = ceil_div(K, n_kb);
  const int64_t n_mb = ceil_div(M, gemm_cfg::MC);
  const int64_t mc_max = round_up(ceil_div(M, n_mb), MR);
  const int64_t n_nb = ceil_div(N, gemm_cfg::NC);
  const int64_t nc_max = round_up(ceil_div(N, n_nb), NR);
  // A is packed for several MC blocks at once (up to 8 MiB) before the B panels sweep it.
  constexpr int64_t kPackedAFloats = int64_t(2) << 20;  // 8 MiB
  const int64_t mb_per_super = max_of<int64_t>(1, kPackedAFloats / (mc_max * kc_max));
  const int64_t n_super = ceil_div(n_mb, mb_per_super);
  const int64_t ma_max = min_of(M, mb_per_super * mc_max);

  static thread_local ScratchBuffer a_buf, b_buf;
  float* Bp = Bpre ? nullptr : b_buf.get(static_cast<size_t>(kc_max * nc_max));
  float* Ap = a_buf.get(static_cast<size_t>(kc_max * round_up(ma_max, MR)));
  const bool post_act = post_activation(ep);
  // The gradient rows of one A panel when updating W (MR x nc_max, in L1).
  static thread_local ScratchBuffer gt_buf;
  float* g = upd ? gt_buf.get(static_cast<size_t>(MR * nc_max)) : nullptr;
  for (int64_t jb = 0; jb < n_nb; ++jb) {
    const int64_t jc = jb * nc_max;
    const int64_t nc = min_of(nc_max, N - jc);
    if (jc + nc <= j_lo || jc >= j_hi) continue;
    // This call's panels of the block: [jr0, jr0 + n_jr).
    const int64_t jr0 = j_lo > jc ? (j_lo - jc) / NR : 0;
    const int64_t n_jr = min_of(ceil_div(nc, NR), ceil_div(j_hi - jc, NR)) - jr0;
    for (int64_t kb = 0; kb < n_kb; ++kb) {
      const int64_t pc = kb * kc_max;
      const int64_t kc = min_of(kc_max, K - pc);
      const bool first = kb == 0, last = kb == n_kb - 1;
      for (int64_t sb = 0; sb < n_super; ++sb) {
        const int64_t ia = sb * mb_per_super * mc_max;  // first row of this super-block
        const int64_t ma = min_of(ma_max, M - ia);
        const int64_t n_ia = ceil_div(ma, MR);          // A panels in the super-block
        const int64_t n_ic = ceil_div(ma, mc_max);      // MC blocks in the super-block
        const int64_t ir_per_ic = mc_max / MR;
        // B is packed once per (jc, pc), with the first super-block's A (or was packed
        // ahead of time: see packed_b_offset).
        // Row-major B whose panels are all whole is read in place when few row tiles
        // reuse it (a training step's forward GEMM: batch rows x a hidden width that is a
        // multiple of NR): packing would cost about as much as those few passes.
        const bool direct_b = !Bpre && !trans_b && nc % NR == 0 && M <= gemm_cfg::DIRECT_B_MAX_ROWS;
        const int64_t n_pack_b = (sb == 0 && !Bpre && !direct_b) ? n_jr : 0;
        const float* Bblk = Bpre ? Bpre + packed_b_offset(K, jc, pc, nc)
                            : direct_b ? B + pc * ldb + jc : Bp;
        const int64_t b_panel = direct_b ? NR : NR * kc;  // offset between panels
        const int64_t b_step = direct_b ? ldb : NR;      // offset between k-steps
        const bool direct_a = !trans_a && ((Bpre && gemm_cfg::DIRECT_A_PREPACKED) ||
                                           n_jr <= kDirectAMaxPanels || kc <= kDirectAMaxDepth);
        // Transposed A is packed in groups of panels (see pack_a_panels_trans).
        constexpr int64_t kTransGroup = 8;
        const int64_t n_pack_a = direct_a ? 0 : trans_a ? ceil_div(n_ia, kTransGroup) : n_ia;

        for (int64_t t = 0; t < n_pack_b + n_pack_a; ++t) {
          if (t < n_pack_b) {  // jr0 == 0 here (column parts need Bpre)
            const int cols = static_cast<int>(min_of<int64_t>(NR, nc - t * NR));
            pack_b_panel(trans_b, B, ldb, pc, kc, jc + t * NR, cols, Bp + t * NR * kc);
          } else {
            const int64_t g = t - n_pack_b;
            if (trans_a) {
              const int64_t p = g * kTransGroup;
              const int64_t rows = min_of<int64_t>(kTransGroup * MR, ma - p * MR);
              pack_a_panels_trans(A, lda, ia + p * MR, rows, pc, kc, Ap + p * MR * kc);
            } else {
              const int rows = static_cast<int>(min_of<int64_t>(MR, ma - g * MR));
              pack_a_panel(A, lda, ia + g * MR, rows, pc, kc, Ap + g * MR * kc);
            }
          }
        }

        if (upd) {
          // Updating W (single K block): panel by panel, the panel's gradient rows
          // (MR x nc) go to the L1 buffer, then one pass steps those rows of W and its
          // state, which are contiguous when nc == N (a linear stream: stepping tile by
          // tile walked 2*MR strided streams and measured slower).
          for (int64_t p = 0; p < n_ia; ++p) {
            const int rows = static_cast<int>(min_of<int64_t>(MR, ma - p * MR));
            const float* a = direct_a ? A + (ia + p * MR) * lda + pc : Ap + p * MR * kc;
            const TileStore st{alpha, 0.f, true, nullptr};
            for (int64_t jr = 0; jr < n_jr; ++jr) {
              const int cols = static_cast<int>(min_of<int64_t>(NR, nc - jr * NR));
              ukernels[direct_a][rows - 1][(cols + simd::VL - 1) / simd::VL - 1](
                  kc, a, lda, Bblk + jr * b_panel, b_step, g + jr * NR, nc_max, cols, st);
            }
            const int64_t off = (ia + p * MR) * upd->ldw + jc;
            opt_tile_apply(upd->mode, upd->k, upd->W + off, upd->ldw, g, nc_max,
                           upd->s0 ? upd->s0 + off : nullptr, upd->s1 ? upd->s1 + off : nullptr,
                           rows, static_cast<int>(nc));
          }
          continue;
        }

        // Tiles ordered (MC block, jr, ir): an MC block of A stays in L2 while a thread
        // sweeps its B panels; consecutive tiles of a thread share a B panel.
        for (int64_t ic = 0; ic < n_ic; ++ic)
        for (int64_t jr = jr0; jr < jr0 + n_jr; ++jr)
        for (int64_t ir = 0; ir < ir_per_ic; ++ir) {
          const int64_t p = ic * ir_per_ic + ir;  // A panel in super-block
          if (p >= n_ia) break;                   // past the last row
          const int rows = static_cast<int>(min_of<int64_t>(MR, ma - p * MR));
          const int cols = static_cast<int>(min_of<int64_t>(NR, nc - jr * NR));
          const int nvec = (cols + simd::VL - 1) / simd::VL;
          const int64_t j = jc + jr * NR;
          float* c = C + (ia + p * MR) * ldc + j;
          Epilogue tile_ep;
          const Epilogue* pep = last ? epilogue_from_col(ep, j, &tile_ep) : nullptr;
          const float* a = direct_a ? A + (ia + p * MR) * lda + pc : Ap + p * MR * kc;
          const TileStore st{alpha, beta, first, pep};
          ukernels[direct_a][rows - 1][nvec - 1](kc, a, lda, Bblk + jr * b_panel, b_step, c, ldc,
                                                 cols, st);
          if (last && post_act) apply_post_act(ep, c, ldc, rows, cols);
          if (last && ep && ep->dropout) apply_dropout(*ep->dropout, c, ldc, rows, cols);
        }
      }
    }
  }
}

// Threads split C into row slices (whole MR panels) or column slices (whole NR panels)
// and each runs the one-thread loops on its slice: no barrier at all. Each thread packs
// the operand it shares with the others itself; the slice is taken along the longer of
// M and N so that this repeated packing (B for row slices, A for column slices) is the
// smaller operand, about 1% of the work at the MLP shapes (X^T dY 784x64x128 packs B
// 64x128 twice). The two barriers per K block of a shared packing cost more than that on
// 50-100 us calls. K is never split, and a C element's arithmetic does not depend on the
// slice it falls in, so results are bitwise identical for any thread count.
void gemm_blocked(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                  float* C, int64_t ldc, const Epilogue* ep, const float* Bpre,
                  const TileUpdate* upd = nullptr) {
  const int nthreads = threads_for(2.0 * M * N * K, kMinFlopsPerThread);
  // Pre-packed B is laid out for the full N: slices of it are row slices.
  const bool by_rows = Bpre || M >= N;
  const int64_t unit = by_rows ? MR : NR;
  const int64_t n_units = ceil_div(by_rows ? M : N, unit);
  if (nthreads <= 1 || n_units < 2)
    return gemm_blocked_1t(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep,
                           Bpre, upd);
#pragma omp parallel num_threads(static_cast<int>(min_of<int64_t>(nthreads, n_units)))
  {
#ifdef FASTMLP_HAVE_OPENMP
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
#else
    const int tid = 0, nth = 1;
#endif
    int64_t lo, hi;
    split_range(n_units, tid, nth, &lo, &hi);
    const int64_t i0 = lo * unit, i1 = min_of(hi * unit, by_rows ? M : N);
    if (i1 > i0) {
      // The slice of W (and its state) that a slice of C updates.
      TileUpdate slice_upd;
      const TileUpdate* pu = nullptr;
      if (upd) {
        const int64_t off = by_rows ? i0 * upd->ldw : i0;
        slice_upd = *upd;
        slice_upd.W += off;
        if (slice_upd.s0) slice_upd.s0 += off;
        if (slice_upd.s1) slice_upd.s1 += off;
        pu = &slice_upd;
      }
      if (by_rows) {
        const float* As = trans_a ? A + i0 : A + i0 * lda;
        gemm_blocked_1t(trans_a, trans_b, i1 - i0, N, K, alpha, As, lda, B, ldb, beta,
                        C + i0 * ldc, ldc, ep, Bpre, pu);
      } else {
        const float* Bs = trans_b ? B + i0 * ldb : B + i0;
        Epilogue slice_ep;
        const Epilogue* pep = epilogue_from_col(ep, i0, &slice_ep);
        gemm_blocked_1t(trans_a, trans_b, M, i1 - i0, K, alpha, A, lda, Bs, ldb, beta,
                        C + i0, ldc, pep, nullptr, pu);
      }
    }
  }
}


using NarrowFn = void (*)(int64_t, int64_t, const float*, int64_t, const float*, int64_t, bool,
                         float*, int64_t, float, float, const Epilogue*, int);

template <size_t... Ns>
constexpr std::array<NarrowFn, narrow::NARROW_MAX> narrow_table(std::index_sequence<Ns...>) {
  return {&gemm_narrow_cols<static_cast<int>(Ns) + 1>...};
}

// narrow_kernels[N-1]: one exact-width variant per column count.
constexpr auto narrow_kernels = narrow_table(std::make_index_sequence<narrow::NARROW_MAX>{});

void gemm_narrow(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, bool trans_b, float beta, float* C, int64_t ldc,
                 const Epilogue* ep) {
  const int nthreads = threads_for(2.0 * M * N * K, kMinFlopsPerThread);
  narrow_kernels[N - 1](M, K, A, lda, B, ldb, trans_b, C, ldc, alpha, beta, ep, nthreads);
  if (post_activation(ep)) apply_post_act(ep, C, ldc, M, N);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc, const Epilogue* ep) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f)
    gemm_scale_only(M, N, beta, C, ldc, ep);
  else if (M <= gemm_cfg::SMALL_M)
    gemm_small_m(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
  else if (trans_a && N <= narrow::NARROW_MAX)
    gemm_narrow(M, N, K, alpha, A, lda, B, ldb, trans_b, beta, C, ldc, ep);
  else  // (applies a dropout mask tile by tile)
    return gemm_blocked(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep,
                        nullptr);
  if (ep && ep->dropout) apply_dropout(*ep->dropout, C, ldc, M, N);
}

namespace {

// Batch-1 update of W[M, N] columns [j0, j0 + cols) (NV vectors, the last maybe partial),
// rows [i0, i1): row i's gradient x[i] * dz is formed in registers (dz stays in NV
// registers) and stepped at once, so W and its state are read and written once, with no
// gradient scratch. With FWD the same pass also runs the next example's forward product
// on the new weights, yn = ep(xn @ W_new): one chain per column over the rows in order,
// fmadd(xn[i], W_new[i, j], acc) from zero, then gemm_store_tile, exactly as gemm's
// one-row path (gemm_small_m) does, so the bits equal a separate forward pass. That pass
// then never has to read W again (W is ~400 KB for T1: the dominant traffic at batch 1).
template <opt_tile::Mode MODE, int NV, bool FWD>
void outer_update_cols(int64_t i0, int64_t i1, int64_t N, int64_t j0, int cols,
                       const float* x, const float* dz, float* W, float* s0, float* s1,
                       const opt_tile::Consts& k, bool skip_zero, const float* xn, float* yn,
                       const Epilogue* ep) {
  using namespace simd;
  const int last_lanes = cols - (NV - 1) * VL;
  const Mask tail = mask_first(last_lanes);
  const bool full = last_lanes == VL;
  Vec d[NV];
  Vec acc[1][NV];
  for (int v = 0; v < NV; ++v) {
    d[v] = (v == NV - 1 && !full) ? load_mask(dz + j0 + v * VL, tail) : load(dz + j0 + v * VL);
    acc[0][v] = zero();
  }
  for (int64_t i = i0; i < i1; ++i) {
    float* w = W + i * N + j0;
    float* r0 = s0 ? s0 + i * N + j0 : nullptr;
    float* r1 = s1 ? s1 + i * N + j0 : nullptr;
    const float xi = x[i];
    Vec a;
    if (FWD) a = set1(xn[i]);
    if (skip_zero && xi == 0.f) {  // x[i] == 0 leaves row i as it is
      if (FWD)
        for (int v = 0; v < NV; ++v) {
          const Vec wv = (v == NV - 1 && !full) ? load_mask(w + v * VL, tail) : load(w + v * VL);
          acc[0][v] = fmadd(a, wv, acc[0][v]);
        }
      continue;
    }
    const Vec xv = set1(xi);
    for (int v = 0; v < NV; ++v) {
      const Vec g = mul(xv, d[v]);
      const int o = v * VL;
      const Vec pn = (v == NV - 1 && !full)
          ? opt_tile::step_reg<MODE, false>(w + o, g, r0 ? r0 + o : nullptr, r1 ? r1 + o : nullptr, k, tail)
          : opt_tile::step_reg<MODE, true>(w + o, g, r0 ? r0 + o : nullptr, r1 ? r1 + o : nullptr, k, tail);
      if (FWD) acc[0][v] = fmadd(a, pn, acc[0][v]);
    }
  }
  if (FWD) {
    Epilogue local;
    gemm_store_tile<1, NV>(acc, yn + j0, N, cols, 1.f, 0.f, true,
                           epilogue_from_col(ep, j0, &local));
  }
}

// Vectors per column chunk: dz and the forward accumulators each take this many registers.
constexpr int kOuterVecs = small_m::ACC / 2;

using OuterFn = void (*)(int64_t, int64_t, int64_t, int64_t, int, const float*, const float*,
                         float*, float*, float*, const opt_tile::Consts&, bool, const float*,
                         float*, const Epilogue*);

template <opt_tile::Mode MODE, bool FWD, size_t... Vs>
constexpr std::array<OuterFn, kOuterVecs> outer_row(std::index_sequence<Vs...>) {
  return {&outer_update_cols<MODE, static_cast<int>(Vs) + 1, FWD>...};
}

template <bool FWD>
constexpr std::array<std::array<OuterFn, kOuterVecs>, 4> outer_grid() {
  using S = std::make_index_sequence<kOuterVecs>;
  return {outer_row<opt_tile::sgd_plain, FWD>(S{}), outer_row<opt_tile::sgd_momentum, FWD>(S{}),
          outer_row<opt_tile::sgd_nesterov, FWD>(S{}), outer_row<opt_tile::adam, FWD>(S{})};
}

// outer_kernels[fwd][mode][nvec-1]
constexpr std::array<std::array<std::array<OuterFn, kOuterVecs>, 4>, 2> outer_kernels = {
    outer_grid<false>(), outer_grid<true>()};

}  // namespace

void gemm_update(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float* W, float* s0, float* s1,
                 const OptimizerConfig* opt, const float* xn, float* yn, const Epilogue* ep_next) {
  if (M <= 0 || N <= 0) return;
  const OptimizerConfig o = *opt;
  float bc1, bc2;
  opt_bias_corrections(o, &bc1, &bc2);
  // Batch 1 (K == 1, x^T dz is an outer product): one streaming pass over W and its state
  // (outer_update_cols), optionally fused with the next example's forward product.
  if (K == 1 && trans_a && !trans_b) {
    const bool skip_zero = o.kind == 0 && o.momentum == 0.f && o.weight_decay == 0.f;
    const bool fwd = xn != nullptr;
    const opt_tile::Consts k = opt_consts(o, bc1, bc2);
    const auto& fns = outer_kernels[fwd][opt_mode(o)];
    constexpr int64_t kChunk = kOuterVecs * simd::VL;
    const int64_t n_chunks = ceil_div(N, kChunk);
    // Threads split column chunks, and rows too without the forward product (its sums
    // run over all rows and must stay on one thread: same bits for any thread count).
    constexpr int64_t kRowsPerTask = 64;
    const int64_t n_rb = fwd ? 1 : ceil_div(M, kRowsPerTask);
    const int64_t rows_per = fwd ? M : kRowsPerTask;
    const int nthreads = threads_for(5.0 * M * N, 1 << 19);
    parallel_for(n_chunks * n_rb, nthreads, [&](int64_t t) {
      const int64_t c = t / n_rb, rb = t % n_rb;
      const int64_t j0 = c * kChunk;
      const int cols = static_cast<int>(min_of(kChunk, N - j0));
      const int nv = (cols + simd::VL - 1) / simd::VL;
      const int64_t i0 = rb * rows_per;
      fns[nv - 1](i0, min_of(M, i0 + rows_per), N, j0, cols, A, B, W, s0, s1, k, skip_zero,
                  xn, yn, ep_next);
    });
    if (fwd && post_activation(ep_next)) apply_post_act(ep_next, yn, N, 1, N);
    if (fwd && ep_next && ep_next->dropout) apply_dropout(*ep_next->dropout, yn, N, 1, N);
    return;
  }
  // One K block on the blocked path: each GEMM tile steps its part of W as it is made.
  if (K <= gemm_cfg::KC && M > gemm_cfg::SMALL_M && !(trans_a && N <= narrow::NARROW_MAX)) {
    const TileUpdate u{W, s0, s1, N, opt_mode(o), opt_consts(o, bc1, bc2)};
    gemm_blocked(trans_a, trans_b, M, N, K, 1.f, A, lda, B, ldb, 0.f, W, N, nullptr, nullptr, &u);
    return;
  }
  // Otherwise the gradient goes to scratch, then one vectorized pass steps W.
  static thread_local ScratchBuffer g_buf;
  float* g = g_buf.get(static_cast<size_t>(M * N));
  gemm(trans_a, trans_b, M, N, K, 1.f, A, lda, B, ldb, 0.f, g, N, nullptr);
  opt_tile_update(W, N, g, N, s0, s1, static_cast<int>(M), static_cast<int>(N), o, bc1, bc2);
}

int64_t packed_b_size(int64_t K, int64_t N) {
  if (K <= 0 || N <= 0) return 0;
  const int64_t n_nb = ceil_div(N, gemm_cfg::NC);
  const int64_t nc_max = round_up(ceil_div(N, n_nb), NR);
  return K * (nc_max * (n_nb - 1) + round_up(N - nc_max * (n_nb - 1), NR));
}

void pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* Bp) {
  if (K <= 0 || N <= 0) return;
  const int64_t n_kb = ceil_div(K, gemm_cfg::KC);
  const int64_t kc_max = ceil_div(K, n_kb);
  const int64_t n_nb = ceil_div(N, gemm_cfg::NC);
  const int64_t nc_max = round_up(ceil_div(N, n_nb), NR);
  for (int64_t jc = 0; jc < N; jc += nc_max) {
    const int64_t nc = min_of(nc_max, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = min_of(kc_max, K - pc);
      float* dst = Bp + packed_b_offset(K, jc, pc, nc);
      for (int64_t jr = 0; jr * NR < nc; ++jr) {
        const int cols = static_cast<int>(min_of<int64_t>(NR, nc - jr * NR));
        pack_b_panel(trans_b, B, ldb, pc, kc, jc + jr * NR, cols, dst + jr * NR * kc);
      }
    }
  }
}

void gemm_packed(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* Bp, float* C, int64_t ldc, const Epilogue* ep) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return gemm_scale_only(M, N, 0.f, C, ldc, ep);
  gemm_blocked(trans_a, false, M, N, K, 1.f, A, lda, nullptr, 0, 0.f, C, ldc, ep, Bp);
}

void gemm_packed_cols(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A,
                      int64_t lda, const float* Bp, float* C, int64_t ldc, const Epilogue* ep,
                      int64_t j0, int64_t j1) {
  j1 = min_of(j1, N);
  if (M <= 0 || j1 <= j0) return;
  if (K <= 0) {
    Epilogue part;
    return gemm_scale_only(M, j1 - j0, 0.f, C + j0, ldc, epilogue_from_col(ep, j0, &part));
  }
  gemm_blocked_1t(trans_a, false, M, N, K, 1.f, A, lda, nullptr, 0, 0.f, C, ldc, ep, Bp, nullptr,
                  j0, j1);
}

FASTMLP_TIER_END
