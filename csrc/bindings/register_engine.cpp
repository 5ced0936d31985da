// Network engine bindings: fastmlp._core.Network and shuffled_indices.
//
// Long loops (train_batches, predict, evaluate, compute_gradients) run with the GIL
// released. That is safe because they only touch (a) buffers owned by the Network and
// (b) the NumPy buffers passed in, which this frame keeps alive through its py::array
// references for the whole call; no Python object is touched while the GIL is released.
//
// Thread safety: each network has a readers-writer lock (Network::lock()). Calls that
// only read the weights (predict, evaluate, compute_gradients, get_params) hold it
// shared and run concurrently, each with its own workspaces; calls that change the
// network (train_batches, set_param(s), optimizer and loss settings) hold it exclusively,
// so a reader sees the weights from before or after a whole training chunk, never torn.
// Rule against deadlocks: a thread never blocks on the lock while holding the GIL (a
// small predict only *tries* the lock with the GIL held), and nobody takes the GIL while
// holding the lock.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <type_traits>

#include "bindings/array_checks.h"
#include "bindings/network_binding.h"
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
using netbind::ExclusiveLock;
using netbind::SharedLock;
using netbind::check_param_value;

// x is [rows, ...]: the trailing dimensions of one example are flattened (row-major).
// Inputs up to this many values (e.g. one 784-pixel image) are predicted without
// releasing the GIL.
constexpr int64_t kSmallPredict = 4096;

InputView input_view(const py::array& x, int64_t cols, const char* name) {
  if (x.ndim() < 2)
    throw py::value_error(std::string(name) + ": expected an array of at least 2 dimensions, got " +
                          std::to_string(x.ndim()) + "-D");
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
  // Each example must be contiguous; rows may be strided (a slice, a broadcast view with
  // row stride 0, negative strides): the engine gathers rows through their stride.
  const py::ssize_t item = x.itemsize();
  py::ssize_t expect = item;
  for (py::ssize_t d = x.ndim() - 1; d >= 1; --d) {
    if (x.shape(d) != 1 && x.strides(d) != expect)
      throw py::value_error(std::string(name) +
                            ": expected each example to be contiguous in memory (C order)");
    expect *= x.shape(d);
  }
  v.data = x.data();
  v.rows = x.shape(0);
  v.cols = cols;
  v.ld = cols;
  if (v.rows > 1) {
    if (x.strides(0) % item != 0)
      throw py::value_error(std::string(name) + ": row stride is not a multiple of the item size");
    v.ld = x.strides(0) / item;
  }
  return v;
}

// A read-only NumPy view of parameter i (kept valid by `self`).
py::array param_view(py::object self, int i) {
  Network& n = self.cast<Network&>();
  if (i < 0 || i >= n.num_params()) throw py::index_error("param index out of range");
  const int64_t r = n.param_rows(i), c = n.param_cols(i);
  float* p = const_cast<float*>(n.param(i));
  py::array_t<float> a =
      n.param_is_vector(i) ? py::array_t<float>({c}, {static_cast<py::ssize_t>(sizeof(float))}, p, self)
             : py::array_t<float>({r, c},
                                  {static_cast<py::ssize_t>(c * sizeof(float)),
                                   static_cast<py::ssize_t>(sizeof(float))},
                                  p, self);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}


