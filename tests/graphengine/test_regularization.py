"""Penalty application around the optimizer step (graphengine/regularization.py), with
regularizers written here against ge.Regularizer, so the core is tested without plugins."""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge
from graphengine import regularization


class Quadratic(ge.Regularizer):
    """strength/2 · Σθ², gradient strength · θ."""

    name = "test_quadratic"
    kind = "penalty"

    def penalty(self, xp, value):
        return 0.5 * (value * value).sum()

    def gradient(self, xp, value):
        return self.strength * value


class Halve(ge.Regularizer):
    name = "test_halve"
    kind = "decay"

    def apply(self, xp, value, lr):
        return value * 0.5


class ClipAtOne(ge.Regularizer):
    name = "test_clip_at_one"
    kind = "constraint"

    def apply(self, xp, value, lr):
        return value.clip(-1.0, 1.0)


def params():
    g = ge.Graph("reg")
    W = g.param("W", np.array([[2.0, -4.0]]))
    b = g.param("b", np.array([3.0]))
    return g, W, b


def test_penalty_value_and_gradients_of_a_core_only_regularizer():
    _, W, b = params()
    reg = Quadratic(strength=0.1)
    assert regularization.penalty_value([reg], [W]) == pytest.approx(0.1 * 0.5 * (4 + 16))
    grads = {W: np.array([[1.0, 1.0]]), b: np.array([1.0])}
    out = regularization.add_penalty_gradients([reg], [W], grads)
    np.testing.assert_allclose(out[W], [[1.2, 0.6]])
    np.testing.assert_array_equal(out[b], [1.0])  # not listed: unchanged
    np.testing.assert_array_equal(grads[W], [[1.0, 1.0]])  # the mapping given is not changed


def test_add_penalty_gradients_keeps_the_gradient_dtype():
    g = ge.Graph("f32")
    W = g.param("W", np.array([1.0, 2.0], dtype=np.float32))
    out = regularization.add_penalty_gradients([Quadratic(0.5)], [W], {W: np.zeros(2, np.float32)})
    assert out[W].dtype == np.float32
    np.testing.assert_allclose(out[W], [0.5, 1.0])


def test_no_penalty_returns_a_copy_of_the_gradients():
    _, W, _ = params()
    grads = {W: np.ones((1, 2))}
    out = regularization.add_penalty_gradients([Halve()], [W], grads)
    assert out == grads and out is not grads


def test_after_step_runs_decays_before_constraints_whatever_the_list_order():
    _, W, b = params()
    regularization.apply_after_step([ClipAtOne(), Halve()], [W], lr=0.1)
    # halve first: [1, -2], then clip: [1, -1]; clipping first would give [0.5, -0.5]
    np.testing.assert_array_equal(W.value, [[1.0, -1.0]])
    np.testing.assert_array_equal(b.value, [3.0])


def test_regularized_step_penalty_step_then_decay():
    _, W, b = params()
    opt = ge.optimizers.create("sgd", [W, b], lr=1.0)
    regularization.regularized_step(opt, {W: np.zeros((1, 2)), b: np.zeros(1)}, [Quadratic(0.5), Halve()],
                                    params=[W])
    # W - 1.0 · 0.5 · W = W / 2, then halved: W / 4
    np.testing.assert_allclose(W.value, [[0.5, -1.0]])
    np.testing.assert_array_equal(b.value, [3.0])


def test_errors_say_what_was_given_and_what_to_do():
    _, W, _ = params()

    class Odd(ge.Regularizer):
        name = "odd"
        kind = "schedule"

    with pytest.raises(ge.GraphStructureError, match=r"'odd' has kind 'schedule'; it must be one of penalty, decay"):
        regularization.penalty_value([Odd()], [W])
    with pytest.raises(ge.GraphStructureError, match=r"must be instances, got 'l2'; create one with ge.regularizers"):
        regularization.apply_after_step(["l2"], [W], lr=0.1)
    with pytest.raises(ge.GraphStructureError, match="expected a ge.Regularizer, got int"):
        regularization.penalty_value([3], [W])
    with pytest.raises(ge.GraphStructureError, match="param nodes"):
        regularization.penalty_value([Quadratic()], [np.ones(2)])
    with pytest.raises(ge.DtypeError, match="add_penalty_gradients takes a Run .* got list"):
        regularization.add_penalty_gradients([Quadratic()], [W], [np.ones(2)])


def test_the_old_plugin_import_path_and_ge_give_the_core_functions():
    import graphengine.plugins.regularizers as plugin
    import graphengine.plugins.regularizers.apply as plugin_module

    for name in ("add_penalty_gradients", "apply_after_step", "penalty_value", "regularized_step"):
        assert getattr(plugin, name) is getattr(regularization, name), name
        assert getattr(plugin_module, name) is getattr(regularization, name), name
        assert getattr(ge, name) is getattr(regularization, name), name
