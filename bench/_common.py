"""Shared helpers for the fastmlp benchmarks: backends, thread pinning, models, data.

Everything here is used both by the pytest-benchmark suite (``bench/test_*.py``) and by
the interleaved ratio report (``python -m bench.report``). Optional backends (PyTorch,
ONNX Runtime, JAX, scikit-learn) are imported lazily and reported as missing, never fatal.
"""
from __future__ import annotations

import contextlib
import gzip
import importlib
import os
import struct
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------------------
# Environment
# ----------------------------------------------------------------------------------------

#: Flags PERFORMANCE.md gives for single-threaded XLA. They must be in the environment
#: before jax is first imported. Measured on jax 0.10 (CPU thunk runtime) they do NOT
#: limit XLA's matmul threads; what does is the CPU affinity set by ``pinned_threads``.
XLA_ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

#: Variables that slow a current NumPy/OpenBLAS on some of these machines (PERFORMANCE.md).
#: They are read when OpenBLAS loads, so they can only be removed in a fresh process:
#: ``python -m bench.report`` does that for its children; for pytest use ``env -u``.
OPENBLAS_BAD_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

FASHION_DIRS = (
    os.environ.get("FASTMLP_FASHION_DIR", ""),
    "/usr/share/datasets/fashion-mnist",
)


def optional(name: str):
    """Import module ``name`` or return None when it (or its native deps) is unavailable."""
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken native install
        return None


def preload_backends(names=("fastmlp", "torch", "onnxruntime", "onnx", "jax", "sklearn")):
    """Import the optional backends up front, so that ``pinned_threads`` (threadpoolctl,
    torch.set_num_threads) sees their thread pools. Set XLA_FLAGS before calling this."""
    return {n: optional(n) is not None for n in names}


def fastmlp_module():
    return optional("fastmlp")


def has_sequential() -> bool:
    fm = fastmlp_module()
    return fm is not None and hasattr(fm, "Sequential")


def cpu_list() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def max_threads() -> int:
    return len(cpu_list())


# ----------------------------------------------------------------------------------------
# Thread pinning
# ----------------------------------------------------------------------------------------

def _set_process_affinity(cpus) -> bool:
    """Set the affinity of every thread of this process (pools already started included)."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    ok = True
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # thread exited meanwhile
            ok = False
    return ok


@contextlib.contextmanager
def pinned_threads(n: int, affinity: bool = True):
    """Limit every library in this process to ``n`` threads for the duration of the block.

    - threadpoolctl: OpenBLAS (NumPy, scikit-learn) and every OpenMP runtime loaded
      (fastmlp's libgomp, PyTorch's bundled one);
    - ``fastmlp.set_num_threads(n)`` and ``torch.set_num_threads(n)`` when loaded;
    - the CPU affinity of all threads of the process to ``n`` CPUs when ``n`` is below the
      CPUs available. This is what pins JAX/XLA (whose thread pools ignore the XLA flags
      in current releases) and ONNX Runtime pools created with more threads.
    ONNX Runtime's thread count is a session option: build the session with
    ``intra_op_num_threads=n`` (see ``ort_session``).
    """
    import sys

    tpc = optional("threadpoolctl")
    fm = sys.modules.get("fastmlp")
    torch = sys.modules.get("torch")
    saved_cpus = cpu_list()
    stack = contextlib.ExitStack()
    old_fm = old_torch = None
    try:
        if tpc is not None:
            stack.enter_context(tpc.threadpool_limits(limits=n))
        if fm is not None and hasattr(fm, "set_num_threads"):
            old_fm = fm.get_num_threads()
            fm.set_num_threads(n)
        if torch is not None:
            old_torch = torch.get_num_threads()
            torch.set_num_threads(n)
        if affinity and n < len(saved_cpus):
            _set_process_affinity(set(saved_cpus[:n]))
        yield
    finally:
        if affinity and n < len(saved_cpus):
            _set_process_affinity(set(saved_cpus))
        if old_torch is not None:
            torch.set_num_threads(old_torch)
        if old_fm is not None:
            fm.set_num_threads(old_fm)
        stack.close()


@contextlib.contextmanager
def fastmlp_isa(tier: str):
    """Switch fastmlp's kernel tier for the block (``fastmlp.set_isa``), restoring it after."""
    import fastmlp

    old = fastmlp.get_isa()
    fastmlp.set_isa(tier)
    try:
        yield
    finally:
        fastmlp.set_isa(old)


