// The kernel contract: every ISA tier fills one KernelTable with these entry points.
//
// Conventions shared by all kernels (the contract callers rely on):
//   * float32, row-major; `ld*` are row strides in elements (>= the row length).
//   * Sizes are int64_t and may be 0 (then nothing is read or written).
//   * Outputs are written, never read, unless the entry says so (gemm with beta != 0).
//     With beta == 0 C is never read: it may hold NaN.
//   * Outputs must not alias inputs unless the entry says so.
//   * Kernels may start OpenMP threads, never split a reduction over K (or over rows
//     for column sums) across threads: results are bitwise identical for any thread
//     count on the same tier.
//   * Tier code lives in namespace fastmlp::<tier>; this header holds only plain data.
#pragma once
#include <cstdint>

namespace fastmlp {

// Activation codes: appended, never renumbered (saved models and the Python layer store
// them). `alpha` is the one parameter: leaky_relu's negative slope, elu's alpha; ignored
// by the others (selu uses its fixed constants).
//   gelu        x * Phi(x), Phi the standard normal CDF (the erf form, Keras' default)
//   gelu_tanh   x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2 (approximate=True)
//   silu        x * sigmoid(x) (= swish)
//   elu         x > 0 ? x : alpha * (exp(x) - 1)
//   selu        scale * (x > 0 ? x : a * (exp(x) - 1)), a = 1.67326324, scale = 1.05070098
//   softplus    log(1 + exp(x))
//   hard_sigmoid relu6(x + 3) / 6 (Keras 3)
//   mish        x * tanh(softplus(x))
// Limits at +-inf are the mathematical ones (gelu(-inf) = 0, elu(-inf) = -alpha, ...);
// NaN gives NaN, derivatives included. Accuracy: within 4 ulp of the exact value for
// every float input on every tier (tests/test_activations_new.py checks a dense grid;
// exhaustive sweeps measured at most 3.6 ulp), derivatives included, except that a
// derivative next to one of its zeros (gelu' at x ~ -0.75, silu' at -1.28, mish' at
// -1.19) is within 4 ulp of its largest term, not of its (tiny) value.
enum class Act : int32_t {
  linear = 0, relu = 1, leaky_relu = 2, sigmoid = 3, tanh = 4,
  gelu = 5, gelu_tanh = 6, silu = 7, elu = 8, selu = 9, softplus = 10, hard_sigmoid = 11,
  mish = 12,
};

// Number of activation codes, and their names in code order (exported to Python as
// _core.ACTIVATIONS: the one list).
constexpr int32_t kActCount = 13;
constexpr const char* kActNames[kActCount] = {
    "linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh",
    "silu", "elu", "selu", "softplus", "hard_sigmoid", "mish"};

// True when act' cannot be computed from the forward output y alone (act is not
// monotone: one y, two x), so that a backward pass needs the pre-activation x and
// KernelTable::act_backward_x. act_backward supports exactly the others.
constexpr bool act_backward_needs_x(Act act) {
  return act == Act::gelu || act == Act::gelu_tanh || act == Act::silu || act == Act::mish;
}

// Inverted dropout of a GEMM's output (a Dense fused with the Dropout after it, training
// forward; Epilogue::dropout): the element at offset i from `origin` (the output's first
// element; rows back to back) is kept when its 16-bit draw, the low (i even) or high
// (i odd) half of counter_hash::draw(key, i / 2), is >= drop_below, and is then scaled
// by `scale`; else it is 0. The Dropout layer's own mask, bit for bit.
struct DropoutMask {
  uint32_t key = 0;
  uint32_t drop_below = 0;
  float scale = 1.f;
  const float* origin = nullptr;
};

// Applied to each output element before the store, after alpha/beta:
//   y = act(acc + bias[j]); `bias` may be null. Every Act is supported (the cheap ones in
//   the tile store, the transcendental ones by act_forward on the stored tile).
struct Epilogue {
  const float* bias = nullptr;
  Act act = Act::linear;
  float alpha = 0.01f;  // the activation's alpha (leaky_relu slope, elu alpha)
  // When non-null, set to 1 (never cleared) if any value before the activation,
  // acc + bias, is NaN or +-inf. Honoured only by gemm_packed and gemm_packed_cols (and
  // gemm_bf16, which flags its input rows instead), so that inference learns of a
  // non-finite input row without a separate pass over it: such a row makes every
  // pre-activation of its output row non-finite.
  int* nonfinite = nullptr;
  // When non-null, the mask applied after the activation (honoured by gemm only; its
  // tiles apply it while still in L1).
  const DropoutMask* dropout = nullptr;
};

// `ep` for the output columns from `j` on (its bias advanced by j), kept in `*local`;
// nullptr stays nullptr. Every tile, slice or column part of a GEMM applies it this way.
inline const Epilogue* epilogue_from_col(const Epilogue* ep, int64_t j, Epilogue* local) {
  if (!ep) return nullptr;
  *local = *ep;
  if (local->bias) local->bias += j;
  return local;
}

// Optimizer state (velocity, Adam moments) smaller than this in magnitude is stored as 0
// by every optimizer kernel. A weight whose input is 0 for a while (an image's border
// pixel) sees its velocity or first moment decay geometrically towards 0; below FLT_MIN
// the state itself is subnormal, and well before that lr * state is: each such product
// costs a microcode assist on x86 (about a hundred cycles), 5% of an E1 epoch on
// Fashion-MNIST. State under 2^-100 moves its weight by less than lr * 2^-100 / epsilon
// (1e-26 with Adam's defaults), far below a float ulp of any weight that matters.
// (TensorFlow avoids the assists by running its threads with flush-to-zero.)
constexpr float kOptStateFlush = 7.88860905e-31f;  // 2^-100

// ---- int8 (csrc/kernels/gemm_u8s8.cpp, quantize_rows.cpp) ----
// Register tile of the int8 GEMM, the same on every tier (so one packed layout serves
// them all): panels of kInt8NR output columns, K in groups of kInt8KGroup bytes.
constexpr int64_t kInt8NR = 16;
constexpr int64_t kInt8KGroup = 4;
// Groups per packed K tile: each panel's K is padded (with zeros) to a multiple of
// kInt8KTile groups, so an AMX B tile (16 rows of 64 bytes) is 1 KiB of one panel.
constexpr int64_t kInt8KTile = 16;
// Largest K gemm_u8s8 accepts: K * 255 * 128 (the largest |sum|) stays below 2^31.
constexpr int64_t kInt8MaxK = 65536;

// What gemm_u8s8 writes. With acc[i][j] = sum_k A[i,k] * B[k,j] (exact) and
// d[i][j] = acc[i][j] - zero_i * colsum_j(B), zero_i = a_zero ? a_zero[i] : 0:
//   c32 != null: c32[i * ldc + j] = d[i][j] (exact).
//   else c[i * ldc + j] = act(float(d) * s + bias[j]) with s = a_scale[i] * b_scale[j]:
//   the product s, the multiply and the add each rounded once (no FMA), then the
//   activation of `ep` (ep.bias may be null; ep.dropout and ep.nonfinite are ignored).
//   The same bits on every tier for linear, relu and leaky_relu; the other activations
//   are the tier's act_forward (within its 4 ulp).
//   q != null (requantized output, instead of c): q[i * ldc + j] = clamp(rint(v *
//   out_inv_scale) + out_zero, 0, 255) for that float value v (rint: half to even; NaN
//   gives 0), the uint8 codes of the next int8 layer's input.
// a_full_range false promises that every byte of A is <= 127 (7-bit activations, as
// quantize_rows makes with qmax = 127): the AVX2 code then takes one vpmaddubsw per four
// products, exact since 2 * 127 * 128 fits int16; with true it takes two (A's low 7 bits
// and its top bit). VNNI and AMX sum u8 x s8 products in int32 directly, exact either
// way. Results never depend on it when the promise holds.
// ---- bf16 (csrc/kernels/gemm_bf16.cpp) ----
// Packed B of the bf16 GEMM: panels of kBf16NR columns, K in pairs (kBf16KGroup), each
// panel's K padded with zeros to whole tiles of kBf16KTile pairs (an AMX B tile: 16 rows
// of 64 bytes).
constexpr int64_t kBf16NR = 16;
constexpr int64_t kBf16KGroup = 2;
constexpr int64_t kBf16KTile = 16;

// Called by pack_bf16_sliced on rows [k0, k1) of B just before they are packed.
using Bf16SliceFn = void (*)(void* ctx, int64_t k0, int64_t k1);

struct Int8Output {
  int32_t* c32 = nullptr;
  float* c = nullptr;
  int64_t ldc = 0;
  const int32_t* a_zero = nullptr;   // per row of A, or null
  const float* a_scale = nullptr;    // per row of A (float output)
  const float* b_scale = nullptr;    // per column of B (float output)
  Epilogue ep;
  bool a_full_range = true;
  uint8_t* q = nullptr;        // requantized output (see above), with c null
  float out_inv_scale = 0.f;
  int32_t out_zero = 0;
};

struct KernelTable {
  const char* name;

