"""Learning-rate schedules (Keras 3's, ``fm.optimizers.schedules``): pass one as an
optimizer's ``learning_rate``. The engine evaluates it for every update inside its C++
loop (csrc/engine/lr_schedule.cpp), so a schedule costs no Python per batch; ``step`` is
the number of updates made before (Keras' ``optimizer.iterations``).
"""
from __future__ import annotations

import math

from ._check import number

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay",
           "CosineDecay", "InverseTimeDecay"]


def _num(cls, name, v, lo=None, lo_open=False):
    return number(f"{cls.__name__} {name}", v, lo=lo, lo_open=lo_open)


class LearningRateSchedule:
    """Base class: ``schedule(step)`` is the rate of the update after ``step`` updates."""

    def __call__(self, step):
        raise NotImplementedError

    def _engine(self) -> dict:
        """The fields of the engine's LrSchedule."""
        raise NotImplementedError

    def __float__(self):
        raise TypeError(f"the learning rate is a {type(self).__name__} schedule, which has "
                        "no single value (call it with a step count); callbacks that set the "
                        "rate (ReduceLROnPlateau, LearningRateScheduler) need a number")

    def get_config(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent
    floored with ``staircase=True``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        c = type(self)
        self.initial_learning_rate = _num(c, "initial_learning_rate", initial_learning_rate,
                                          0.0, True)
        self.decay_steps = _num(c, "decay_steps", decay_steps, 0.0, True)
        self.decay_rate = _num(c, "decay_rate", decay_rate, 0.0, True)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase
                                                                else p)

    def _engine(self):
        return {"kind": 1, "initial": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase}

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(ExponentialDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the quotient
    floored with ``staircase=True``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1.0 + self.decay_rate *
                                             (math.floor(p) if self.staircase else p))

    def _engine(self):
        return dict(super()._engine(), kind=4)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        c = type(self)
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: expected one more value than "
                             f"boundaries, got {len(boundaries)} boundaries and "
                             f"{len(values)} values")
        self.boundaries = [_num(c, "boundaries", b, 0.0) for b in boundaries]
        if self.boundaries != sorted(self.boundaries):
            raise ValueError(f"PiecewiseConstantDecay boundaries: expected increasing "
                             f"steps, got {boundaries}")
        self.values = [_num(c, "values", v, 0.0, True) for v in values]
        self.name = name

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def _engine(self):
        return {"kind": 2, "initial": self.values[0], "boundaries": self.boundaries,
                "values": self.values}

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` (or, with ``warmup_target``, a linear
    warm-up over ``warmup_steps`` from it to ``warmup_target`` first) down to ``alpha``
    times that rate over ``decay_steps``; constant after."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        c = type(self)
        self.initial_learning_rate = _num(c, "initial_learning_rate", initial_learning_rate,
                                          0.0)
        self.decay_steps = _num(c, "decay_steps", decay_steps, 0.0, True)
        self.alpha = _num(c, "alpha", alpha, 0.0)
        self.warmup_target = None if warmup_target is None else \
            _num(c, "warmup_target", warmup_target, 0.0, True)
        self.warmup_steps = _num(c, "warmup_steps", warmup_steps, 0.0)
        if self.warmup_target is None and self.initial_learning_rate == 0:
            raise ValueError("CosineDecay initial_learning_rate: expected > 0 without "
                             "warmup_target, got 0.0")
        if self.warmup_target is not None and self.warmup_steps == 0:
            raise ValueError("CosineDecay warmup_steps: expected > 0 with warmup_target")
        self.name = name

    def __call__(self, step):
        def decay(lr, s):
            return lr * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * s /
                                                                 self.decay_steps)) + self.alpha)
        if self.warmup_target is None:
            return decay(self.initial_learning_rate, min(step, self.decay_steps))
        s = min(step, self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            return (self.warmup_target - self.initial_learning_rate) * (s / self.warmup_steps) \
                + self.initial_learning_rate
        return decay(self.warmup_target, s - self.warmup_steps)

    def _engine(self):
        return {"kind": 3, "initial": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha,
                "warmup": self.warmup_target is not None,
                "warmup_target": self.warmup_target or 0.0,
                "warmup_steps": self.warmup_steps}

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


_CLASSES = {c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay,
                                    InverseTimeDecay)}


def get(class_name, config):
    """Rebuild a schedule from ``(class name, get_config())`` (saving uses it)."""
    if class_name not in _CLASSES:
        raise ValueError(f"unknown learning-rate schedule {class_name!r}; known: "
                         f"{sorted(_CLASSES)}")
    return _CLASSES[class_name].from_config(dict(config))