def fastmlp_tiers(include_generic: bool = True) -> list[str]:
    fm = fastmlp_module()
    if fm is None:
        return []
    info = fm.cpu_info()
    tiers = [t for t in info["supported"] if t in info["compiled"]]
    if not include_generic:
        tiers = [t for t in tiers if t != "generic"]
    return tiers


# ----------------------------------------------------------------------------------------
# GEMM
# ----------------------------------------------------------------------------------------

PEAK_GFLOPS_ONE_CORE = 117.0  # PERFORMANCE.md, fp32 FMA, one Zen 4 core


def _backward_shapes(sizes, batch, label):
    """(name, M, K, N, trans_a, trans_b) for X^T dY (every layer) and dY W^T (all but first)."""
    out = []
    for i, (fin, fout) in enumerate(zip(sizes[:-1], sizes[1:])):
        # dW = X^T dY: X [batch, fin] stored, dY [batch, fout]
        out.append((f"{label} dW{i + 1}=X^T.dY", fin, batch, fout, True, False))
        if i > 0:
            # dX = dY W^T: dY [batch, fout], W [fin, fout] stored
            out.append((f"{label} dX{i + 1}=dY.W^T", batch, fout, fin, False, True))
    return out


#: G1 forward shapes (M, K, N), no transposes. 2048^3 is slow (opt-in).
GEMM_FORWARD = [
    ("2048x2048x2048", 2048, 2048, 2048, False, False),
    ("256x784x1024", 256, 784, 1024, False, False),
    ("64x784x128", 64, 784, 128, False, False),
    ("128x512x512", 128, 512, 512, False, False),
]
GEMM_BACKWARD = (
    _backward_shapes([784, 128, 10], 64, "784-128-10/b64")
    + _backward_shapes([784, 256, 128, 10], 64, "784-256-128-10/b64")
    + _backward_shapes([784, 512, 512, 10], 128, "784-512-512-10/b128")
)
GEMM_SLOW = {"2048x2048x2048"}


def gemm_shape_id(spec) -> str:
    name, m, k, n, ta, tb = spec
    if name.startswith(("2048", "256x", "64x", "128x")) and "/" not in name:
        return name
    return f"{name} [{m}x{k}x{n}]"


