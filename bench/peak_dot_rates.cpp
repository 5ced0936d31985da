// One core's peak multiply-add rates, the roofline that bench/README.md measures the
// low-precision kernels (fastmlp's and the anchors') against: register-only loops of
// 12 independent chains (more than any of these instructions' latency), each
// instruction compiled for its own ISA and run only where the CPU has it.
//
//   g++ -O2 bench/peak_dot_rates.cpp -o /tmp/peak_dot_rates && taskset -c 1 /tmp/peak_dot_rates
//
// Prints giga multiply-adds per second: fp32 vfmadd (16 per zmm), int8 vpdpbusd (64 per
// zmm), bf16 vdpbf16ps (32 per zmm).
#include <immintrin.h>

#include <chrono>
#include <cstdio>

namespace {

constexpr long kSteps = 50000000;
constexpr int kChains = 12;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One rate function per instruction, each compiled for its own ISA: kChains sums of type
// V from distinct starting values (so the compiler cannot fold the chains into one), the
// asm barrier keeping the operands from being treated as constants; FOLD reduces the sums
// to a scalar that is kept, so the loop is not dropped.
#define FASTMLP_PEAK_RATE(NAME, TARGET, V, INIT, A, B, STEP, ADD, FOLD, MACS)   \
  __attribute__((target(TARGET))) double NAME() {                              \
    V c[kChains];                                                              \
    for (int i = 0; i < kChains; ++i) c[i] = INIT(i);                          \
    auto a = A;                                                                \
    auto b = B;                                                                \
    const auto t0 = std::chrono::steady_clock::now();                          \
    for (long s = 0; s < kSteps; ++s) {                                        \
      _Pragma("GCC unroll 12") for (int i = 0; i < kChains; ++i) c[i] = STEP;  \
      __asm__ volatile("" : "+v"(a), "+v"(b));                                 \
    }                                                                          \
    const double t = seconds_since(t0);                                        \
    V sum = c[0];                                                              \
    for (int i = 1; i < kChains; ++i) sum = ADD(sum, c[i]);                    \
    volatile auto sink = FOLD(sum);                                            \
    (void)sink;                                                                \
    return kSteps * kChains * (MACS) / t / 1e9;                                \
  }

#define FASTMLP_SET1_PS(i) _mm512_set1_ps(static_cast<float>(i))
FASTMLP_PEAK_RATE(fma_zmm, "avx512f,fma", __m512, FASTMLP_SET1_PS, _mm512_set1_ps(1.0001f),
                  _mm512_set1_ps(0.9999f), _mm512_fmadd_ps(a, b, c[i]), _mm512_add_ps,
                  _mm512_reduce_add_ps, 16.0)
FASTMLP_PEAK_RATE(vpdpbusd_zmm, "avx512f,avx512vnni", __m512i, _mm512_set1_epi32,
                  _mm512_set1_epi8(1), _mm512_set1_epi8(2), _mm512_dpbusd_epi32(c[i], a, b),
                  _mm512_add_epi32, _mm512_reduce_add_epi32, 64.0)
FASTMLP_PEAK_RATE(vdpbf16ps_zmm, "avx512f,avx512bf16", __m512, FASTMLP_SET1_PS,
                  (__m512bh)_mm512_set1_epi16(0x3f80), (__m512bh)_mm512_set1_epi16(0x3f80),
                  _mm512_dpbf16_ps(c[i], a, b), _mm512_add_ps, _mm512_reduce_add_ps, 32.0)

}  // namespace

int main() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) {
    std::puts("no AVX-512 on this CPU: nothing to measure");
    return 0;
  }
  std::printf("fp32 vfmadd zmm:    %6.1f GMAC/s\n", fma_zmm());
  if (__builtin_cpu_supports("avx512vnni"))
    std::printf("int8 vpdpbusd zmm:  %6.1f GMAC/s\n", vpdpbusd_zmm());
  if (__builtin_cpu_supports("avx512bf16"))
    std::printf("bf16 vdpbf16ps zmm: %6.1f GMAC/s\n", vdpbf16ps_zmm());
  return 0;
}
