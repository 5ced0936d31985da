// The AMX tile configuration the low-precision GEMMs share (gemm_u8s8.cpp, gemm_bf16.cpp):
// palette 1, eight tiles of up to 16 rows x 64 bytes. C in tmm0-3 (tmm0/1: rows 0-15 times
// panels 0/1; tmm2/3: rows 16-31), A in tmm4/5 (rows 0-15 / 16-31), B in tmm6/7
// (panels 0/1). Tile state is per thread: configure before the first tile instruction of
// a unit of work, release after its last.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/tier.h"

#if defined(__AMX_TILE__)
#include <immintrin.h>

FASTMLP_TIER_BEGIN

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// For a block of `rows` (1..32) rows of A: tmm0/1/4 hold rows 0-15 (fewer when the block
// has fewer), tmm2/3/5 rows 16 on (left at 16 rows, unused, for a block of <= 16), so
// tiles never read rows past the block and the copy of A needs no zero rows.
inline void amx_configure(int64_t rows) {
  TileConfig cfg;
  const auto lo = static_cast<uint8_t>(rows < 16 ? rows : 16);
  const auto hi = static_cast<uint8_t>(rows > 16 ? rows - 16 : 16);
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  cfg.rows[0] = cfg.rows[1] = cfg.rows[4] = lo;
  cfg.rows[2] = cfg.rows[3] = cfg.rows[5] = hi;
  _tile_loadconfig(&cfg);
}

// A tile multiply-add for each C tile of the 2 x 2 pass: c0 = tmm0 += tmm4 . tmm6, and so
// on (the intrinsics take literal tile numbers: GCC writes them into the instruction's
// text, so they cannot be template parameters).
#define FASTMLP_AMX_DOT(Name, dot)               \
  struct Name {                                  \
    static void c0() { dot(0, 4, 6); }           \
    static void c1() { dot(1, 4, 7); }           \
    static void c2() { dot(2, 5, 6); }           \
    static void c3() { dot(3, 5, 7); }           \
  }

// One pass over K tiles [t0, t1) of the 2 x 2 C tiles: C (+)= A[32 rows] @ B[2 panels], A
// with row stride lda bytes and 64 bytes per K tile, each panel 1 KiB per K tile (16 rows
// of 64 bytes); C starts at zero, or with accumulate at what c holds (a previous pass
// over earlier K tiles: float32 and int32 sums reload exactly), and ends stored to c
// (32 x 32 values of 4 bytes; rows past the block unwritten). Dot (FASTMLP_AMX_DOT) is
// the tile multiply-add (tdpbusd, tdpbf16ps). rows16: a block of <= 16 rows (tmm2/3 are
// left as they start, unused). Tiles as amx_configure(rows) set them.
template <class Dot>
inline void amx_pass_2x2(const uint8_t* a, int64_t lda, const uint8_t* b0, const uint8_t* b1,
                         int64_t t0, int64_t t1, bool rows16, bool accumulate, void* c) {
  auto* out = static_cast<uint8_t*>(c);
  constexpr int64_t ldc = 32 * 4;
  if (accumulate) {
    _tile_loadd(0, out, ldc);
    _tile_loadd(1, out + 64, ldc);
    _tile_loadd(2, out + 16 * ldc, ldc);
    _tile_loadd(3, out + 16 * ldc + 64, ldc);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int64_t t = t0; t < t1; ++t) {
    _tile_loadd(4, a + t * 64, lda);
    _tile_loadd(6, b0 + t * 1024, 64);
    _tile_loadd(7, b1 + t * 1024, 64);
    Dot::c0();
    Dot::c1();
    if (rows16) continue;
    _tile_loadd(5, a + 16 * lda + t * 64, lda);
    Dot::c2();
    Dot::c3();
  }
  _tile_stored(0, out, ldc);
  _tile_stored(1, out + 64, ldc);
  _tile_stored(2, out + 16 * ldc, ldc);
  _tile_stored(3, out + 16 * ldc + 64, ldc);
}

// A block of A (rows 1..32, zero padded to ktiles K tiles, row stride lda bytes) times
// panels [p0, p1) of B (pb bytes per panel): up to kPairs panel pairs at a time, K in runs
// of kRunTiles tiles, so a run of A stays in L1 for all the pairs (their sums wait in
// memory between runs, reloaded exactly). Then store(p, c) for each pair's first panel p
// with its 32 x 32 sums c (rows past the block unset; a lone last panel: columns 16-31
// unused). Configures the tiles for the block and releases them after, here in the
// function that runs the tile instructions: configured by the caller, the first of them
// faulted as unconfigured (SIGILL) once GCC kept this function out of line.
template <class Dot, int64_t kRunTiles, int64_t kPairs, class Acc, class Store>
inline void amx_block_runs(const uint8_t* a, int64_t lda, int64_t rows, int64_t ktiles,
                           const uint8_t* Bp, int64_t pb, int64_t p0, int64_t p1,
                           Store&& store) {
  alignas(64) Acc c[kPairs][32][32];
  const bool rows16 = rows <= 16;
  amx_configure(rows);
  for (int64_t pg = p0; pg < p1; pg += 2 * kPairs) {
    const int64_t pg1 = std::min(p1, pg + 2 * kPairs);
    for (int64_t t0 = 0; t0 < ktiles; t0 += kRunTiles) {
      const int64_t t1 = std::min(ktiles, t0 + kRunTiles);
      for (int64_t p = pg; p < pg1; p += 2) {
        const uint8_t* b0 = Bp + p * pb;
        const uint8_t* b1 = p + 1 < p1 ? b0 + pb : b0;  // one panel: tmm1/3 repeat it
        amx_pass_2x2<Dot>(a, lda, b0, b1, t0, t1, rows16, t0 > 0, c[(p - pg) / 2]);
      }
    }
    for (int64_t p = pg; p < pg1; p += 2) store(p, c[(p - pg) / 2]);
  }
  _tile_release();
}

FASTMLP_TIER_END
#endif