  // C[M,N] = epilogue(alpha * op(A)[M,K] @ op(B)[K,N] + beta * C).
  // op(A) = A (M x K, lda) or A^T (A stored K x M, lda); likewise B.
  // The epilogue (bias, activation) is applied only when `ep` is non-null.
  void (*gemm)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
               float* C, int64_t ldc, const Epilogue* ep);

  // y[i] = act(x[i]) for n contiguous elements; y may equal x (in place).
  void (*act_forward)(Act act, float alpha, const float* x, float* y, int64_t n);
  // dx[i] = dy[i] * act'(from y[i]); y is the forward output. dx may equal dy.
  // Supported for every act with !act_backward_needs_x(act), as a function of y:
  //   linear 1, relu y > 0, leaky_relu y > 0 ? 1 : alpha, sigmoid y (1 - y),
  //   tanh 1 - y^2, elu y > 0 ? 1 : y + alpha (alpha > 0), selu y > 0 ? scale :
  //   y + scale * a, softplus 1 - exp(-y), hard_sigmoid 0 < y < 1 ? 1/6 : 0.
  // (elu and selu from a rounded y lose relative accuracy for x << 0, where y + alpha
  // cancels: act_backward_x is exact there.)
  // For the others (gelu, gelu_tanh, silu, mish) it is unsupported: it writes a quiet
  // NaN to every dx[i] and reads neither y nor dy (defined, and loud in training).
  void (*act_backward)(Act act, float alpha, const float* y, const float* dy, float* dx,
                       int64_t n);
  // dx[i] = dy[i] * act'(x[i]) from the pre-activation x, for every act. dx may equal
  // dy (or x). Derivatives at the kinks: relu, leaky_relu, elu and selu take the x <= 0
  // side at 0; hard_sigmoid' is 1/6 on the open interval (-3, 3), 0 elsewhere.
  void (*act_backward_x)(Act act, float alpha, const float* x, const float* dy, float* dx,
                         int64_t n);

