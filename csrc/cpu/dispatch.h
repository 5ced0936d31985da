// Runtime dispatch: one KernelTable per compiled tier; the active one is chosen once at
// import (highest supported, or FASTMLP_ISA) and may be switched explicitly (tests).
#pragma once
#include <string>

#include "cpu/cpu_features.h"
#include "kernels/kernel_table.h"

namespace fastmlp {

// Per-tier table getters, defined by csrc/kernels/table.cpp compiled once per tier.
#define FASTMLP_DECLARE_TABLE(t) namespace t { const KernelTable& kernel_table(); }
FASTMLP_FOR_EACH_COMPILED_TIER(FASTMLP_DECLARE_TABLE)
#undef FASTMLP_DECLARE_TABLE

// The table of tier `t`; throws std::invalid_argument if `t` is not compiled in or the
// CPU (or OS) does not support it, with a message listing what is supported.
const KernelTable& table_for(Tier t);

// The active table (thread-safe to read; set_active_tier is not meant to race kernels).
const KernelTable& kernels();
Tier active_tier();
// Throws std::invalid_argument like table_for.
void set_active_tier(Tier t);
// Reads FASTMLP_ISA (if set) else picks the highest supported tier. Throws on a bad value.
void init_dispatch_from_env();
std::string supported_tiers_string();

}  // namespace fastmlp
