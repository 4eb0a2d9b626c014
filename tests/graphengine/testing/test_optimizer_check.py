"""check_optimizer: a correct optimizer passes; each kind of broken one is caught by the
check named after the property it breaks, with a message that says what to fix."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.testing import OptimizerCheckError, check_optimizer, optimizer_checks
from graphengine.testing.optimizer_check import check_state_round_trips, quadratic


class GoodSGD(ge.Optimizer):
    name = "good_sgd"
    defaults = {"lr": 0.05}

    def update(self, xp, value, grad, state):
        return xp.asarray(value - self.hyper["lr"] * grad)


class GoodMomentum(ge.Optimizer):
    name = "good_momentum"
    defaults = {"lr": 0.05, "momentum": 0.9}

    def init_state(self, xp, value):
        return {"velocity": xp.zeros_like(value), "count": 0}

    def update(self, xp, value, grad, state):
        state["velocity"] = self.hyper["momentum"] * state["velocity"] - self.hyper["lr"] * grad
        state["count"] += 1
        return xp.asarray(value + state["velocity"])


class InPlaceSGD(ge.Optimizer):
    """The fast form: value changed in place, the temporary from self.scratch."""

    name = "in_place_sgd"
    defaults = {"lr": 0.05}

    def update(self, xp, value, grad, state):
        step = xp.multiply(grad, float(self.hyper["lr"]), out=self.scratch(xp, value))
        xp.subtract(value, step, out=value)


class InPlaceMomentum(ge.Optimizer):
    name = "in_place_momentum"
    defaults = {"lr": 0.05, "momentum": 0.9}

    def init_state(self, xp, value):
        return {"velocity": xp.zeros_like(value)}

    def update(self, xp, value, grad, state):
        velocity = state["velocity"]
        xp.multiply(velocity, float(self.hyper["momentum"]), out=velocity)
        xp.subtract(velocity, xp.multiply(grad, float(self.hyper["lr"]), out=self.scratch(xp, value)), out=velocity)
        xp.add(value, velocity, out=value)


def test_correct_optimizers_pass_every_check():
    for cls in (GoodSGD, GoodMomentum, InPlaceSGD, InPlaceMomentum):
        ran = check_optimizer(cls)
        assert [r.split(" ")[0] for r in ran] == [name for name, _ in optimizer_checks()]


def test_checks_have_readable_names():
    assert [name for name, _ in optimizer_checks()] == [
        "contract", "update_keeps_shape_and_dtype", "updates_in_place", "same_when_consuming_grads",
        "allocates_nothing", "descends_quadratic",
        "skips_params_without_gradient",
        "state_round_trips", "cupy",
    ]


def test_allocation_check_is_reported_as_skipped_for_a_functional_rule():
    ran = check_optimizer(GoodSGD)
    assert "allocates_nothing (skipped: functional rule (returns a new array))" in ran
    assert "allocates_nothing" in check_optimizer(InPlaceSGD)


def test_rule_reading_scratch_before_writing_it_is_caught():
    class Stale(InPlaceSGD):
        name = "stale"

        def update(self, xp, value, grad, state):
            acc = self.scratch(xp, value)
            xp.add(acc, grad, out=acc)  # assumes the scratch starts at zero (or keeps last step's sum)
            xp.subtract(value, xp.multiply(acc, float(self.hyper["lr"]), out=acc), out=value)

    with pytest.raises(OptimizerCheckError, match=r"(?s)differs from a reference step whose scratch arrays are new.*"
                                                   r"garbage on entry"):
        check_optimizer(Stale, skip=("update_keeps_shape_and_dtype",))


def test_rule_changing_value_and_returning_a_new_array_is_caught():
    class Both(GoodSGD):
        name = "both"

        def update(self, xp, value, grad, state):
            value -= self.hyper["lr"] * grad
            return value.copy()

    with pytest.raises(OptimizerCheckError, match=r"changed value in place and also returned a new array"):
        check_optimizer(Both)


def test_rule_writing_into_the_gradient_is_caught():
    class Clobbers(InPlaceSGD):
        name = "clobbers"

        def update(self, xp, value, grad, state):
            xp.multiply(grad, float(self.hyper["lr"]), out=grad)
            xp.subtract(value, grad, out=value)

    with pytest.raises(OptimizerCheckError, match=r"update\(\) changed the gradient; never write into `grad`"):
        check_optimizer(Clobbers)


class ConsumingSGD(InPlaceSGD):
    """The fast form that uses the permission: lr * g written over the gradient."""

    name = "consuming_sgd"

    def update(self, xp, value, grad, state):
        out = grad if self.may_consume_grad else self.scratch(xp, value)
        xp.subtract(value, xp.multiply(grad, float(self.hyper["lr"]), out=out), out=value)


def test_a_rule_using_the_permission_correctly_passes():
    assert "same_when_consuming_grads" in check_optimizer(ConsumingSGD)


def test_a_rule_that_reads_the_gradient_after_overwriting_it_is_caught():
    class ReadsAfter(InPlaceMomentum):
        name = "reads_after"

        def update(self, xp, value, grad, state):
            velocity = state["velocity"]
            lr_grad = xp.multiply(grad, float(self.hyper["lr"]), out=grad if self.may_consume_grad else
                                  self.scratch(xp, value))
            xp.multiply(velocity, float(self.hyper["momentum"]), out=velocity)
            xp.subtract(velocity, lr_grad, out=velocity)
            xp.add(value, velocity, out=value)
            xp.subtract(value, xp.multiply(grad, 0.01, out=self.scratch(xp, value, 1)), out=value)  # grad read again

    with pytest.raises(OptimizerCheckError, match=r"(?s)consume_grads=True\) gives another value than step\(grads\)"
                                                   r".*must read grad's values before it overwrites them"):
        check_optimizer(ReadsAfter)


def test_a_rule_that_consumes_without_the_permission_is_still_caught():
    class Always(ConsumingSGD):
        name = "always"

        def update(self, xp, value, grad, state):
            xp.subtract(value, xp.multiply(grad, float(self.hyper["lr"]), out=grad), out=value)

    with pytest.raises(OptimizerCheckError, match=r"update\(\) changed the gradient; never write into `grad`"):
        check_optimizer(Always)


def test_a_step_override_without_consume_grads_is_reported_as_skipped():
    class OldStep(InPlaceSGD):
        name = "old_step"

        def step(self, grads):
            super().step(grads)

    assert "same_when_consuming_grads (skipped: step() takes no consume_grads)" in check_optimizer(OldStep)


@pytest.mark.parametrize("rule", ["temporary", "float64"])
def test_in_place_rule_that_allocates_is_caught(rule):
    class Allocates(InPlaceSGD):
        name = "allocates"

        def update(self, xp, value, grad, state):
            if rule == "temporary":
                value -= float(self.hyper["lr"]) * grad        # lr * grad is a new array
            else:
                tmp = self.scratch(xp, value)
                xp.multiply(grad.astype(np.float64), self.hyper["lr"], out=tmp)  # a float64 copy of grad
                xp.subtract(value, tmp, out=value)

    with pytest.raises(OptimizerCheckError, match=r"(?s)one in-place step .* allocated \d+ bytes.*self.scratch"):
        check_optimizer(Allocates)


def test_cupy_check_is_reported_as_skipped_without_a_gpu():
    if ge.cupy_available():
        pytest.skip("CuPy is available here: the cupy check runs")
    assert check_optimizer(GoodSGD)[-1] == "cupy (skipped: cupy unavailable)"


def test_a_registered_name_is_looked_up(plugin_manager):
    plugin = type("Plugin", (), {"register_optimizers": staticmethod(ge.hookimpl(lambda register: register(GoodSGD)))})
    plugin_manager.add_plugin(plugin(), name="kit_test")
    assert "contract" in check_optimizer("good_sgd", manager=plugin_manager)


def test_ascending_optimizer_fails_the_descent_check():
    class Ascent(GoodSGD):
        name = "ascent"

        def update(self, xp, value, grad, state):
            return xp.asarray(value + self.hyper["lr"] * grad)

    with pytest.raises(OptimizerCheckError, match=r"(?s)does not descend the check quadratic.*sign of the update"):
        check_optimizer(Ascent)


def test_too_slow_hyper_parameters_get_a_hint():
    with pytest.raises(OptimizerCheckError, match=r"(?s)went from .* pass a larger learning rate"):
        check_optimizer(GoodSGD, hyper={"lr": 1e-5})
    assert check_optimizer(GoodSGD, hyper={"lr": 1e-3}, steps=2000)  # enough steps: it descends


def test_diverging_optimizer_is_reported_with_the_step():
    class Explodes(GoodSGD):
        name = "explodes"

        def update(self, xp, value, grad, state):
            return xp.asarray(value * 1e30 - grad)

    with np.errstate(all="ignore"), pytest.raises(OptimizerCheckError, match=r"the loss became inf at step"):
        check_optimizer(Explodes, skip=("contract",))


def test_upcast_to_float64_is_caught():
    class Upcasts(GoodSGD):
        name = "upcasts"

        def update(self, xp, value, grad, state):
            return value - np.float64(self.hyper["lr"]) * grad.astype(np.float64)

    with pytest.raises(OptimizerCheckError, match=r"returned float64.*param is float32"):
        check_optimizer(Upcasts)


def test_float64_state_for_float32_param_is_caught():
    class WideState(GoodMomentum):
        name = "wide_state"

        def init_state(self, xp, value):
            return {"velocity": xp.zeros(value.shape), "count": 0}  # float64 whatever the param

        def update(self, xp, value, grad, state):
            state["velocity"] = self.hyper["momentum"] * state["velocity"] - self.hyper["lr"] * grad
            return xp.asarray(value + state["velocity"].astype(value.dtype))

    with pytest.raises(OptimizerCheckError, match=r"state\['velocity'\] of float32 param .* is float64"):
        check_optimizer(WideState)


def test_numpy_scalar_from_update_of_a_0d_param_stays_an_array():
    class Scalars(GoodSGD):
        name = "scalars"

        def update(self, xp, value, grad, state):
            return value - self.hyper["lr"] * grad  # NumPy: a 0-d param gives np.float32

    check_optimizer(Scalars)  # the base class turns the scalar back into an array
    g = ge.Graph()
    s = g.param("s", np.array(1.0, dtype=np.float32))
    Scalars([s], lr=0.5).step({s: np.array(1.0, dtype=np.float32)})
    assert type(s.value) is np.ndarray and s.value.dtype == np.float32 and float(s.value) == 0.5


def test_list_instead_of_array_is_caught():
    class Lists(GoodSGD):
        name = "lists"

        def update(self, xp, value, grad, state):
            return (value - grad).tolist()

    with pytest.raises(OptimizerCheckError, match=r"update\(\) returned (list|float)"):
        check_optimizer(Lists)


def test_not_an_optimizer_subclass():
    class Lookalike:
        name = "lookalike"
        defaults = {"lr": 0.1}

    with pytest.raises(OptimizerCheckError, match=r"not a subclass of ge.Optimizer"):
        check_optimizer(Lookalike)


def test_hyper_parameters_not_in_defaults_are_refused_by_the_check():
    with pytest.raises(OptimizerCheckError, match=r"\['momentum'\] that are not in `defaults`"):
        check_optimizer(GoodSGD, hyper={"momentum": 0.9})


def test_optimizer_that_accepts_anything_fails_the_contract():
    class Permissive(GoodSGD):
        name = "permissive"

        def __init__(self, params, **hyper):
            super().__init__(params)
            self.hyper.update(hyper)

    with pytest.raises(OptimizerCheckError, match=r"accepted an unknown hyper-parameter"):
        check_optimizer(Permissive)


def test_state_outside_state_dict_breaks_the_round_trip():
    class Hidden(GoodSGD):
        name = "hidden"
        calls = 0

        def update(self, xp, value, grad, state):
            self.calls += 1  # not in `state`: lost by state_dict()
            return xp.asarray(value - self.hyper["lr"] / self.calls ** 0.5 * grad)

    with pytest.raises(OptimizerCheckError, match=r"Everything update\(\) reads must live in `state`"):
        check_optimizer(Hidden)


def test_state_updated_in_place_is_caught_when_state_dict_shares_it():
    class InPlace(GoodMomentum):
        name = "in_place"

        def update(self, xp, value, grad, state):
            state["velocity"] *= self.hyper["momentum"]
            state["velocity"] -= self.hyper["lr"] * grad
            return xp.asarray(value + state["velocity"])

    if _state_dict_copies():
        check_state_round_trips(InPlace, {})  # the base class copies: in-place updates are safe
    else:
        with pytest.raises(OptimizerCheckError, match=r"shares memory with the live state"):
            check_state_round_trips(InPlace, {})


def _state_dict_copies() -> bool:
    _, _, params, _ = quadratic()
    opt = GoodMomentum(params)
    opt.state[params[0]] = {"velocity": np.zeros(3)}
    saved = opt.state_dict()["state"][params[0].name]["velocity"]
    return saved is not opt.state[params[0]]["velocity"] and not np.shares_memory(saved, opt.state[params[0]]["velocity"])


def test_non_array_state_is_refused():
    class ObjectState(GoodSGD):
        name = "object_state"

        def init_state(self, xp, value):
            return {"history": [1, 2]}

    with pytest.raises(OptimizerCheckError, match=r"\['history'\] is a list; state must hold NumPy arrays"):
        check_optimizer(ObjectState)


def test_unknown_skip_name_is_refused():
    with pytest.raises(ValueError, match=r"unknown check names in skip: \['descend'\]"):
        check_optimizer(GoodSGD, skip=("descend",))


def test_skip_leaves_the_check_out():
    assert "state_round_trips" not in check_optimizer(GoodSGD, skip=("state_round_trips",))


def builtin_optimizer_names():
    return sorted(ge.PluginManager(entry_points=False).optimizers)


@pytest.mark.parametrize("name", builtin_optimizer_names())
def test_builtin_optimizers_pass_the_kit(plugin_manager, name):
    """The kit is not stricter than graphengine's own optimizers (and they conform)."""
    hyper = {} if name == "adadelta" else {"lr": 0.05}  # adadelta's lr is a multiplier, 1.0 by default
    assert "state_round_trips" in check_optimizer(name, hyper=hyper, manager=plugin_manager)