def gemm_operands(m, k, n, ta, tb, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
    return a, b


def gemm_reference(a, b, ta, tb):
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    return (a64.T if ta else a64) @ (b64.T if tb else b64)


def gemm_tolerance(k: int) -> float:
    """Absolute tolerance for entries of a K-long fp32 dot product of U(-1,1) values."""
    return 4e-7 * k + 1e-5


def fastmlp_gemm_fn(a, b, ta, tb, out):
    """A zero-argument callable computing out = op(a) @ op(b) with ``fastmlp.ops.gemm``."""
    from fastmlp.ops import gemm

    return lambda: gemm(a, b, trans_a=ta, trans_b=tb, out=out)


def numpy_gemm_fn(a, b, ta, tb, out):
    av = a.T if ta else a
    bv = b.T if tb else b
    return lambda: np.matmul(av, bv, out=out)


# ----------------------------------------------------------------------------------------
# MLPs: weights, reference, backends
# ----------------------------------------------------------------------------------------

I1 = (784, 128, 10)
I2 = (784, 512, 512, 10)
E1_SIZES = (784, 256, 128, 10)


def mlp_weights(sizes, seed=0, bias_scale=0.1):
    """Glorot-uniform weights [in, out] and small random biases (so biases are exercised)."""
    rng = np.random.default_rng(seed)
    ws = []
    for fin, fout in zip(sizes[:-1], sizes[1:]):
        lim = np.sqrt(6.0 / (fin + fout))
        ws.append(rng.uniform(-lim, lim, (fin, fout)).astype(np.float32))
        ws.append(rng.uniform(-bias_scale, bias_scale, (fout,)).astype(np.float32))
    return ws


def mlp_reference(weights, x):
    """float64 forward: ReLU hidden layers, softmax output."""
    h = x.astype(np.float64)
    n = len(weights) // 2
    for i in range(n):
        h = h @ weights[2 * i].astype(np.float64) + weights[2 * i + 1].astype(np.float64)
        if i < n - 1:
            h = np.maximum(h, 0)
    h = h - h.max(axis=1, keepdims=True)
    e = np.exp(h)
    return e / e.sum(axis=1, keepdims=True)


def inference_input(batch, fin=784, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (batch, fin)).astype(np.float32)


def fastmlp_mlp(sizes, weights=None, softmax=True, seed=0, rescale=None, input_shape=None):
    """fastmlp Sequential: Dense(relu) hidden layers, Dense(out)[, Softmax]."""
    import fastmlp as fm

    layers = []
    if rescale is not None:
        layers.append(fm.Rescaling(rescale))
    if input_shape is not None and len(input_shape) > 1:
        layers.append(fm.Flatten())
    for h in sizes[1:-1]:
        layers.append(fm.Dense(h, activation="relu"))
    layers.append(fm.Dense(sizes[-1]))
    if softmax:
        layers.append(fm.Softmax())
    model = fm.Sequential(layers, input_shape=tuple(input_shape or (sizes[0],)), seed=seed)
    if weights is not None:
        model.set_weights([np.array(w) for w in weights])
    return model


def torch_mlp(sizes, weights, softmax=True):
    """The PyTorch copy of ``fastmlp_mlp(sizes, weights, softmax)``: fastmlp's own
    exporter, ``model.to_torch()`` (a ``torch.nn.Sequential`` in eval mode, ending with
    ``Softmax(dim=1)`` when ``softmax``)."""
    return fastmlp_mlp(sizes, weights, softmax=softmax).to_torch()


def onnx_mlp_bytes(sizes, weights, softmax=True) -> bytes:
    """The ONNX graph of ``fastmlp_mlp(sizes, weights, softmax)`` from fastmlp's own
    exporter, ``model.to_onnx()`` (Gemm + Relu ..., Gemm[, Softmax]), serialized for
    ``ort_session``. Its input and output names are the exporter's: see ``ort_predict``."""
    return fastmlp_mlp(sizes, weights, softmax=softmax).to_onnx().SerializeToString()


def ort_session(model_bytes: bytes, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def ort_predict(sess):
    """predict(x) running ``sess`` on its (single) input, returning its first output."""
    feed_name = sess.get_inputs()[0].name
    outputs = [sess.get_outputs()[0].name]
    return lambda x: sess.run(outputs, {feed_name: x})[0]


def numpy_mlp_predict(weights):
    n = len(weights) // 2

    def predict(x):
        h = x
        for i in range(n):
            h = h @ weights[2 * i]
            h += weights[2 * i + 1]
            if i < n - 1:
                np.maximum(h, 0, out=h)
        h -= h.max(axis=1, keepdims=True)
        np.exp(h, out=h)
        h /= h.sum(axis=1, keepdims=True)
        return h

    return predict


def _jax_forward(jnp, jax, params, x):
    n = len(params) // 2
    h = x
    for i in range(n):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n - 1:
            h = jax.nn.relu(h)
    return h


def jax_mlp_predict(weights):
    import jax
    import jax.numpy as jnp

    params = [jnp.asarray(w) for w in weights]

    @jax.jit
    def f(params, x):
        return jax.nn.softmax(_jax_forward(jnp, jax, params, x), axis=1)

    def predict(x):
        return f(params, x).block_until_ready()

    return predict


def inference_backends(sizes, weights, threads):
    """name -> predict(x) callable returning something np.asarray can read.

    Missing libraries (or a fastmlp without Sequential yet) are left out; the second return
    value maps each left-out backend to the reason.
    """
    backends, missing = {}, {}
    if has_sequential():
        model = fastmlp_mlp(sizes, weights)
        backends["fastmlp"] = model.predict
    else:
        missing["fastmlp"] = "fastmlp.Sequential not available yet"
    torch = optional("torch")
    if torch is not None:
        tm = torch_mlp(sizes, weights).eval()

        def torch_predict(x, tm=tm):
            with torch.inference_mode():
                return tm(torch.from_numpy(x)).numpy()

        backends["torch"] = torch_predict
    else:
        missing["torch"] = "not installed"
    if optional("onnxruntime") is not None and optional("onnx") is not None:
        backends["onnxruntime"] = ort_predict(ort_session(onnx_mlp_bytes(sizes, weights), threads))
    else:
        missing["onnxruntime"] = "onnxruntime or onnx not installed"
    if optional("jax") is not None:
        backends["jax"] = jax_mlp_predict(weights)
    else:
        missing["jax"] = "not installed"
    backends["numpy"] = numpy_mlp_predict(weights)
    return backends, missing


# ----------------------------------------------------------------------------------------
# Training steps
# ----------------------------------------------------------------------------------------

def training_data(n, fin=784, classes=10, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, fin)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int32)
    return x, y


class OptSpec:
    """Optimizer description shared by all backends."""

    def __init__(self, kind, lr, momentum=0.0, eps=1e-7, beta1=0.9, beta2=0.999):
        self.kind, self.lr, self.momentum = kind, lr, momentum
        self.eps, self.beta1, self.beta2 = eps, beta1, beta2

    def fastmlp(self):
        import fastmlp as fm

        if self.kind == "sgd":
            return fm.optimizers.SGD(learning_rate=self.lr, momentum=self.momentum)
        return fm.optimizers.Adam(learning_rate=self.lr, beta_1=self.beta1, beta_2=self.beta2,
                                  epsilon=self.eps)

    def torch(self, params):
        import torch

        if self.kind == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)
        return torch.optim.Adam(params, lr=self.lr, betas=(self.beta1, self.beta2), eps=self.eps)


