"""``Sequential``: a Keras-like model whose training steps, epochs and inference passes run
as whole loops in C++ (``fastmlp._core.Network``); Python never loops over layers or batches.
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np

from . import _core, _fit_loop, _model_data, _model_io, quantization as _quantization
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from . import random as _random
from ._metric_logs import EpochBatches, evaluate_logs
from ._model_checks import check_int as _check_int, check_shape as _check_shape, \
    fmt_bytes as _fmt_bytes, nonfinite_input as _nonfinite_input, \
    refuse_nonfinite as _refuse_nonfinite
from ._sample_weights import check_sample_weight, row_weights
from .callbacks import History
from ._engine_plan import plan as _engine_plan
from .layers import Layer

__all__ = ["Sequential"]

_perf = time.perf_counter
_U8 = np.dtype(np.uint8)
# rows per C++ call in a big predict: whole engine tiles (same bits as one call), 65,536
_PREDICT_SLICE = 256 * _core.Network.TILE_ROWS


class Sequential:
    """A linear stack of layers.

    ``Sequential(layers=None, input_shape=None, seed=None, dtype_policy=None)``:
    ``input_shape`` is the shape of one example (no Input layer); ``seed`` seeds the
    weight initialisation (default: drawn from :func:`fastmlp.set_random_seed`'s
    generator, else from the OS); ``dtype_policy`` (``"float32"`` or
    ``"mixed_bfloat16"``, see :mod:`fastmlp.mixed_precision`) is set on every Dense the
    model holds or is given later (default: each layer keeps its own).
    """

    def __init__(self, layers=None, input_shape=None, seed=None, name=None,
                 dtype_policy=None):
        self.name = name or "sequential"
        if dtype_policy is not None and dtype_policy not in _quantization.TRAINING_POLICIES:
            raise ValueError(f"Sequential: dtype_policy must be None or one of "
                             f"{', '.join(map(repr, _quantization.TRAINING_POLICIES))}; got "
                             f"{dtype_policy!r} (int8 and bf16 models come from "
                             "model.quantize(...))")
        self._policy = dtype_policy
        self._layers: list[Layer] = []
        self._input_shape = None if input_shape is None else _check_shape(input_shape)
        self._seed = None if seed is None else _random._check_seed(seed)
        self._rng = None
        self._net = None
        self.optimizer = None
        self.loss = None
        self.metrics: list = []  # fastmlp.metrics.Metric, in compile's order
        self._metrics_default = True  # compile's metrics=None (saving keeps the default)
        self._compiled = False
        self.stop_training = False
        self.history = None
        self._last_pred = (0, 0.0)
        self._aranges: dict[int, np.ndarray] = {}
        self._build_lock = threading.Lock()  # one thread builds the C++ network
        if layers is not None:
            if isinstance(layers, Layer):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # ---------------------------------------------------------------- structure
    @property
    def layers(self) -> list:
        """A copy of the list of layers, in order."""
        return list(self._layers)

    @property
    def input_shape(self):
        """Shape of one input example (a tuple without the batch dimension), or None if unknown."""
        return self._input_shape

    @property
    def output_shape(self):
        """Shape of one output example (without the batch dimension), or None if the
        input shape is unknown. Builds the layers if needed.
        """
        if not self._build():
            return None
        return self._layers[-1].output_shape if self._layers else self._input_shape

    def add(self, layer: Layer) -> None:
        """Append a layer to the model.

        If the input shape is known the model is rebuilt at once; if that fails the layer is
        removed again and the error is raised.

        Parameters
        ----------
        layer : Layer
            The layer to append (a layer instance can be in a model only once).

        Raises
        ------
        TypeError
            If ``layer`` is not a fastmlp layer.
        ValueError
            If ``layer`` is already in this model, or does not fit the previous layer's output.
        """
        if not isinstance(layer, Layer):
            raise TypeError(f"add: expected a fastmlp layer (e.g. fm.Dense(10)), got "
                            f"{type(layer).__name__} {layer!r}")
        if any(layer is l for l in self._layers):
            raise ValueError(f"layer {layer.name!r} is already in this model")
        if self._policy is not None and \
                getattr(layer, "dtype_policy", None) in _quantization.TRAINING_POLICIES:
            layer.dtype_policy = self._policy
        self._layers.append(layer)
        self._net = None
        if self._input_shape is not None:
            try:
                self._build()
            except Exception:
                self._layers.pop()
                raise

    def pop(self) -> Layer:
        """Remove and return the last layer.

        Raises
        ------
        IndexError
            If the model has no layers.
        """
        if not self._layers:
            raise IndexError("pop: the model has no layers")
        self._net = None
        return self._layers.pop()

    def _layer_seed_base(self):
        self._init_rng()
        return self._seed_used

    def _init_rng(self):
        if self._rng is None:
            seed = self._seed if self._seed is not None else _random.draw_seed()
            self._seed_used = seed  # also the source of the random layers' seeds
            self._rng = np.random.default_rng(seed)
        return self._rng

    def _build(self) -> bool:
        """Compute shapes and initialise missing weights; False if the input is unknown."""
        if self._input_shape is None:
            return False
        shape = self._input_shape
        for layer in self._layers:
            if layer.input_shape != shape or layer.output_shape is None or \
                    layer._needs_init():
                layer.build(shape, self._init_rng())
            shape = layer.output_shape
        return True

    def build(self, input_shape=None) -> None:
        """Compute the layer shapes and initialise any missing weights.

        Parameters
        ----------
        input_shape : tuple of int, optional
            Shape of one example (without the batch dimension). Needed unless the model
            already knows its input shape.

        Raises
        ------
        ValueError
            If ``input_shape`` differs from the shape the model was built for, or no input
            shape is known.
        """
        if input_shape is not None:
            input_shape = _check_shape(input_shape)
            if self._input_shape is not None and input_shape != self._input_shape:
                raise ValueError(f"build: the model was built for input_shape="
                                 f"{self._input_shape}, got {input_shape}")
            self._input_shape = input_shape
        if not self._build():
            raise ValueError("build: the input shape is unknown; pass input_shape= to "
                             "Sequential(...) or to build()")

    def _require_built(self, what):
        if not self._build():
            raise ValueError(f"{what}: the model is not built yet (its input shape is unknown); "
                             "pass input_shape= to Sequential(...), call build(input_shape), "
                             "or fit it on data first")

    def count_params(self) -> int:
        """Total number of weights (kernels and biases) of all layers.

        Raises
        ------
        ValueError
            If the model is not built yet (its input shape is unknown).
        """
        self._require_built("count_params")
        return int(sum(l.count_params() for l in self._layers))

    def get_weights(self) -> list:
        """Copies of the weights ``[W1 [in, out], b1, W2, b2, ...]``, taken together: a
        consistent snapshot even while another thread runs ``fit``."""
        self._require_built("get_weights")
        net = self._net
        if net is None:
            out = []
            for l in self._layers:
                out.extend(l.get_weights())
            return out
        arrays, out = net.get_params(), []
        for l in self._layers:  # (an int8 Dense's kernel comes back as int8)
            for name in (l._weight_names() if l.weights else ()):
                out.append(l._public_weight(name, arrays[len(out)]))
        return out

    def _optimizer_state(self):
        """``(step, [(slot0, slot1) per weight array])`` of the compiled model's optimizer
        (copies, taken together), or None before the engine exists (no step taken)."""
        net = self._net
        if not self._compiled or net is None:
            return None
        return net.get_optimizer_state()

    def _set_optimizer_state(self, step, state) -> None:
        """Restores what ``_optimizer_state`` returned (same optimizer kind and shapes)."""
        self._require_compiled("_set_optimizer_state")
        self._ensure_net().set_optimizer_state(int(step), list(state))

    def set_weights(self, weights) -> None:
        """Replace all weights (``[W1 [in, out], b1, W2, b2, ...]``, as ``get_weights``).

        The C++ engine takes them in one step (concurrent ``predict`` calls see the old
        or the new weights, never a mix) and re-packs them for inference."""
        self._require_built("set_weights")
        weights = list(weights)
        expected = sum(len(l.weights) for l in self._layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights: the model has {expected} weight arrays "
                             f"([W1 [in, out], b1, W2, b2, ...]), got {len(weights)}")
        checked, i = [], 0
        for l in self._layers:
            k = len(l.weights)
            if k:
                checked.extend(l._check_weights(weights[i:i + k]))
            i += k
        net = self._net
        if net is not None:
            net.set_params(checked)
            return
        i = 0
        for l in self._layers:
            k = len(l.weights)
            if k:
                l.set_weights(checked[i:i + k])
            i += k

    def memory_bytes(self, detail=False):
        """Bytes the model holds in the engine: weights, optimizer state (after
        ``compile``), inference copies of the weights packed for the GEMM kernels, and
        workspaces (training: sized by the largest batch; inference: tiles of 256 rows per
        thread, a few kept for reuse) and, during ``fit``, the snapshots its divergence
        guard may restore. ``detail=True`` returns a dict by kind.
        Workspaces do not grow with the number of rows passed to predict/evaluate."""
        self._require_built("memory_bytes")
        net = self._net
        if net is None:
            w = 4 * self.count_params()
            m = {"weights": w, "optimizer": 0, "packed": 0, "workspace": 0, "checkpoints": 0,
                 "total": w}
        else:
            m = dict(net.memory())
        return m if detail else int(m["total"])

    def summary(self, print_fn=None) -> None:
        """Print a table of the layers, their output shapes and parameter counts.

        When the model is built, the total parameter count and the memory the engine holds
        (see ``memory_bytes``) are printed too; otherwise shapes and counts show as ``?``.

        Parameters
        ----------
        print_fn : callable, optional
            Called with each line of the table (default: ``print``).
        """
        print_fn = print_fn or print
        built = self._build()
        rows = []
        for l in self._layers:
            shape = f"(None, {', '.join(map(str, l.output_shape))})" if built else "?"
            policy = getattr(l, "dtype_policy", "float32")
            kind = type(l).__name__ + ("" if policy == "float32" else f", {policy}")
            rows.append((f"{l.name} ({kind})", shape,
                         str(l.count_params()) if built else "?"))
        w0 = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 2
        w1 = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 2
        line = "_" * (w0 + w1 + 12)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        print_fn(f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}Param #")
        print_fn("=" * len(line))
        for r in rows:
            print_fn(f"{r[0]:<{w0}}{r[1]:<{w1}}{r[2]}")
        print_fn("=" * len(line))
        total = self.count_params() if built else "?"
        print_fn(f"Total params: {total}")
        if self.dtype_policy != "float32":
            note = "" if self.dtype_policy == "mixed_bfloat16" else " (inference only)"
            print_fn(f"Dtype policy: {self.dtype_policy}{note}")
        if built:
            m = self.memory_bytes(detail=True)
            print_fn(f"Memory: {_fmt_bytes(m['total'])} (weights {_fmt_bytes(m['weights'])}, "
                     f"optimizer state {_fmt_bytes(m['optimizer'])}, packed weights "
                     f"{_fmt_bytes(m['packed'])}, workspaces {_fmt_bytes(m['workspace'])})")
        print_fn(line)

    # ---------------------------------------------------------------- engine
    def _ensure_net(self):
        if self._net is not None:
            return self._net
        with self._build_lock:  # concurrent first calls build one network
            if self._net is not None:
                return self._net
            self._require_built("the model")
            specs, dense, scale, offset = _engine_plan(self._layers, self._input_shape,
                                                       self._layer_seed_base())
            net = _core.Network(specs, int(np.prod(self._input_shape)), scale, offset)
            p = 0
            # Weights move into the network's aligned buffers; the layers keep read-only
            # views (writes go through set_weights, which the engine sees).
            for l in dense:
                l._bind_engine(net, p)
                p += len(l.weights)
            self._net = net
            if self._compiled:
                self._configure_net()
            return net

    def _configure_net(self):
        self._configured_net = None
        self._check_loss_fits()
        self._net.set_loss(**self.loss._engine_args())
        self._net.set_metrics(_metrics.engine_specs(self.metrics, self.loss,
                                                    self._layers[-1].output_shape[0]))
        self._net.set_optimizer(**self.optimizer._engine_args())
        self._net.reset_optimizer_state()
        self._configured_net = self._net  # (_prep_y retries a network left unconfigured)

    def _check_loss_fits(self):
        out = self._layers[-1].output_shape
        if len(out) != 1:
            raise ValueError(f"the model's output has shape {out} per example; end it with "
                             "a Dense layer (after fm.Flatten())")
        if self.loss.is_crossentropy and out[0] < 2:
            raise ValueError(
                f"loss={self.loss.name!r} needs at least 2 output units (one per class), but "
                f"the model outputs {out[0]}. For two classes use Dense(2) (+ Softmax), or "
                f"Dense(1, activation='sigmoid') with loss='binary_crossentropy'; or use "
                f"loss='mse' for a single output.")
        conflict = _losses._logits_conflict(self.loss, self._layers, self._input_shape)
        if conflict:
            raise ValueError(conflict)

    # ---------------------------------------------------------------- compile
    def compile(self, optimizer="adam", loss=None, metrics=None) -> None:
        """Configure the model for training.

        Parameters
        ----------
        optimizer : str or Optimizer, default "adam"
            ``"sgd"``, ``"adam"``, ``"adamw"`` (case-insensitive) or an optimizer instance.
        loss : str or Loss
            Required: ``"sparse_categorical_crossentropy"``, ``"categorical_crossentropy"``,
            ``"binary_crossentropy"``, ``"mse"`` / ``"mean_squared_error"``, ``"mae"`` /
            ``"mean_absolute_error"``, ``"huber"``, or a :class:`fastmlp.losses.Loss`
            (e.g. ``CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)``).
            As in Keras the cross-entropies take the outputs as probabilities unless
            ``from_logits=True``; a final Softmax / sigmoid is fused with them.
        metrics : list of str or Metric, optional
            Reported beside the loss, computed per batch in the C++ loop: ``"accuracy"`` /
            ``"acc"`` (the accuracy that fits the loss, as in Keras), ``"binary_accuracy"``,
            ``"sparse_categorical_accuracy"``, ``"categorical_accuracy"``,
            ``"top_k_categorical_accuracy"``, ``"sparse_top_k_categorical_accuracy"``
            (k=5), ``"mae"`` / ``"mean_absolute_error"``, ``"mse"`` /
            ``"mean_squared_error"``, or objects of :mod:`fastmlp.metrics` (e.g.
            ``TopKCategoricalAccuracy(k=3)``). Logged under the string or the object's
            ``name``. None (the default) reports ``"accuracy"``, as fastmlp always has;
            ``[]`` reports the loss only.

        Raises
        ------
        ValueError
            If ``loss`` is missing or unknown, the optimizer or a metric is unknown (the
            message lists the known ones), a metric cannot read the loss's targets
            (``"categorical_accuracy"`` with integer labels), or the loss does not fit the
            model's output (``from_logits=True`` with a model that ends with Softmax or a
            sigmoid).
        """
        opt = _optimizers.get(optimizer)
        if loss is None:
            raise ValueError("compile: loss is required, e.g. "
                             "loss='sparse_categorical_crossentropy', "
                             "'categorical_crossentropy' or 'mse'")
        loss = _losses.get(loss)
        names = _metrics.get_list(metrics)
        _metrics.engine_specs(names, loss, None)  # refuses metrics this loss cannot feed
        prev = (self.optimizer, self.loss, self.metrics, self._metrics_default,
                self._compiled, getattr(self, "_configured_net", None))
        self.optimizer, self.loss, self.metrics = opt, loss, names
        self._metrics_default = metrics is None
        self._compiled = True
        if self._input_shape is not None:
            try:
                self._build()
                if self._net is None:
                    self._ensure_net()  # configures it too
                else:
                    self._configure_net()
            except ValueError:
                # a loss that does not fit the model (refused before the network is
                # touched): the previous settings stay
                (self.optimizer, self.loss, self.metrics, self._metrics_default,
                 self._compiled, self._configured_net) = prev
                raise

    def _require_compiled(self, what):
        if not self._compiled:
            raise RuntimeError(f"{what}: compile the model first, e.g. model.compile("
                               "optimizer='adam', loss='sparse_categorical_crossentropy', "
                               "metrics=['accuracy'])")

    # ---------------------------------------------------------------- data checks
    def _prep_x(self, x, name="x"):
        """x as the engine reads it (see _model_data.prep_x); builds the model on first use."""
        return _model_data.prep_x(self, x, name)

    def _prep_y(self, y, n, name="y"):
        """y as the loss's targets for n examples (see _model_data.prep_y)."""
        return _model_data.prep_y(self, y, n, name)

    def _prep_xy(self, x, y, x_name="x", y_name="y"):
        """Training data checked as fit checks it (x first, NaN / inf refused before any
        step, then y against x); builds the engine network."""
        x = self._prep_x(x, x_name)
        _refuse_nonfinite(self._ensure_net(), x, x_name)
        return x, self._prep_y(y, len(x), y_name)

    # ---------------------------------------------------------------- training
    def fit(self, x=None, y=None, batch_size=32, epochs=1, steps_per_epoch=None,
            validation_data=None, validation_split=0.0, shuffle=True, seed=None, verbose=1,
            callbacks=None, initial_epoch=0, sample_weight=None, class_weight=None) -> History:
        """Train; returns a :class:`fastmlp.callbacks.History`. See the issue-3 API.

        ``sample_weight`` (one weight >= 0 per example) and ``class_weight`` ({class:
        weight}, classes from the labels: integer labels, the argmax of one-hot rows, the
        0/1 target of a single sigmoid output; unnamed classes weigh 1) weight each row as
        in Keras 3: a batch's loss (and its gradient) is ``sum(w_i l_i) / rows``, its
        metrics ``sum(w_i m_i) / sum(w_i)``; given both, they multiply. Applied in the
        C++ loop. ``validation_data`` may be ``(x_val, y_val, sample_weight_val)``;
        ``validation_split`` splits the sample weights with the data, and class_weight
        does not apply to validation data (as in Keras).
        """
        self._require_compiled("fit")
        _quantization.refuse_training(self, "fit")
        return _fit_loop.fit(self, x, y, batch_size, epochs, steps_per_epoch, validation_data,
                             validation_split, shuffle, seed, verbose, callbacks,
                             initial_epoch, sample_weight, class_weight)

    def _check_batch_rows(self, rows, what):
        """Layers that need several rows per training batch (BatchNormalization) say so."""
        for l in self._layers:
            if rows < l.min_batch_rows:
                raise ValueError(
                    f"{what}: layer {l.name!r} ({type(l).__name__}) needs at least "
                    f"{l.min_batch_rows} rows per training batch, but a batch would have "
                    f"{rows}. Use a larger batch_size (or one that divides the number of "
                    f"examples, so that no last batch of {rows} is left over).")

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None) -> dict:
        """One training step on (x, y) as one batch, in one C++ call; the weights as in
        ``fit``. Returns the batch's logs (loss and compile's metrics)."""
        self._require_compiled("train_on_batch")
        _quantization.refuse_training(self, "train_on_batch")
        x = self._prep_x(x)  # the engine checks the batch it gathers
        net = self._ensure_net()
        y = self._prep_y(y, len(x))
        n = len(x)
        self._check_batch_rows(n, "train_on_batch")
        w = row_weights(sample_weight, class_weight, y, self.loss, n)
        idx = self._aranges.get(n)
        if idx is None:
            idx = self._aranges[n] = np.arange(n, dtype=np.int32)
        eb = EpochBatches([m.name for m in self.metrics], np.array([float(n)]), n)
        out = eb.losses
        self.optimizer._apply_rate(net)
        net.train_batches(x, y, idx, n, 0, 1, eb.losses, eb.values, sample_weight=w)
        if net.bad_input_row >= 0:
            raise _nonfinite_input(x, net.bad_input_row, "x", " The weights are unchanged.")
        if not math.isfinite(float(out[0])):
            raise FloatingPointError(
                f"training diverged: the loss became {float(out[0])} in train_on_batch; the "
                f"weights are unchanged. Lower the learning rate (now "
                f"{self.optimizer._rate_at(net.step):g}).")
        return eb.batch(0)

    # ---------------------------------------------------------------- inference
    def evaluate(self, x, y, batch_size=256, verbose=0, return_dict=True,
                 sample_weight=None) -> dict:
        """Loss and compile's metrics over (x, y), as a dict keyed like fit's logs. Rows
        go through the network in cache-sized tiles in C++ whatever ``batch_size`` is (an
        int >= 1 or None, checked as in ``fit``: memory is bounded by the tiles, not by
        it). With ``sample_weight`` (one weight >= 0 per example) the loss is
        ``sum(w_i l_i) / N`` and each metric ``sum(w_i m_i) / sum(w_i)``, as in Keras."""
        _check_int("batch_size", batch_size, 1, allow_none=True)
        self._require_compiled("evaluate")
        x = self._prep_x(x)  # the engine checks each tile it gathers
        net = self._ensure_net()
        y = self._prep_y(y, len(x))
        w = check_sample_weight(sample_weight, len(x))
        result = net.evaluate(x, y, w)
        if result[3] >= 0:
            raise _nonfinite_input(x, result[3], "x")
        return evaluate_logs([m.name for m in self.metrics], result, len(x))

    def predict(self, x, batch_size=None, verbose=0):
        """Outputs of the layers for x (float32 ``[N, outputs]``); a final Softmax is applied.

        Rows go through all layers in cache-sized tiles in C++ (parallel over tiles; a
        batch of a single tile splits each layer's outputs between the threads), so
        ``batch_size`` is accepted for Keras compatibility only. A row of x holding NaN or
        inf gives an all-NaN output row (other rows are unaffected); ``fit`` and
        ``evaluate`` raise ``ValueError`` on such input instead (``fit`` before training
        anything). Every entry point refuses float64 values beyond the float32 range
        with a ``ValueError`` naming the value, rather than computing with inf.

        Each row's result is independent of the other rows passed along (bit for bit: a
        row predicted alone equals that row of a batch) and of the thread count. Safe to
        call from several threads at once, also while another thread trains the model:
        see the README's "Thread safety" section.
        """
        if batch_size is not None:  # accepted, not needed (see above), but never garbage
            _check_int("batch_size", batch_size, 1)
        net = self._net
        # Fast path (a float32/uint8 C-contiguous batch of the right shape): about a
        # microsecond of Python; anything else goes through the checks below.
        if net is not None and type(x) is np.ndarray and x.shape[1:] == self._input_shape \
                and 0 < len(x) <= _PREDICT_SLICE:
            t0 = _perf()
            try:
                out = net.predict(x)
            except (TypeError, ValueError):
                pass
            else:
                self._last_pred = (len(x), _perf() - t0)
                return out
        x = self._prep_x(x)
        net = self._ensure_net()
        t0 = _perf()
        if len(x) <= _PREDICT_SLICE:
            out = net.predict(x)
        else:
            # Slices of whole tiles (same results bit for bit): Ctrl-C is honoured between
            # them instead of after the whole input.
            out = np.empty((len(x), net.output_dim), dtype=np.float32)
            for i in range(0, len(x), _PREDICT_SLICE):
                net.predict_into(x[i:i + _PREDICT_SLICE], out[i:i + _PREDICT_SLICE])
        self._last_pred = (len(x), _perf() - t0)
        return out

    def __call__(self, x):
        return self.predict(x)

    @property
    def last_inference_rate(self):
        """Samples per second of the last ``predict`` call (None before the first)."""
        n, dt = self._last_pred
        if not n:
            return None
        return n / dt if dt > 0 else float("inf")

    # ---------------------------------------------------------------- quantization
    def quantize(self, mode, calibration_data=None):
        """Quantize in place for inference: ``"int8"`` or ``"bf16"`` (Keras 3's
        ``Model.quantize``); see :mod:`fastmlp.quantization` for which layers and how.
        ``calibration_data`` (int8): inputs from which static input scales are taken."""
        _quantization.quantize(self, mode, calibration_data)

    @property
    def dtype_policy(self) -> str:
        """``"float32"``, ``"mixed_bfloat16"`` (its Dense layers compute in bf16), or
        ``"int8"`` / ``"bf16"`` after ``quantize``."""
        return _quantization.dtype_policy(self)

    # ---------------------------------------------------------------- saving
    def get_config(self) -> dict:
        """JSON-serialisable description of the model: its name, input shape and
        each layer's ``class_name`` and ``config`` (no weights)."""
        return {"name": self.name,
                "input_shape": list(self._input_shape) if self._input_shape else None,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()}
                           for l in self._layers]}

    def to_onnx(self, path=None, opset=17, **kwargs):
        """Export to ONNX (extra ``onnx``); see :func:`fastmlp.interop.onnx.to_onnx`."""
        return _model_io.exporter("to_onnx")(self, path, opset=opset, **kwargs)

    def to_torch(self):
        """The equivalent ``torch.nn.Sequential``; see :func:`fastmlp.interop.torch.to_torch`."""
        return _model_io.exporter("to_torch")(self)

    def save(self, path) -> None:
        """Save to ``path`` (a NumPy ``.npz``: weights, optimizer state + JSON config; see
        fastmlp.saving). ``fm.load_model(path)`` resumes training exactly."""
        _model_io.exporter("save")(self, path)

    def __repr__(self):
        return f"<fastmlp.Sequential {self.name!r}: {len(self._layers)} layers>"
