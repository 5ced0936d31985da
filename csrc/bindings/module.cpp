// fastmlp._core: the private extension module. One registration function per area.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace fastmlp {
void register_cpu(py::module_& m);
void register_ops(py::module_& m);
void register_engine(py::module_& m);
void register_int8(py::module_& m);
void register_bf16(py::module_& m);
}  // namespace fastmlp

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastmlp private C++ core (use fastmlp / fastmlp.ops instead)";
  fastmlp::register_cpu(m);
  fastmlp::register_ops(m);
  fastmlp::register_engine(m);
  fastmlp::register_int8(m);
  fastmlp::register_bf16(m);
}
