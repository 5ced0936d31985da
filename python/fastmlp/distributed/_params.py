"""The model's parameters as one flat float32 buffer (one collective per exchange, not
one per array), which of them are BatchNormalization moving statistics, and a checksum."""
from __future__ import annotations

import zlib

import numpy as np


class FlatParams:
    """Offsets of the engine network's parameters in one flat float32 buffer; ``views``
    are arrays shaped like each parameter that share the buffer's memory."""

    def __init__(self, net, extra=0):
        shapes = [p.shape for p in net.get_params()]
        sizes = [int(np.prod(s)) for s in shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.count = int(self.offsets[-1])
        self.buf = np.zeros(self.count + extra, np.float32)  # extra: loss, rows, ...
        self.views = [self.buf[self.offsets[i]:self.offsets[i + 1]].reshape(s)
                      for i, s in enumerate(shapes)]

    def fill(self, arrays, scale=1.0):
        """Copy ``arrays`` (one per parameter) into the buffer, times ``scale``."""
        for v, a in zip(self.views, arrays):
            np.multiply(a, scale, out=v)


def moving_stat_indices(model) -> list:
    """Engine parameter indices of the layers' moving statistics (BatchNormalization's
    moving_mean and moving_variance): state the layers update, not the optimizer."""
    out, i = [], 0
    for layer in model._layers:
        for name in (layer._weight_names() if layer.weights else ()):
            if name.startswith("moving_"):
                out.append(i)
            i += 1
    return out


def checksum(net) -> int:
    """CRC-32 of every parameter's bytes: equal on every rank iff the weights are."""
    c = 0
    for p in net.get_params():
        c = zlib.crc32(np.ascontiguousarray(p).view(np.uint8), c)
    return c


def check_identical(backend, net, where) -> None:
    """Raise RuntimeError on every rank when the ranks' weights differ."""
    sums = backend.gather_values([checksum(net)])[:, 0]
    if np.any(sums != sums[0]):
        bad = [r for r in range(backend.size) if sums[r] != sums[0]]
        raise RuntimeError(f"fastmlp.distributed: the ranks' weights differ {where} (ranks "
                           f"{bad} differ from rank 0; checksums {sums.astype(np.int64)}); "
                           "every rank must run the same model, data and arguments")


def broadcast_state(backend, net) -> None:
    """Rank 0's weights, moving statistics and optimizer state (step and slots) on every
    rank: training starts from one model."""
    flat = FlatParams(net)
    flat.fill(net.get_params())
    backend.broadcast(flat.buf)
    net.set_params(flat.views)
    step, state = net.get_optimizer_state()
    kept = [(i, j) for i, slots in enumerate(state) for j, s in enumerate(slots)
            if s is not None]
    buf = np.zeros(1 + sum(state[i][j].size for i, j in kept), np.float64)
    buf[0] = step
    o = 1
    for i, j in kept:
        buf[o:o + state[i][j].size] = state[i][j].ravel()
        o += state[i][j].size
    backend.broadcast(buf)
    new, o = [list(slots) for slots in state], 1
    for i, j in kept:
        n = state[i][j].size
        new[i][j] = buf[o:o + n].astype(np.float32).reshape(state[i][j].shape)
        o += n
    net.set_optimizer_state(int(buf[0]), [tuple(s) for s in new])
