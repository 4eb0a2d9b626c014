"""Learning-rate schedules: they set ``optimizer.hyper["lr"]`` as training advances.

A schedule wraps an optimizer, reads its learning rate at construction as ``base_lr``,
and writes ``lr_at(t)`` into ``optimizer.hyper["lr"]`` now (t = 0) and after each
:meth:`LRSchedule.step` (t = 1, 2, ...). Call ``step()`` once per batch or once per epoch,
whichever unit ``step_size`` / ``total_steps`` / ``warmup_steps`` are counted in::

    from graphengine.plugins.optimizers import CosineLR, WarmupLR

    opt = ge.optimizers.create("sgd", g.params(), lr=0.1)
    schedule = WarmupLR(opt, warmup_steps=5, then=CosineLR(opt, total_steps=95))
    for epoch in range(100):
        ...                     # forward, backward, opt.step(run) for each batch
        schedule.step()         # the lr of the next epoch

``state_dict()`` / ``load_state_dict()`` save and restore the position, next to the
optimizer's own state dict (which holds the current ``lr`` too).
"""

from __future__ import annotations

import math
import operator

import graphengine as ge


class ScheduleError(ge.GraphEngineError, ValueError):
    """A schedule got a bad argument (non-positive step count, gamma out of range, ...)."""


def _positive_int(schedule, key, value):
    try:
        n = operator.index(value)  # ints and NumPy integers; not 2.5, not True
    except TypeError:
        n = None
    if n is None or isinstance(value, bool) or n < 1:
        raise ScheduleError(f"{schedule}: {key} must be an int >= 1, got {value!r}")
    return int(n)


def _finite(schedule, key, value, *, low=None, high=None):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ScheduleError(f"{schedule}: {key} must be a number, got {value!r}") from None
    if not math.isfinite(x) or (low is not None and x < low) or (high is not None and x > high):
        where = f" in [{low}, {high}]" if high is not None else (f" >= {low}" if low is not None else "")
        raise ScheduleError(f"{schedule}: {key} must be a finite number{where}, got {value!r}")
    return x


class LRSchedule:
    """Base class: a subclass sets its own attributes, then calls ``super().__init__``,
    and writes ``lr_at(t)``, the learning rate after ``t`` calls to :meth:`step`."""

    name = ""

    def __init__(self, optimizer, *, base_lr=None):
        if not isinstance(optimizer, ge.Optimizer):
            raise ScheduleError(
                f"{type(self).__name__} wraps an optimizer (ge.optimizers.create(...)), got {type(optimizer).__name__}"
            )
        if "lr" not in optimizer.hyper:
            raise ScheduleError(f"{type(self).__name__}: optimizer {optimizer.name!r} has no 'lr' hyper-parameter")
        self.optimizer = optimizer
        lr = optimizer.hyper["lr"] if base_lr is None else base_lr
        self.base_lr = _finite(type(self).__name__, "base_lr", lr, low=0.0)
        self.last_step = 0
        self._apply()

    def lr_at(self, t: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def lr(self) -> float:
        """The learning rate in force now (what the optimizer's next step uses)."""
        return self.lr_at(self.last_step)

    def step(self) -> float:
        """Advance by one (batch or epoch); sets and returns the new learning rate."""
        self.last_step += 1
        return self._apply()

    def _apply(self) -> float:
        lr = float(self.lr_at(self.last_step))
        self.optimizer.hyper["lr"] = lr
        return lr

    def state_dict(self) -> dict:
        return {"name": self.name, "base_lr": self.base_lr, "last_step": self.last_step}

    def load_state_dict(self, data: dict) -> None:
        if data.get("name") not in (None, self.name):
            raise ScheduleError(f"state dict is for schedule {data.get('name')!r}, not {self.name!r}")
        self.base_lr = float(data.get("base_lr", self.base_lr))
        self.last_step = int(data.get("last_step", 0))
        self._apply()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at step {self.last_step}, lr={self.lr!r}>"


class StepLR(LRSchedule):
    """lr = base_lr · gamma^⌊t / step_size⌋: divide by 1/gamma every ``step_size`` steps.

    >>> s = StepLR(opt, step_size=2, gamma=0.5)     # base 0.1: 0.1, 0.1, 0.05, 0.05, 0.025
    """

    name = "step"

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, *, base_lr=None):
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = _finite("StepLR", "gamma", gamma, low=0.0)
        super().__init__(optimizer, base_lr=base_lr)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class ExponentialLR(LRSchedule):
    """lr = base_lr · gamma^t."""

    name = "exponential"

    def __init__(self, optimizer, gamma: float, *, base_lr=None):
        self.gamma = _finite("ExponentialLR", "gamma", gamma, low=0.0)
        super().__init__(optimizer, base_lr=base_lr)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** t


class CosineLR(LRSchedule):
    """Cosine annealing (Loshchilov & Hutter 2017) from base_lr down to ``min_lr``:

    lr = min_lr + (base_lr − min_lr) · (1 + cos(π · min(t, T) / T)) / 2,   T = ``total_steps``

    It reaches ``min_lr`` at t = T and stays there.
    """

    name = "cosine"

    def __init__(self, optimizer, total_steps: int, min_lr: float = 0.0, *, base_lr=None):
        self.total_steps = _positive_int("CosineLR", "total_steps", total_steps)
        self.min_lr = _finite("CosineLR", "min_lr", min_lr, low=0.0)
        super().__init__(optimizer, base_lr=base_lr)

    def lr_at(self, t):
        progress = min(t, self.total_steps) / self.total_steps
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


class WarmupLR(LRSchedule):
    """Linear warm-up over ``warmup_steps``, then another schedule (or a constant).

    Steps t = 0 .. W−1 use base_lr · (t + 1) / W (so the first step is not wasted at lr 0);
    from t = W on, ``then.lr_at(t − W)`` if a schedule ``then`` is given, else base_lr.
    ``then`` must wrap the same optimizer; its ``base_lr`` is the warm-up's target. Only
    the warm-up's ``step()`` is called; it drives ``then``.

    >>> WarmupLR(opt, warmup_steps=4)      # base 0.1: 0.025, 0.05, 0.075, 0.1, 0.1, ...
    """

    name = "warmup"

    def __init__(self, optimizer, warmup_steps: int, then: LRSchedule | None = None, *, base_lr=None):
        self.warmup_steps = _positive_int("WarmupLR", "warmup_steps", warmup_steps)
        if then is not None:
            if not isinstance(then, LRSchedule):
                raise ScheduleError(f"WarmupLR: then= must be a schedule (CosineLR(...), ...), got {then!r}")
            if then.optimizer is not optimizer:
                raise ScheduleError("WarmupLR: the `then` schedule wraps another optimizer; build it on the same one")
            if base_lr is None:
                base_lr = then.base_lr
        self.then = then
        super().__init__(optimizer, base_lr=base_lr)

    def lr_at(self, t):
        if t < self.warmup_steps:
            return self.base_lr * (t + 1) / self.warmup_steps
        if self.then is not None:
            return self.then.lr_at(t - self.warmup_steps)
        return self.base_lr

    def state_dict(self) -> dict:
        data = super().state_dict()
        if self.then is not None:
            data["then"] = self.then.state_dict()
        return data

    def load_state_dict(self, data: dict) -> None:
        if self.then is not None and "then" in data:
            then_data = dict(data["then"])
            then_data["last_step"] = max(0, int(data.get("last_step", 0)) - self.warmup_steps)
            self.then.base_lr = float(then_data.get("base_lr", self.then.base_lr))
            self.then.last_step = then_data["last_step"]
        super().load_state_dict(data)
