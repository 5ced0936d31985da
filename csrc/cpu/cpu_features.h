// CPU feature detection, run once at import: cpuid + XGETBV on x86 (the OS must save the
// wide registers before we trust AVX/AVX-512), HWCAP on arm64.
#pragma once
#include <string>
#include <vector>

namespace fastmlp {

enum class Tier : int { generic = 0, avx2 = 1, avx512 = 2, neon = 3 };

const char* tier_name(Tier t);
// Parses "generic", "avx2", "avx512", "neon"; returns false for anything else.
bool parse_tier(const std::string& s, Tier* out);

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool avx512_bf16 = false, avx512_vnni = false;
  // Reported by cpu_info() (the low-precision kernels do not use them yet): AVX-VNNI,
  // AMX tiles with int8 / bf16, arm64's sdot/udot.
  bool avx_vnni = false, amx_tile = false, amx_int8 = false, amx_bf16 = false;
  bool asimd_dotprod = false;
  bool os_avx = false, os_avx512 = false;  // XGETBV: OS saves ymm / zmm+opmask state
  bool neon = false;
};

const CpuFeatures& cpu_features();
// Tiers this CPU can run, lowest first.
std::vector<Tier> supported_tiers();
// Tiers compiled into this binary, lowest first.
std::vector<Tier> compiled_tiers();

}  // namespace fastmlp
