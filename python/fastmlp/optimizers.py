"""Optimizers (their updates run fused in C++ inside each training step).

``SGD(learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0)``: weight decay
is an L2 term added to the gradient. ``Adam(learning_rate=0.001, beta_1=0.9,
beta_2=0.999, epsilon=1e-7, weight_decay=0.0)``: L2 weight decay added to the gradient,
as PyTorch's Adam. ``AdamW(..., weight_decay=0.004)``: decoupled weight decay.
``RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
weight_decay=0.0)`` and ``Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999,
epsilon=1e-7, weight_decay=0.0)``: Keras 3's formulas, weight decay decoupled as Keras
applies it. Every optimizer takes Keras' ``clipnorm`` (each weight's gradient rescaled to
that norm at most), ``clipvalue`` (each value clamped) or ``global_clipnorm`` (all
gradients rescaled together), at most one of them. RMSprop, Nadam, clipping and the
layers' regularizers and constraints update from whole gradients (the fused
update-in-the-GEMM paths serve SGD and Adam without them).
Changing ``learning_rate`` between epochs (e.g. from a callback) takes effect at the next
epoch. ``learning_rate`` may be a schedule (``fm.optimizers.schedules``), which the engine
evaluates for every update.
"""
from __future__ import annotations

from . import schedules
from ._check import number as _num
from .schedules import LearningRateSchedule

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Nadam", "NAMES", "get",
           "deserialize"]

_CLIP_ARGS = ("clipnorm", "clipvalue", "global_clipnorm")


class Optimizer:
    """Base class of the optimizers (the updates run in C++).

    Parameters
    ----------
    learning_rate : float
        Step size, a finite number > 0.
    clipnorm, clipvalue, global_clipnorm : float, optional
        Gradient clipping as Keras (> 0; at most one of them).
    """

    def __init__(self, learning_rate, clipnorm=None, clipvalue=None, global_clipnorm=None):
        self.learning_rate = learning_rate
        given = {}
        for name, v in zip(_CLIP_ARGS, (clipnorm, clipvalue, global_clipnorm)):
            given[name] = None if v is None else _num(name, v, lo=0.0, lo_open=True)
        both = [k for k, v in given.items() if v is not None]
        if len(both) > 1:
            raise ValueError(f"{type(self).__name__}: set at most one of clipnorm, clipvalue "
                             f"and global_clipnorm, got {', '.join(both)}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = (given[k] for k in _CLIP_ARGS)

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
        """set_optimizer's arguments: this kind's fields (_kind_args) and the clipping."""
        args = dict(kind=0, lr=self._rate_at(0), momentum=0.0, beta1=0.9, beta2=0.999,
                    eps=1e-7, weight_decay=0.0, nesterov=False, decoupled=False)
        args.update(self._kind_args())
        args.update({k: getattr(self, k) or 0.0 for k in _CLIP_ARGS})
        return args

    def _kind_args(self) -> dict:
        raise NotImplementedError

    def _own_config(self) -> dict:
        raise NotImplementedError

    def get_config(self) -> dict:
        """Constructor arguments: ``learning_rate``, this optimizer's own, and the
        clipping arguments."""
        config = {"learning_rate": self._lr_config()}
        config.update(self._own_config())
        config.update({k: getattr(self, k) for k in _CLIP_ARGS})
        return config

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

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                 **clipping):
        super().__init__(learning_rate, **clipping)
        self.momentum = _num("momentum", momentum, lo=0.0, hi=1.0, hi_open=True)
        self.nesterov = bool(nesterov)
        self.weight_decay = _num("weight_decay", weight_decay, lo=0.0)

    def _kind_args(self):
        return dict(kind=0, momentum=self.momentum, weight_decay=self.weight_decay,
                    nesterov=self.nesterov)

    def _own_config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}


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

    _kind = 1

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=0.0, **clipping):
        super().__init__(learning_rate, **clipping)
        self.beta_1 = _num("beta_1", beta_1, lo=0.0, hi=1.0, hi_open=True)
        self.beta_2 = _num("beta_2", beta_2, lo=0.0, hi=1.0, hi_open=True)
        self.epsilon = _num("epsilon", epsilon, lo=0.0, lo_open=True)
        self.weight_decay = _num("weight_decay", weight_decay, lo=0.0)

    def _kind_args(self):
        return dict(kind=self._kind, beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon,
                    weight_decay=self.weight_decay, decoupled=self._decoupled)

    def _own_config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=0.004``); other
    arguments as :class:`Adam`."""

    _decoupled = True

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, **clipping):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, weight_decay=weight_decay, **clipping)


class Nadam(Adam):
    """Adam with Nesterov momentum (Keras 3's Nadam: the momentum factor
    ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``); ``weight_decay`` is decoupled (Keras:
    ``p -= learning_rate * weight_decay * p`` before the step). Arguments as :class:`Adam`.
    """

    _kind = 3
    _decoupled = True


class RMSprop(Optimizer):
    """RMSprop, Keras 3's formula: ``v = rho * v + (1 - rho) * g**2``; the step
    ``learning_rate * g / sqrt(v + epsilon)`` (``centered``: ``sqrt(v - mean_g**2 +
    epsilon)``), through a momentum buffer when ``momentum > 0``.

    Parameters
    ----------
    learning_rate : float, default 0.001
    rho : float, default 0.9
        Decay of the squared-gradient average, in ``[0, 1)``.
    momentum : float, default 0.0
        In ``[0, 1)``.
    epsilon : float, default 1e-7
        > 0.
    centered : bool, default False
    weight_decay : float, default 0.0
        Decoupled, as Keras: ``p -= learning_rate * weight_decay * p`` before the step.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=0.0, **clipping):
        super().__init__(learning_rate, **clipping)
        self.rho = _num("rho", rho, lo=0.0, hi=1.0, hi_open=True)
        self.momentum = _num("momentum", momentum, lo=0.0, hi=1.0, hi_open=True)
        self.epsilon = _num("epsilon", epsilon, lo=0.0, lo_open=True)
        self.centered = bool(centered)
        self.weight_decay = _num("weight_decay", weight_decay, lo=0.0)

    def _kind_args(self):
        return dict(kind=2, rho=self.rho, momentum=self.momentum, eps=self.epsilon,
                    centered=self.centered, weight_decay=self.weight_decay, decoupled=True)

    def _own_config(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered, "weight_decay": self.weight_decay}


_CLASSES = {c.__name__: c for c in (SGD, Adam, AdamW, RMSprop, Nadam)}
_BY_NAME = {name.lower(): c for name, c in _CLASSES.items()}
NAMES = tuple(_BY_NAME)  # the names get() takes: "sgd", "adam", "adamw", "rmsprop", "nadam"


def deserialize(config) -> Optimizer:
    """The optimizer of a ``{"class_name", "config"}`` dict (as ``save`` writes).

    Raises
    ------
    ValueError
        If the class is not one of this module's optimizers.
    """
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in _CLASSES:
        raise ValueError(f"optimizer: expected a class_name among {sorted(_CLASSES)}, got "
                         f"{name!r}")
    return _CLASSES[name].from_config(dict(config.get("config", {})))


def get(identifier) -> Optimizer:
    """Resolve an optimizer.

    Parameters
    ----------
    identifier : str or Optimizer
        ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"`` or ``"nadam"``
        (case-insensitive; default arguments), or an optimizer instance (returned as is).

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
    raise ValueError(f"optimizer: expected one of {sorted(_BY_NAME)} or a "
                     f"fastmlp.optimizers.Optimizer, got {identifier!r}")
