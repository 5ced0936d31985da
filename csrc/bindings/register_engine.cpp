// Network engine bindings: fastmlp._core.Network and shuffled_indices.
//
// Long loops (train_batches, predict, evaluate, compute_gradients) run with the GIL
// released. That is safe because they only touch (a) buffers owned by the Network and
// (b) the NumPy buffers passed in, which this frame keeps alive through its py::array
// references for the whole call; no Python object is touched while the GIL is released.
// A per-network mutex serialises concurrent calls on the same network (its workspaces
// are shared); it is taken after the GIL is released so two threads never deadlock.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <mutex>
#include <string>

#include "bindings/array_checks.h"
#include "engine/network.h"

namespace py = pybind11;

namespace fastmlp {

namespace {

using engine::InputView;
using engine::LayerKind;
using engine::LayerSpec;
using engine::LossKind;
using engine::Network;
using engine::TargetView;

// x is [rows, ...]: the trailing dimensions of one example are flattened (row-major).
// Inputs up to this many values (e.g. one 784-pixel image) are predicted without
// releasing the GIL.
constexpr int64_t kSmallPredict = 4096;

InputView input_view(const py::array& x, int64_t cols, const char* name) {
  if (x.ndim() < 2)
    throw py::value_error(std::string(name) + ": expected an array of at least 2 dimensions, got " +
                          std::to_string(x.ndim()) + "-D");
  if (!(x.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  InputView v;
  const int type_num = py::detail::array_descriptor_proxy(
      py::detail::array_proxy(x.ptr())->descr)->type_num;
  if (type_num == py::detail::npy_api::NPY_UBYTE_) {
    v.is_u8 = true;
  } else if (type_num != py::detail::npy_api::NPY_FLOAT_) {
    throw py::type_error(std::string(name) + ": expected float32 or uint8, got " +
                         std::string(py::str(x.dtype())));
  }
  int64_t got = 1;
  for (py::ssize_t d = 1; d < x.ndim(); ++d) got *= x.shape(d);
  if (got != cols)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(cols) +
                          " values per example, got " + std::to_string(got));
  v.data = x.data();
  v.rows = x.shape(0);
  v.cols = cols;
  v.ld = cols;
  return v;
}

TargetView target_view(const Network& net, const py::array& y, int64_t rows) {
  TargetView t;
  t.cols = net.output_dim();
  if (net.loss() == LossKind::sparse_ce) {
    check_size(y, "y", rows);
    t.labels = in_ptr<int32_t>(y, "y");
    for (int64_t r = 0; r < rows; ++r)
      if (t.labels[r] < 0 || t.labels[r] >= t.cols)
        throw py::value_error("y: label " + std::to_string(t.labels[r]) + " at index " +
                              std::to_string(r) + " is outside [0, " +
                              std::to_string(t.cols) + ")");
  } else {
    check_size(y, "y", rows * t.cols);
    t.values = in_ptr<float>(y, "y");
  }
  return t;
}

std::unique_ptr<Network> make_network(const py::list& specs, int64_t input_dim,
                                      float in_scale, float in_offset) {
  std::vector<LayerSpec> layers;
  for (const py::handle& h : specs) {
    auto t = h.cast<py::tuple>();
    if (t.size() != 8) throw py::value_error("layer spec: expected 8 fields");
    LayerSpec s;
    const int kind = t[0].cast<int>();
    if (kind < 0 || kind > 3) throw py::value_error("layer spec: bad kind");
    s.kind = static_cast<LayerKind>(kind);
    s.in = t[1].cast<int64_t>();
    s.out = t[2].cast<int64_t>();
    const int act = t[3].cast<int>();
    if (act < 0 || act > 4) throw py::value_error("layer spec: bad activation");
    s.act = static_cast<Act>(act);
    s.alpha = t[4].cast<float>();
    s.use_bias = t[5].cast<bool>();
    s.scale = t[6].cast<float>();
    s.offset = t[7].cast<float>();
    if (s.in <= 0 || s.out <= 0) throw py::value_error("layer spec: sizes must be positive");
    layers.push_back(s);
  }
  try {
    return std::make_unique<Network>(std::move(layers), input_dim, in_scale, in_offset);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
}

}  // namespace

void register_engine(py::module_& m) {
  py::class_<Network>(m, "Network")
      .def(py::init(&make_network), py::arg("layers"), py::arg("input_dim"),
           py::arg("in_scale") = 1.f, py::arg("in_offset") = 0.f)
      .def_property_readonly("input_dim", &Network::input_dim)
      .def_property_readonly("output_dim", &Network::output_dim)
      .def_property_readonly("num_params", &Network::num_params)
      .def("param", [](py::object self, int i) {
        Network& n = self.cast<Network&>();
        if (i < 0 || i >= n.num_params()) throw py::index_error("param index out of range");
        const int64_t r = n.param_rows(i), c = n.param_cols(i);
        if (r == 1)
          return py::array_t<float>({c}, {static_cast<py::ssize_t>(sizeof(float))},
                                    n.param(i), self);
        return py::array_t<float>({r, c},
                                  {static_cast<py::ssize_t>(c * sizeof(float)),
                                   static_cast<py::ssize_t>(sizeof(float))},
                                  n.param(i), self);
      }, py::arg("i"), "A writable NumPy view of parameter i (kept valid by the view).")
      .def("set_optimizer", [](Network& n, int kind, float lr, float momentum, float beta1,
                               float beta2, float eps, float weight_decay, bool nesterov,
                               bool decoupled) {
        engine::OptimizerConfig c;
        c.kind = kind; c.lr = lr; c.momentum = momentum; c.beta1 = beta1; c.beta2 = beta2;
        c.eps = eps; c.weight_decay = weight_decay; c.nesterov = nesterov;
        c.decoupled = decoupled;
        std::lock_guard<std::mutex> lock(n.mutex());
        n.set_optimizer(c);
      }, py::arg("kind"), py::arg("lr"), py::arg("momentum"), py::arg("beta1"),
         py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("nesterov"),
         py::arg("decoupled"))
      .def("set_learning_rate", &Network::set_learning_rate, py::arg("lr"))
      .def("reset_optimizer_state", [](Network& n) {
        std::lock_guard<std::mutex> lock(n.mutex());
        n.reset_optimizer_state();
      })
      .def_property("step", &Network::step, &Network::set_step)
      .def("set_loss", [](Network& n, int k) {
        if (k < 0 || k > 2) throw py::value_error("loss code out of range");
        n.set_loss(static_cast<LossKind>(k));
      }, py::arg("loss"))
      .def_readwrite("fused_max_rows", &Network::fused_max_rows)
      .def("train_batches", [](Network& n, py::array x, py::array y, py::array idx,
                               int64_t batch_size, int64_t first_batch, int64_t n_batches,
                               py::array losses, py::array accs) {
        InputView xv = input_view(x, n.input_dim(), "x");
        TargetView tv = target_view(n, y, xv.rows);
        const int32_t* pidx = in_ptr<int32_t>(idx, "idx");
        const int64_t n_idx = idx.size();
        for (int64_t i = 0; i < n_idx; ++i)
          if (pidx[i] < 0 || pidx[i] >= xv.rows) throw py::value_error("idx: out of range");
        if (batch_size < 1) throw py::value_error("batch_size must be >= 1");
        if (first_batch < 0 || n_batches < 0) throw py::value_error("bad batch range");
        if (losses.size() < n_batches || accs.size() < n_batches)
          throw py::value_error("losses/accs: too small for n_batches");
        float* pl = out_ptr<float>(losses, "losses");
        float* pa = out_ptr<float>(accs, "accs");
        py::gil_scoped_release release;  // see the note at the top of this file
        std::lock_guard<std::mutex> lock(n.mutex());
        return n.train_batches(xv, tv, pidx, n_idx, batch_size, first_batch, n_batches, pl,
                               pa);
      }, py::arg("x"), py::arg("y"), py::arg("idx"), py::arg("batch_size"),
         py::arg("first_batch"), py::arg("n_batches"), py::arg("losses"), py::arg("accs"))
      .def("predict", [](Network& n, py::array x) {
        InputView xv = input_view(x, n.input_dim(), "x");
        py::array_t<float> out({xv.rows, n.output_dim()});
        float* po = out.mutable_data();
        if (xv.rows * n.input_dim() <= kSmallPredict) {
          // A few microseconds of work: releasing and re-taking the GIL would cost about
          // as much. The lock cannot deadlock: whoever holds it has released the GIL and
          // gives the lock back before taking the GIL again.
          std::lock_guard<std::mutex> lock(n.mutex());
          n.predict(xv, po);
        } else {
          py::gil_scoped_release release;  // see the note at the top of this file
          std::lock_guard<std::mutex> lock(n.mutex());
          n.predict(xv, po);
        }
        return out;
      }, py::arg("x"))
      .def("predict_into", [](Network& n, py::array x, py::array out) {
        InputView xv = input_view(x, n.input_dim(), "x");
        check_size(out, "out", xv.rows * n.output_dim());
        float* po = out_ptr<float>(out, "out");
        py::gil_scoped_release release;  // see the note at the top of this file
        std::lock_guard<std::mutex> lock(n.mutex());
        n.predict(xv, po);
      }, py::arg("x"), py::arg("out"))
      .def("evaluate", [](Network& n, py::array x, py::array y) {
        InputView xv = input_view(x, n.input_dim(), "x");
        TargetView tv = target_view(n, y, xv.rows);
        double loss = 0.0;
        int64_t correct = 0;
        {
          py::gil_scoped_release release;  // see the note at the top of this file
          std::lock_guard<std::mutex> lock(n.mutex());
          n.evaluate(xv, tv, &loss, &correct);
        }
        return py::make_tuple(loss, correct);
      }, py::arg("x"), py::arg("y"))
      .def("compute_gradients", [](Network& n, py::array x, py::array y) {
        InputView xv = input_view(x, n.input_dim(), "x");
        TargetView tv = target_view(n, y, xv.rows);
        if (xv.rows < 1) throw py::value_error("x: needs at least one row");
        py::list out;
        std::vector<float*> ptrs;
        for (int i = 0; i < n.num_params(); ++i) {
          const int64_t r = n.param_rows(i), c = n.param_cols(i);
          py::array_t<float> g = r == 1 ? py::array_t<float>({c}) : py::array_t<float>({r, c});
          ptrs.push_back(g.mutable_data());
          out.append(g);
        }
        double loss;
        {
          py::gil_scoped_release release;  // see the note at the top of this file
          std::lock_guard<std::mutex> lock(n.mutex());
          loss = n.compute_gradients(xv, tv, ptrs);
        }
        return py::make_tuple(loss, out);
      }, py::arg("x"), py::arg("y"));

  m.def("shuffled_indices", [](int64_t n, uint64_t seed) {
    if (n < 0 || n > INT32_MAX) throw py::value_error("n: out of range");
    py::array_t<int32_t> out(n);
    int32_t* p = out.mutable_data();
    {
      py::gil_scoped_release release;
      engine::shuffled_indices(n, seed, p);
    }
    return out;
  }, py::arg("n"), py::arg("seed"),
     "A permutation of range(n) (xoshiro256** + Fisher-Yates), deterministic per seed.");
}

}  // namespace fastmlp