SGD_T1 = OptSpec("sgd", 0.01, momentum=0.9)
ADAM = OptSpec("adam", 1e-3)


def fastmlp_trainer(sizes, weights, opt: OptSpec, input_shape=None, rescale=None):
    model = fastmlp_mlp(sizes, weights, softmax=True, rescale=rescale, input_shape=input_shape)
    model.compile(optimizer=opt.fastmlp(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _fm_loss(logs):
    if isinstance(logs, dict):
        return float(logs["loss"])
    if isinstance(logs, (list, tuple)):
        return float(logs[0])
    return float(logs)


class FastmlpSteps:
    """fastmlp T1/T2 drivers: ``step`` = one train_on_batch; ``fit_block`` = one fit call
    over ``nb`` batches (one C++ call per chunk, the intended fast path)."""

    def __init__(self, sizes, weights, opt, x, y, batch):
        self.model = fastmlp_trainer(sizes, weights, opt)
        self.x, self.y, self.batch = x, y, batch
        self.nb = len(x) // batch
        self.i = 0

    def step(self):
        b = self.batch
        i = self.i
        self.i = (i + 1) % self.nb
        return self.model.train_on_batch(self.x[i * b:(i + 1) * b], self.y[i * b:(i + 1) * b])

    def fit_block(self):
        self.model.fit(self.x, self.y, batch_size=self.batch, epochs=1,
                       steps_per_epoch=self.nb, shuffle=False, verbose=0)

    def loss_on(self, xb, yb):
        return _fm_loss(self.model.train_on_batch(xb, yb))


class TorchSteps:
    def __init__(self, sizes, weights, opt, x, y, batch):
        import torch

        self.torch = torch
        self.model = torch_mlp(sizes, weights, softmax=False).train()
        self.opt = opt.torch(self.model.parameters())
        self.batch = batch
        self.nb = len(x) // batch
        xt = torch.from_numpy(x)
        yt = torch.from_numpy(y.astype(np.int64))
        self.batches = [(xt[i * batch:(i + 1) * batch], yt[i * batch:(i + 1) * batch])
                        for i in range(self.nb)]
        self.i = 0
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def _step(self, xb, yb):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss

    def step(self):
        xb, yb = self.batches[self.i]
        self.i = (self.i + 1) % self.nb
        self._step(xb, yb)

    def loss_on(self, xb, yb):
        t = self.torch
        return float(self._step(t.from_numpy(xb), t.from_numpy(yb.astype(np.int64))).item())


def _jax_xent(jax, jnp, params, x, y):
    logits = _jax_forward(jnp, jax, params, x)
    logp = jax.nn.log_softmax(logits, axis=1)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


class JaxSteps:
    """A jitted train step (value_and_grad + the same optimizer update, buffers donated).

    Optimizer state lives on the device, Adam's step counter included (as optax does):
    passing a fresh host scalar per step would cost JAX a transfer and triple its batch-1
    step time.
    """

    def __init__(self, sizes, weights, opt: OptSpec, x, y, batch):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.params = [jnp.asarray(w) for w in weights]
        self.batch = batch
        self.nb = len(x) // batch
        self.batches = [(jnp.asarray(x[i * batch:(i + 1) * batch]),
                         jnp.asarray(y[i * batch:(i + 1) * batch]))
                        for i in range(self.nb)]
        self.i = 0
        lr = opt.lr
        grad_fn = jax.value_and_grad(lambda p, xb, yb: _jax_xent(jax, jnp, p, xb, yb))
        if opt.kind == "sgd":
            mom = opt.momentum
            self.state = [jnp.zeros_like(p) for p in self.params]

            def step(params, state, xb, yb):
                loss, g = grad_fn(params, xb, yb)
                state = [mom * v + gi for v, gi in zip(state, g)]
                params = [p - lr * v for p, v in zip(params, state)]
                return params, state, loss
        else:
            b1, b2, eps = opt.beta1, opt.beta2, opt.eps
            self.state = ([jnp.zeros_like(p) for p in self.params],
                          [jnp.zeros_like(p) for p in self.params],
                          jnp.zeros((), jnp.float32))

            def step(params, state, xb, yb):
                loss, g = grad_fn(params, xb, yb)
                m, v, t = state
                t = t + 1
                m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
                v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
                c1 = 1 - b1 ** t
                c2 = 1 - b2 ** t
                params = [p - lr * (mi / c1) / (jnp.sqrt(vi / c2) + eps)
                          for p, mi, vi in zip(params, m, v)]
                return params, (m, v, t), loss
        self._jstep = jax.jit(step, donate_argnums=(0, 1))

    def _do(self, xb, yb):
        self.params, self.state, loss = self._jstep(self.params, self.state, xb, yb)
        return loss

    def step(self):
        xb, yb = self.batches[self.i]
        self.i = (self.i + 1) % self.nb
        self._do(xb, yb)

    def sync(self):
        self.jax.block_until_ready(self.params)

    def loss_on(self, xb, yb):
        return float(self._do(self.jnp.asarray(xb), self.jnp.asarray(yb)))


# ----------------------------------------------------------------------------------------
# Fashion-MNIST (E1)
# ----------------------------------------------------------------------------------------

def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: truncated ({arr.size} bytes for shape {dims})")
    return arr.reshape(dims)


def load_fashion_mnist():
    """((x_train, y_train), (x_test, y_test)) as uint8 [N, 28, 28] / uint8 [N], or None.

    Reads the Debian ``dataset-fashion-mnist`` idx files with a tiny local reader; falls back
    to ``fastmlp.datasets.load_fashion_mnist()`` when the files are not there.
    """
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    for d in FASHION_DIRS:
        if d and all((Path(d) / n).is_file() for n in names):
            xs = [_read_idx(Path(d) / n) for n in names]
            return (xs[0], xs[1]), (xs[2], xs[3])
    fm = fastmlp_module()
    ds = getattr(fm, "datasets", None) if fm is not None else None
    if ds is not None and hasattr(ds, "load_fashion_mnist"):
        try:
            return ds.load_fashion_mnist()
        except Exception:
            return None
    return None


def e1_backends(data, threads, seed=0, only=None):
    """name -> run_one_epoch() for E1 (784-256-128-10, Adam 1e-3, batch 64, shuffled).

    fastmlp trains straight from the uint8 images (Rescaling fused into the first layer).
    The anchors get the images already converted to float32 / 255 outside the timing (the
    conservative choice: their conversion cost is not counted).
    """
    (x_u8, y), _ = data
    n = len(x_u8)
    batch = 64
    weights = mlp_weights(E1_SIZES, seed=seed, bias_scale=0.0)
    x_f32 = (x_u8.reshape(n, -1).astype(np.float32) / np.float32(255.0))
    y32 = y.astype(np.int32)
    backends, missing = {}, {}

    def want(name):
        return only is None or name in only

    if not want("fastmlp"):
        pass
    elif has_sequential():
        model = fastmlp_trainer(E1_SIZES, weights, ADAM, input_shape=(28, 28), rescale=1 / 255)

        def fm_epoch():
            model.fit(x_u8, y32, batch_size=batch, epochs=1, shuffle=True, verbose=0)

        backends["fastmlp"] = fm_epoch
    else:
        missing["fastmlp"] = "fastmlp.Sequential not available yet"

    torch = optional("torch") if want("torch") else None
    if not want("torch"):
        pass
    elif torch is not None:
        ts = TorchSteps(E1_SIZES, weights, ADAM, x_f32[:batch], y32[:batch], batch)
        xt = torch.from_numpy(x_f32)
        yt = torch.from_numpy(y.astype(np.int64))
        gen = torch.Generator().manual_seed(seed)

        def torch_epoch():
            perm = torch.randperm(n, generator=gen)
            for s in range(0, n, batch):
                idx = perm[s:s + batch]
                ts._step(xt[idx], yt[idx])

        backends["torch"] = torch_epoch
    else:
        missing["torch"] = "not installed"

    if not want("sklearn"):
        pass
    elif optional("sklearn") is not None:
        import warnings

        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(hidden_layer_sizes=E1_SIZES[1:-1], activation="relu", solver="adam",
                            learning_rate_init=1e-3, batch_size=batch, max_iter=1, shuffle=True,
                            random_state=seed)
        classes = np.arange(10)

        def sk_epoch():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.partial_fit(x_f32, y, classes=classes)

        backends["sklearn"] = sk_epoch
    else:
        missing["sklearn"] = "scikit-learn not installed"

    if not want("jax"):
        pass
    elif optional("jax") is not None:
        js = JaxSteps(E1_SIZES, weights, ADAM, x_f32[:batch], y32[:batch], batch)
        rng = np.random.default_rng(seed)

        def jax_epoch():
            perm = rng.permutation(n)
            for s in range(0, n, batch):
                idx = perm[s:s + batch]
                js._do(x_f32[idx], y32[idx])
            js.sync()

        backends["jax"] = jax_epoch
    else:
        missing["jax"] = "not installed"
    return backends, missing


def record_rate(benchmark, key, units_per_call):
    """Store units/s (from pytest-benchmark's median time) in benchmark.extra_info[key]."""
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: nothing was timed
        return None
    med = stats.stats.median
    rate = units_per_call / med if med > 0 else float("nan")
    benchmark.extra_info[key] = rate
    return rate


def torch_e1_epoch(torch, net, x, y, bf16=False):
    """One E1 epoch of PyTorch module ``net`` (Adam 1e-3, batch 64, cross-entropy, uint8
    images scaled in the loop, as fastmlp's Rescaling does) as a callable; ``bf16`` runs
    forward and loss under CPU bf16 autocast."""
    nn = torch.nn
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    lossf = nn.CrossEntropyLoss()
    xs = torch.from_numpy(np.array(x).reshape(len(x), -1))  # (a writable copy: torch wants one)
    ys = torch.from_numpy(y.astype(np.int64))

    def epoch():
        perm = torch.randperm(len(xs))
        for i in range(0, len(xs), 64):
            j = perm[i:i + 64]
            xb = xs[j].float() / 255
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = lossf(net(xb), ys[j])
            loss.backward()
            opt.step()
    return epoch
