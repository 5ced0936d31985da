// Declarations of this tier's entry points (see kernel_table.h for their contracts).
#pragma once
#include "kernels/tier.h"

FASTMLP_TIER_BEGIN

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc, const Epilogue* ep);
void act_forward(Act act, float alpha, const float* x, float* y, int64_t n);
void act_backward(Act act, float alpha, const float* y, const float* dy, float* dx,
                  int64_t n);
void act_backward_x(Act act, float alpha, const float* x, const float* dy, float* dx,
                    int64_t n);
void softmax(const float* x, float* y, int64_t rows, int64_t cols, bool log);
bool all_finite(const float* x, int64_t n);
double softmax_xent(const float* logits, const int32_t* labels, float* dlogits,
                    float* row_loss, int64_t rows, int64_t cols, float grad_scale);
void colsum(const float* x, int64_t ldx, float* out, int64_t rows, int64_t cols);
void sgd_update(float* p, const float* g, float* v, int64_t n, float lr, float momentum,
                bool nesterov, float weight_decay);
void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float lr,
                 float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                 int64_t step);

void dropout_act_backward(Act act, float alpha, const DropoutMask* m, const float* y,
                          const float* dy, float* dz, int64_t n);

FASTMLP_TIER_END

// ---- engine kernels (csrc/kernels/engine_*.cpp; contracts in kernel_table.h) ----
#include "kernels/optimizer_config.h"
FASTMLP_TIER_BEGIN
void gather_rows(const void* x, bool is_u8, int64_t ldx, const int32_t* idx, int64_t row0,
                 int64_t rows, int64_t cols, float scale, float offset, float* out);
void dense_backward_update(const float* x, const float* dz, int64_t rows, int64_t in,
                           int64_t out, float* W, float* s0, float* s1,
                           const OptimizerConfig* opt, float* dx, const float* x_next,
                           float* y_next, const Epilogue* ep_next);
// W[M,N] (row stride N) takes one optimizer step with gradient op(A) @ op(B); s0 / s1
// are its state (see OptimizerConfig), laid out like W. csrc/kernels/gemm.cpp.
// With K == 1 and xn set, also yn[N] = ep(xn[M] @ W_new) (see dense_backward_update).
void gemm_update(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float* W, float* s0, float* s1,
                 const OptimizerConfig* opt, const float* xn = nullptr, float* yn = nullptr,
                 const Epilogue* ep_next = nullptr);
FASTMLP_TIER_END

// ---- pre-packed GEMM (csrc/kernels/gemm.cpp) ----
FASTMLP_TIER_BEGIN
int64_t packed_b_size(int64_t K, int64_t N);
void pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* Bp);
void gemm_packed(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* Bp, float* C, int64_t ldc, const Epilogue* ep);
void gemm_packed_cols(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A,
                      int64_t lda, const float* Bp, float* C, int64_t ldc, const Epilogue* ep,
                      int64_t j0, int64_t j1);
FASTMLP_TIER_END

// ---- int8 (csrc/kernels/gemm_u8s8.cpp, quantize_rows.cpp) ----
FASTMLP_TIER_BEGIN
int64_t packed_s8_size(int64_t K, int64_t N);
void pack_s8(int64_t K, int64_t N, const int8_t* B, int64_t ldb, void* Bp);
void gemm_u8s8(int64_t M, int64_t N, int64_t K, const uint8_t* A, int64_t lda, const void* Bp,
               const Int8Output* out, int64_t j0, int64_t j1);
void quantize_rows(const float* x, int64_t rows, int64_t cols, int64_t ldx, int32_t qmax,
                   float static_scale, int32_t static_zero, uint8_t* q, int64_t ldq,
                   float* scale, int32_t* zero, int* nonfinite);
FASTMLP_TIER_END

// ---- bf16 (csrc/kernels/gemm_bf16.cpp; tiers with __AVX512BF16__ only) ----
FASTMLP_TIER_BEGIN
int64_t packed_bf16_size(int64_t K, int64_t N);
void pack_bf16(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, void* Bp);
void pack_bf16_sliced(int64_t K, int64_t N, const float* B, int64_t ldb, void* Bp,
                      Bf16SliceFn before, void* ctx);
void gemm_bf16(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* Bp,
               float* C, int64_t ldc, const Epilogue* ep, int64_t j0, int64_t j1);
FASTMLP_TIER_END
