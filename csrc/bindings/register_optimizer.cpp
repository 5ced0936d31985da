// fastmlp._core.Network's optimizer methods: the optimizer and its clipping, the
// learning rate or schedule, the state slots (get / set / reset, the step count), the
// penalty, and the checkpoints of fit's divergence guard. The locking rules are
// register_engine.cpp's (see the note at its top).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "bindings/network_binding.h"

namespace fastmlp {

namespace py = pybind11;
using engine::Network;
using netbind::ExclusiveLock;
using netbind::SharedLock;
using netbind::check_checkpoint_slot;
using netbind::check_param_value;

void register_network_optimizer(py::class_<Network>& cls) {
  cls
      .def("set_optimizer", [](Network& n, int kind, float lr, float momentum, float beta1,
                               float beta2, float eps, float weight_decay, bool nesterov,
                               bool decoupled, float rho, bool centered, float clipnorm,
                               float clipvalue, float global_clipnorm) {
        if (kind < fastmlp::OptimizerConfig::sgd || kind > fastmlp::OptimizerConfig::nadam)
          throw py::value_error("optimizer kind out of range: " + std::to_string(kind));
        for (float v : {clipnorm, clipvalue, global_clipnorm})
          if (!(v >= 0.f && std::isfinite(v)))
            throw py::value_error("optimizer: clipping thresholds must be finite and >= 0");
        fastmlp::OptimizerConfig c;
        c.kind = kind; c.lr = lr; c.momentum = momentum; c.beta1 = beta1; c.beta2 = beta2;
        c.eps = eps; c.weight_decay = weight_decay; c.nesterov = nesterov;
        c.decoupled = decoupled; c.rho = rho; c.centered = centered; c.clipnorm = clipnorm;
        c.clipvalue = clipvalue; c.global_clipnorm = global_clipnorm;
        ExclusiveLock lock(n);
        n.set_optimizer(c);
      }, py::arg("kind"), py::arg("lr"), py::arg("momentum"), py::arg("beta1"),
         py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("nesterov"),
         py::arg("decoupled"), py::arg("rho") = 0.9f, py::arg("centered") = false,
         py::arg("clipnorm") = 0.f, py::arg("clipvalue") = 0.f,
         py::arg("global_clipnorm") = 0.f)
      .def("penalty", [](Network& n) {
        SharedLock lock(n);
        return n.penalty();
      }, "The penalties of the layers' regularizers at the current weights.")
      .def("save_checkpoint", [](Network& n, int slot) {
        check_checkpoint_slot(slot);
        py::gil_scoped_release release;  // a copy of every weight: big models take ~1 ms
        std::lock_guard<engine::RwLock> lock(n.lock());
        n.save_checkpoint(slot);
      }, py::arg("slot"), "Copies the weights, optimizer state and step into slot 0 or 1.")
      .def("restore_checkpoint", [](Network& n, int slot) {
        check_checkpoint_slot(slot);
        py::gil_scoped_release release;  // as save_checkpoint
        std::lock_guard<engine::RwLock> lock(n.lock());
        return n.restore_checkpoint(slot);
      }, py::arg("slot"), "Puts slot 0 or 1 back; False (nothing changed) when it is empty "
         "or the optimizer changed since.")
      .def("discard_checkpoints", [](Network& n) {
        ExclusiveLock lock(n);
        n.discard_checkpoints();
      }, "Frees both checkpoint slots.")
      .def("set_lr_schedule", [](Network& n, py::dict d) {
        // A dict of engine::LrSchedule fields (python/fastmlp/schedules.py makes it).
        engine::LrSchedule s;
        s.kind = static_cast<engine::LrSchedule::Kind>(d["kind"].cast<int>());
        if (s.kind < engine::LrSchedule::constant || s.kind > engine::LrSchedule::inverse_time)
          throw py::value_error("lr schedule: bad kind");
        auto opt = [&](const char* key, auto& field) {
          if (d.contains(key)) field = d[key].cast<std::decay_t<decltype(field)>>();
        };
        opt("initial", s.initial);
        opt("decay_steps", s.decay_steps);
        opt("decay_rate", s.decay_rate);
        opt("alpha", s.alpha);
        opt("staircase", s.staircase);
        opt("warmup", s.warmup);
        opt("warmup_target", s.warmup_target);
        opt("warmup_steps", s.warmup_steps);
        opt("boundaries", s.boundaries);
        opt("values", s.values);
        if (s.kind == engine::LrSchedule::piecewise &&
            s.values.size() != s.boundaries.size() + 1)
          throw py::value_error("lr schedule: values must have one more entry than boundaries");
        ExclusiveLock lock(n);
        n.set_lr_schedule(s);
      }, py::arg("schedule"), "Every update takes its learning rate from this schedule "
         "(set_learning_rate returns to a constant rate).")
      .def("scheduled_lr", [](Network& n, int64_t step) {
        SharedLock lock(n);
        return n.lr_schedule().at(step);
      }, py::arg("step"), "The learning rate of the update after `step` updates.")
      .def("set_learning_rate", [](Network& n, float lr) {
        ExclusiveLock lock(n);
        n.set_learning_rate(lr);
      }, py::arg("lr"))
      .def("reset_optimizer_state", [](Network& n) {
        ExclusiveLock lock(n);
        n.reset_optimizer_state();
      })
      .def("get_optimizer_state", [](Network& n) {
        // [(slot0, slot1, slot2) per parameter], copies shaped like the parameter; None
        // where the optimizer keeps no such slot. Taken under one shared lock (consistent).
        constexpr int kSlots = engine::kOptSlots;
        std::vector<std::array<py::object, kSlots>> out(static_cast<size_t>(n.num_params()));
        int64_t step = 0;
        {
          SharedLock lock(n);
          step = n.step();
          for (int i = 0; i < n.num_params(); ++i)
            for (int j = 0; j < kSlots; ++j) {
              const float* src = n.opt_state(i, j);
              if (!src) { out[static_cast<size_t>(i)][j] = py::none(); continue; }
              const int64_t r = n.param_rows(i), c = n.param_cols(i);
              py::array_t<float> a = n.param_is_vector(i) ? py::array_t<float>({c})
                                                          : py::array_t<float>({r, c});
              std::memcpy(a.mutable_data(), src, sizeof(float) * static_cast<size_t>(r * c));
              out[static_cast<size_t>(i)][j] = std::move(a);
            }
        }
        py::list l;
        for (auto& slots : out) l.append(py::make_tuple(slots[0], slots[1], slots[2]));
        return py::make_tuple(step, l);
      }, "(step, state): the optimizer's step count and copies of its state, one "
         "(slot0, slot1, slot2) tuple per parameter (SGD: velocity or None; Adam, AdamW, "
         "Nadam: m, v; RMSprop: v, momentum or None, mean gradient or None; None for "
         "the slots not kept), taken together.")
      .def("set_optimizer_state", [](Network& n, int64_t step, py::list state) {
        if (step < 0) throw py::value_error("optimizer state: step must be >= 0");
        if (static_cast<int>(state.size()) != n.num_params())
          throw py::value_error("optimizer state: expected " + std::to_string(n.num_params()) +
                                " entries, got " + std::to_string(state.size()));
        std::vector<py::array> keep;
        std::vector<std::tuple<int, int, const float*>> src;
        for (int i = 0; i < n.num_params(); ++i) {
          py::tuple slots = state[static_cast<size_t>(i)].cast<py::tuple>();
          // (pairs: files written before the third slot existed)
          if (slots.size() != 2 && slots.size() != engine::kOptSlots)
            throw py::value_error("optimizer state: expected tuples of " +
                                  std::to_string(engine::kOptSlots) + " slots");
          for (int j = 0; j < engine::kOptSlots; ++j) {
            const bool have = n.opt_state(i, j) != nullptr;
            const bool given = j < static_cast<int>(slots.size()) && !slots[j].is_none();
            if (given != have)
              throw py::value_error("optimizer state: parameter " + std::to_string(i) +
                                    " slot " + std::to_string(j) + (have ? " is missing"
                                    : " is not kept by this optimizer"));
            if (!have) continue;
            py::array a = slots[j].cast<py::array>();
            check_param_value(n, i, a);
            src.emplace_back(i, j, static_cast<const float*>(a.data()));
            keep.push_back(std::move(a));
          }
        }
        py::gil_scoped_release release;  // `keep` holds the arrays alive
        std::lock_guard<engine::RwLock> lock(n.lock());
        for (auto& [i, j, p] : src)
          std::memcpy(n.opt_state(i, j), p,
                      sizeof(float) * static_cast<size_t>(n.param_rows(i) * n.param_cols(i)));
        n.set_step(step);
      }, py::arg("step"), py::arg("state"), "Restores state taken by get_optimizer_state (same optimizer kind).")
      .def_property("step", &Network::step, [](Network& n, int64_t s) {
        ExclusiveLock lock(n);
        n.set_step(s);
      });
}

}  // namespace fastmlp
