"""Type stubs for ``fastmlp._core``, the private C++ extension (pybind11).

Users call :mod:`fastmlp` and :mod:`fastmlp.ops`, which validate their arguments and
allocate outputs; the functions here take pre-validated, C-contiguous arrays and write
into the outputs they are given. Arrays are float32 unless noted; labels and index
arrays are int32. Integer codes:

* activation ``act``: the index in ``ACTIVATIONS`` (0 linear, 1 relu, 2 leaky_relu,
  3 sigmoid, 4 tanh, 5 gelu, 6 gelu_tanh, 7 silu, 8 elu, 9 selu, 10 softplus,
  11 hard_sigmoid, 12 mish); ``alpha`` is leaky_relu's slope and elu's alpha
* layer kind (``Network`` specs): the index in ``LAYER_KINDS`` (0 dense, 1 activation,
  2 rescaling, 3 softmax, 4 dropout, 5 batch_norm, 6 layer_norm, 7 gaussian_noise,
  8 dense_int8, 9 dense_bf16)
* loss (``Network.set_loss``): 0 sparse categorical cross-entropy, 1 categorical
  cross-entropy, 2 mean squared error, 3 binary cross-entropy, 4 mean absolute error,
  5 huber (Keras 3 formulas; with ``from_logits=False`` a final softmax, or sigmoid for
  binary cross-entropy, is fused into the loss in training)
* optimizer ``kind`` (``Network.set_optimizer``): 0 SGD, 1 Adam, 2 RMSprop, 3 Nadam

ISA tiers are named as ``all_isas()`` lists them: ``"generic"``, ``"avx2"``, ``"avx_vnni"``,
``"avx512"``, ``"avx512_vnni"``, ``"avx512_bf16"``, ``"amx"`` (x86-64), ``"neon"`` and ``"neon_dotprod"`` (arm64). Every compute function releases the GIL while it runs.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import numpy.typing as npt

_F32 = npt.NDArray[np.float32]
_I32 = npt.NDArray[np.int32]
_Array = npt.NDArray[Any]
_LayerSpec = dict[str, Any]  # LayerSpec fields: kind, inputs, outputs required

LAYER_KINDS: tuple[str, ...]  # the engine's layer kinds, in code order
OPT_SLOTS: int  # optimizer state slots per parameter
ACTIVATIONS: tuple[str, ...]  # the kernels' activation names, in code order
ACT_BACKWARD_NEEDS_X: tuple[bool, ...]  # per code: act_backward unsupported, use act_backward_x

# --- CPU dispatch and threads -----------------------------------------------------------

def init_dispatch() -> None:
    """Select the ISA tier from ``FASTMLP_ISA`` or the highest supported one.

    Raises ``ValueError`` for an unknown or unsupported ``FASTMLP_ISA``."""

def get_isa() -> str:
    """The active ISA tier."""

def set_isa(isa: str) -> None:
    """Switch the active tier; ``ValueError`` if it is unknown, not compiled in, or not
    supported by this CPU / OS."""

def supported_isas() -> list[str]:
    """Tiers this CPU can run, lowest first."""

def all_isas() -> list[str]:
    """Every tier this library knows, in increasing preference."""

def compiled_isas() -> list[str]:
    """Tiers compiled into this build, lowest first."""

def cpu_features() -> dict[str, bool]:
    """Detected CPU flags: ``avx2``, ``fma``, ``f16c``, ``avx512f``, ``avx512bw``,
    ``avx512dq``, ``avx512vl``, ``avx512_bf16``, ``avx512_vnni``, ``os_avx``,
    ``os_avx512`` (the OS saves the wide registers) and ``neon``."""

def have_openmp() -> bool:
    """Whether the kernels were built with OpenMP."""

def get_num_threads() -> int:
    """Threads the kernels may use (OpenMP's max threads)."""

def set_num_threads(n: int) -> None:
    """Set the kernels' thread count (``n >= 1``, else ``ValueError``)."""

# --- Kernels (fastmlp.ops wraps these) --------------------------------------------------

def gemm(a: _F32, b: _F32, out: _F32, trans_a: bool, trans_b: bool, alpha: float,
         beta: float, bias: Optional[_F32], act: int, act_alpha: float) -> None:
    """``out = act(alpha * op(a) @ op(b) + beta * out + bias)``; when ``beta == 0``
    ``out`` is never read."""

def gemm_fast(a: object, b: object, out: object, trans_a: object, trans_b: object,
              alpha: object, beta: object) -> Optional[_F32]:
    """``fastmlp.ops.gemm``'s common case in one call: returns the result, or None when an
    argument is not a plain float32 C-contiguous matrix / bool / float (or ``out`` may
    overlap an input, or a size is 0), leaving conversion and errors to Python."""

def act_forward(x: _F32, out: _F32, act: int, alpha: float) -> None:
    """Elementwise activation ``out = act(x)`` (``alpha``: leaky_relu slope, elu alpha)."""

def act_backward(y: _F32, dy: _F32, dx: _F32, act: int, alpha: float) -> None:
    """Activation gradient from the forward output: ``dx = dy * act'(y)``. For the codes
    with ``ACT_BACKWARD_NEEDS_X`` (gelu, gelu_tanh, silu, mish) it writes NaN."""

def act_backward_x(x: _F32, dy: _F32, dx: _F32, act: int, alpha: float) -> None:
    """Activation gradient from the pre-activation: ``dx = dy * act'(x)`` (every code)."""

def softmax(x: _F32, out: _F32, log: bool) -> None:
    """Row-wise softmax (or log-softmax when ``log``) of a 2-D array."""

def softmax_xent(logits: _F32, labels: _I32, dlogits: Optional[_F32],
                 row_loss: Optional[_F32], grad_scale: float) -> float:
    """Fused softmax + sparse cross-entropy. Returns the summed loss; optionally writes
    ``dlogits = (softmax - onehot) * grad_scale`` and the per-row losses."""

def colsum(x: _F32, out: _F32) -> None:
    """Column sums of a 2-D array (the bias gradient), in row order."""

def sgd_update(param: _F32, grad: _F32, velocity: Optional[_F32], lr: float,
               momentum: float, nesterov: bool, weight_decay: float) -> None:
    """In-place SGD step (momentum / Nesterov when ``velocity`` is given)."""

def adam_update(param: _F32, grad: _F32, m: _F32, v: _F32, step: int, lr: float,
                beta1: float, beta2: float, eps: float, weight_decay: float,
                decoupled: bool) -> None:
    """In-place Adam step ``step`` (1-based); AdamW when ``decoupled``."""

# --- int8 (fastmlp.ops.gemm_int8 / quantize_per_row) --------------------------------------

INT8_MAX_K: int  # largest K of gemm_u8s8 (int32 sums cannot overflow)

def pack_s8(b: npt.NDArray[np.int8]) -> npt.NDArray[np.uint8]:
    """An int8 ``[K, N]`` matrix packed for gemm_u8s8 (one layout on every tier)."""

def gemm_bf16(a: _F32, b: _F32, out: _F32) -> bool:
    """``out = bf16(a) @ bf16(b)`` with float32 sums on the active tier's bf16 kernel (all
    C-contiguous float32); False, writing nothing, when the tier has none."""

def has_bf16_gemm() -> bool:
    """Whether the active tier multiplies in bf16 (vdpbf16ps or AMX)."""

def gemm_u8s8(a: npt.NDArray[np.uint8], packed: npt.NDArray[np.uint8], K: int, N: int,
              out: npt.NDArray[Any], a_zero: Optional[_I32], a_scale: Optional[_F32],
              b_scale: Optional[_F32], bias: Optional[_F32], act: int, act_alpha: float,
              a_full_range: bool, out_scale: float = 0.0, out_zero: int = 0) -> None:
    """``out = (a - a_zero) @ b`` exactly (int32 ``out``), or dequantized into a float32
    ``out`` as ``act(float(acc) * (a_scale[i] * b_scale[j]) + bias[j])``;
    ``a_full_range`` false promises every byte of ``a`` is <= 127."""

def quantize_rows(x: _F32, q: npt.NDArray[np.uint8], scale: _F32, zero: _I32, qmax: int,
                  static_scale: float, static_zero: int) -> bool:
    """Per-row asymmetric quantization of ``x`` to ``[0, qmax]`` codes (dynamic when
    ``static_scale`` is 0); returns whether a row held NaN or inf."""

def shuffled_indices(n: int, seed: int) -> _I32:
    """A permutation of range(n) (xoshiro256** + Fisher-Yates), deterministic per seed."""

# --- The network engine (fastmlp.Sequential drives it) ----------------------------------

class Network:
    """A compiled stack of layers with its parameters, optimizer state and workspace.

    ``layers`` holds one dict per layer: the fields of csrc/engine/types.h's LayerSpec
    (``kind``, ``inputs``, ``outputs`` required; ``act``, ``alpha``, ``use_bias``, ``scale``,
    ``offset``, ``rate``, ``seed``, ``stddev``, ``momentum``, ``epsilon``, ``center``,
    ``use_gamma`` as each kind needs)."""

    TILE_ROWS: int  # rows per tile of an inference pass (read-only)
    fused_max_rows: int
    step: int

    def __init__(self, layers: list[_LayerSpec], input_dim: int, in_scale: float = 1.0,
                 in_offset: float = 0.0) -> None: ...
    @property
    def input_dim(self) -> int: ...
    @property
    def output_dim(self) -> int: ...
    @property
    def num_params(self) -> int: ...
    def param(self, i: int) -> _F32:
        """A read-only NumPy view of parameter i (kept valid by the view); change it
        with set_param / set_params."""
    def set_param(self, i: int, value: _F32) -> None:
        """Copies a float32 C-contiguous array into parameter i (bumps weights_version)."""
    def set_params(self, values: list[_F32]) -> None:
        """Sets every parameter at once (one consistent update for concurrent readers)."""
    def get_params(self) -> list[_F32]:
        """Copies of all parameters, taken together (a consistent snapshot)."""
    @property
    def weights_version(self) -> int: ...
    @property
    def bad_input_row(self) -> int:
        """Row of x holding NaN or inf that stopped the last train_batches call, or -1."""
    def memory(self) -> dict[str, int]:
        """Bytes held now: weights, optimizer state, packed weights, workspaces,
        checkpoints, total."""
    def release_caches(self) -> None:
        """Frees the workspaces and packed weights (rebuilt on demand)."""
    def set_optimizer(self, kind: int, lr: float, momentum: float, beta1: float,
                      beta2: float, eps: float, weight_decay: float, nesterov: bool,
                      decoupled: bool, rho: float = 0.9, centered: bool = False,
                      clipnorm: float = 0.0, clipvalue: float = 0.0,
                      global_clipnorm: float = 0.0) -> None: ...
    def penalty(self) -> float:
        """The penalties of the layers' regularizers at the current weights."""
    def save_checkpoint(self, slot: int) -> None:
        """Copies the weights, optimizer state and step into slot 0 or 1."""
    def restore_checkpoint(self, slot: int) -> bool:
        """Puts slot 0 or 1 back; False (nothing changed) when it is empty or the
        optimizer changed since."""
    def discard_checkpoints(self) -> None: ...
    def set_learning_rate(self, lr: float) -> None: ...
    def set_lr_schedule(self, schedule: dict[str, Any]) -> None:
        """Every update takes its learning rate from this schedule (the fields of
        csrc/engine/lr_schedule.h; set_learning_rate returns to a constant rate)."""
    def scheduled_lr(self, step: int) -> float:
        """The learning rate of the update after ``step`` updates."""
    def reset_optimizer_state(self) -> None: ...
    def get_optimizer_state(
        self) -> tuple[int, list[tuple[Optional[_F32], ...]]]: ...
    def set_optimizer_state(
        self, step: int, state: list[tuple[Optional[_F32], ...]]) -> None: ...
    def set_loss(self, loss: int, from_logits: bool = False, label_smoothing: float = 0.0,
                 delta: float = 1.0) -> None:
        """The loss code and its settings (``label_smoothing`` in [0, 1], only for codes 1
        and 3; ``delta`` > 0, huber)."""
    def set_metrics(self, metrics: list[dict[str, Any]]) -> None:
        """The metrics reported beside the loss (dicts: kind, k, threshold; codes of
        csrc/engine/types.h MetricKind); set_loss clears them."""
    @property
    def num_metrics(self) -> int: ...
    def train_batches(self, x: _Array, y: _Array, idx: _I32, batch_size: int,
                      first_batch: int, n_batches: int, losses: _F32, metrics: _F32,
                      loss_limit: float = ...,
                      sample_weight: Optional[_F32] = None) -> int:
        """Train on ``n_batches`` mini-batches of rows ``idx`` starting at batch
        ``first_batch``; writes each batch's loss (sum(w l) / rows) and its
        ``num_metrics`` metrics (sum(w m) / sum(w), row-major per batch). Stops before an
        update whose loss is not finite or exceeds ``loss_limit`` (default inf); returns
        the batches completed (that one included)."""
    def predict(self, x: _Array) -> _F32: ...
    def predict_into(self, x: _Array, out: _F32) -> None: ...
    def first_nonfinite_row(self, x: _Array) -> int:
        """Index of the first row of ``x`` holding NaN or inf, or -1."""
    def evaluate(self, x: _Array, y: _Array, sample_weight: Optional[_F32] = None
                 ) -> tuple[float, npt.NDArray[np.float64], float, int]:
        """Over all of ``x``: the sum of the per-row losses times the weights (1 without
        ``sample_weight``), each metric's sum of row value times weight, the sum of the
        weights, and the first row holding NaN or inf after a leading Rescaling (-1:
        none; then the sums are not meaningful)."""
    def compute_gradients(self, x: _Array, y: _Array, sample_weight: Optional[_F32] = None
                          ) -> tuple[float, list[_F32]]:
        """Loss (sum(w l) / rows) and one gradient array per parameter (no optimizer
        step)."""
    def apply_gradients(self, grads: list[_F32]) -> None:
        """One optimizer update from gradients as compute_gradients gives them
        (penalties included; one array per parameter)."""
