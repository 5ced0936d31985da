// Zero-conversion views of NumPy arrays for the fast paths of fastmlp.ops.
// A fast path accepts only the common case (an exact ndarray, native float32, 2-D,
// C-contiguous, aligned) by reading the array header directly: no pybind11 casts, no
// reference-count traffic. Anything else returns "not handled" and the Python layer's
// full validation runs instead, so every error message stays in one place.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

namespace fastmlp {
namespace py = pybind11;

struct F32Matrix {
  float* data = nullptr;
  int64_t rows = 0, cols = 0;
  size_t bytes() const { return static_cast<size_t>(rows * cols) * sizeof(float); }
};

// True (and fills `m`) when `h` is an exact float32 ndarray of native byte order, 2-D,
// C-contiguous and aligned (and writeable when asked).
inline bool fast_f32_matrix(py::handle h, bool writable, F32Matrix* m) {
  const auto& api = py::detail::npy_api::get();
  if (Py_TYPE(h.ptr()) != api.PyArray_Type_) return false;  // subclasses: slow path
  const auto* arr = py::detail::array_proxy(h.ptr());
  if (arr->nd != 2) return false;
  int need = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if (writable) need |= py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  if ((arr->flags & need) != need) return false;
  const auto* descr = py::detail::array_descriptor_proxy(arr->descr);
  if (descr->type_num != py::detail::npy_api::NPY_FLOAT_ || descr->byteorder == '>') return false;
  m->data = reinterpret_cast<float*>(arr->data);
  m->rows = arr->dimensions[0];
  m->cols = arr->dimensions[1];
  return true;
}

// Conservative overlap test on the byte ranges (like np.may_share_memory): a fast path
// gives up on any possible overlap and lets the exact check run in Python.
inline bool may_overlap(const F32Matrix& x, const F32Matrix& y) {
  const auto* x0 = reinterpret_cast<const char*>(x.data);
  const auto* y0 = reinterpret_cast<const char*>(y.data);
  return x0 < y0 + y.bytes() && y0 < x0 + x.bytes();
}

// Exact Python bool / float objects only (numpy scalars and ints take the slow path).
inline bool fast_bool(py::handle h, bool* v) {
  if (h.ptr() == Py_True) { *v = true; return true; }
  if (h.ptr() == Py_False) { *v = false; return true; }
  return false;
}

inline bool fast_double(py::handle h, double* v) {
  if (!PyFloat_CheckExact(h.ptr())) return false;
  *v = PyFloat_AS_DOUBLE(h.ptr());
  return true;
}

}  // namespace fastmlp
