// What the Network bindings (register_engine.cpp, register_optimizer.cpp) share: the
// network's lock taken with the GIL released, and the checks of parameter-shaped arrays.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/array_checks.h"
#include "engine/network.h"

namespace fastmlp {
namespace netbind {

namespace py = pybind11;
using engine::Network;

// Blocks on the network's lock with the GIL released (see the note at the top).
template <bool kShared>
struct NetLock {
  explicit NetLock(Network& n) : n_(n) {
    py::gil_scoped_release release;
    if (kShared) n_.lock().lock_shared();
    else n_.lock().lock();
  }
  ~NetLock() {
    if (kShared) n_.lock().unlock_shared();
    else n_.lock().unlock();
  }
  Network& n_;
};
using SharedLock = NetLock<true>;
using ExclusiveLock = NetLock<false>;

inline void check_param_value(const Network& n, int i, const py::array& a) {
  const int64_t r = n.param_rows(i), c = n.param_cols(i);
  check_array<float>(a, "value", false);
  const bool vec = n.param_is_vector(i);
  const bool ok = vec ? (a.ndim() == 1 && a.shape(0) == c)
                         : (a.ndim() == 2 && a.shape(0) == r && a.shape(1) == c);
  if (!ok)
    throw py::value_error("param " + std::to_string(i) + ": expected shape " +
                          (vec ? "(" + std::to_string(c) + ",)"
                                  : "(" + std::to_string(r) + ", " + std::to_string(c) + ")"));
}

inline void check_checkpoint_slot(int slot) {
  if (slot < 0 || slot >= Network::kCheckpointSlots)
    throw py::value_error("slot: expected 0 or 1, got " + std::to_string(slot));
}

}  // namespace netbind

// Registers the optimizer's methods of fastmlp._core.Network (register_optimizer.cpp).
void register_network_optimizer(pybind11::class_<engine::Network>& cls);

}  // namespace fastmlp
