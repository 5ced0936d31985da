#include "cpu/cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define FASTMLP_X86 1
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(FASTMLP_X86) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace fastmlp {

const std::vector<Tier>& all_tiers() {
  static const std::vector<Tier> tiers{Tier::generic,     Tier::neon,   Tier::neon_dotprod,
                                       Tier::avx2,        Tier::avx_vnni, Tier::avx512,
                                       Tier::avx512_vnni, Tier::avx512_bf16, Tier::amx};
  return tiers;
}

const char* tier_name(Tier t) {
  switch (t) {
    case Tier::generic: return "generic";
    case Tier::avx2: return "avx2";
    case Tier::avx_vnni: return "avx_vnni";
    case Tier::avx512: return "avx512";
    case Tier::neon: return "neon";
    case Tier::avx512_vnni: return "avx512_vnni";
    case Tier::avx512_bf16: return "avx512_bf16";
    case Tier::amx: return "amx";
    case Tier::neon_dotprod: return "neon_dotprod";
  }
  return "unknown";
}

bool parse_tier(const std::string& s, Tier* out) {
  for (Tier t : all_tiers()) {
    if (s == tier_name(t)) { *out = t; return true; }
  }
  return false;
}

std::string all_tiers_string() {
  std::string s;
  for (Tier t : all_tiers()) {
    if (!s.empty()) s += ", ";
    s += tier_name(t);
  }
  return s;
}

namespace {

#ifdef FASTMLP_X86
unsigned long long read_xcr0() {
  unsigned int eax, edx;
  // xgetbv with ecx = 0; encoded as bytes so no -mxsave flag is needed.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

// Linux hands out the AMX tile data state (8 KiB per thread) only on request, once per
// process; without it the first tile instruction raises SIGILL.
bool request_amx_state() {
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023;  // ARCH_REQ_XCOMP_PERM
  constexpr long kXfeatureXtileData = 18;     // XFEATURE_XTILEDATA
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) == 0;
#else
  return false;
#endif
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef FASTMLP_X86
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  if (osxsave) {
    const unsigned long long xcr0 = read_xcr0();
    f.os_avx = (xcr0 & 0x6) == 0x6;             // SSE + AVX state
    f.os_avx512 = f.os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask + ZMM_Hi256 + Hi16_ZMM
    f.os_amx = (xcr0 & 0x60000) == 0x60000;          // XTILECFG + XTILEDATA
  }
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b >> 5) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512_vnni = (c >> 11) & 1;
    f.amx_bf16 = (d >> 22) & 1;
    f.amx_tile = (d >> 24) & 1;
    f.amx_int8 = (d >> 25) & 1;
    const unsigned int subleaves = a;
    if (subleaves >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.avx512_bf16 = (a >> 5) & 1;
      f.avx_vnni = (a >> 4) & 1;
    }
  }
  f.os_amx = f.os_amx && f.amx_tile && f.amx_int8 && f.amx_bf16 && request_amx_state();
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is mandatory in armv8-a
#if defined(__linux__)
  f.asimd_dotprod = (getauxval(AT_HWCAP) & (1ul << 20)) != 0;  // HWCAP_ASIMDDP
#endif
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::vector<Tier> supported_tiers() {
  const CpuFeatures& f = cpu_features();
  std::vector<Tier> out{Tier::generic};
#ifdef FASTMLP_X86
  if (f.os_avx && f.avx2 && f.fma && f.f16c) {
    out.push_back(Tier::avx2);
    if (f.avx_vnni) out.push_back(Tier::avx_vnni);
    if (f.os_avx512 && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl) {
      out.push_back(Tier::avx512);
      if (f.avx512_vnni) {
        out.push_back(Tier::avx512_vnni);
        if (f.avx512_bf16) {
          out.push_back(Tier::avx512_bf16);
          if (f.os_amx) out.push_back(Tier::amx);
        }
      }
    }
  }
#else
  if (f.neon) {
    out.push_back(Tier::neon);
    if (f.asimd_dotprod) out.push_back(Tier::neon_dotprod);
  }
#endif
  return out;
}

std::vector<Tier> compiled_tiers() {
  std::vector<Tier> out;
#define FASTMLP_PUSH_TIER(t) out.push_back(Tier::t);
  FASTMLP_FOR_EACH_COMPILED_TIER(FASTMLP_PUSH_TIER)
#undef FASTMLP_PUSH_TIER
  return out;
}

}  // namespace fastmlp
