// Per-thread, grow-only, 64-byte aligned scratch for packed GEMM operands: repeated calls
// (a training loop) allocate once instead of faulting in fresh pages every call.
#pragma once
#include <cstdlib>
#include <new>

#include "kernels/tier.h"

FASTMLP_TIER_BEGIN

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(ptr_); }

  // Returns at least n floats; throws std::bad_alloc if they cannot be had.
  float* get(size_t n) {
    if (n > cap_) {
      const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      if (bytes / sizeof(float) < n) throw std::bad_alloc();
      void* p = std::aligned_alloc(64, bytes);
      if (!p) throw std::bad_alloc();
      std::free(ptr_);
      ptr_ = static_cast<float*>(p);
      cap_ = bytes / sizeof(float);
    }
    return ptr_;
  }

 private:
  float* ptr_ = nullptr;
  size_t cap_ = 0;
};

FASTMLP_TIER_END
