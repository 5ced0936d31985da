# One object library per ISA tier, all compiled from the same sources in csrc/kernels/.
# Each gets its own namespace (FASTMLP_NS) so no ISA-specific symbol, inline helpers
# included, can be merged by the linker into another tier (the SIGILL trap).
file(GLOB FASTMLP_KERNEL_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/csrc/kernels/*.cpp)

set(FASTMLP_TIERS generic)
set(FASTMLP_TIER_DEFS "")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  list(APPEND FASTMLP_TIERS avx2 avx512)
  set(FASTMLP_FLAGS_generic "")
  set(FASTMLP_FLAGS_avx2 -mavx2 -mfma -mf16c)
  set(FASTMLP_FLAGS_avx512 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -mf16c)
  list(APPEND FASTMLP_TIER_DEFS FASTMLP_HAVE_TIER_AVX2=1 FASTMLP_HAVE_TIER_AVX512=1)
  # The low-precision tiers: the whole kernel set again (fp32 kernels included, so a tier
  # is one consistent table), plus VNNI's vpdpbusd and AMX's tile instructions in the int8
  # GEMM. Skipped, not failed, by a compiler too old for the flags (GCC < 11).
  include(CheckCXXCompilerFlag)
  # avx512_vnni: VNNI (Cascade Lake, Ice Lake); avx512_bf16: VNNI and BF16 (Cooper Lake,
  # Sapphire Rapids, Zen 4); amx: AMX-TILE, INT8 and BF16 on top (Sapphire Rapids).
  set(FASTMLP_FLAGS_avx512_vnni ${FASTMLP_FLAGS_avx512} -mavx512vnni)
  set(FASTMLP_FLAGS_avx512_bf16 ${FASTMLP_FLAGS_avx512_vnni} -mavx512bf16)
  set(FASTMLP_FLAGS_amx ${FASTMLP_FLAGS_avx512_bf16} -mamx-tile -mamx-int8 -mamx-bf16)
  # All three are AVX-512 tiers: their fp32 code is the avx512 tier's (FASTMLP_TIER_AVX512),
  # the low-precision GEMMs look at the compiler's __AVX512VNNI__, __AVX512BF16__,
  # __AMX_INT8__ and __AMX_BF16__.
  set(FASTMLP_DEFS_avx512_vnni FASTMLP_TIER_AVX512=1)
  set(FASTMLP_DEFS_avx512_bf16 FASTMLP_TIER_AVX512=1)
  set(FASTMLP_DEFS_amx FASTMLP_TIER_AVX512=1)
  # avx_vnni: AVX2 with the VEX-encoded vpdpbusd (Alder Lake and later client cores,
  # Sapphire Rapids; not Zen 4): the avx2 tier's fp32 code (FASTMLP_TIER_AVX2), the int8
  # GEMM on __AVXVNNI__. Before avx512 in preference: a CPU with AVX-512 takes that.
  set(FASTMLP_FLAGS_avx_vnni ${FASTMLP_FLAGS_avx2} -mavxvnni)
  set(FASTMLP_DEFS_avx_vnni FASTMLP_TIER_AVX2=1)
  check_cxx_compiler_flag("-mavxvnni" FASTMLP_CXX_HAS_AVX_VNNI)
  if(FASTMLP_CXX_HAS_AVX_VNNI)
    list(APPEND FASTMLP_TIERS avx_vnni)
    list(APPEND FASTMLP_TIER_DEFS FASTMLP_HAVE_TIER_AVX_VNNI=1)
  endif()
  check_cxx_compiler_flag("-mavx512vnni -mavx512bf16" FASTMLP_CXX_HAS_VNNI)
  check_cxx_compiler_flag("-mamx-tile -mamx-int8 -mamx-bf16" FASTMLP_CXX_HAS_AMX)
  if(FASTMLP_CXX_HAS_VNNI)
    list(APPEND FASTMLP_TIERS avx512_vnni avx512_bf16)
    list(APPEND FASTMLP_TIER_DEFS FASTMLP_HAVE_TIER_AVX512_VNNI=1 FASTMLP_HAVE_TIER_AVX512_BF16=1)
    if(FASTMLP_CXX_HAS_AMX)
      list(APPEND FASTMLP_TIERS amx)
      list(APPEND FASTMLP_TIER_DEFS FASTMLP_HAVE_TIER_AMX=1)
    endif()
  endif()
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  # Advanced SIMD (NEON) and FMA are mandatory in armv8-a, the aarch64 baseline, so both
  # tiers build for plain armv8-a. The neon tier uses float32x4_t intrinsics with fused
  # multiply-add (simd.h, vec_math.h); the generic tier keeps the portable GEMM (simd.h's
  # 4-lane struct) and 4-lane math without FMA, like x86's SSE2 tier. -ffp-contract=off
  # stops GCC (which fuses by default on arm) from turning its a*b + c into FMAs.
  list(APPEND FASTMLP_TIERS neon)
  set(FASTMLP_FLAGS_generic -march=armv8-a -ffp-contract=off)
  set(FASTMLP_FLAGS_neon -march=armv8-a)
  list(APPEND FASTMLP_TIER_DEFS FASTMLP_HAVE_TIER_NEON=1)
  # neon_dotprod: armv8.2's sdot for the int8 GEMM (HWCAP_ASIMDDP: Neoverse N1/V1,
  # Graviton 2+, Apple M1+); its fp32 code is the neon tier's (FASTMLP_TIER_NEON).
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag("-march=armv8.2-a+dotprod" FASTMLP_CXX_HAS_DOTPROD)
  if(FASTMLP_CXX_HAS_DOTPROD)
    list(APPEND FASTMLP_TIERS neon_dotprod)
    set(FASTMLP_FLAGS_neon_dotprod -march=armv8.2-a+dotprod)
    set(FASTMLP_DEFS_neon_dotprod FASTMLP_TIER_NEON=1)
    list(APPEND FASTMLP_TIER_DEFS FASTMLP_HAVE_TIER_NEON_DOTPROD=1)
  endif()
endif()

foreach(tier IN LISTS FASTMLP_TIERS)
  add_library(fastmlp_tier_${tier} OBJECT ${FASTMLP_KERNEL_SOURCES})
  target_include_directories(fastmlp_tier_${tier} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/csrc)
  string(TOUPPER ${tier} TIER_UPPER)
  target_compile_definitions(fastmlp_tier_${tier} PRIVATE
    FASTMLP_NS=${tier} FASTMLP_TIER_${TIER_UPPER}=1 ${FASTMLP_DEFS_${tier}})
  target_compile_options(fastmlp_tier_${tier} PRIVATE ${FASTMLP_COMMON_FLAGS} ${FASTMLP_FLAGS_${tier}})
  if(OpenMP_CXX_FOUND)
    target_link_libraries(fastmlp_tier_${tier} PRIVATE OpenMP::OpenMP_CXX)
    target_compile_definitions(fastmlp_tier_${tier} PRIVATE FASTMLP_HAVE_OPENMP=1)
  endif()
endforeach()
