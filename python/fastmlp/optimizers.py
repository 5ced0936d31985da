"""Optimizers (their updates run fused in C++ inside each training step).

``SGD(learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0)``: weight decay
is an L2 term added to the gradient. ``Adam(learning_rate=0.001, beta_1=0.9,
beta_2=0.999, epsilon=1e-7, weight_decay=0.0)``: L2 weight decay added to the gradient,
as PyTorch's Adam. ``AdamW(..., weight_decay=0.004)``: decoupled weight decay.
Changing ``learning_rate`` between epochs (e.g. from a callback) takes effect at the next
epoch. ``learning_rate`` may be a schedule (``fm.optimizers.schedules``), which the engine
evaluates for every update.
"""
from __future__ import annotations

from . import schedules
from ._check import number as _num
from .schedules import LearningRateSchedule

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "get"]


class Optimizer:
    """Base class of the optimizers (the updates run in C++).

    Parameters
    ----------
    learning_rate : float
        Step size, a finite number > 0.
    """

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    @property
    def learning_rate(self):
        """Step size: a finite number > 0 (checked when set, else ``ValueError``), or a
        ``LearningRateSchedule`` that the engine evaluates for every update."""
        return self._lr

    @learning_rate.setter
    def learning_rate(self, v):
        if isinstance(v, dict) and "class_name" in v:  # a saved schedule (get_config)
            v = schedules.get(v["class_name"], v.get("config", {}))
        if isinstance(v, LearningRateSchedule):
            self._lr = v
            return
        self._lr = _num("learning_rate", v, lo=0.0, lo_open=True)

    def _rate_at(self, step) -> float:
        """The learning rate of the update after ``step`` updates."""
        lr = self._lr
        return float(lr(step)) if isinstance(lr, LearningRateSchedule) else lr

    def _apply_rate(self, net) -> None:
        """Hand the rate (or schedule) to the engine network."""
        lr = self._lr
        if isinstance(lr, LearningRateSchedule):
            net.set_lr_schedule(lr._engine())
        else:
            net.set_learning_rate(float(lr))

    def _lr_config(self):
        lr = self._lr
        if isinstance(lr, LearningRateSchedule):
            return {"class_name": type(lr).__name__, "config": lr.get_config()}
        return lr

    def _engine_args(self) -> dict:
        raise NotImplementedError

    def get_config(self) -> dict:
        """Constructor arguments of this optimizer (implemented by subclasses)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        """Create an optimizer from ``get_config()`` output: ``cls(**config)``."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    Parameters
    ----------
    learning_rate : float, default 0.01
        Step size, > 0.
    momentum : float, default 0.0
        In ``[0, 1)``.
    nesterov : bool, default False
        Use Nesterov momentum.
    weight_decay : float, default 0.0
        L2 term (``>= 0``) added to the gradient.

    Raises
    ------
    ValueError
        If an argument is not a finite number in its range.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(learning_rate)
        self.momentum = _num("momentum", momentum, lo=0.0, hi=1.0, hi_open=True)
        self.nesterov = bool(nesterov)
        self.weight_decay = _num("weight_decay", weight_decay, lo=0.0)

    def _engine_args(self):
        return dict(kind=0, lr=self._rate_at(0), momentum=self.momentum, beta1=0.9,
                    beta2=0.999, eps=1e-7, weight_decay=self.weight_decay,
                    nesterov=self.nesterov, decoupled=False)

    def get_config(self):
        """Constructor arguments: ``learning_rate``, ``momentum``, ``nesterov``, ``weight_decay``."""
        return {"learning_rate": self._lr_config(), "momentum": self.momentum,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam; ``weight_decay`` is an L2 term added to the gradient (as PyTorch's Adam).

    Parameters
    ----------
    learning_rate : float, default 0.001
        Step size, > 0.
    beta_1, beta_2 : float, default 0.9, 0.999
        Decay rates of the moment estimates, in ``[0, 1)``.
    epsilon : float, default 1e-7
        Added to the denominator, > 0.
    weight_decay : float, default 0.0
        ``>= 0``.

    Raises
    ------
    ValueError
        If an argument is not a finite number in its range.
    """

    _decoupled = False

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=0.0):
        super().__init__(learning_rate)
        self.beta_1 = _num("beta_1", beta_1, lo=0.0, hi=1.0, hi_open=True)
        self.beta_2 = _num("beta_2", beta_2, lo=0.0, hi=1.0, hi_open=True)
        self.epsilon = _num("epsilon", epsilon, lo=0.0, lo_open=True)
        self.weight_decay = _num("weight_decay", weight_decay, lo=0.0)

    def _engine_args(self):
        return dict(kind=1, lr=self._rate_at(0), momentum=0.0, beta1=self.beta_1,
                    beta2=self.beta_2, eps=self.epsilon, weight_decay=self.weight_decay,
                    nesterov=False, decoupled=self._decoupled)

    def get_config(self):
        """Constructor arguments: ``learning_rate``, ``beta_1``, ``beta_2``, ``epsilon``, ``weight_decay``."""
        return {"learning_rate": self._lr_config(), "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=0.004``); other
    arguments as :class:`Adam`."""

    _decoupled = True

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, weight_decay=weight_decay)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get(identifier) -> Optimizer:
    """Resolve an optimizer.

    Parameters
    ----------
    identifier : str or Optimizer
        ``"sgd"``, ``"adam"`` or ``"adamw"`` (case-insensitive; default arguments), or an
        optimizer instance (returned as is).

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        If ``identifier`` is not recognised.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"optimizer: expected 'sgd', 'adam', 'adamw' or a "
                     f"fastmlp.optimizers.Optimizer, got {identifier!r}")
