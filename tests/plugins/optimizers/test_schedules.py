"""Learning-rate schedules: the sequence of learning rates, and that the optimizer uses it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphengine as ge
from graphengine.plugins.optimizers import CosineLR, ExponentialLR, ScheduleError, StepLR, WarmupLR


def make_opt(name="sgd", lr=0.1):
    g = ge.Graph("sched")
    p = g.param("p", np.array([1.0]))
    return ge.optimizers.create(name, [p], lr=lr), p


def sequence(schedule, n):
    """The lr in force before the first step, then after each schedule.step()."""
    lrs = [schedule.optimizer.hyper["lr"]]
    for _ in range(n - 1):
        assert schedule.step() == schedule.optimizer.hyper["lr"]
        lrs.append(schedule.optimizer.hyper["lr"])
    return lrs


def test_step_lr():
    opt, _ = make_opt(lr=0.1)
    lrs = sequence(StepLR(opt, step_size=2, gamma=0.5), 7)
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125])
    opt, _ = make_opt(lr=0.1)
    assert sequence(StepLR(opt, step_size=np.int64(3)), 4) == pytest.approx([0.1, 0.1, 0.1, 0.01])


def test_exponential_lr():
    opt, _ = make_opt(lr=1.0)
    lrs = sequence(ExponentialLR(opt, gamma=0.9), 4)
    assert lrs == pytest.approx([1.0, 0.9, 0.81, 0.729])


def test_cosine_lr():
    opt, _ = make_opt(lr=1.0)
    lrs = sequence(CosineLR(opt, total_steps=4, min_lr=0.2), 7)
    # min + (1 - min) (1 + cos(pi t / 4)) / 2, then flat at min
    half = (1 + math.cos(math.pi / 4)) / 2
    assert lrs == pytest.approx([1.0, 0.2 + 0.8 * half, 0.6, 0.2 + 0.8 * (1 - half), 0.2, 0.2, 0.2])


def test_warmup_alone_and_then_cosine():
    opt, _ = make_opt(lr=0.1)
    assert sequence(WarmupLR(opt, warmup_steps=4), 6) == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    opt, _ = make_opt(lr=0.1)
    schedule = WarmupLR(opt, warmup_steps=2, then=CosineLR(opt, total_steps=2))
    assert sequence(schedule, 6) == pytest.approx([0.05, 0.1, 0.1, 0.05, 0.0, 0.0])


def test_lr_at_is_pure_and_lr_property_follows_steps():
    opt, _ = make_opt(lr=0.2)
    schedule = StepLR(opt, step_size=1, gamma=0.5)
    assert [schedule.lr_at(t) for t in range(3)] == pytest.approx([0.2, 0.1, 0.05])
    assert schedule.lr == 0.2 and schedule.last_step == 0
    schedule.step()
    assert schedule.lr == pytest.approx(0.1)


def test_the_optimizer_steps_with_the_scheduled_lr():
    opt, p = make_opt(lr=0.1)
    schedule = StepLR(opt, step_size=1, gamma=0.5)
    g = np.array([1.0])
    for _ in range(3):
        opt.step({p: g})
        schedule.step()
    # 1 - .1 - .05 - .025
    assert float(p.value[0]) == pytest.approx(0.825, rel=1e-12)
    assert isinstance(opt.hyper["lr"], float)


@pytest.mark.parametrize("make, match", [
    (lambda opt: StepLR(opt, step_size=0), "step_size must be an int >= 1"),
    (lambda opt: StepLR(opt, step_size=2.5), "step_size must be an int >= 1"),
    (lambda opt: StepLR(opt, step_size=True), "step_size must be an int >= 1"),
    (lambda opt: ExponentialLR(opt, gamma=-0.5), "gamma must be a finite number >= 0"),
    (lambda opt: CosineLR(opt, total_steps=10, min_lr=float("inf")), "min_lr"),
    (lambda opt: WarmupLR(opt, warmup_steps=0), "warmup_steps"),
    (lambda opt: WarmupLR(opt, warmup_steps=2, then=make_opt()[0]), "then= must be a schedule"),
    (lambda opt: WarmupLR(opt, warmup_steps=2, then=CosineLR(make_opt()[0], total_steps=3)), "another optimizer"),
    (lambda opt: StepLR("sgd", step_size=2), "wraps an optimizer"),
])
def test_bad_arguments(make, match):
    opt, _ = make_opt()
    with pytest.raises(ScheduleError, match=match):
        make(opt)


def test_load_state_dict_of_another_schedule_is_refused():
    opt, _ = make_opt()
    with pytest.raises(ScheduleError, match="for schedule 'cosine', not 'step'"):
        StepLR(opt, step_size=2).load_state_dict(CosineLR(opt, total_steps=3).state_dict())


def test_warmup_state_round_trip_restores_the_inner_schedule():
    opt, _ = make_opt(lr=0.1)
    schedule = WarmupLR(opt, warmup_steps=2, then=CosineLR(opt, total_steps=4))
    for _ in range(4):
        schedule.step()
    opt2, _ = make_opt(lr=0.1)
    schedule2 = WarmupLR(opt2, warmup_steps=2, then=CosineLR(opt2, total_steps=4))
    schedule2.load_state_dict(schedule.state_dict())
    assert opt2.hyper["lr"] == opt.hyper["lr"]
    assert schedule2.then.last_step == 2
    assert [schedule2.step() for _ in range(3)] == [schedule.step() for _ in range(3)]
