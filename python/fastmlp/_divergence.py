"""fit's divergence guard: the loss bound past which training counts as diverged, the
snapshots of weights and optimizer state it falls back to, and the message.

The rule (documented in the README and in ``fastmlp.callbacks.TerminateOnNaN``): a batch
diverges when its loss is NaN/inf or exceeds ``factor * reference``, where ``reference =
max(1, loss of fit's first batch (at the weights fit starts from), loss of predicting
nothing: ln(outputs) for categorical cross-entropy, ln 2 for binary cross-entropy (each
output 0.5), and the loss of predicting zeros for the regression losses: mean(y**2) for
mse, mean(|y|) for mae, the mean Huber loss of y for huber)``, and ``factor`` is 1e4 by
default. Training that works never climbs four orders of magnitude above where it started
or above chance; a learning rate a thousand times too large gets there within a few
batches, long before the loss overflows.
"""
from __future__ import annotations

import math
import time

import numpy as np

DEFAULT_DIVERGENCE_FACTOR = 1e4

# A snapshot (the engine's checkpoint: a copy of the weights and optimizer state) is
# taken at the start of fit and then at the start of an epoch once training since the
# last one took this many times longer than taking it: never more than ~1% of training.
_SNAPSHOT_COST_RATIO = 100.0


def check_divergence_factor(value):
    """``divergence_factor``: None (only NaN/inf losses) or a real number > 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"divergence_factor: expected a number > 1 or None, got "
                        f"{type(value).__name__} {value!r}")
    if not (math.isfinite(float(value)) and value > 1):
        raise ValueError(f"divergence_factor: expected a finite number > 1 (or None to stop "
                         f"only on NaN/inf losses), got {value!r}")
    return float(value)


class DivergenceGuard:
    """One per fit call: ``limit`` for the engine (inf until ``first_loss`` gave the
    reference: fit trains its first batch alone), ``maybe_snapshot`` at each epoch start,
    ``restore`` and ``message`` when the engine stopped on a diverged batch."""

    def __init__(self, net, loss, y, factor):
        self.net = net
        self.factor = factor
        self.limit = math.inf
        self.reference = None
        self._loss, self._y = loss, y  # a fastmlp.losses.Loss (or its engine code)
        self._snap = self._prev = None  # (epoch, engine checkpoint slot)
        self._snap_cost = 0.0
        self._since_snap = math.inf

    @property
    def needs_first_loss(self):
        return self.factor is not None and self.reference is None

    def first_loss(self, loss):
        """Sets the bound from the loss of fit's first batch (before its update)."""
        self.reference = max(1.0, loss if math.isfinite(loss) else 0.0, self.chance_loss())
        self.limit = self.factor * self.reference

    def chance_loss(self):
        """The loss of predicting nothing, per loss kind (see the module's rule)."""
        code = getattr(self._loss, "code", self._loss)
        if code in (0, 1):  # categorical cross-entropy: a uniform prediction
            return math.log(max(self.net.output_dim, 1))
        if code == 3:  # binary cross-entropy (mean over the outputs): each output 0.5
            return math.log(2.0)
        v = self._y.reshape(-1)  # float32 rows (fit's targets); precise enough here
        if code == 4:  # mae: predicting zeros
            return float(np.abs(v, dtype=np.float64).mean()) if v.size else 0.0
        if code == 5:  # huber: predicting zeros
            d = float(getattr(self._loss, "delta", 1.0))
            a = np.abs(v, dtype=np.float64)
            h = np.where(a <= d, 0.5 * a * a, d * a - 0.5 * d * d)
            return float(h.mean()) if v.size else 0.0
        # mse: predicting zeros
        return float(np.dot(v, v)) / max(v.size, 1)

    def trained(self, seconds):
        self._since_snap += seconds

    def maybe_snapshot(self, epoch):
        if self._snap is not None and self._since_snap < _SNAPSHOT_COST_RATIO * self._snap_cost:
            return
        # the slot not holding the latest snapshot (that one becomes the previous)
        slot = 0 if self._snap is None or self._snap[1] == 1 else 1
        t0 = time.perf_counter()
        self.net.save_checkpoint(slot)
        self._snap_cost = time.perf_counter() - t0
        snap = (epoch, slot)
        self._since_snap = 0.0
        # a snapshot is sane once a batch trained from it had a sane loss: by then the
        # previous one is no longer needed
        self._prev, self._snap = self._snap, snap

    def restore(self, epoch, batch):
        """Puts back the last snapshot whose own loss was sane; returns its epoch.

        The engine stops before updating the diverged batch, so when that batch is the
        first after the latest snapshot, the weights are the snapshot's and its loss is
        the bad one: the one before is used (None at the start of fit: nothing changed).
        """
        snap = self._snap
        if snap[0] == epoch and batch == 0:
            if self._prev is None:
                return snap[0]
            snap = self._prev
        if not self.net.restore_checkpoint(snap[1]):
            raise RuntimeError("fit: the weights could not be restored after a divergence "
                               "(the optimizer was changed during fit)")
        return snap[0]

    def close(self):
        """Frees the snapshots (fit's end, however it ends)."""
        self.net.discard_checkpoints()

    def message(self, loss, epoch, batch, n_batches, restored_epoch, lr):
        if math.isfinite(loss):
            why = (f"more than {self.factor:g}x its reference {self.reference:.4g} (the "
                   f"bound is {self.limit:.4g}; see fastmlp.callbacks.TerminateOnNaN)")
        else:
            why = "not finite"
        return (f"training diverged: the loss became {loss:.4g} at epoch {epoch + 1}, batch "
                f"{batch + 1} (of {n_batches}), {why}. The weights and optimizer state are "
                f"restored to those at the start of epoch {restored_epoch + 1}, the last "
                f"whose loss was sane. Lower the learning rate (now {lr:g}), e.g. to "
                f"{lr / 10:g}.")
