// Fills this tier's KernelTable from the entry points defined in the other kernel sources.
#include "kernels/tier.h"
#include "kernels/entry_points.h"
#include "kernels/gemm_blocking.h"

FASTMLP_TIER_BEGIN

const KernelTable& kernel_table() {
  static const KernelTable table = {
      FASTMLP_STR(FASTMLP_NS),
      gemm,
      act_forward,
      act_backward,
      act_backward_x,
      softmax,
      softmax_xent,
      colsum,
      sgd_update,
      adam_update,
      dropout_act_backward,
      // engine kernels
      gather_rows,
      dense_backward_update,
      // pre-packed GEMM
      packed_b_size,
      pack_b,
      gemm_packed,
      gemm_packed_cols,
      gemm_cfg::NR,
      gemm_cfg::KC,
      all_finite,
      // int8
      packed_s8_size,
      pack_s8,
      gemm_u8s8,
      quantize_rows,
      // bf16
#if defined(__AVX512BF16__)
      packed_bf16_size,
      pack_bf16,
      pack_bf16_sliced,
      gemm_bf16,
#else
      nullptr,
      nullptr,
      nullptr,
      nullptr,
#endif
  };
  return table;
}

FASTMLP_TIER_END