  // Row-wise softmax (log_softmax when `log`) of x[rows, cols] (ld = cols) into y.
  // y may equal x.
  void (*softmax)(const float* x, float* y, int64_t rows, int64_t cols, bool log);

  // Fused softmax cross-entropy. labels[r] in [0, cols) (checked by the caller).
  // Writes dlogits = (softmax(x) - onehot) * grad_scale when dlogits != null, and
  // row_loss[r] = -log softmax(x)[r, labels[r]] when row_loss != null. Returns the sum
  // of the row losses, accumulated in double in row order. dlogits may equal logits.
  double (*softmax_xent)(const float* logits, const int32_t* labels, float* dlogits,
                         float* row_loss, int64_t rows, int64_t cols, float grad_scale);

  // out[j] = sum_i x[i, j] (x is rows x cols with row stride ldx), summed in row order.
  void (*colsum)(const float* x, int64_t ldx, float* out, int64_t rows, int64_t cols);

  // In-place SGD: g' = g + wd * p; v = mom * v + g'; p -= lr * (nesterov ? g' + mom*v : v).
  // With momentum == 0, v may be null and p -= lr * g'. State (v here, Adam's m and v
  // below) under kOptStateFlush in magnitude is stored as 0.
  void (*sgd_update)(float* p, const float* g, float* v, int64_t n, float lr,
                     float momentum, bool nesterov, float weight_decay);

  // In-place Adam / AdamW at 1-based step `step` with bias correction.
  // decoupled: p -= lr * wd * p (AdamW); else g += wd * p (L2, Adam).
  void (*adam_update)(float* p, const float* g, float* m, float* v, int64_t n, float lr,
                      float beta1, float beta2, float eps, float weight_decay,
                      bool decoupled, int64_t step);

