// Inference: predict (row tiles over threads, or one tile split by columns), evaluate,
// and the checks that give rows of non-finite input all-NaN outputs.
#include "engine/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "cpu/dispatch.h"
#include "engine/losses.h"
#include "engine/metrics.h"
#include "engine/network_internal.h"

namespace fastmlp {
namespace engine {

namespace {

using detail::max_threads;
using detail::thread_id;

constexpr int64_t kTileRows = Network::kTileRows;
// Multi-threaded predict splits a batch into about kTilesPerThread tiles per thread of
// at least kMinStealRows rows (see balanced_tile_rows).
// (2: on a quiet machine 4 tiles per thread, of 128 rows at batch 1024, measured 2-3%
// slower on I1 / I2 at 2 threads than 256-row tiles: each packed weight panel then
// serves half as many register tiles.)
constexpr int64_t kTilesPerThread = 2;
constexpr int64_t kMinStealRows = 96;

}  // namespace

void Network::infer_layer(const KernelTable& k, int l, int64_t rows, const float* cur,
                          float* y, const Packed* pk, int part, int parts,
                          int* input_nonfinite, const Layer* as, bool folded) const {
  const AlignedBuf* packed = pk && l < static_cast<int>(pk->w.size()) ? &pk->w[l] : nullptr;
  const Layer& L = as ? *as : *layers_[l];
  const PassContext c = folded ? PassContext{k, pk->folded} : pass_context(k);
  L.infer(c, packed && packed->size() ? packed->data() : nullptr, cur, y, rows, part, parts,
          l == 0 ? input_nonfinite : nullptr);
}

namespace {

// Rows per tile for an N-row predict on `threads` threads: at most kTileRows, and tiles
// of about equal size in a multiple of `threads` (a whole multiple of 12 rows, which the
// register tiles of every tier divide, once tiles are large), so no thread idles while
// another works through a last full tile: 300 rows on 2 threads measured 1.12x over 1
// thread as 256 + 44.
// With room (kMinStealRows rows each) there are kTilesPerThread tiles per thread, taken
// dynamically: on a shared machine a descheduled thread then holds up one small tile,
// not half the batch. Rows are independent, so the tiling never changes a bit.
int64_t balanced_tile_rows(int64_t N, int threads) {
  int64_t ntiles = (N + kTileRows - 1) / kTileRows;
  if (threads <= 1) return std::min(N, kTileRows);
  ntiles = std::max(ntiles, std::min<int64_t>(kTilesPerThread * threads, N / kMinStealRows));
  ntiles = (ntiles + threads - 1) / threads * threads;  // at least one tile per thread
  int64_t rows = (N + ntiles - 1) / ntiles;
  if (rows >= kMinStealRows) rows = (rows + 11) / 12 * 12;  // whole register tiles
  return std::min(rows, kTileRows);
}

// Number of threads for `ntiles` independent tiles.
int tile_threads(int64_t ntiles) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), ntiles)));
}

// Rows of x[rows, cols] holding NaN or inf get an all-NaN output row (a ReLU would
// otherwise turn -inf into 0 and hide it). Called after the forward pass when layer 0's
// GEMM flagged a non-finite pre-activation (Epilogue::nonfinite), or when k.all_finite(x)
// is false where that flag is not available (see Network::finish_input_check).
void nan_rows_for_nonfinite(const KernelTable& k, const float* x, int64_t rows, int64_t cols,
                            float* out, int64_t out_cols) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t r = 0; r < rows; ++r)
    if (!k.all_finite(x + r * cols, cols))
      for (int64_t j = 0; j < out_cols; ++j) out[r * out_cols + j] = nan;
}

}  // namespace

Network::InputCheck Network::start_input_check(bool is_u8, int64_t rows) const {
  InputCheck c;
  c.needed = may_be_nonfinite(is_u8);
  // Layer 0's GEMM flags a possibly non-finite row when it can: a separate pass over the
  // input took 2.8% of I1 at batch 1024.
  c.in_gemm = c.needed && layers_[0]->flags_nonfinite(rows);
  return c;
}

void Network::finish_input_check(const KernelTable& k, const InputCheck& c, const float* in,
                                 int64_t rows, float* out) const {
  if (!c.needed) return;
  const bool suspect = c.in_gemm ? c.flag != 0 : !k.all_finite(in, rows * input_dim_);
  if (suspect) nan_rows_for_nonfinite(k, in, rows, input_dim_, out, output_dim_);
}

