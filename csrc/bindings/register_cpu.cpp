// CPU features, ISA dispatch and threads.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include "cpu/dispatch.h"
#include "cpu/threads.h"

namespace py = pybind11;

namespace fastmlp {

namespace {

py::list tier_list(const std::vector<Tier>& ts) {
  py::list out;
  for (Tier t : ts) out.append(tier_name(t));
  return out;
}

void set_isa(const std::string& name) {
  Tier t;
  if (!parse_tier(name, &t))
    throw py::value_error("isa: expected one of " + all_tiers_string() + ", got '" + name +
                          "' (supported here: " + supported_tiers_string() + ")");
  try {
    set_active_tier(t);
  } catch (const std::invalid_argument& e) {  // (not compiled / not supported here)
    throw py::value_error(std::string("isa: ") + e.what());
  }
}

}  // namespace

void register_cpu(py::module_& m) {
  m.def("init_dispatch", &init_dispatch_from_env,
        "Select the ISA tier from FASTMLP_ISA or the highest supported one.");
  m.def("get_isa", []() { return std::string(tier_name(active_tier())); });
  m.def("set_isa", &set_isa, py::arg("isa"));
  m.def("supported_isas", []() { return tier_list(supported_tiers()); });
  m.def("compiled_isas", []() { return tier_list(compiled_tiers()); });
  m.def("all_isas", []() { return tier_list(all_tiers()); },
        "Every tier this library knows, in increasing preference.");
  m.def("cpu_features", []() {
    const CpuFeatures& f = cpu_features();
    py::dict d;
    d["avx2"] = f.avx2; d["fma"] = f.fma; d["f16c"] = f.f16c;
    d["avx512f"] = f.avx512f; d["avx512bw"] = f.avx512bw; d["avx512dq"] = f.avx512dq;
    d["avx512vl"] = f.avx512vl; d["avx512_bf16"] = f.avx512_bf16;
    d["avx512_vnni"] = f.avx512_vnni; d["os_avx"] = f.os_avx; d["os_avx512"] = f.os_avx512;
    d["neon"] = f.neon;
    d["avx_vnni"] = f.avx_vnni; d["amx_tile"] = f.amx_tile; d["amx_int8"] = f.amx_int8;
    d["amx_bf16"] = f.amx_bf16; d["asimd_dotprod"] = f.asimd_dotprod;
    d["os_amx"] = f.os_amx;
    return d;
  });
  m.def("have_openmp", &have_openmp);
  m.def("get_num_threads", &get_num_threads);
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("n: expected a thread count >= 1, got " + std::to_string(n));
    set_num_threads(n);
  }, py::arg("n"));
}

}  // namespace fastmlp
