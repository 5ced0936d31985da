"""backend="torch": torch.distributed with gloo (CPU), started by torchrun.

init_process_group's ``timeout`` bounds every collective: a rank whose peer died sees
the connection close and raises at once; one whose peer hangs raises after the timeout.
torchrun ends the other workers when one exits with an error.
"""
from __future__ import annotations

import datetime

from ._backend import Backend


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, timeout):
        try:
            import torch
            import torch.distributed as dist
        except ImportError as e:
            raise ImportError(f"backend='torch' needs PyTorch: pip install torch ({e})") from None
        self._torch, self._dist = torch, dist
        self._owns_group = not dist.is_initialized()
        if self._owns_group:
            dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=timeout))
        self.rank, self.size = dist.get_rank(), dist.get_world_size()

    def allreduce_sum(self, buf):
        if self.size == 1:  # nothing to exchange (gloo would still copy)
            return
        # from_numpy shares the memory: the reduction lands in buf
        self._dist.all_reduce(self._torch.from_numpy(buf), op=self._dist.ReduceOp.SUM)

    def broadcast(self, buf):
        if self.size == 1:  # nothing to exchange
            return
        self._dist.broadcast(self._torch.from_numpy(buf), src=0)

    def barrier(self):
        self._dist.barrier()

    def close(self):
        if self._owns_group and self._dist.is_initialized():
            self._dist.destroy_process_group()
        self._owns_group = False