void Network::predict_split(const KernelTable& k, const InputView& x, float* out,
                            const Packed* pk, int nt, bool convert) {
  const int64_t rows = x.rows;
  std::unique_ptr<Workspace> ws = acquire_ws(rows);
  const int nl = static_cast<int>(layers_.size());
  const float* in = convert ? ws->input.data() : static_cast<const float*>(x.data);
  InputCheck check = start_input_check(x.is_u8, rows);
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp parallel num_threads(nt)
#endif
  {
    const int tid = thread_id();
#ifdef FASTMLP_HAVE_OPENMP
    const int nth = omp_get_num_threads();
#else
    const int nth = 1;
#endif
    if (convert) {
      const int64_t r0 = rows * tid / nth, r1 = rows * (tid + 1) / nth;
      k.gather_rows(x.data, x.is_u8, x.ld, nullptr, r0, r1 - r0, input_dim_, in_scale_,
                    in_offset_, ws->input.data() + r0 * input_dim_);
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp barrier
#endif
    }
    const float* cur = in;
    bool prev_split = false;
    for (const InferStep& s : infer_steps_) {
      if (s.identity && s.last != nl - 1) continue;  // (as in forward)
      const Layer& L = step_layer(s, nl - 1, false);
      // Every thread takes the same barrier decisions (they depend on shared data only).
      const int w = L.split_workers(k, rows, nth);
      if (s.layer > 0 && (w > 1 || prev_split)) {
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp barrier
#endif
      }
      float* y = s.last == nl - 1 ? out : ws->acts[s.last].data();
      if (tid < w)
        infer_layer(k, s.layer, rows, cur, y, pk, tid, w, check.gemm_flag(), &L, s.fold >= 0);
      cur = y;
      prev_split = w > 1;
    }
  }
  finish_input_check(k, check, in, rows, out);
  release_ws(std::move(ws));
}

// Rows per thread from which predict gives each thread its own row tiles rather than
// splitting layers by columns. Measured on 2 threads (Zen 4), row tiles won from 8 rows
// per thread: I1 (784-128-10) at batch 64 by 9%, at 128 by 14%; I2 (784-512-512-10,
// 2.6 MB of weights) at batch 64 by 9%; columns won below that (I2 at batch 6 by 35%).
// Each row-tile thread streams all the weights, so the bar rises with their size (one
// row per 32 KB, 8 to 32 rows): the column split shares that traffic on many cores.
int64_t Network::min_rows_per_tile_thread(int64_t fma_per_row) {
  const int64_t bytes = fma_per_row * 4;  // one float weight per multiply-add
  return std::min<int64_t>(32, std::max<int64_t>(8, bytes / 32768));
}

int64_t Network::fma_per_row() const {
  int64_t n = 0;
  for (const auto& L : layers_) n += L->fma_per_row();
  return n;
}

void Network::predict(const InputView& x, float* out) {
  const KernelTable& k = kernels();
  const int64_t N = x.rows;
  if (N <= 0) return;
  const bool convert = !reads_in_place(x);
  // A few rows stream the live weights (small_rows_dense) and need no Dense packs.
  std::shared_ptr<const Packed> pk = packed_for(k, N > kGemvRows);
  // A few rows per thread: the threads split each layer's output columns instead (the
  // weights' memory traffic is split too, which matters most at batch 1). Only when some
  // layer is worth it: one team for the whole pass, barriers between layers, none around
  // layers that thread 0 does alone. With more rows each thread runs whole row tiles:
  // no barrier between layers, but every thread reads all the weights.
  const int avail = max_threads();
  const int64_t row_fma = fma_per_row();
  if (avail > 1 && N <= kTileRows && N < min_rows_per_tile_thread(row_fma) * avail) {
    int nt = 1;
    const int last = static_cast<int>(layers_.size()) - 1;
    for (const InferStep& s : infer_steps_)
      if (!s.identity) nt = std::max(nt, step_layer(s, last, false).split_workers(k, N, avail));
    if (nt > 1) return predict_split(k, x, out, pk.get(), nt, convert);
  }
  // Row tiles on as many threads as the pass has work for (kSplitMinFma multiply-adds
  // each, as a split layer needs): a 20-32-3 model at batch 64 ran 5% slower on 2.
  const int64_t fma = N * row_fma;
  const int use = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(avail, static_cast<int64_t>(fma / kSplitMinFma))));
  const int64_t tile_rows = balanced_tile_rows(N, use);
  const int64_t ntiles = (N + tile_rows - 1) / tile_rows;
  const int nt = std::min(use, tile_threads(ntiles));
  // Workspaces sized as before balancing (a full tile once N exceeds one): their size
  // stays the same whatever the row count, and the pool reuses them.
  const int64_t ws_rows = std::min(N, kTileRows);
  auto run_tile = [&](int64_t t, Workspace& ws) {
    const int64_t r0 = t * tile_rows;
    const int64_t rows = std::min(tile_rows, N - r0);
    const float* in;
    if (convert) {
      k.gather_rows(x.data, x.is_u8, x.ld, nullptr, r0, rows, input_dim_, in_scale_,
                    in_offset_, ws.input.data());
      in = ws.input.data();
    } else {
      in = static_cast<const float*>(x.data) + r0 * x.ld;
    }
    InputCheck check = start_input_check(x.is_u8, rows);
    forward(k, ws, in, rows, false, out + r0 * output_dim_, true, pk.get(), 0,
            check.gemm_flag());
    finish_input_check(k, check, in, rows, out + r0 * output_dim_);
  };
  if (nt <= 1) {
    std::unique_ptr<Workspace> ws = acquire_ws(ws_rows);
    for (int64_t t = 0; t < ntiles; ++t) run_tile(t, *ws);
    release_ws(std::move(ws));
    return;
  }
  std::vector<std::unique_ptr<Workspace>> wss;
  for (int t = 0; t < nt; ++t) wss.push_back(acquire_ws(ws_rows));
  {
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(nt)
#endif
    for (int64_t t = 0; t < ntiles; ++t) run_tile(t, *wss[thread_id()]);
  }
  for (auto& w : wss) release_ws(std::move(w));
}

