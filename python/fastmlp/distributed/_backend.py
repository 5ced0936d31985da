"""The process group fastmlp.distributed trains in: one backend object per process.

A backend offers the few collectives data-parallel training needs, all in place on
contiguous NumPy arrays (float32 or float64): ``allreduce_sum``, ``broadcast`` (from rank
0) and ``barrier``. Every collective has a timeout, so that a rank that died or hangs ends
the job with an error instead of a hang (see ``_mpi.py`` and ``_torch.py`` for how).
"""
from __future__ import annotations

import numbers

import numpy as np

BACKENDS = ("mpi", "torch")
DEFAULT_TIMEOUT = 300.0  # seconds a collective may wait for the other ranks

_current = None  # the initialized backend of this process


class Backend:
    """Base class: ``rank``, ``size`` and in-place collectives on NumPy arrays."""

    name = ""
    rank = 0
    size = 1

    def allreduce_sum(self, buf: np.ndarray) -> None:
        raise NotImplementedError

    def broadcast(self, buf: np.ndarray) -> None:
        raise NotImplementedError

    def barrier(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Leave the process group (idempotent)."""

    def gather_values(self, values) -> np.ndarray:
        """Every rank's ``values`` (a few floats), as a float64 array [size, len(values)]:
        one all-reduce of a buffer where each rank fills its own row."""
        values = np.asarray(values, dtype=np.float64).ravel()
        buf = np.zeros((self.size, values.size), np.float64)
        buf[self.rank] = values
        self.allreduce_sum(buf)
        return buf


def check_backend(backend):
    """``backend`` as one of BACKENDS, else ValueError/TypeError naming it."""
    if not isinstance(backend, str):
        raise TypeError(f"backend: expected one of {BACKENDS}, got {type(backend).__name__} "
                        f"{backend!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    return backend


def check_timeout(timeout):
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout: expected a number of seconds > 0, got "
                        f"{type(timeout).__name__} {timeout!r}")
    if not timeout > 0:
        raise ValueError(f"timeout: expected a number of seconds > 0, got {timeout!r}")
    return float(timeout)


def init(backend, timeout=None) -> Backend:
    """Join the process group of ``backend`` (``"mpi"`` or ``"torch"``); idempotent.

    ``"mpi"`` uses mpi4py's ``COMM_WORLD`` (start with ``mpirun -n N python train.py``);
    ``"torch"`` uses ``torch.distributed`` with gloo, initialised from the environment that
    ``torchrun`` sets (or an already initialised default group). ``timeout`` (seconds,
    default 300) bounds every collective: when another rank died or hangs, this one raises
    (torch) or aborts the job (MPI) after that long instead of waiting forever.
    """
    global _current
    backend = check_backend(backend)
    timeout = check_timeout(timeout)
    if _current is not None:
        if _current.name != backend:
            raise ValueError(f"backend: this process already joined the {_current.name!r} "
                             f"group, got {backend!r}")
        return _current
    if backend == "mpi":
        from ._mpi import MpiBackend
        _current = MpiBackend(timeout)
    else:
        from ._torch import TorchBackend
        _current = TorchBackend(timeout)
    return _current


def current(backend=None, timeout=None) -> Backend:
    """The backend ``fit`` uses: ``backend`` (joined now if needed) or the one ``init``
    joined."""
    if backend is None:
        if _current is None:
            raise ValueError(f"backend: expected one of {BACKENDS} (or call "
                             f"fastmlp.distributed.init(backend) first), got None")
        return _current
    return init(backend, timeout)


def shutdown() -> None:
    """Leave the process group (the next ``init`` joins again)."""
    global _current
    if _current is not None:
        _current.close()
        _current = None