  // Backward of act then the dropout mask m (a Dense fused with its Dropout): with y the
  // masked output, dz[i] = kept(i) ? act'(y) * (dy[i] * m.scale) : 0, the bits of the
  // Dropout layer's backward followed by act_backward on the unmasked output. Only for
  // acts whose derivative is a function of y's sign (linear, relu, leaky_relu: a positive
  // scale keeps the sign); relu reads no mask (y > 0 only where kept). Index i counts
  // from dz[0] (m.origin is not read). dz may equal dy. csrc/kernels/dropout_mask.cpp.
  void (*dropout_act_backward)(Act act, float alpha, const DropoutMask* m, const float* y,
                               const float* dy, float* dz, int64_t n);

  // ---- engine kernels (models work; csrc/kernels/engine_*.cpp) ----
  // out[r, :] = float(x[src, :]) * scale + offset for r in [0, rows), where
  // src = idx ? idx[row0 + r] : row0 + r; x is uint8 (is_u8) or float32 with row stride ldx;
  // out has row stride cols.
  void (*gather_rows)(const void* x, bool is_u8, int64_t ldx, const int32_t* idx,
                      int64_t row0, int64_t rows, int64_t cols, float scale, float offset,
                      float* out);
  // Fused dense backward + optimizer step for small batches (no dW matrix): with
  // x[rows, in], dz[rows, out] (gradient after the activation) and W[in, out]:
  // dx = dz @ W^T using W before the update (skipped when dx is null), then
  // W -= step(x^T @ dz) row by row, with state s0 (SGD velocity, may be null when
  // momentum == 0; Adam m) and s1 (Adam v), see OptimizerConfig in optimizer_config.h.
  // When rows == 1 and x_next is not null, the same pass also writes the next example's
  // output of this layer, y_next[out] = ep_next(x_next[in] @ W_new) (its dropout mask
  // included), with the bits of gemm at M == 1 (so the next forward pass may skip this
  // layer). Ignored when rows > 1.
  void (*dense_backward_update)(const float* x, const float* dz, int64_t rows, int64_t in,
                                int64_t out, float* W, float* s0, float* s1,
                                const struct OptimizerConfig* opt, float* dx,
                                const float* x_next, float* y_next, const Epilogue* ep_next);

  // ---- pre-packed GEMM (inference with fixed weights; csrc/kernels/gemm.cpp) ----
  // The packed layout is private to the tier that made it: re-pack after a tier switch.
  // Floats needed to hold op(B) (K x N) packed.
  int64_t (*packed_b_size)(int64_t K, int64_t N);
  // Packs op(B) (B stored K x N, or N x K when trans_b) into Bp (packed_b_size floats).
  void (*pack_b)(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* Bp);
  // C[M,N] = epilogue(op(A) @ op(B)) with B pre-packed by pack_b (alpha 1, beta 0).
  void (*gemm_packed)(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A,
                      int64_t lda, const float* Bp, float* C, int64_t ldc, const Epilogue* ep);
  // gemm_packed restricted to output columns [j0, min(j1, N)), run on the calling thread
  // (it opens no parallel region): callers split N between their own threads. j0 and j1
  // must be multiples of gemm_nr (or j1 >= N). Each C element gets gemm_packed's bits.
  void (*gemm_packed_cols)(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A,
                           int64_t lda, const float* Bp, float* C, int64_t ldc,
                           const Epilogue* ep, int64_t j0, int64_t j1);
  // Columns of one packed B panel (the register tile width).
  int64_t gemm_nr;

  // Maximum depth of one K block of the blocked gemm path and of gemm_packed: they split K
  // into ceil(K / gemm_kc) equal blocks, sum each C element as one FMA chain per block and
  // add the blocks in order (C = chain + C). The few-row path sums one chain over all of
  // K. So a caller that splits K into those same blocks (each <= gemm_kc: one chain on any
  // path) and passes beta = 1 after the first block gets the bits of gemm_packed from
  // plain gemm (the engine's small-batch inference relies on it; checked on every tier by
  // tests/test_engine_weights.py).
  int64_t gemm_kc;

  // True when no element of x[0, n) is NaN or +-inf (the engine's input checks).
  bool (*all_finite)(const float* x, int64_t n);