int64_t Network::evaluate(const InputView& x, const TargetView& y, double* loss_sum,
                          double* metric_sums, double* weight_sum) {
  const KernelTable& k = kernels();
  const int64_t N = x.rows;
  const int nm = num_metrics();
  *loss_sum = 0.0;
  *weight_sum = 0.0;
  std::fill(metric_sums, metric_sums + nm, 0.0);
  if (N <= 0) return -1;
  const bool fused = fused_top();
  std::shared_ptr<const Packed> pk = packed_for(k, N > kGemvRows);
  const int64_t ntiles = (N + kTileRows - 1) / kTileRows;
  const int nt = tile_threads(ntiles);
  const int64_t tile_rows = std::min(N, kTileRows);
  std::vector<std::unique_ptr<Workspace>> wss;
  for (int t = 0; t < nt; ++t) wss.push_back(acquire_ws(tile_rows));
  std::vector<double> sums(static_cast<size_t>(ntiles), 0.0);
  // Per tile (summed in tile order after: the result does not depend on the threads).
  std::vector<double> msums(static_cast<size_t>(ntiles * nm), 0.0);
  std::vector<double> wsums(static_cast<size_t>(ntiles), 0.0);
  std::vector<int64_t> bad(static_cast<size_t>(ntiles), -1);
  auto run_tile = [&](int64_t t, Workspace& ws) {
    const int64_t r0 = t * kTileRows;
    const int64_t rows = std::min(kTileRows, N - r0);
    k.gather_rows(x.data, x.is_u8, x.ld, nullptr, r0, rows, input_dim_, in_scale_,
                  in_offset_, ws.input.data());
    if (may_be_nonfinite(x.is_u8)) {
      const int64_t b = detail::first_nonfinite_row(k, ws.input.data(), rows, input_dim_);
      if (b >= 0) {
        bad[t] = r0 + b;
        return;
      }
    }
    gather_targets(ws, y, nullptr, r0, rows);
    const float* top = forward(k, ws, ws.input.data(), rows, fused, nullptr, true, pk.get());
    sums[t] = loss_rows(top, ws, rows, nullptr);
    wsums[t] = metric_rows(top, ws, rows, msums.data() + t * nm);
  };
  if (nt <= 1) {
    for (int64_t t = 0; t < ntiles; ++t) run_tile(t, *wss[0]);
  } else {
#ifdef FASTMLP_HAVE_OPENMP
#pragma omp parallel for schedule(static) num_threads(nt)
#endif
    for (int64_t t = 0; t < ntiles; ++t) run_tile(t, *wss[thread_id()]);
  }
  for (auto& w : wss) release_ws(std::move(w));
  for (int64_t t = 0; t < ntiles; ++t) {
    if (bad[t] >= 0) return bad[t];
    *loss_sum += sums[t];
    *weight_sum += wsums[t];
    for (int m = 0; m < nm; ++m) metric_sums[m] += msums[t * nm + m];
  }
  // Keras' loss counts the penalties once per mean: each row carries them here (with
  // weights too: sum(w l) / N + penalties).
  if (const double pen = penalty(); pen != 0.0) *loss_sum += pen * static_cast<double>(N);
  return -1;
}

int64_t Network::first_nonfinite_row(const InputView& x) const {
  const KernelTable& k = kernels();
  if (!may_be_nonfinite(x.is_u8)) return -1;
  if (!x.is_u8 && !rescales()) {
    return detail::first_nonfinite_row(k, static_cast<const float*>(x.data), x.rows, x.cols, x.ld);
  }
  // What the first layer sees, x * scale + offset, as training gathers it: a finite x
  // can still overflow. Checked a block of rows at a time.
  constexpr int64_t kBlock = 64;
  std::vector<float> buf(static_cast<size_t>(kBlock * x.cols));
  for (int64_t r0 = 0; r0 < x.rows; r0 += kBlock) {
    const int64_t n = std::min(kBlock, x.rows - r0);
    k.gather_rows(x.data, x.is_u8, x.ld, nullptr, r0, n, x.cols, in_scale_, in_offset_,
                  buf.data());
    const int64_t r = detail::first_nonfinite_row(k, buf.data(), n, x.cols);
    if (r >= 0) return r0 + r;
  }
  return -1;
}

}  // namespace engine
}  // namespace fastmlp
