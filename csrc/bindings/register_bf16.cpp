// The bf16 GEMM on raw arrays (fastmlp.ops.gemm(precision="bf16") validates first).
// Releases the GIL around packing and the kernel: they touch only the buffers passed in,
// kept alive by this frame's references.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "bindings/array_checks.h"
#include "cpu/dispatch.h"

namespace py = pybind11;

namespace fastmlp {

namespace {

// out[M, N] = bf16(a[M, K]) @ bf16(b[K, N]) with float32 sums, all C-contiguous float32;
// false (nothing written) when the active tier has no bf16 GEMM.
bool gemm_bf16_raw(py::array a, py::array b, py::array out) {
  check_ndim(a, "a", 2);
  check_ndim(b, "b", 2);
  check_ndim(out, "out", 2);
  const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
  if (b.shape(0) != K) throw py::value_error("gemm_bf16: b has the wrong height");
  if (out.shape(0) != M || out.shape(1) != N)
    throw py::value_error("gemm_bf16: out has the wrong shape");
  const float* pa = in_ptr<float>(a, "a");
  const float* pb = in_ptr<float>(b, "b");
  float* po = out_ptr<float>(out, "out");
  const KernelTable& k = kernels();
  if (!k.gemm_bf16) return false;
  std::vector<uint8_t> packed(static_cast<size_t>(k.packed_bf16_size(K, N)));
  py::gil_scoped_release release;
  k.pack_bf16(false, K, N, pb, N, packed.data());
  k.gemm_bf16(false, M, N, K, pa, K, packed.data(), po, N, nullptr, 0, N);
  return true;
}

}  // namespace

void register_bf16(py::module_& m) {
  m.def("gemm_bf16", &gemm_bf16_raw, py::arg("a"), py::arg("b"), py::arg("out"));
  m.def("has_bf16_gemm", []() { return kernels().gemm_bf16 != nullptr; },
        "Whether the active tier multiplies in bf16 (vdpbf16ps or AMX).");
}

}  // namespace fastmlp
