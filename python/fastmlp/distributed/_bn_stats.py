"""BatchNormalization's moving statistics under synchronous all-reduce.

``Network.compute_gradients`` takes the batch statistics of the shard it is given but does
not update the moving statistics (it changes nothing). A twin network (same layers,
SGD with a negligible rate) trains one step on the same shard from the same weights: its
moving statistics after that step are exactly what the real step would have left. The twin
is reset from the real network before every step, so its own updates never accumulate.
Cost: one more forward + backward per step, only for models with BatchNormalization.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np


class MovingStats:
    def __init__(self, model, indices):
        from .. import optimizers
        from ..saving import load_model
        self.indices = indices
        fd, path = tempfile.mkstemp(suffix=".fastmlp")
        os.close(fd)
        try:
            model.save(path)
            twin = load_model(path, compile=False)
        finally:
            os.unlink(path)
        # the rate only has to be > 0; the twin's weights are overwritten every step
        twin.compile(optimizer=optimizers.SGD(learning_rate=1e-30), loss=model.loss)
        self.net = twin._ensure_net()
        self._acc = np.zeros(2, np.float32)

    def after_step(self, net, x, y, rows) -> list:
        """The moving statistics a training step on ``x[rows]`` would leave, one array per
        index of ``indices``."""
        self.net.set_params(net.get_params())
        idx = np.arange(len(rows), dtype=np.int32)
        self.net.train_batches(x[rows], y[rows], idx, len(rows), 0, 1, self._acc[:1],
                               self._acc[1:])
        return [self.net.param(i) for i in self.indices]
