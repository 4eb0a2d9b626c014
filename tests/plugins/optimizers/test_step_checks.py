"""What ``Optimizer.step`` and ``load_state_dict`` accept, and the errors for what they refuse."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphengine as ge
from graphengine.optimizer import OptimizerStateError, OptimizerStepError


def two_params():
    g = ge.Graph("model")
    W = g.param("W", np.ones((2, 3)))
    b = g.param("b", np.ones(3))
    return g, W, b


# -- step -----------------------------------------------------------------------------------

def test_wrong_gradient_shape_names_the_param_and_both_shapes_and_updates_nothing():
    g, W, b = two_params()
    opt = ge.optimizers.create("sgd", [W, b], lr=0.1)
    with pytest.raises(ge.ShapeError, match=r"gradient for param 'b' has shape \(2,\), the param has shape \(3,\)"):
        opt.step({W: np.ones((2, 3)), b: np.ones(2)})
    np.testing.assert_array_equal(W.value, np.ones((2, 3)))   # W came first but was not updated
    assert opt.steps == 0 and W._updates == 0


def test_gradient_of_another_dtype_is_cast_to_the_params():
    g = ge.Graph("cast")
    w = g.param("w", np.ones(3, dtype=np.float32))
    opt = ge.optimizers.create("adam", [w], lr=0.1)
    opt.step({w: np.array([1.0, -1.0, 2.0], dtype=np.float64)})
    assert w.value.dtype == np.float32 and opt.state[w]["m"].dtype == np.float32
    np.testing.assert_allclose(w.value, [0.9, 1.1, 0.9], rtol=1e-6)


@pytest.mark.parametrize("bad, given", [
    (np.array(["a", "b", "c"]), "<U1"),
    (["a", "b", "c"], "<U1"),
    (np.array([1, None, 2], dtype=object), "object"),
    (np.array([1 + 2j, 0, 0]), "complex128"),
    (np.array(["2020-01-01"] * 3, dtype="datetime64[D]"), "datetime64"),
])
def test_a_gradient_that_is_not_real_numbers_is_refused_naming_param_and_dtypes_and_updates_nothing(bad, given):
    g, W, b = two_params()
    opt = ge.optimizers.create("adam", [W, b], lr=0.1)
    with pytest.raises(ge.DtypeError, match=rf"gradient for param 'b' has dtype {given}.*, but the param has dtype "
                                            r"float64.*No param was updated") as info:
        opt.step({W: np.ones((2, 3)), b: bad})
    assert isinstance(info.value, TypeError)
    np.testing.assert_array_equal(W.value, np.ones((2, 3)))
    assert opt.steps == 0 and opt.state == {} and W._updates == 0


def test_a_complex_gradient_says_the_imaginary_part_would_be_dropped_and_warns_nothing():
    import warnings

    g, W, b = two_params()
    opt = ge.optimizers.create("sgd", [b], lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy ComplexWarning: refused before any cast
        with pytest.raises(ge.DtypeError, match=r"complex128.*would drop the imaginary part"):
            opt.step({b: np.full(3, 1j)})
    np.testing.assert_array_equal(b.value, np.ones(3))


def test_a_python_list_or_numpy_scalar_gradient_is_taken_as_an_array():
    g = ge.Graph("lists")
    w = g.param("w", np.ones(2))
    s = g.param("s", np.array(1.0))
    ge.optimizers.create("sgd", [w, s], lr=0.5).step({w: [1.0, 2.0], s: np.float64(2.0)})
    np.testing.assert_array_equal(w.value, [0.5, 0.0])
    assert float(s.value) == 0.0 and isinstance(s.value, np.ndarray)


def test_a_node_of_another_graph_is_refused():
    g, W, b = two_params()
    other = ge.Graph("other")
    W2 = other.param("W", np.ones((2, 3)))
    opt = ge.optimizers.create("sgd", [W, b])
    with pytest.raises(ge.GraphStructureError,
                       match=r"gradient for node 'W', which belongs to graph 'other', not to 'model'"):
        opt.step({W2: np.ones((2, 3))})


def test_a_param_the_optimizer_was_not_given_is_refused():
    g, W, b = two_params()
    opt = ge.optimizers.create("sgd", [W])
    with pytest.raises(ge.GraphStructureError, match=r"'b', which is a param this optimizer was not created with.*"
                                                     r"The optimizer's params: 'W'"):
        opt.step({W: np.ones((2, 3)), b: np.ones(3)})
    np.testing.assert_array_equal(W.value, np.ones((2, 3)))


def test_a_non_param_node_or_a_name_is_refused():
    g, W, b = two_params()
    x = g.input("x", shape=(None, 2))
    opt = ge.optimizers.create("sgd", [W, b])
    with pytest.raises(ge.GraphStructureError, match=r"node 'x', which is an input node, not a param"):
        opt.step({x: np.ones(2)})
    with pytest.raises(ge.GraphStructureError, match=r"keyed by 'W' \(str\).*g.node\('W'\)"):
        opt.step({"W": np.ones((2, 3))})


def test_a_run_of_another_graph_is_refused():
    g, W, b = two_params()
    other = ge.Graph("other")
    v = other.param("v", np.ones(2))
    loss = ge.ops.sum(v * v)
    run = other.forward(fetch=[loss]).backward(loss)
    opt = ge.optimizers.create("sgd", [W, b])
    with pytest.raises(ge.GraphStructureError, match=r"run of a graph its params do not belong to: the run belongs to "
                                                     r"graph 'other', not to 'model'"):
        opt.step(run)


def test_a_node_or_run_of_another_graph_of_the_same_name_says_so():
    g, W, b = two_params()
    twin = ge.Graph("model")
    v = twin.param("W", np.ones((2, 3)))
    loss = ge.ops.sum(v * v)
    run = twin.forward(fetch=[loss]).backward(loss)
    opt = ge.optimizers.create("sgd", [W, b])
    same = r"another graph that is also named 'model' \(two ge.Graph objects share that name"
    with pytest.raises(ge.GraphStructureError, match=r"gradient for node 'W', which belongs to " + same) as info:
        opt.step({v: np.ones((2, 3))})
    assert "not to 'model'" not in str(info.value)
    with pytest.raises(ge.GraphStructureError, match=r"the run belongs to " + same):
        opt.step(run)
    np.testing.assert_array_equal(W.value, np.ones((2, 3)))


def test_with_params_of_two_graphs_a_third_graph_is_named_against_both():
    g, W, b = two_params()
    h = ge.Graph("head")
    u = h.param("u", np.ones(2))
    stray = ge.Graph("stray").param("s", np.ones(2))
    opt = ge.optimizers.create("sgd", [W, u])
    with pytest.raises(ge.GraphStructureError, match=r"node 's', which belongs to graph 'stray', not to 'model', 'head'"):
        opt.step({stray: np.ones(2)})
    twin = ge.Graph("head").param("u", np.ones(2))
    with pytest.raises(ge.GraphStructureError, match=r"also named 'head'"):
        opt.step({twin: np.ones(2)})


def test_something_that_is_not_a_run_or_a_mapping_is_refused():
    g, W, b = two_params()
    opt = ge.optimizers.create("sgd", [W, b])
    with pytest.raises(OptimizerStepError, match=r"takes a Run .* or a mapping param node -> gradient, got list"):
        opt.step([np.ones((2, 3))])
    assert isinstance(OptimizerStepError("x"), TypeError)


def test_none_gradients_are_skipped_and_other_mappings_work():
    from types import MappingProxyType

    g, W, b = two_params()
    opt = ge.optimizers.create("sgd", [W, b], lr=1.0)
    opt.step(MappingProxyType({W: np.ones((2, 3)), b: None}))
    np.testing.assert_array_equal(W.value, np.zeros((2, 3)))
    np.testing.assert_array_equal(b.value, np.ones(3))
    assert W._updates == 1 and b._updates == 0


def test_every_step_counts_an_in_place_update_on_the_param():
    g, W, b = two_params()
    opt = ge.optimizers.create("momentum", [W, b])
    for k in range(1, 4):
        opt.step({W: np.ones((2, 3))})
        assert (W._updates, b._updates, opt.steps) == (k, 0, k)


# -- load_state_dict ------------------------------------------------------------------------

def trained(name="adam"):
    g, W, b = two_params()
    opt = ge.optimizers.create(name, [W, b], lr=0.01)
    for _ in range(2):
        opt.step({W: np.full((2, 3), 0.5), b: np.full(3, -0.5)})
    return opt, W, b


def snapshot(opt):
    return opt.hyper.copy(), opt.steps, {p: dict(st) for p, st in opt.state.items()}


def assert_unchanged(opt, before):
    hyper, steps, state = before
    assert opt.hyper == hyper and opt.steps == steps
    assert opt.state.keys() == state.keys()
    for p, st in state.items():
        assert all(opt.state[p][k] is v for k, v in st.items())


@pytest.mark.parametrize("lr", [-0.1, math.nan, math.inf, "fast"])
def test_a_bad_learning_rate_is_refused_and_nothing_changes(lr):
    opt, W, b = trained()
    data = opt.state_dict()
    data["hyper"]["lr"] = lr
    data["steps"] = 7
    before = snapshot(opt)
    with pytest.raises(OptimizerStateError, match=r"'adam'.*lr"):
        opt.load_state_dict(data)
    assert_unchanged(opt, before)


def test_other_hyper_parameters_are_range_checked_by_the_optimizer_on_load():
    opt, W, b = trained()
    data = opt.state_dict()
    data["hyper"]["beta1"] = 1.5
    before = snapshot(opt)
    with pytest.raises(OptimizerStateError, match=r"beta1=1.5 is out of range"):
        opt.load_state_dict(data)
    assert_unchanged(opt, before)
    data["hyper"] = {"learning_rate": 0.1}
    with pytest.raises(OptimizerStateError, match=r"unknown hyper-parameters 'learning_rate'"):
        opt.load_state_dict(data)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 2)), r"state\['W'\]\['m'\] is float64\(3, 2\), but param 'W' \(float64\(2, 3\)\) needs float64\(2, 3\)"),
    (np.zeros((2, 3), np.float32), r"state\['W'\]\['m'\] is float32\(2, 3\).*needs float64\(2, 3\)"),
    (1.0, r"state\['W'\]\['m'\] must be an array of shape \(2, 3\) and dtype float64"),
])
def test_a_moment_of_the_wrong_shape_or_dtype_is_refused_naming_param_and_key(bad, match):
    opt, W, b = trained()
    data = opt.state_dict()
    data["state"]["W"]["m"] = bad
    before = snapshot(opt)
    with pytest.raises(OptimizerStateError, match=match):
        opt.load_state_dict(data)
    assert_unchanged(opt, before)


def test_missing_or_unknown_state_keys_and_bad_counters_are_refused():
    opt, W, b = trained()
    data = opt.state_dict()
    del data["state"]["b"]["v"]
    with pytest.raises(OptimizerStateError, match=r"state of param 'b' has keys \['m', 'step'\].*missing \['v'\]"):
        opt.load_state_dict(data)
    data = opt.state_dict()
    data["state"]["b"]["step"] = 1.5
    with pytest.raises(OptimizerStateError, match=r"state\['b'\]\['step'\] must be an int"):
        opt.load_state_dict(data)
    data = opt.state_dict()
    data["steps"] = -1
    with pytest.raises(OptimizerStateError, match=r"'steps' must be an int >= 0"):
        opt.load_state_dict(data)


@pytest.mark.parametrize("bad, match", [
    (None, r"takes the dict that optimizer.state_dict\(\) returns.*got NoneType None"),
    ([1, 2], r"takes the dict .*got list \[1, 2\]"),
    ("state", r"takes the dict .*got str 'state'"),
])
def test_something_that_is_not_a_state_dict_is_refused(bad, match):
    opt, W, b = trained()
    before = snapshot(opt)
    with pytest.raises(OptimizerStateError, match=match) as info:
        opt.load_state_dict(bad)
    assert isinstance(info.value, ge.GraphEngineError)
    assert_unchanged(opt, before)


@pytest.mark.parametrize("field, bad, match", [
    ("state", [1], r"field 'state' must be a dict keyed by param names \(strings\), got list \[1\]"),
    ("state", {1: {}}, r"field 'state' must be a dict keyed by param names"),
    ("hyper", [("lr", 0.1)], r"field 'hyper' must be a dict keyed by hyper-parameter names"),
    ("hyper", "lr", r"field 'hyper' must be a dict .*got str 'lr'"),
])
def test_state_or_hyper_fields_of_the_wrong_type_are_refused(field, bad, match):
    opt, W, b = trained()
    data = {**opt.state_dict(), field: bad, "steps": 9}
    before = snapshot(opt)
    with pytest.raises(OptimizerStateError, match=match):
        opt.load_state_dict(data)
    assert_unchanged(opt, before)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_moment_holding_nan_or_inf_is_refused_naming_param_and_key(bad):
    opt, W, b = trained()
    data = opt.state_dict()
    data["state"]["W"]["v"][1, 2] = bad
    data["steps"] = 9
    before = snapshot(opt)
    with pytest.raises(OptimizerStateError, match=r"state\['W'\]\['v'\] holds NaN or infinite values"):
        opt.load_state_dict(data)
    assert_unchanged(opt, before)


def test_loaded_arrays_are_copied_so_later_in_place_steps_leave_the_dict_alone():
    opt, W, b = trained("momentum")
    data = opt.state_dict()
    velocity = data["state"]["W"]["velocity"]
    kept = velocity.copy()
    opt.load_state_dict(data)
    opt.step({W: np.ones((2, 3)), b: np.ones(3)})
    np.testing.assert_array_equal(velocity, kept)
    assert opt.state[W]["velocity"] is not velocity


def test_a_step_counter_read_back_from_npz_as_a_0d_array_is_accepted():
    opt, W, b = trained()
    data = opt.state_dict()
    data["state"]["W"]["step"] = np.array(2)
    opt.load_state_dict(data)
    assert opt.state[W]["step"] == 2 and type(opt.state[W]["step"]) is int


def test_hyper_parameters_out_of_range_are_refused_at_construction_by_the_base_class():
    class Plain(ge.Optimizer):
        name = "plain"

        def update(self, xp, value, grad, state):
            return value - self.hyper["lr"] * grad

    g, W, b = two_params()
    with pytest.raises(ge.GraphEngineError, match=r"optimizer 'plain': lr=-1 is out of range") as info:
        Plain([W], lr=-1)
    assert isinstance(info.value, ValueError)


# -- the params argument ----------------------------------------------------------------------

def test_a_single_node_instead_of_a_list_says_to_pass_a_list():
    g, W, b = two_params()
    with pytest.raises(ge.GraphStructureError, match=r"got the single node 'W'; pass \[W\].*g\.params\(\)") as info:
        ge.optimizers.create("sgd", W, lr=0.1)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("params, says", [
    (3, "got int 3"),
    ("W", "got str 'W'"),
    (["W"], r"item 0 is str 'W' \(g\.node\('W'\) gives the node of a name\)"),
    (None, "got NoneType None"),
])
def test_params_that_are_not_a_list_of_params_are_named(params, says):
    two_params()
    with pytest.raises(ge.GraphStructureError, match=says) as info:
        ge.optimizers.create("adam", params)
    assert isinstance(info.value, TypeError) and "g.params()" in str(info.value)


def test_a_non_param_node_or_a_repeated_param_is_named():
    g, W, b = two_params()
    x = g.input("x", shape=(2,))
    with pytest.raises(ge.GraphStructureError, match="item 1 is an input node 'x'.*g.param"):
        ge.optimizers.create("sgd", [W, x])
    with pytest.raises(ge.GraphStructureError, match="param 'b' is listed twice"):
        ge.optimizers.create("sgd", [W, b, b])
    assert len(ge.optimizers.create("sgd", (p for p in g.params())).params) == 2  # any iterable
