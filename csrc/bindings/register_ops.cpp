// Raw kernel entry points on float32 C-contiguous arrays. fastmlp.ops validates and
// converts user input first; these only check what would otherwise crash.
// Every call releases the GIL around the kernel: the kernels touch only the buffers
// passed in (kept alive by the py::array references held by this frame), never Python
// objects, so other Python threads may run meanwhile.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/array_checks.h"
#include "bindings/fast_arrays.h"
#include "cpu/dispatch.h"

namespace py = pybind11;

namespace fastmlp {

namespace {

Act act_from_int(int a) {
  if (a < 0 || a >= kActCount)
    throw py::value_error("activation code out of range: " + std::to_string(a));
  return static_cast<Act>(a);
}

// out = alpha * op(a) @ op(b) + beta * out, then optional bias and activation.
void gemm_raw(py::array a, py::array b, py::array c, bool ta, bool tb, float alpha,
              float beta, py::object bias, int act, float act_alpha) {
  check_ndim(a, "a", 2); check_ndim(b, "b", 2); check_ndim(c, "out", 2);
  const float* pa = in_ptr<float>(a, "a");
  const float* pb = in_ptr<float>(b, "b");
  float* pc = out_ptr<float>(c, "out");
  const int64_t M = ta ? a.shape(1) : a.shape(0);
  const int64_t K = ta ? a.shape(0) : a.shape(1);
  const int64_t Kb = tb ? b.shape(1) : b.shape(0);
  const int64_t N = tb ? b.shape(0) : b.shape(1);
  if (K != Kb) throw py::value_error("gemm: inner dimensions differ");
  if (c.shape(0) != M || c.shape(1) != N) throw py::value_error("gemm: out has the wrong shape");
  Epilogue ep;
  const Epilogue* pep = nullptr;
  py::array bias_arr;
  if (!bias.is_none() || act != 0) {
    if (!bias.is_none()) {
      bias_arr = bias.cast<py::array>();
      check_size(bias_arr, "bias", N);
      ep.bias = in_ptr<float>(bias_arr, "bias");
    }
    ep.act = act_from_int(act);
    ep.alpha = act_alpha;
    pep = &ep;
  }
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  k.gemm(ta, tb, M, N, K, alpha, pa, a.shape(1), pb, b.shape(1), beta, pc, N, pep);
}

// The common case of fastmlp.ops.gemm in one call: float32 C-contiguous operands, Python
// bool/float flags, `out` None (beta == 0) or a fresh-looking float32 matrix. Returns the
// result array, or None when anything is unusual (the Python layer then converts,
// validates and raises its errors). A 3 us GEMM of a 10-class layer cannot afford the
// ~2 us of Python validation.
py::object gemm_fast(py::handle a, py::handle b, py::handle out, py::handle trans_a,
                     py::handle trans_b, py::handle alpha, py::handle beta) {
  F32Matrix A, B, C;
  bool ta, tb;
  double al, be;
  if (!fast_f32_matrix(a, false, &A) || !fast_f32_matrix(b, false, &B) ||
      !fast_bool(trans_a, &ta) || !fast_bool(trans_b, &tb) || !fast_double(alpha, &al) ||
      !fast_double(beta, &be))
    return py::none();
  const int64_t M = ta ? A.cols : A.rows, K = ta ? A.rows : A.cols;
  const int64_t Kb = tb ? B.cols : B.rows, N = tb ? B.rows : B.cols;
  if (K != Kb || M == 0 || N == 0 || K == 0) return py::none();
  py::object result;
  if (out.is_none()) {
    if (be != 0.0) return py::none();
    result = py::array_t<float>({M, N});
    fast_f32_matrix(result, true, &C);
  } else {
    if (!fast_f32_matrix(out, true, &C) || C.rows != M || C.cols != N) return py::none();
    if (may_overlap(C, A) || may_overlap(C, B)) return py::none();
    result = py::reinterpret_borrow<py::object>(out);
  }
  const KernelTable& k = kernels();
  {
    // The kernel touches only the three buffers, kept alive by the caller's references.
    py::gil_scoped_release release;
    k.gemm(ta, tb, M, N, K, static_cast<float>(al), A.data, A.cols, B.data, B.cols,
           static_cast<float>(be), C.data, N, nullptr);
  }
  return result;
}

void act_forward_raw(py::array x, py::array y, int act, float alpha) {
  const float* px = in_ptr<float>(x, "x");
  float* py_ = out_ptr<float>(y, "out");
  check_size(y, "out", x.size());
  const Act a = act_from_int(act);
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  k.act_forward(a, alpha, px, py_, x.size());
}

void act_backward_raw(py::array y, py::array dy, py::array dx, int act, float alpha) {
  const float* p_y = in_ptr<float>(y, "y");
  const float* pdy = in_ptr<float>(dy, "dy");
  float* pdx = out_ptr<float>(dx, "dx");
  check_size(dy, "dy", y.size());
  check_size(dx, "dx", y.size());
  const Act a = act_from_int(act);
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  k.act_backward(a, alpha, p_y, pdy, pdx, y.size());
}

// dx = dy * act'(x) from the pre-activation x (every activation).
void act_backward_x_raw(py::array x, py::array dy, py::array dx, int act, float alpha) {
  const float* p_x = in_ptr<float>(x, "x");
  const float* pdy = in_ptr<float>(dy, "dy");
  float* pdx = out_ptr<float>(dx, "dx");
  check_size(dy, "dy", x.size());
  check_size(dx, "dx", x.size());
  const Act a = act_from_int(act);
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  k.act_backward_x(a, alpha, p_x, pdy, pdx, x.size());
}

void softmax_raw(py::array x, py::array y, bool log) {
  check_ndim(x, "x", 2);
  const float* px = in_ptr<float>(x, "x");
  float* py_ = out_ptr<float>(y, "out");
  check_size(y, "out", x.size());
  const int64_t rows = x.shape(0), cols = x.shape(1);
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  k.softmax(px, py_, rows, cols, log);
}

double softmax_xent_raw(py::array logits, py::array labels, py::object dlogits,
                        py::object row_loss, float grad_scale) {
  check_ndim(logits, "logits", 2);
  const float* px = in_ptr<float>(logits, "logits");
  const int64_t rows = logits.shape(0), cols = logits.shape(1);
  check_size(labels, "labels", rows);
  const int32_t* pl = in_ptr<int32_t>(labels, "labels");
  for (int64_t r = 0; r < rows; ++r)
    if (pl[r] < 0 || pl[r] >= cols)
      throw py::value_error("labels: value " + std::to_string(pl[r]) + " at index " +
                            std::to_string(r) + " is outside [0, " + std::to_string(cols) + ")");
  float* pd = nullptr;
  float* prl = nullptr;
  py::array d_arr, rl_arr;
  if (!dlogits.is_none()) {
    d_arr = dlogits.cast<py::array>();
    check_size(d_arr, "dlogits", logits.size());
    pd = out_ptr<float>(d_arr, "dlogits");
  }
  if (!row_loss.is_none()) {
    rl_arr = row_loss.cast<py::array>();
    check_size(rl_arr, "row_loss", rows);
    prl = out_ptr<float>(rl_arr, "row_loss");
  }
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  return k.softmax_xent(px, pl, pd, prl, rows, cols, grad_scale);
}

void colsum_raw(py::array x, py::array out) {
  check_ndim(x, "x", 2);
  const float* px = in_ptr<float>(x, "x");
  float* po = out_ptr<float>(out, "out");
  check_size(out, "out", x.shape(1));
  const int64_t rows = x.shape(0), cols = x.shape(1);
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  k.colsum(px, cols, po, rows, cols);
}

void sgd_raw(py::array p, py::array g, py::object v, float lr, float momentum,
             bool nesterov, float wd) {
  float* pp = out_ptr<float>(p, "param");
  const float* pg = in_ptr<float>(g, "grad");
  check_size(g, "grad", p.size());
  float* pv = nullptr;
  py::array v_arr;
  if (!v.is_none()) {
    v_arr = v.cast<py::array>();
    check_size(v_arr, "velocity", p.size());
    pv = out_ptr<float>(v_arr, "velocity");
  }
  if (momentum != 0.f && !pv) throw py::value_error("velocity: required when momentum != 0");
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  k.sgd_update(pp, pg, pv, p.size(), lr, momentum, nesterov, wd);
}

void adam_raw(py::array p, py::array g, py::array m, py::array v, int64_t step, float lr,
              float b1, float b2, float eps, float wd, bool decoupled) {
  float* pp = out_ptr<float>(p, "param");
  const float* pg = in_ptr<float>(g, "grad");
  float* pm = out_ptr<float>(m, "m");
  float* pv = out_ptr<float>(v, "v");
  check_size(g, "grad", p.size());
  check_size(m, "m", p.size());
  check_size(v, "v", p.size());
  if (step < 1) throw py::value_error("step: expected >= 1, got " + std::to_string(step));
  const KernelTable& k = kernels();
  py::gil_scoped_release release;
  k.adam_update(pp, pg, pm, pv, p.size(), lr, b1, b2, eps, wd, decoupled, step);
}

}  // namespace

void register_ops(py::module_& m) {
  m.def("gemm", &gemm_raw, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("trans_a"),
        py::arg("trans_b"), py::arg("alpha"), py::arg("beta"), py::arg("bias"),
        py::arg("act"), py::arg("act_alpha"));
  m.def("gemm_fast", &gemm_fast, py::arg("a"), py::arg("b"), py::arg("out"),
        py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha"), py::arg("beta"));
  m.def("act_forward", &act_forward_raw, py::arg("x"), py::arg("out"), py::arg("act"),
        py::arg("alpha"));
  m.def("act_backward", &act_backward_raw, py::arg("y"), py::arg("dy"), py::arg("dx"),
        py::arg("act"), py::arg("alpha"));
  m.def("act_backward_x", &act_backward_x_raw, py::arg("x"), py::arg("dy"), py::arg("dx"),
        py::arg("act"), py::arg("alpha"));
  // The activation names in code order (kernel_table.h): the one list Python reads, and
  // which of them need the pre-activation x for their backward pass.
  py::tuple names(kActCount), needs_x(kActCount);
  for (int32_t i = 0; i < kActCount; ++i) {
    names[i] = py::str(kActNames[i]);
    needs_x[i] = py::bool_(act_backward_needs_x(static_cast<Act>(i)));
  }
  m.attr("ACTIVATIONS") = names;
  m.attr("ACT_BACKWARD_NEEDS_X") = needs_x;
  m.def("softmax", &softmax_raw, py::arg("x"), py::arg("out"), py::arg("log"));
  m.def("softmax_xent", &softmax_xent_raw, py::arg("logits"), py::arg("labels"),
        py::arg("dlogits"), py::arg("row_loss"), py::arg("grad_scale"));
  m.def("colsum", &colsum_raw, py::arg("x"), py::arg("out"));
  m.def("sgd_update", &sgd_raw, py::arg("param"), py::arg("grad"), py::arg("velocity"),
        py::arg("lr"), py::arg("momentum"), py::arg("nesterov"), py::arg("weight_decay"));
  m.def("adam_update", &adam_raw, py::arg("param"), py::arg("grad"), py::arg("m"),
        py::arg("v"), py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("decoupled"));
}

}  // namespace fastmlp
