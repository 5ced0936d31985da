"""The logs fit and evaluate report, from what the engine writes: per batch its loss and
each metric (sum(w m) / sum(w) over the batch's rows), and per evaluate call the sums.

Epoch values combine the batches as Keras does: the loss weighted by each batch's rows
(Keras's loss tracker), a metric by each batch's sum of weights (so the epoch's metric is
sum(w_i m_i) / sum(w_i) over all rows)."""
from __future__ import annotations

import numpy as np


def _ratio(num, den):
    return float(num / den) if den > 0 else 0.0  # Keras: a metric of no weight is 0


class EpochBatches:
    """One epoch's buffers for ``Network.train_batches`` (``losses``, ``values`` [batches,
    metrics]) and the logs made from them. ``rows``: the rows of each batch;
    ``weights``: the per-row weights (None: 1) and ``idx`` the epoch's row order."""

    def __init__(self, names, rows, batch_size, weights=None, idx=None):
        nb = len(rows)
        self.names = list(names)
        self.losses = np.zeros(nb, dtype=np.float32)
        self.values = np.zeros((nb, len(self.names)), dtype=np.float32)
        self.rows = rows
        if weights is None:
            self.weight_sums = rows
        else:
            w = weights[idx[:int(rows.sum())]].astype(np.float64)
            self.weight_sums = np.add.reduceat(w, np.arange(0, len(w), batch_size))[:nb]

    def batch(self, b) -> dict:
        """Batch ``b``'s logs (on_train_batch_end)."""
        logs = {"loss": float(self.losses[b])}
        for j, name in enumerate(self.names):
            logs[name] = float(self.values[b, j])
        return logs

    def mean(self, done=None) -> dict:
        """The logs of batches [0, done) (all by default)."""
        r, w = self.rows[:done], self.weight_sums[:done]
        logs = {"loss": _ratio(np.dot(self.losses[:done], r), r.sum())}
        ws = w.sum()
        for j, name in enumerate(self.names):
            logs[name] = _ratio(np.dot(self.values[:done, j], w), ws)
        return logs


def evaluate_logs(names, result, n, prefix="") -> dict:
    """Logs from ``Network.evaluate``'s (loss sum, metric sums, weight sum, bad row) over
    ``n`` rows: the loss sum(w l) / n, each metric sum(w m) / sum(w)."""
    loss_sum, msums, wsum, _ = result
    logs = {prefix + "loss": loss_sum / n}
    for name, s in zip(names, msums):
        logs[prefix + name] = _ratio(s, wsum)
    return logs
