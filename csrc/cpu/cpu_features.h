// CPU feature detection, run once at import: cpuid + XGETBV on x86 (the OS must save the
// wide registers before we trust AVX/AVX-512), HWCAP on arm64.
#pragma once
#include <string>
#include <vector>

namespace fastmlp {

// The ISA tiers, the one list of them (all_tiers() returns it, cpu_info() and the tests
// read it from there). x86-64: generic (SSE2), avx2 (+FMA, F16C), avx_vnni (avx2 +
// AVX-VNNI's ymm vpdpbusd: AVX2-only CPUs such as Alder Lake), avx512 (F/BW/DQ/VL),
// avx512_vnni (+VNNI: vpdpbusd), avx512_bf16 (+BF16 too: vdpbf16ps), amx
// (+AMX-TILE/INT8/BF16, with the OS's permission to use the tile state); arm64: generic,
// neon, neon_dotprod (+armv8.2 dotprod: sdot). The enum's values are stable; the order of
// preference is all_tiers'.
enum class Tier : int {
  generic = 0, avx2 = 1, avx512 = 2, neon = 3, avx512_vnni = 4, amx = 5, neon_dotprod = 6,
  avx_vnni = 7, avx512_bf16 = 8
};

// X(tier) for every tier compiled into this build (CMake's FASTMLP_HAVE_TIER_*), in
// all_tiers() order: the per-tier table declarations, their lookup and compiled_tiers()
// all expand it, so a new tier is added here once.
#ifdef FASTMLP_HAVE_TIER_NEON
#define FASTMLP_X_NEON(X) X(neon)
#else
#define FASTMLP_X_NEON(X)
#endif
#ifdef FASTMLP_HAVE_TIER_NEON_DOTPROD
#define FASTMLP_X_NEON_DOTPROD(X) X(neon_dotprod)
#else
#define FASTMLP_X_NEON_DOTPROD(X)
#endif
#ifdef FASTMLP_HAVE_TIER_AVX2
#define FASTMLP_X_AVX2(X) X(avx2)
#else
#define FASTMLP_X_AVX2(X)
#endif
#ifdef FASTMLP_HAVE_TIER_AVX_VNNI
#define FASTMLP_X_AVX_VNNI(X) X(avx_vnni)
#else
#define FASTMLP_X_AVX_VNNI(X)
#endif
#ifdef FASTMLP_HAVE_TIER_AVX512
#define FASTMLP_X_AVX512(X) X(avx512)
#else
#define FASTMLP_X_AVX512(X)
#endif
#ifdef FASTMLP_HAVE_TIER_AVX512_VNNI
#define FASTMLP_X_AVX512_VNNI(X) X(avx512_vnni)
#else
#define FASTMLP_X_AVX512_VNNI(X)
#endif
#ifdef FASTMLP_HAVE_TIER_AVX512_BF16
#define FASTMLP_X_AVX512_BF16(X) X(avx512_bf16)
#else
#define FASTMLP_X_AVX512_BF16(X)
#endif
#ifdef FASTMLP_HAVE_TIER_AMX
#define FASTMLP_X_AMX(X) X(amx)
#else
#define FASTMLP_X_AMX(X)
#endif
#define FASTMLP_FOR_EACH_COMPILED_TIER(X) \
  X(generic) FASTMLP_X_NEON(X) FASTMLP_X_NEON_DOTPROD(X) FASTMLP_X_AVX2(X) \
  FASTMLP_X_AVX_VNNI(X) FASTMLP_X_AVX512(X) FASTMLP_X_AVX512_VNNI(X) FASTMLP_X_AVX512_BF16(X) \
  FASTMLP_X_AMX(X)

// Every tier this library knows, in increasing preference (where both can run, the later
// one is chosen).
const std::vector<Tier>& all_tiers();
const char* tier_name(Tier t);
// Parses a tier name (tier_name's spelling); returns false for anything else.
bool parse_tier(const std::string& s, Tier* out);
// "generic, avx2, ..." in all_tiers() order.
std::string all_tiers_string();

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512_bf16 = false, avx512_vnni = false;
  // AVX-VNNI (vpdpbusd on ymm), AMX tiles with int8 / bf16, arm64's sdot/udot
  // (asimd_dotprod).
  bool avx_vnni = false, amx_tile = false, amx_int8 = false, amx_bf16 = false;
  bool asimd_dotprod = false;
  bool os_avx = false, os_avx512 = false;  // XGETBV: OS saves ymm / zmm+opmask state
  // XCR0 allows the tile state and Linux granted this process its use
  // (arch_prctl(ARCH_REQ_XCOMP_PERM)); false where either refused or the CPU lacks one
  // of AMX-TILE, AMX-INT8, AMX-BF16.
  bool os_amx = false;
  bool neon = false;
};

const CpuFeatures& cpu_features();
// Tiers this CPU can run, lowest first.
std::vector<Tier> supported_tiers();
// Tiers compiled into this binary, lowest first.
std::vector<Tier> compiled_tiers();

}  // namespace fastmlp
