"""backend="mpi": mpi4py's COMM_WORLD (Open MPI, MPICH, ...), started by mpirun.

MPI has no timeout on collectives and a rank that raises while the others wait in one
would leave them waiting forever. So: (1) an uncaught exception on any rank prints its
traceback and calls ``COMM_WORLD.Abort`` (an excepthook installed by init), and mpirun
then kills every rank of the job; (2) a watchdog thread aborts the job when a collective
waits longer than the timeout (a rank that caught an exception and went on, or hangs).
A rank killed outright (SIGKILL, OOM) is noticed by mpirun, which ends the job.
"""
from __future__ import annotations

import sys
import threading
import time
import traceback
from contextlib import contextmanager

from ._backend import Backend


class _Watchdog(threading.Thread):
    """Aborts the MPI job when a guarded collective outlives its deadline."""

    def __init__(self, comm, timeout):
        super().__init__(name="fastmlp-mpi-watchdog", daemon=True)
        self.comm, self.timeout = comm, timeout
        self.deadline, self.what = None, ""
        self.start()

    @contextmanager
    def guard(self, what):
        self.what, self.deadline = what, time.monotonic() + self.timeout
        try:
            yield
        finally:
            self.deadline = None

    def run(self):
        while True:
            time.sleep(min(0.25, self.timeout / 4))
            d = self.deadline
            if d is not None and time.monotonic() > d:
                sys.stderr.write(
                    f"fastmlp.distributed: rank {self.comm.Get_rank()}: {self.what} waited "
                    f"more than {self.timeout:g} s for the other ranks (one failed or hangs); "
                    "aborting the MPI job\n")
                sys.stderr.flush()
                self.comm.Abort(1)


class MpiBackend(Backend):
    name = "mpi"

    def __init__(self, timeout):
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise ImportError("backend='mpi' needs mpi4py: pip install 'fastmlp[distributed]' "
                              f"(and an MPI library, e.g. apt-get install libopenmpi-dev) ({e})"
                              ) from None
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._watchdog = _Watchdog(self.comm, timeout)
        self._install_excepthook()

    def _install_excepthook(self):
        prev, comm = sys.excepthook, self.comm

        def hook(kind, value, tb):
            try:
                sys.stderr.write(f"fastmlp.distributed: rank {comm.Get_rank()} failed; "
                                 "aborting the MPI job\n")
                prev(kind, value, tb)
                sys.stderr.flush()
            except Exception:  # noqa: BLE001 - the abort below must happen anyway
                traceback.print_exception(kind, value, tb)
            comm.Abort(1)

        sys.excepthook = hook

    def allreduce_sum(self, buf):
        if self.size == 1:  # nothing to exchange
            return
        with self._watchdog.guard("allreduce"):
            self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)

    def broadcast(self, buf):
        if self.size == 1:  # nothing to exchange
            return
        with self._watchdog.guard("broadcast"):
            self.comm.Bcast(buf, root=0)

    def barrier(self):
        with self._watchdog.guard("barrier"):
            self.comm.Barrier()
