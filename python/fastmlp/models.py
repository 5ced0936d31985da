"""``Sequential``: a Keras-like model whose training steps, epochs and inference passes run
as whole loops in C++ (``fastmlp._core.Network``); Python never loops over layers or batches.
"""
from __future__ import annotations

import math
import numbers
import threading
import time

import numpy as np

from . import _core, _model_io
from . import losses as _losses
from . import optimizers as _optimizers
from . import random as _random
from ._divergence import DEFAULT_DIVERGENCE_FACTOR, DivergenceGuard
from ._progress import EpochProgress
from .callbacks import Callback, History, TerminateOnNaN
from ._engine_plan import plan as _engine_plan
from .layers import Layer

__all__ = ["Sequential"]

_perf = time.perf_counter
_U8 = np.dtype(np.uint8)
_CHUNK_SECONDS = 0.1  # progress updates and Ctrl-C checks happen between chunks
# rows per C++ call in a big predict: whole engine tiles (same bits as one call), 65,536
_PREDICT_SLICE = 256 * _core.Network.TILE_ROWS


def _check_int(name, v, lo, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int >= {lo}, got {type(v).__name__} {v!r}")
    if v < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {v}")
    return int(v)


def _fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _rows_contiguous(x):
    """True when each example (row) of x is one C-contiguous block; the row stride may be
    anything (slices, broadcast views, reversed rows): the engine gathers through it."""
    expect = x.itemsize
    for d in range(x.ndim - 1, 0, -1):
        if x.shape[d] != 1 and x.strides[d] != expect:
            return False
        expect *= x.shape[d]
    return x.shape[0] <= 1 or x.strides[0] % x.itemsize == 0


def _nonfinite_input(x, row, name, tail=""):
    """The ValueError for NaN/inf found by the engine in example ``row`` of x."""
    where = np.argwhere(~np.isfinite(x[row]))
    if len(where) == 0:  # finite in x: the model's Rescaling overflowed float32
        return ValueError(f"{name}[{int(row)}] holds values that become inf after the "
                          f"model's Rescaling (beyond the float32 range); scale the data "
                          f"down first.{tail}")
    bad = (int(row),) + tuple(int(i) for i in where[0])
    return ValueError(f"{name} contains NaN or inf (at index {bad}: {x[bad]}); clean the data "
                      f"first, e.g. np.nan_to_num({name}).{tail}")


def _refuse_nonfinite(net, x, name):
    """fit's check before any training, one vectorised pass over what the first layer
    sees (a Rescaling can overflow): bad data is refused with the weights untouched.
    (The engine checks each gathered batch too, and stops before a bad one.)"""
    bad = net.first_nonfinite_row(x)
    if bad >= 0:
        raise _nonfinite_input(x, bad, name, " Nothing was trained.")


def _check_shape(shape, name="input_shape"):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{name}: expected a tuple of positive ints, got {shape!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"{name}: expected a non-empty tuple of positive ints (the shape of "
                         f"one example, without the batch dimension), got {shape!r}")
    return shape


class Sequential:
    """A linear stack of layers.

    ``Sequential(layers=None, input_shape=None, seed=None)``: ``input_shape`` is the shape
    of one example (no Input layer); ``seed`` seeds the weight initialisation (default:
    drawn from :func:`fastmlp.set_random_seed`'s generator, else from the OS).
    """

    def __init__(self, layers=None, input_shape=None, seed=None, name=None):
        self.name = name or "sequential"
        self._layers: list[Layer] = []
        self._input_shape = None if input_shape is None else _check_shape(input_shape)
        self._seed = None if seed is None else _random._check_seed(seed)
        self._rng = None
        self._net = None
        self.optimizer = None
        self.loss = None
        self.metrics: list[str] = []
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
        if net is not None:
            return net.get_params()
        out = []
        for l in self._layers:
            out.extend(l.get_weights())
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
            rows.append((f"{l.name} ({type(l).__name__})", shape,
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
        metrics : list of str, optional
            Only ``"accuracy"`` (or ``"acc"``) is supported.

        Raises
        ------
        ValueError
            If ``loss`` is missing or unknown, the optimizer or a metric is unknown, or the
            loss does not fit the model's output (``from_logits=True`` with a model that
            ends with Softmax or a sigmoid).
        """
        opt = _optimizers.get(optimizer)
        if loss is None:
            raise ValueError("compile: loss is required, e.g. "
                             "loss='sparse_categorical_crossentropy', "
                             "'categorical_crossentropy' or 'mse'")
        loss = _losses.get(loss)
        names = []
        for m in (metrics or []):
            if m in ("accuracy", "acc"):
                names.append("accuracy")
            else:
                raise ValueError(f"metrics: only 'accuracy' is supported, got {m!r}")
        prev = (self.optimizer, self.loss, self.metrics, self._compiled,
                getattr(self, "_configured_net", None))
        self.optimizer, self.loss, self.metrics = opt, loss, names
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
                (self.optimizer, self.loss, self.metrics, self._compiled,
                 self._configured_net) = prev
                raise

    def _require_compiled(self, what):
        if not self._compiled:
            raise RuntimeError(f"{what}: compile the model first, e.g. model.compile("
                               "optimizer='adam', loss='sparse_categorical_crossentropy', "
                               "metrics=['accuracy'])")

    # ---------------------------------------------------------------- data checks
    def _prep_x(self, x, name="x"):
        if not isinstance(x, np.ndarray):
            if x is None:
                raise ValueError(f"{name}: expected an array of examples, got None")
            try:
                x = np.asarray(x)
            except (ValueError, TypeError) as e:
                raise TypeError(f"{name}: could not convert to a numeric array ({e})") from None
        elif type(x) is not np.ndarray:
            x = np.asarray(x)  # a plain view of a subclass (np.matrix rows stay 2-D)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected a numeric array (float, or uint8 images), got "
                            f"dtype {x.dtype}")
        if x.ndim < 2:
            if x.ndim == 1 and self._input_shape == (x.shape[0],) and x.shape[0] > 0:
                raise ValueError(f"{name}: got one example of shape {x.shape}; pass a batch "
                                 f"of shape (N, {x.shape[0]}), e.g. {name}[None]")
            raise ValueError(f"{name}: expected an array of shape (N, ...) with one example "
                             f"per row, got shape {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{name} is empty (0 examples)")
        shape = tuple(x.shape[1:])
        if self._input_shape is None:
            self._input_shape = shape
            self._build()
        elif shape != self._input_shape:
            hint = ""
            if shape == self._input_shape[1:]:
                hint = f" It looks like a single example; pass a batch, e.g. {name}[None]."
            elif int(np.prod(shape)) == int(np.prod(self._input_shape)):
                hint = (f" Reshape it with {name}.reshape(len({name}), "
                        f"*{self._input_shape}).")
            raise ValueError(f"{name}: each example has shape {shape}, but the model expects "
                             f"input_shape={self._input_shape}.{hint}")
        # No copy when each row is contiguous (e.g. a slice of a larger array, or a memmap /
        # broadcast view of many rows): the engine reads rows through their stride, tile
        # by tile, so predict on 10^7 rows never materialises a float32 copy of x.
        if x.dtype == _U8 or x.dtype == np.float32:
            if not _rows_contiguous(x):
                x = np.ascontiguousarray(x)
            if x.dtype == _U8:
                return x
        else:
            x = self._to_float32(x, name)
        return x  # NaN / inf: the engine checks (fit: before training, see there)

    @staticmethod
    def _to_float32(x, name):
        """x as a C-contiguous float32 array; a finite value beyond float32's range (it
        would silently become inf) is a ValueError naming it."""
        try:
            with np.errstate(over="raise"):
                return np.ascontiguousarray(x, dtype=np.float32)
        except FloatingPointError:
            with np.errstate(invalid="ignore"):
                big = np.isfinite(x) & (np.abs(x) > np.finfo(np.float32).max)
            bad = tuple(int(i) for i in np.argwhere(big)[0])
            raise ValueError(f"{name} holds {float(x[bad]):g} at index {bad}, beyond the float32 "
                             f"range (|value| <= 3.4e38) that fastmlp computes in; rescale "
                             f"the data first") from None

    def _prep_y(self, y, n, name="y"):
        if self._net is not None and getattr(self, "_configured_net", None) is not self._net:
            self._configure_net()  # its first configuration failed: say why again
        if y is None:
            raise ValueError(f"{name}: targets are required")
        if not isinstance(y, np.ndarray):
            try:
                y = np.asarray(y)
            except (ValueError, TypeError) as e:
                raise TypeError(f"{name}: could not convert to a numeric array ({e})") from None
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected numeric targets, got dtype {y.dtype}")
        if y.ndim == 0 or len(y) != n:
            got = len(y) if y.ndim else "a scalar"
            raise ValueError(f"x and {name} have different lengths: {n} examples in x but "
                             f"{got} in {name}")
        C = self._layers[-1].output_shape[0]
        code = self.loss.code
        if code == 0:
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1:
                hint = ""
                if y.ndim == 2 and y.shape[1] == C:
                    hint = (" It looks one-hot: use loss='categorical_crossentropy', or pass "
                            f"integer labels {name}.argmax(axis=1).")
                raise ValueError(f"{name}: sparse_categorical_crossentropy expects integer "
                                 f"labels of shape ({n},), got shape {y.shape}.{hint}")
            if y.dtype.kind == "f":
                if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                    raise ValueError(f"{name}: class labels must be whole numbers")
            lo, hi = y.min(), y.max()
            if lo < 0 or hi >= C:
                raise ValueError(
                    f"{name}: labels must be in [0, {C - 1}] for a model with {C} output "
                    f"units, got labels from {lo} to {hi}. Give the last Dense layer one "
                    f"unit per class, or fix the labels.")
            return np.ascontiguousarray(y, dtype=np.int32)
        if y.ndim == 1:
            if code == 1 and y.dtype.kind in "iub":
                raise ValueError(f"{name}: categorical_crossentropy expects one-hot targets of "
                                 f"shape ({n}, {C}); for integer labels use "
                                 "loss='sparse_categorical_crossentropy'")
            if C == 1:
                y = y[:, None]
        if y.shape[1:] != (C,):
            what = (f"{self.loss.name} expects targets (0/1 labels or probabilities, one per "
                    f"output) of shape ({n}, {C})" if code == 3 else
                    f"expected targets of shape ({n}, {C})")
            raise ValueError(f"{name}: {what} to match the model's {C} outputs, got "
                             f"{y.shape}")
        y = np.ascontiguousarray(y, dtype=np.float32)
        if not math.isfinite(float(y.sum(dtype=np.float64))):
            raise ValueError(f"{name} contains NaN or inf")
        if code == 3:
            lo, hi = float(y.min()), float(y.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(f"{name}: binary_crossentropy expects targets in [0, 1] (0/1 "
                                 f"labels or probabilities), got values from {lo:g} to "
                                 f"{hi:g}")
        return y

    # ---------------------------------------------------------------- training
    def fit(self, x=None, y=None, batch_size=32, epochs=1, steps_per_epoch=None,
            validation_data=None, validation_split=0.0, shuffle=True, seed=None, verbose=1,
            callbacks=None, initial_epoch=0) -> History:
        """Train; returns a :class:`fastmlp.callbacks.History`. See the issue-3 API."""
        self._require_compiled("fit")
        batch_size = 32 if batch_size is None else _check_int("batch_size", batch_size, 1)
        epochs = _check_int("epochs", epochs, 0)
        initial_epoch = _check_int("initial_epoch", initial_epoch, 0)
        steps_per_epoch = _check_int("steps_per_epoch", steps_per_epoch, 1, allow_none=True)
        if verbose == "auto":
            verbose = 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) \
                or not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split: expected a fraction in [0, 1), got "
                             f"{validation_split!r}")
        seed = _random.draw_seed() if seed is None else _random._check_seed(seed)
        x, y = self._prep_xy(x, y)
        net = self._net
        xv = yv = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data: expected a tuple (x_val, y_val)")
            xv, yv = self._prep_xy(validation_data[0], validation_data[1], "validation x",
                                   "validation y")
        elif validation_split > 0.0:
            split_at = int(len(x) * (1.0 - validation_split))
            if split_at < 1 or split_at >= len(x):
                raise ValueError(f"validation_split={validation_split} leaves no training or "
                                 f"no validation examples out of {len(x)}")
            # like Keras: the last fraction, taken before shuffling
            x, xv, y, yv = x[:split_at], x[split_at:], y[:split_at], y[split_at:]
        n = len(x)
        batch_size = min(batch_size, n)  # a batch never exceeds the data (as Keras)
        last_rows = batch_size if steps_per_epoch is not None or n % batch_size == 0 \
            else n % batch_size
        self._check_batch_rows(min(batch_size, last_rows), "fit")
        if steps_per_epoch is None:
            nb = (n + batch_size - 1) // batch_size
        else:
            nb = steps_per_epoch
        stream = _IndexStream(n, seed, bool(shuffle))

        history = History()
        cbs = [history] + list(callbacks or [])
        for cb in cbs:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected fastmlp.callbacks.Callback instances, "
                                f"got {type(cb).__name__}")
            cb.set_model(self)
            cb.set_params({"epochs": epochs, "steps": nb, "verbose": verbose,
                           "batch_size": batch_size})
        # Divergence: fit raises FloatingPointError; a TerminateOnNaN callback makes it stop
        # quietly instead and sets the bound (see fastmlp/_divergence.py for the rule).
        quiet = [cb for cb in cbs if isinstance(cb, TerminateOnNaN)]
        guard = DivergenceGuard(net, self.loss, y,
                                quiet[-1].divergence_factor if quiet
                                else DEFAULT_DIVERGENCE_FACTOR)
        batch_hooks = [cb for cb in cbs
                       if type(cb).on_train_batch_end is not Callback.on_train_batch_end
                       or "on_train_batch_end" in vars(cb)]
        self.history = history
        self.stop_training = False
        params = sum(l.count_params() for l in self._layers)
        # first chunk: a guess from the arithmetic (6 flops per weight per example)
        t_batch = 6.0 * params * batch_size / 2e10 + 5e-6
        rows = np.full(nb, batch_size, dtype=np.float64)
        if steps_per_epoch is None:
            rows[-1] = n - (nb - 1) * batch_size
        for cb in cbs:
            cb.on_train_begin()
        progress = None
        try:
            for epoch in range(initial_epoch, epochs):
                for cb in cbs:
                    cb.on_epoch_begin(epoch)
                self.optimizer._apply_rate(net)
                guard.maybe_snapshot(epoch)
                idx = stream.epoch(epoch) if steps_per_epoch is None else \
                    stream.take(nb * batch_size)
                losses = np.zeros(nb, dtype=np.float32)
                accs = np.zeros(nb, dtype=np.float32)
                progress = EpochProgress(epoch, epochs, nb, verbose)
                done, t_train, diverged = 0, 0.0, False
                while done < nb:
                    k = min(nb - done, max(1, int(_CHUNK_SECONDS / t_batch)))
                    if guard.needs_first_loss:
                        k = 1  # its loss, at the starting weights, sets the bound
                    t0 = _perf()
                    got = net.train_batches(x, y, idx, batch_size, done, k, losses[done:],
                                            accs[done:], guard.limit)
                    dt = _perf() - t0
                    t_train += dt
                    guard.trained(dt)
                    t_batch = max(dt / max(got, 1), 1e-7)
                    last = done + got - 1
                    if guard.needs_first_loss and got:
                        guard.first_loss(float(losses[last]))
                    if net.bad_input_row >= 0:
                        raise _nonfinite_input(x, net.bad_input_row, "x",
                                               f" Training stopped before epoch {epoch + 1}, "
                                               f"batch {last + 1} (of {nb}).")
                    if got < k or (got and not float(losses[last]) <= guard.limit):
                        back = guard.restore(epoch, last)
                        msg = guard.message(float(losses[last]), epoch, last, nb, back,
                                            self.optimizer._rate_at(net.step))
                        if not quiet:
                            raise FloatingPointError(msg)
                        for cb in quiet:
                            cb._diverged(msg, epoch, last, float(losses[last]), back)
                        self.stop_training = diverged = True
                        break
                    for cb in batch_hooks:
                        for b in range(done, done + got):
                            cb.on_train_batch_end(b, {"loss": float(losses[b]),
                                                      "accuracy": float(accs[b])})
                    done += got
                    if verbose == 1:
                        w = rows[:done]
                        progress.update(done, {
                            "loss": float(np.dot(losses[:done], w) / w.sum()),
                            "accuracy": float(np.dot(accs[:done], w) / w.sum())})
                if diverged:  # TerminateOnNaN stopped training mid-epoch
                    if verbose:
                        print()
                    break
                total = rows.sum()
                logs = {"loss": float(np.dot(losses, rows) / total),
                        "accuracy": float(np.dot(accs, rows) / total)}
                if xv is not None:
                    ls, c, _ = net.evaluate(xv, yv)  # xv was checked before training
                    logs["val_loss"] = ls / len(xv)
                    logs["val_accuracy"] = c / len(xv)
                logs["examples_per_sec"] = float(total / t_train) if t_train > 0 else 0.0
                history._add_batches(losses, accs)
                progress.close(logs)
                progress = None
                for cb in cbs:
                    cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        except KeyboardInterrupt:
            # Training stops at a chunk boundary: the network is consistent (every batch
            # either fully applied or not started).
            history.interrupted = True
            if progress is not None and verbose:
                print()
            for cb in cbs:
                cb.on_train_end()
            raise
        finally:
            guard.close()
        for cb in cbs:
            cb.on_train_end()
        return history

    def _prep_xy(self, x, y, x_name="x", y_name="y"):
        """Training data checked as fit checks it (x first, NaN / inf refused before any
        step, then y against x); builds the engine network."""
        x = self._prep_x(x, x_name)
        _refuse_nonfinite(self._ensure_net(), x, x_name)
        return x, self._prep_y(y, len(x), y_name)

    def _check_batch_rows(self, rows, what):
        """Layers that need several rows per training batch (BatchNormalization) say so."""
        for l in self._layers:
            if rows < l.min_batch_rows:
                raise ValueError(
                    f"{what}: layer {l.name!r} ({type(l).__name__}) needs at least "
                    f"{l.min_batch_rows} rows per training batch, but a batch would have "
                    f"{rows}. Use a larger batch_size (or one that divides the number of "
                    f"examples, so that no last batch of {rows} is left over).")

    def train_on_batch(self, x, y) -> dict:
        """One training step on (x, y) as one batch, in one C++ call."""
        self._require_compiled("train_on_batch")
        x = self._prep_x(x)  # the engine checks the batch it gathers
        net = self._ensure_net()
        y = self._prep_y(y, len(x))
        n = len(x)
        self._check_batch_rows(n, "train_on_batch")
        idx = self._aranges.get(n)
        if idx is None:
            idx = self._aranges[n] = np.arange(n, dtype=np.int32)
        out = np.zeros(2, dtype=np.float32)
        self.optimizer._apply_rate(net)
        net.train_batches(x, y, idx, n, 0, 1, out[0:1], out[1:2])
        if net.bad_input_row >= 0:
            raise _nonfinite_input(x, net.bad_input_row, "x", " The weights are unchanged.")
        if not math.isfinite(float(out[0])):
            raise FloatingPointError(
                f"training diverged: the loss became {float(out[0])} in train_on_batch; the "
                f"weights are unchanged. Lower the learning rate (now "
                f"{self.optimizer._rate_at(net.step):g}).")
        return {"loss": float(out[0]), "accuracy": float(out[1])}

    # ---------------------------------------------------------------- inference
    def evaluate(self, x, y, batch_size=256, verbose=0, return_dict=True) -> dict:
        """Mean loss and accuracy over (x, y). Rows go through the network in cache-sized
        tiles in C++ whatever ``batch_size`` is (an int >= 1 or None, checked as in
        ``fit``: memory is bounded by the tiles, not by it)."""
        _check_int("batch_size", batch_size, 1, allow_none=True)
        self._require_compiled("evaluate")
        x = self._prep_x(x)  # the engine checks each tile it gathers
        net = self._ensure_net()
        y = self._prep_y(y, len(x))
        loss_sum, correct, bad = net.evaluate(x, y)
        if bad >= 0:
            raise _nonfinite_input(x, bad, "x")
        return {"loss": loss_sum / len(x), "accuracy": correct / len(x)}

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


class _IndexStream:
    """Index lists per epoch: a fresh permutation per pass over the data (seeded by
    (seed, pass)), or, with steps_per_epoch, a running stream through such passes."""

    def __init__(self, n, seed, shuffle):
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self._pass = 0
        self._buf = None
        self._pos = 0

    def _perm(self, p):
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int32)
        s = (self.seed * 0x9E3779B97F4A7C15 + p * 0xD1B54A32D192ED03 + 1) % (1 << 64)
        return _core.shuffled_indices(self.n, s)

    def epoch(self, e):
        return self._perm(e)

    def take(self, m):
        parts = []
        while m > 0:
            if self._buf is None or self._pos >= self.n:
                self._buf = self._perm(self._pass)
                self._pass += 1
                self._pos = 0
            k = min(m, self.n - self._pos)
            parts.append(self._buf[self._pos:self._pos + k])
            self._pos += k
            m -= k
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.int32)
