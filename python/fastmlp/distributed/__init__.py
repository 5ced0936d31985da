"""Data-parallel training across processes (``pip install 'fastmlp[distributed]'``).

Start one process per rank the usual way and call :func:`fit` on every rank with the same
model, data and arguments::

    mpirun -n 4 python train.py                 # backend="mpi"   (mpi4py)
    torchrun --nproc-per-node 4 train.py        # backend="torch" (torch.distributed, gloo)

    import fastmlp as fm, fastmlp.distributed as fmd
    model = fm.Sequential([...], input_shape=(784,), seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = fmd.fit(model, x, y, backend="torch", batch_size=256, epochs=5)
    fmd.save(model, "model.fastmlp")           # rank 0 writes, the others wait

Conventions (those of Horovod / DDP users, with Keras' ``fit`` arguments):

* ``batch_size`` is the **global** batch (as ``tf.distribute``): each of the N ranks
  trains ``batch_size / N`` rows of it, so results do not change with N for the
  synchronous strategy. Keep the learning rate of the single-process run.
* Every rank passes the whole data set; each takes its shard of every batch (as
  ``DistributedSampler``) from one shuffling order, rank 0's seed.
* Ranks start from rank 0's weights and optimizer state (broadcast), stay identical (a
  CRC of the weights is compared after every epoch; a mismatch raises ``RuntimeError``)
  and every rank returns the same :class:`~fastmlp.callbacks.History` (losses averaged
  over the ranks, plus ``examples_per_sec`` and ``comm_fraction``, the share of the
  epoch spent in collectives). :func:`save` writes only on rank 0.

Strategies:

* ``sync_every=None`` (default): synchronous data parallelism. Each rank computes the
  gradient of its shard with the engine, one all-reduce of one flat buffer averages them
  (weighted by rows), and every rank applies the same optimizer step: the same result as
  one process training the global batch, up to float32 rounding. The engine's backward is
  one C++ call, so communication is not overlapped with it; it costs one all-reduce of all
  the weights per step. With BatchNormalization each rank normalizes with its shard's
  statistics (as DDP without SyncBatchNorm), so gamma/beta gradients differ from a single
  process's; the moving statistics follow the average of the shards' batch statistics
  (one extra forward/backward per step computes them).
* ``sync_every=k``: local SGD / periodic model averaging. Each rank trains ``k`` batches
  of ``batch_size / N`` rows of its shard in the engine (as ``fit`` does, no Python per
  batch), then the weights and BatchNormalization's moving statistics are averaged (the
  optimizer state, e.g. Adam's moments, stays local to each rank), and again at the end
  of every epoch. Communication drops k-fold. Accuracy: with small k (1-16) the averaged
  model matches single-process training within noise; large k lets the ranks drift apart
  between averages (with N ranks it trains like N models each on 1/N of the data,
  averaged), which slows convergence per epoch, more with higher learning rates.

Faults: every collective has a ``timeout`` (seconds, default 300). With ``"torch"`` a
rank whose peer died raises at once (connection closed) or after the timeout, and
torchrun ends the job. With ``"mpi"`` an uncaught exception on any rank calls
``MPI.COMM_WORLD.Abort`` (mpirun then kills every rank of the job) and a collective
waiting longer than the timeout aborts the job.

Nothing here is imported by a plain ``import fastmlp``.
"""
from __future__ import annotations

from ._backend import BACKENDS, DEFAULT_TIMEOUT, current, init, shutdown
from ._fit import fit

__all__ = ["BACKENDS", "DEFAULT_TIMEOUT", "init", "shutdown", "fit", "rank", "size",
           "is_main", "barrier", "allreduce", "save", "check_weights"]


def rank() -> int:
    """This process's rank (after :func:`init` or :func:`fit`)."""
    return current().rank


def size() -> int:
    """The number of ranks (after :func:`init` or :func:`fit`)."""
    return current().size


def is_main() -> bool:
    """Whether this is rank 0, the one that prints and saves."""
    return current().rank == 0


def barrier() -> None:
    """Wait until every rank reaches this point (bounded by the timeout)."""
    current().barrier()


def allreduce(array, average=True):
    """The element-wise sum (``average=False``) or mean of ``array`` over the ranks, as a
    new float32 (float32 input) or float64 array; e.g. to average a metric."""
    import numpy as np
    a = np.asarray(array)
    buf = np.array(a, dtype=np.float32 if a.dtype == np.float32 else np.float64, order="C")
    comm = current()
    comm.allreduce_sum(buf)
    if average:
        buf /= comm.size
    return buf


def save(model, path) -> None:
    """``model.save(path)`` on rank 0 only; every rank returns once the file is written."""
    comm = current()
    if comm.rank == 0:
        model.save(path)
    comm.barrier()


def check_weights(model) -> None:
    """Raise ``RuntimeError`` on every rank when the ranks' weights differ."""
    from ._params import check_identical
    check_identical(current(), model._ensure_net(), "(check_weights)")