  // ---- int8 ----
  // Bytes of B (K x N int8, row-major) packed by pack_s8: ceil(N / kInt8NR) panels of
  // kInt8NR columns, each K rounded up to kInt8KGroup * kInt8KTile, every group of 4
  // consecutive k of one column in 4 adjacent bytes (the VNNI and AMX order), zero
  // padded; then the int32 sum of each (padded) column. Same layout on every tier.
  int64_t (*packed_s8_size)(int64_t K, int64_t N);
  void (*pack_s8)(int64_t K, int64_t N, const int8_t* B, int64_t ldb, void* Bp);
  // Output columns [j0, min(j1, N)) of A[M, K] (uint8, row stride lda) @ B (packed by
  // pack_s8), written as `out` says; j0 and j1 multiples of kInt8NR (or j1 >= N). With
  // the whole range (0, N) it may start threads (rows and panels split: results do not
  // depend on the count); a part runs on the calling thread. K <= kInt8MaxK.
  void (*gemm_u8s8)(int64_t M, int64_t N, int64_t K, const uint8_t* A, int64_t lda,
                    const void* Bp, const Int8Output* out, int64_t j0, int64_t j1);
  // Per-row asymmetric quantization of x[rows, cols] (row stride ldx) to q[rows, cols]
  // (row stride ldq) in [0, qmax], qmax in [1, 255]. Dynamic (static_scale == 0): with
  // lo = min(0, min of the row), hi = max(0, max of the row), scale[r] = (hi - lo) /
  // qmax (1 when hi == lo; hi / qmax - lo / qmax when hi - lo overflows; at least
  // FLT_MIN, so inv stays finite), inv = 1 / scale[r], zero[r] = clamp(rint(-lo * inv), 0,
  // qmax); static (static_scale > 0): scale[r] = static_scale, zero[r] = static_zero.
  // Then q = clamp(rint(x * inv) + zero[r], 0, qmax), rint rounding half to even, so
  // x ~ (q - zero) * scale. A row holding NaN or inf gets q = 0, scale NaN (its outputs
  // NaN) and sets *nonfinite = 1 when nonfinite is not null. Same bits on every tier.
  void (*quantize_rows)(const float* x, int64_t rows, int64_t cols, int64_t ldx,
                        int32_t qmax, float static_scale, int32_t static_zero, uint8_t* q,
                        int64_t ldq, float* scale, int32_t* zero, int* nonfinite);

  // ---- bf16: null on tiers without a bf16 dot product (callers round to bf16 and use
  // the float32 kernels, the same numerics at the float32 rate) ----
  // Bytes of B (K x N float32, row-major) packed by pack_bf16: B rounded to bf16 (nearest,
  // ties to even; NaN stays NaN), ceil(N / kBf16NR) panels of kBf16NR columns, each K
  // padded to kBf16KGroup * kBf16KTile, the 2 consecutive k of one column in adjacent
  // 2-byte halves (the vdpbf16ps and AMX order).
  // With trans_b, B is stored transposed (N x K, row stride ldb), as pack_b takes it.
  int64_t (*packed_bf16_size)(int64_t K, int64_t N);
  void (*pack_bf16)(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb,
                    void* Bp);
  // pack_bf16(false, K, N, B, ldb, Bp), slice by slice of rows [k0, k1) (the tier's
  // bf16_cfg::SLICE_ROWS), calling before(ctx, k0, k1) on each slice just before packing
  // it, so what before writes into those rows of B (an optimizer step) is packed while it
  // is still in cache. Slices may run on threads, whole slices each (before must be safe
  // on disjoint row ranges at once); the pack is the same whatever their number.
  void (*pack_bf16_sliced)(int64_t K, int64_t N, const float* B, int64_t ldb, void* Bp,
                           Bf16SliceFn before, void* ctx);
  // Output columns [j0, min(j1, N)) of C = ep(bf16(op(A)) @ B): op(A)[M, K] float32, A
  // stored M x K (or, with trans_a, K x M) with row stride lda, rounded to bf16 like B, the products summed in float32 (each bf16 product is
  // exact in float32; the sums round, in an order of the tier's choosing), then ep's
  // bias and activation (ep may be null; its dropout is ignored; ep->nonfinite, when
  // set, is set to 1 if a row of A holds NaN or inf; not with trans_a). A row's
  // output depends on that row of A and on B only, bit for bit, whatever M, the column
  // range and the thread count. Denormal inputs and sums count as zero (the hardware's
  // DAZ / FTZ). j0 and j1 multiples of kBf16NR (or j1 >= N); the whole range (0, N) may
  // start threads, a part runs on the calling thread.
  void (*gemm_bf16)(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                    const void* Bp, float* C, int64_t ldc, const Epilogue* ep, int64_t j0,
                    int64_t j1);
};

}  // namespace fastmlp
