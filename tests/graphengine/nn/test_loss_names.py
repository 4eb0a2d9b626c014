"""Which names a model may use as its loss: registered ops taking (output, target) and a
reduction attribute; model.evaluate refuses any other name before any work."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.nn.errors import ModuleError
from graphengine.nn.loss_names import check_loss_name, loss_name_problem, loss_op_names


BUILT_IN = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "hinge", "huber", "kl_div",
            "mae", "mse", "nll", "smooth_l1"]


def test_the_loss_ops_are_the_ops_with_two_inputs_and_a_reduction():
    assert loss_op_names() == BUILT_IN
    assert all(loss_name_problem(name) == "" for name in BUILT_IN)


def test_a_plugin_op_with_the_loss_signature_is_a_loss_op_too():
    class Squares(ge.Op):
        name = "half_squares"

        def forward(self, xp, prediction, target, *, reduction: str = "none"):
            d = 0.5 * (prediction - target) ** 2
            return d.mean() if reduction == "mean" else d

        def backward(self, xp, grad, inputs, output, *, reduction="none"):
            p, t = inputs
            return grad * (p - t), -grad * (p - t)

    class Plugin:
        @ge.hookimpl
        def register_ops(self, register):
            register(Squares())

    manager = ge.PluginManager(entry_points=False)
    manager.add_plugin(Plugin(), name="squares")
    assert "half_squares" in loss_op_names(manager) and "half_squares" not in loss_op_names()
    assert loss_name_problem("half_squares", manager) == ""


@pytest.mark.parametrize("name, says", [
    ("__import__", r"no loss op named '__import__' is registered; the loss ops are: binary_cross_entropy"),
    ("msee", r"Did you mean 'mse'"),
    (3, r"no loss op named 3 is registered"),
])
def test_names_no_plugin_registered_are_refused(name, says):
    assert loss_name_problem(name) != ""
    with pytest.raises(ge.UnknownOpError, match=r"Model.evaluate: loss=.*" + says) as info:
        check_loss_name(name, "Model.evaluate")
    assert isinstance(info.value, AttributeError) and "Or pass a function loss(output, target)" in str(info.value)


def test_a_registered_op_that_is_not_a_loss_is_refused_as_such():
    with pytest.raises(ModuleError, match=r"op 'relu' is not a loss op \(a loss takes \(output, target\) and a "
                                          r"reduction attribute\); the loss ops are: .*smooth_l1\."):
        check_loss_name("relu", "Model.evaluate")


def test_evaluate_refuses_a_name_that_is_not_a_loss_op_before_any_work():
    model = ge.nn.Sequential(ge.nn.Dense(3, 2), seed=0)
    X, y = np.ones((4, 3), np.float32), np.zeros(4, np.int64)
    with pytest.raises(ge.UnknownOpError, match=r"Sequential.evaluate: loss='__import__': no loss op named"):
        model.evaluate(X, y, loss="__import__")
    with pytest.raises(ModuleError, match=r"op 'matmul' is not a loss op"):
        model.evaluate(X, y, loss="matmul")
    assert not model.built  # refused before the model was built on X
    assert set(model.evaluate(X, y, loss="cross_entropy")) == {"loss", "accuracy"}
