// The dropout mask of a fused Dense + Dropout (DropoutMask in kernel_table.h), applied by
// the GEMM to the tiles it has just stored (csrc/kernels/dropout_mask.cpp).
#pragma once
#include "kernels/tier.h"

FASTMLP_TIER_BEGIN

// C[rows, cols] (row stride ldc), a part of the output that m.origin starts: each element
// becomes kept ? value * m.scale : 0.
void apply_dropout(const DropoutMask& m, float* C, int64_t ldc, int64_t rows, int64_t cols);

FASTMLP_TIER_END
