#include "cpu/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace fastmlp {

namespace {

const KernelTable* compiled_table(Tier t) {
  switch (t) {
#define FASTMLP_TABLE_CASE(tier) \
    case Tier::tier: return &tier::kernel_table();
    FASTMLP_FOR_EACH_COMPILED_TIER(FASTMLP_TABLE_CASE)
#undef FASTMLP_TABLE_CASE
    default: return nullptr;
  }
}

std::string join(const std::vector<Tier>& ts) {
  std::string s;
  for (Tier t : ts) {
    if (!s.empty()) s += ", ";
    s += tier_name(t);
  }
  return s;
}

Tier highest_supported() {
  Tier best = Tier::generic;
  for (Tier t : supported_tiers())
    if (compiled_table(t)) best = t;
  return best;
}

std::atomic<const KernelTable*> g_active{nullptr};
std::atomic<int> g_active_tier{0};

}  // namespace

std::string supported_tiers_string() { return join(supported_tiers()); }

const KernelTable& table_for(Tier t) {
  bool supported = false;
  for (Tier s : supported_tiers()) supported |= (s == t);
  const KernelTable* table = compiled_table(t);
  if (!table)
    throw std::invalid_argument(std::string("ISA tier '") + tier_name(t) +
                                "' is not compiled into this build (compiled: " +
                                join(compiled_tiers()) + ")");
  if (!supported)
    throw std::invalid_argument(std::string("ISA tier '") + tier_name(t) +
                                "' is not supported by this CPU/OS (supported: " +
                                supported_tiers_string() + ")");
  return *table;
}

const KernelTable& kernels() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  if (!t) {
    const Tier best = highest_supported();
    t = compiled_table(best);
    g_active_tier.store(static_cast<int>(best));
    g_active.store(t, std::memory_order_release);
  }
  return *t;
}

Tier active_tier() {
  kernels();
  return static_cast<Tier>(g_active_tier.load());
}

void set_active_tier(Tier t) {
  const KernelTable& table = table_for(t);
  g_active_tier.store(static_cast<int>(t));
  g_active.store(&table, std::memory_order_release);
}

void init_dispatch_from_env() {
  const char* env = std::getenv("FASTMLP_ISA");
  if (env && *env) {
    Tier t;
    if (!parse_tier(env, &t))
      throw std::invalid_argument(std::string("FASTMLP_ISA='") + env +
                                  "' is not a tier name; expected one of " +
                                  all_tiers_string() + " (supported here: " +
                                  supported_tiers_string() + ")");
    set_active_tier(t);
  } else {
    set_active_tier(highest_supported());
  }
}

}  // namespace fastmlp
