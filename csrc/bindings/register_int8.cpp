// The int8 entry points on raw arrays (fastmlp.ops validates and converts first; these
// check only what would otherwise crash). Each releases the GIL around the kernel: the
// kernels touch only the buffers passed in, kept alive by this frame's references.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/array_checks.h"
#include "cpu/dispatch.h"

namespace py = pybind11;

namespace fastmlp {

namespace {

// B [K, N] int8 packed for gemm_u8s8 (one layout on every tier): a 1-D uint8 array.
py::array_t<uint8_t> pack_s8_raw(py::array b) {
  check_ndim(b, "b", 2);
  const int8_t* pb = in_ptr<int8_t>(b, "b");
  const int64_t K = b.shape(0), N = b.shape(1);
  const KernelTable& k = kernels();
  py::array_t<uint8_t> out(static_cast<py::ssize_t>(k.packed_s8_size(K, N)));
  uint8_t* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    k.pack_s8(K, N, pb, N, po);
  }
  return out;
}

template <typename T>
const T* optional_vector(const py::object& o, const char* name, int64_t n, py::array* keep) {
  if (o.is_none()) return nullptr;
  *keep = o.cast<py::array>();
  check_size(*keep, name, n);
  return in_ptr<T>(*keep, name);
}

void gemm_u8s8_raw(py::array a, py::array packed, int64_t K, int64_t N, py::array out,
                   py::object a_zero, py::object a_scale, py::object b_scale,
                   py::object bias, int act, float act_alpha, bool a_full_range,
                   float out_scale, int out_zero) {
  check_ndim(a, "a", 2);
  check_ndim(out, "out", 2);
  const uint8_t* pa = in_ptr<uint8_t>(a, "a");
  const int64_t M = a.shape(0);
  if (a.shape(1) != K) throw py::value_error("gemm_u8s8: a has the wrong width");
  if (K > kInt8MaxK)
    throw py::value_error("gemm_u8s8: K must be at most " + std::to_string(kInt8MaxK));
  if (act < 0 || act >= kActCount) throw py::value_error("gemm_u8s8: bad activation code");
  const KernelTable& k = kernels();
  check_size(packed, "packed", k.packed_s8_size(K, N));
  const void* pp = in_ptr<uint8_t>(packed, "packed");
  if (out.shape(0) != M || out.shape(1) != N)
    throw py::value_error("gemm_u8s8: out has the wrong shape");
  py::array keep[4];
  Int8Output o;
  o.ldc = N;
  o.a_zero = optional_vector<int32_t>(a_zero, "a_zero", M, &keep[0]);
  o.a_full_range = a_full_range;
  if (py::dtype::of<int32_t>().is(out.dtype()) || out.dtype().equal(py::dtype::of<int32_t>())) {
    o.c32 = out_ptr<int32_t>(out, "out");
  } else {
    if (out_scale > 0.f) {
      if (out_zero < 0 || out_zero > 255)
        throw py::value_error("gemm_u8s8: out_zero must be in [0, 255]");
      o.q = out_ptr<uint8_t>(out, "out");
      o.out_inv_scale = 1.f / out_scale;
      o.out_zero = out_zero;
    } else {
      o.c = out_ptr<float>(out, "out");
    }
    o.a_scale = optional_vector<float>(a_scale, "a_scale", M, &keep[1]);
    o.b_scale = optional_vector<float>(b_scale, "b_scale", N, &keep[2]);
    if (!o.a_scale || !o.b_scale)
      throw py::value_error("gemm_u8s8: a float32 out needs a_scale and b_scale");
    o.ep.bias = optional_vector<float>(bias, "bias", N, &keep[3]);
    o.ep.act = static_cast<Act>(act);
    o.ep.alpha = act_alpha;
  }
  py::gil_scoped_release release;
  k.gemm_u8s8(M, N, K, pa, K, pp, &o, 0, N);
}

// Returns whether a row held NaN or inf.
bool quantize_rows_raw(py::array x, py::array q, py::array scale, py::array zero, int qmax,
                       float static_scale, int static_zero) {
  check_ndim(x, "x", 2);
  const float* px = in_ptr<float>(x, "x");
  const int64_t M = x.shape(0), K = x.shape(1);
  uint8_t* pq = out_ptr<uint8_t>(q, "q");
  check_size(q, "q", M * K);
  float* ps = out_ptr<float>(scale, "scale");
  check_size(scale, "scale", M);
  int32_t* pz = out_ptr<int32_t>(zero, "zero");
  check_size(zero, "zero", M);
  if (qmax < 1 || qmax > 255) throw py::value_error("quantize_rows: qmax must be in [1, 255]");
  if (static_zero < 0 || static_zero > qmax)
    throw py::value_error("quantize_rows: static_zero must be in [0, qmax]");
  int nonfinite = 0;
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  k.quantize_rows(px, M, K, K, qmax, static_scale, static_zero, pq, K, ps, pz, &nonfinite);
  return nonfinite != 0;
}

}  // namespace

void register_int8(py::module_& m) {
  m.def("pack_s8", &pack_s8_raw, py::arg("b"));
  m.def("gemm_u8s8", &gemm_u8s8_raw, py::arg("a"), py::arg("packed"), py::arg("K"),
        py::arg("N"), py::arg("out"), py::arg("a_zero"), py::arg("a_scale"),
        py::arg("b_scale"), py::arg("bias"), py::arg("act"), py::arg("act_alpha"),
        py::arg("a_full_range"), py::arg("out_scale") = 0.f, py::arg("out_zero") = 0);
  m.def("quantize_rows", &quantize_rows_raw, py::arg("x"), py::arg("q"), py::arg("scale"),
        py::arg("zero"), py::arg("qmax"), py::arg("static_scale"), py::arg("static_zero"));
  m.attr("INT8_MAX_K") = kInt8MaxK;
}

}  // namespace fastmlp
