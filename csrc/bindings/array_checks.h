// Strict array access for the raw _core bindings. The Python layer (fastmlp.ops) converts
// and validates user input with friendly messages; these checks are the last line of
// defence so that a wrong call into _core raises instead of crashing.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace fastmlp {
namespace py = pybind11;

template <typename T>
inline const char* dtype_name();
template <> inline const char* dtype_name<float>() { return "float32"; }
template <> inline const char* dtype_name<int32_t>() { return "int32"; }
template <> inline const char* dtype_name<uint8_t>() { return "uint8"; }
template <> inline const char* dtype_name<int8_t>() { return "int8"; }

template <typename T>
inline void check_array(const py::array& a, const char* name, bool writable) {
  if (!py::dtype::of<T>().is(a.dtype()) && !a.dtype().equal(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + ": expected a " + dtype_name<T>() +
                         " array, got dtype " + std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  if (writable && !a.writeable())
    throw py::value_error(std::string(name) + ": array is read-only");
}

template <typename T>
inline const T* in_ptr(const py::array& a, const char* name) {
  check_array<T>(a, name, false);
  return static_cast<const T*>(a.data());
}

template <typename T>
inline T* out_ptr(py::array& a, const char* name) {
  check_array<T>(a, name, true);
  return static_cast<T*>(a.mutable_data());
}

inline void check_ndim(const py::array& a, const char* name, py::ssize_t ndim) {
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) +
                          "-D array, got " + std::to_string(a.ndim()) + "-D");
}

inline void check_size(const py::array& a, const char* name, py::ssize_t size) {
  if (a.size() != size)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(size) +
                          " elements, got " + std::to_string(a.size()));
}

}  // namespace fastmlp