// Targets y and optional per-row weights w (None: every row 1) of `rows` rows.
TargetView target_view(const Network& net, const py::array& y, int64_t rows,
                       const py::object& w = py::none()) {
  TargetView t;
  if (!w.is_none()) {
    py::array wa = w.cast<py::array>();
    check_size(wa, "sample_weight", rows);
    t.weights = in_ptr<float>(wa, "sample_weight");
    for (int64_t r = 0; r < rows; ++r)
      if (!(t.weights[r] >= 0.f && std::isfinite(t.weights[r])))
        throw py::value_error("sample_weight: expected finite weights >= 0, got " +
                              std::to_string(t.weights[r]) + " at index " +
                              std::to_string(r));
  }
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
    // A dict of LayerSpec fields: kind, inputs and outputs required; each kind reads the
    // others it needs (the defaults are LayerSpec's).
    auto d = h.cast<py::dict>();
    for (const char* key : {"kind", "inputs", "outputs"})
      if (!d.contains(key))
        throw py::value_error(std::string("layer spec: missing '") + key + "'");
    LayerSpec s;
    const int kind = d["kind"].cast<int>();
    if (kind < 0 || kind >= engine::num_layer_kinds())
      throw py::value_error("layer spec: bad kind");
    s.kind = static_cast<LayerKind>(kind);
    s.in = d["inputs"].cast<int64_t>();
    s.out = d["outputs"].cast<int64_t>();
    auto opt = [&](const char* key, auto& field) {
      if (d.contains(key)) field = d[key].cast<std::decay_t<decltype(field)>>();
    };
    int act = 0;
    opt("act", act);
    if (act < 0 || act >= kActCount) throw py::value_error("layer spec: bad activation");
    s.act = static_cast<Act>(act);
    opt("alpha", s.alpha);
    opt("use_bias", s.use_bias);
    opt("scale", s.scale);
    opt("offset", s.offset);
    opt("rate", s.rate);
    opt("seed", s.seed);
    opt("stddev", s.stddev);
    opt("momentum", s.momentum);
    opt("epsilon", s.epsilon);
    opt("center", s.center);
    opt("use_gamma", s.use_gamma);
    opt("kernel_l1", s.kernel_l1);
    opt("kernel_l2", s.kernel_l2);
    opt("bias_l1", s.bias_l1);
    opt("bias_l2", s.bias_l2);
    opt("kernel_max_norm", s.kernel_max_norm);
    opt("bias_max_norm", s.bias_max_norm);
    opt("kernel_max_norm_axis", s.kernel_max_norm_axis);
    opt("quant_scale", s.quant_scale);
    opt("quant_zero", s.quant_zero);
    for (float v : {s.kernel_l1, s.kernel_l2, s.bias_l1, s.bias_l2, s.kernel_max_norm,
                    s.bias_max_norm})
      if (!(v >= 0.f && std::isfinite(v)))
        throw py::value_error("layer spec: penalties and max norms must be finite and >= 0");
    if (s.kernel_max_norm_axis != 0 && s.kernel_max_norm_axis != 1)
      throw py::value_error("layer spec: kernel_max_norm_axis must be 0 or 1");
    if (!(s.rate >= 0.f && s.rate < 1.f)) throw py::value_error("layer spec: bad rate");
    if (!(s.epsilon > 0.f) || !(s.stddev >= 0.f))
      throw py::value_error("layer spec: bad epsilon or stddev");
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
  // The layer kinds in code order: Python's layers name theirs from this list.
  py::tuple kinds(engine::num_layer_kinds());
  for (int i = 0; i < engine::num_layer_kinds(); ++i)
    kinds[static_cast<size_t>(i)] = engine::layer_kind_name(static_cast<engine::LayerKind>(i));
  m.attr("LAYER_KINDS") = kinds;
  m.attr("OPT_SLOTS") = engine::kOptSlots;  // optimizer state slots per parameter
  py::class_<Network> cls(m, "Network");
  cls
      .def(py::init(&make_network), py::arg("layers"), py::arg("input_dim"),
           py::arg("in_scale") = 1.f, py::arg("in_offset") = 0.f)
      .def_property_readonly_static("TILE_ROWS", [](py::object) { return Network::kTileRows; },
                                    "Rows per tile of an inference pass (predict, evaluate).")
      .def_property_readonly("input_dim", &Network::input_dim)
      .def_property_readonly("output_dim", &Network::output_dim)
      .def_property_readonly("num_params", &Network::num_params)
      .def("param", &param_view, py::arg("i"),
           "A read-only NumPy view of parameter i (kept valid by the view); change it "
           "with set_param / set_params.")
      .def("set_param", [](Network& n, int i, py::array value) {
        if (i < 0 || i >= n.num_params()) throw py::index_error("param index out of range");
        check_param_value(n, i, value);
        const float* src = static_cast<const float*>(value.data());
        py::gil_scoped_release release;  // see the note at the top of this file
        std::lock_guard<engine::RwLock> lock(n.lock());
        n.set_param(i, src);
      }, py::arg("i"), py::arg("value"),
         "Copies a float32 C-contiguous array into parameter i (bumps weights_version).")
      .def("set_params", [](Network& n, py::list values) {
        if (static_cast<int>(values.size()) != n.num_params())
          throw py::value_error("set_params: expected " + std::to_string(n.num_params()) +
                                " arrays, got " + std::to_string(values.size()));
        std::vector<py::array> keep;
        std::vector<const float*> src;
        for (int i = 0; i < n.num_params(); ++i) {
          py::array a = values[static_cast<size_t>(i)].cast<py::array>();
          check_param_value(n, i, a);
          src.push_back(static_cast<const float*>(a.data()));
          keep.push_back(std::move(a));
        }
        py::gil_scoped_release release;  // `keep` holds the arrays alive
        std::lock_guard<engine::RwLock> lock(n.lock());
        for (int i = 0; i < n.num_params(); ++i) n.set_param(i, src[static_cast<size_t>(i)]);
      }, py::arg("values"),
         "Sets every parameter at once (one consistent update for concurrent readers).")
      .def("get_params", [](Network& n) {
        std::vector<py::array_t<float>> out;
        std::vector<float*> dst;
        for (int i = 0; i < n.num_params(); ++i) {
          const int64_t r = n.param_rows(i), c = n.param_cols(i);
          out.push_back(n.param_is_vector(i) ? py::array_t<float>({c})
                                             : py::array_t<float>({r, c}));
          dst.push_back(out.back().mutable_data());
        }
        {
          SharedLock lock(n);
          for (int i = 0; i < n.num_params(); ++i)
            std::memcpy(dst[static_cast<size_t>(i)], n.param(i),
                        sizeof(float) * static_cast<size_t>(n.param_rows(i) * n.param_cols(i)));
        }
        py::list l;
        for (auto& a : out) l.append(a);
        return l;
      }, "Copies of all parameters, taken together (a consistent snapshot).")
      .def_property_readonly("weights_version", &Network::weights_version)
      .def_property_readonly("bad_input_row", &Network::bad_input_row,
                             "Row of x holding NaN or inf that stopped the last "
                             "train_batches call, or -1.")
      .def("memory", [](Network& n) {
        const engine::MemoryUse m = n.memory();
        py::dict d;
        d["weights"] = m.weights;
        d["optimizer"] = m.optimizer;
        d["packed"] = m.packed;
        d["workspace"] = m.workspace;
        d["checkpoints"] = m.checkpoints;
        d["total"] = m.total();
        return d;
      }, "Bytes held now: weights, optimizer state, packed weights, workspaces, "
         "checkpoints, total.")
      .def("release_caches", [](Network& n) {
        ExclusiveLock lock(n);
        n.release_caches();
      }, "Frees the workspaces and packed weights (rebuilt on demand).");
  // The optimizer, its state, schedules and checkpoints (register_optimizer.cpp).
  register_network_optimizer(cls);
  cls
      .def("set_loss", [](Network& n, int k, bool from_logits, float label_smoothing,
                          float delta) {
        if (k < 0 || k > static_cast<int>(LossKind::huber))
          throw py::value_error("loss code out of range: " + std::to_string(k));
        if (!(label_smoothing >= 0.f && label_smoothing <= 1.f))
          throw py::value_error("label_smoothing: expected a number in [0, 1], got " +
                                std::to_string(label_smoothing));
        if (label_smoothing != 0.f && static_cast<LossKind>(k) != LossKind::categorical_ce &&
            static_cast<LossKind>(k) != LossKind::binary_ce)
          throw py::value_error("label_smoothing: only categorical and binary cross-entropy "
                                "smooth their targets");
        if (!(delta > 0.f && delta <= std::numeric_limits<float>::max()))
          throw py::value_error("delta: expected a finite number > 0, got " +
                                std::to_string(delta));
        engine::LossConfig c;
        c.kind = static_cast<LossKind>(k);
        c.from_logits = from_logits;
        c.label_smoothing = label_smoothing;
        c.delta = delta;
        ExclusiveLock lock(n);
        n.set_loss(c);
      }, py::arg("loss"), py::arg("from_logits") = false, py::arg("label_smoothing") = 0.f,
         py::arg("delta") = 1.f,
         "Sets the loss (code: 0 sparse CE, 1 categorical CE, 2 mse, 3 binary CE, 4 mae, "
         "5 huber) and its settings (Keras 3's meaning); a final Softmax / Sigmoid is fused "
         "into its cross-entropy when from_logits is false.")
      .def_readwrite("fused_max_rows", &Network::fused_max_rows)
      .def("set_metrics", [](Network& n, const py::list& specs) {
        // Dicts of MetricConfig fields: kind required, k and threshold as they apply.
        std::vector<engine::MetricConfig> ms;
        for (const py::handle& h : specs) {
          auto d = h.cast<py::dict>();
          if (!d.contains("kind")) throw py::value_error("metric spec: missing 'kind'");
          engine::MetricConfig m;
          const int kind = d["kind"].cast<int>();
          if (kind < 0 || kind > static_cast<int>(engine::MetricKind::mse))
            throw py::value_error("metric spec: bad kind " + std::to_string(kind));
          m.kind = static_cast<engine::MetricKind>(kind);
          if (d.contains("k")) m.k = d["k"].cast<int32_t>();
          if (d.contains("threshold")) m.threshold = d["threshold"].cast<float>();
          if (m.k < 1) throw py::value_error("metric spec: k must be >= 1");
          const bool sparse = m.kind == engine::MetricKind::sparse_categorical_accuracy ||
                              m.kind == engine::MetricKind::sparse_top_k_categorical_accuracy;
          if (sparse != (n.loss() == LossKind::sparse_ce))
            throw py::value_error("metric spec: sparse metrics need sparse labels (the "
                                  "sparse cross-entropy loss), the others target rows");
          ms.push_back(m);
        }
        ExclusiveLock lock(n);
        n.set_metrics(std::move(ms));
      }, py::arg("metrics"),
         "Sets the metrics train_batches and evaluate report (dicts: kind, k, threshold; "
         "kind 0 binary, 1 sparse categorical, 2 categorical accuracy, 3 sparse top-k, "
         "4 top-k categorical accuracy, 5 mae, 6 mse).")
      .def_property_readonly("num_metrics", &Network::num_metrics)
      .def("train_batches", [](Network& n, py::array x, py::array y, py::array idx,
                               int64_t batch_size, int64_t first_batch, int64_t n_batches,
                               py::array losses, py::array metrics, double loss_limit,
                               const py::object& sample_weight) {
        InputView xv = input_view(x, n.input_dim(), "x");
        TargetView tv = target_view(n, y, xv.rows, sample_weight);
        const int32_t* pidx = in_ptr<int32_t>(idx, "idx");
        const int64_t n_idx = idx.size();
        for (int64_t i = 0; i < n_idx; ++i)
          if (pidx[i] < 0 || pidx[i] >= xv.rows) throw py::value_error("idx: out of range");
        if (batch_size < 1) throw py::value_error("batch_size must be >= 1");
        if (first_batch < 0 || n_batches < 0) throw py::value_error("bad batch range");
        if (losses.size() < n_batches || metrics.size() < n_batches * n.num_metrics())
          throw py::value_error("losses/metrics: too small for n_batches");
        float* pl = out_ptr<float>(losses, "losses");
        float* pa = out_ptr<float>(metrics, "metrics");
        py::gil_scoped_release release;  // see the note at the top of this file
        std::lock_guard<engine::RwLock> lock(n.lock());
        return n.train_batches(xv, tv, pidx, n_idx, batch_size, first_batch, n_batches, pl,
                               pa, loss_limit);
      }, py::arg("x"), py::arg("y"), py::arg("idx"), py::arg("batch_size"),
         py::arg("first_batch"), py::arg("n_batches"), py::arg("losses"), py::arg("metrics"),
         py::arg("loss_limit") = std::numeric_limits<double>::infinity(),
         py::arg("sample_weight") = py::none(),
         "Trains a range of batches; writes each batch's loss and its num_metrics metrics "
         "(row-major per batch); stops before the update of a batch whose loss is not "
         "finite or exceeds loss_limit. Returns the batches done (that one included).")
      .def("predict", [](Network& n, py::array x) {
        InputView xv = input_view(x, n.input_dim(), "x");
        py::array_t<float> out({xv.rows, n.output_dim()});
        float* po = out.mutable_data();
        if (xv.rows * n.input_dim() <= kSmallPredict && n.lock().try_lock_shared()) {
          // A few microseconds of work: releasing and re-taking the GIL would cost about
          // as much. Only tried with the GIL held: when a writer holds or waits for the
          // lock, the branch below waits for it with the GIL released.
          std::shared_lock<engine::RwLock> lock(n.lock(), std::adopt_lock);
          n.predict(xv, po);
        } else {
          py::gil_scoped_release release;  // see the note at the top of this file
          std::shared_lock<engine::RwLock> lock(n.lock());
          n.predict(xv, po);
        }
        return out;
      }, py::arg("x"))
      .def("predict_into", [](Network& n, py::array x, py::array out) {
        InputView xv = input_view(x, n.input_dim(), "x");
        check_size(out, "out", xv.rows * n.output_dim());
        float* po = out_ptr<float>(out, "out");
        py::gil_scoped_release release;  // see the note at the top of this file
        std::shared_lock<engine::RwLock> lock(n.lock());
        n.predict(xv, po);
      }, py::arg("x"), py::arg("out"))
      .def("first_nonfinite_row", [](Network& n, py::array x) {
        InputView xv = input_view(x, n.input_dim(), "x");
        py::gil_scoped_release release;  // a pass over all of x: other threads may run
        return n.first_nonfinite_row(xv);
      }, py::arg("x"))
      .def("evaluate", [](Network& n, py::array x, py::array y,
                          const py::object& sample_weight) {
        InputView xv = input_view(x, n.input_dim(), "x");
        TargetView tv = target_view(n, y, xv.rows, sample_weight);
        double loss = 0.0, wsum = 0.0;
        int64_t bad;
        py::array_t<double> msums(n.num_metrics());
        {
          py::gil_scoped_release release;  // see the note at the top of this file
          std::shared_lock<engine::RwLock> lock(n.lock());
          bad = n.evaluate(xv, tv, &loss, msums.mutable_data(), &wsum);
        }
        return py::make_tuple(loss, msums, wsum, bad);
      }, py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none())
      .def("compute_gradients", [](Network& n, py::array x, py::array y,
                                   const py::object& sample_weight) {
        InputView xv = input_view(x, n.input_dim(), "x");
        TargetView tv = target_view(n, y, xv.rows, sample_weight);
        if (xv.rows < 1) throw py::value_error("x: needs at least one row");
        py::list out;
        std::vector<float*> ptrs;
        for (int i = 0; i < n.num_params(); ++i) {
          const int64_t r = n.param_rows(i), c = n.param_cols(i);
          py::array_t<float> g =
              n.param_is_vector(i) ? py::array_t<float>({c}) : py::array_t<float>({r, c});
          ptrs.push_back(g.mutable_data());
          out.append(g);
        }
        double loss;
        {
          py::gil_scoped_release release;  // see the note at the top of this file
          std::shared_lock<engine::RwLock> lock(n.lock());
          loss = n.compute_gradients(xv, tv, ptrs);
        }
        return py::make_tuple(loss, out);
      }, py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none())
      .def("apply_gradients", [](Network& n, py::list grads) {
        if (static_cast<int>(grads.size()) != n.num_params())
          throw py::value_error("grads: expected " + std::to_string(n.num_params()) +
                                " arrays (one per parameter), got " +
                                std::to_string(grads.size()));
        // Copies: the update overwrites its gradients, and the caller keeps its arrays.
        std::vector<std::vector<float>> copies;
        for (int i = 0; i < n.num_params(); ++i) {
          py::array a = grads[static_cast<size_t>(i)].cast<py::array>();
          check_param_value(n, i, a);
          const auto* p = static_cast<const float*>(a.data());
          copies.emplace_back(p, p + n.param_rows(i) * n.param_cols(i));
        }
        std::vector<float*> ptrs;
        for (auto& c : copies) ptrs.push_back(c.data());
        py::gil_scoped_release release;  // only the copies and the network's buffers
        std::lock_guard<engine::RwLock> lock(n.lock());
        n.apply_gradients(ptrs);
      }, py::arg("grads"), "One optimizer update from gradients as compute_gradients "
         "gives them (penalties included; one array per parameter).");

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
