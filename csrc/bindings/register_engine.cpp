// Network engine bindings (filled in by the models work).
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace fastmlp {
void register_engine(py::module_& m) { (void)m; }
}  // namespace fastmlp
