// GEMM blocksizes, one row per tier (BLIS keeps them in one table per ISA).
//   MR x NR  register tile of the micro-kernel (NR = NV vectors of VL lanes)
//   KC       max depth of a K block: packed A micro-panel MR*KC and B micro-panel KC*NR
//            are streamed from L2 (Zen 4's 1 MiB L2 feeds 24 FMAs per 14 loads easily)
//   MC       max rows of a packed A block (MC*KC floats stay in L2)
//   NC       max columns of a packed B block (KC*NC floats stay in L3)
//   DIRECT_B_MAX_ROWS  row-major B is read in place (not packed) when M is at most this:
//            about a dozen row tiles re-read each B panel (measured: AVX2 at M = 128
//            with N = 512 ran 16% slower unpacked, at M = 64 with N = 256 7% faster)
// K and M are split into equal blocks no larger than KC / MC so no block is tiny.
#pragma once
#include "kernels/simd.h"

FASTMLP_TIER_BEGIN
namespace gemm_cfg {

// DIRECT_A_PREPACKED: with pre-packed B (inference) read row-major A in place, never
// pack it. AVX-512 (Zen 4): the scalar A pack took 14% of I1 at batch 1024 and in-place
// A measured 1.05-1.14x faster on I1 and I2; AVX2: 1.04x on I1, equal on I2 (it was 1.8x
// slower while the in-place 6x16 kernel spilled accumulators: see TileStore).
#if defined(FASTMLP_TIER_AVX512)
// KC = 800: an MNIST-sized input (K = 784) is one K block, so C is written once (1.2-1.4%
// faster I1 / I2 than two blocks of 392); MC * KC floats (750 KB) still fit Zen 4's L2.
constexpr int MR = 12, NV = 2;   // 12 x 32 tile: 24 zmm accumulators
constexpr int64_t KC = 800, MC = 240, NC = 4096;
constexpr int64_t DIRECT_B_MAX_ROWS = 160;
constexpr bool DIRECT_A_PREPACKED = true;
#elif defined(FASTMLP_TIER_AVX2)
constexpr int MR = 6, NV = 2;    // 6 x 16 tile: 12 ymm accumulators
constexpr int64_t KC = 384, MC = 120, NC = 4096;
constexpr int64_t DIRECT_B_MAX_ROWS = 80;
constexpr bool DIRECT_A_PREPACKED = true;
#else
constexpr int MR = 4, NV = 4;    // 4 x 16 tile of 4-lane vectors
constexpr int64_t KC = 256, MC = 128, NC = 2048;
constexpr int64_t DIRECT_B_MAX_ROWS = 160;
constexpr bool DIRECT_A_PREPACKED = false;
#endif
// K_UNROLL: k-steps per iteration of the micro-kernel's loop. AVX-512 (32 registers,
// 24 accumulators): 4, since the loop's counter, compare and a spilled row pointer cost
// about 4% of the 12 x 32 tile's FMA rate when paid every step (110.6 -> 114.9 GFLOP/s
// with A and B in L1). AVX2 and the 4-lane tiers: 1, since with 16 registers the
// unrolled loop hoisted loads of later steps and spilled accumulators (AVX2 128x512x512
// fell from 0.92x to 0.71x NumPy).
#if defined(FASTMLP_TIER_AVX512)
constexpr int K_UNROLL = 4;
#else
constexpr int K_UNROLL = 1;
#endif
constexpr int NR = NV * simd::VL;
constexpr int SMALL_M = 4;       // M <= SMALL_M streams B once, without packing

}  // namespace gemm_cfg

// int8 GEMM (gemm_u8s8.cpp): MR rows of A share each B panel load; A is walked in blocks
// of MC rows (MC * K bytes stay in L2 while every B panel passes over them).
//   AVX2 / AVX-512: 4 x 16 int32 accumulators (8 ymm, leaving room for the panel, the
//     broadcast and the products; MR = 3 measured slower on Zen 3).
//   AVX-VNNI: 4 x 16 as AVX2 (about 1.5 vpdpbusd per cycle on Sapphire Rapids); fewer
//     rows than MIN_CHAINS split K over independent sums, as VNNI's.
//   VNNI: 8 x 32 (TILE_PANELS = 2 panels: one zmm per row and panel, each broadcast of A
//     used twice; vpdpbusd's 5-cycle latency wants several chains, so tiles of fewer
//     than MIN_CHAINS rows split K over independent sums).
//   AMX_MIN_ROWS: the amx tier multiplies in 16 x 64-byte tiles from this many rows on
//     (fewer rows would leave most of each tile empty; they take the VNNI kernel).
//   AMX_ROWS x AMX_COLS: the C tiles one pass over K keeps (2 x 2 tiles of 16 x 16).
namespace int8_cfg {
#if defined(__AVX512VNNI__)
constexpr int MR = 8;
constexpr int MIN_CHAINS = 4;
constexpr int TILE_PANELS = 2;  // each broadcast of A feeds two panels' vpdpbusd
#else
constexpr int MR = 4;  // (AVX-VNNI: 5 and 6 rows no faster on Sapphire Rapids, GCC spills)
#if defined(__AVXVNNI__)
constexpr int MIN_CHAINS = 4;  // (a ymm vpdpbusd waits on the previous one's sums)
#else
constexpr int MIN_CHAINS = 1;
#endif
constexpr int TILE_PANELS = 1;
#endif
constexpr int64_t MC = 64;
constexpr int64_t AMX_MIN_ROWS = 16;
constexpr int64_t AMX_ROWS = 32, AMX_COLS = 32;
// AMX_K_TILES, AMX_PAIRS: the amx pass runs K AMX_K_TILES tiles at a time over AMX_PAIRS
// panel pairs, their sums reloaded between runs (exact), so the run's A (16 KiB) stays in
// L1 for all the pairs; one pass over all of K read the block's A from L2 for every pair
// (Sapphire Rapids, int8 predict: 1.08-1.17x at 784-128-10 and 1.11x at 784-512-512-10,
// batch 1024). bf16 keeps one pass: runs cost its mixed_bfloat16 epoch 4-8%.
constexpr int64_t AMX_K_TILES = 8, AMX_PAIRS = 4;
}  // namespace int8_cfg

// bf16 GEMM (gemm_bf16.cpp), on tiers with vdpbf16ps:
//   MR x 32 tiles (two panels share each broadcast of A) with CHAINS sums per row and
//   panel (pairs of k dealt round-robin, added at the end: the same order for every tile
//   height, so rows never change each other's bits; vdpbf16ps's latency wants several
//   chains even at one row): 6 x 2 x 2 zmm.
//   MC: rows of bf16 A per block (MC * K * 2 bytes stay in L2).
//   SLICE_ROWS: rows of B per slice of pack_bf16_sliced (whole pairs of k; 32 rows of a
//   256-wide layer are 32 KiB, in L1 when packed right after their update).
//   SLICE_MIN_PER_THREAD: elements of B per thread worth splitting pack_bf16_sliced.
//   The amx tier multiplies every M in 2 x 2 AMX tiles (AMX_ROWS x AMX_COLS, as int8's):
//   a row's bits must not depend on the batch, so there is no small-M switch.
namespace bf16_cfg {
constexpr int MR = 6;
constexpr int CHAINS = 2;
constexpr int64_t MC = 96;
constexpr int64_t AMX_ROWS = 32, AMX_COLS = 32;
constexpr int64_t SLICE_ROWS = 32;
constexpr double SLICE_MIN_PER_THREAD = 32768;
}  // namespace bf16_cfg
FASTMLP_TIER_END
