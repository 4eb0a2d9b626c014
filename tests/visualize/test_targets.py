"""visualize/targets.py: which nodes are the targets of losses, and dtype kinds."""

import numpy as np

import graphengine as ge
from graphengine.visualize.targets import dtype_kind, loss_targets


def test_targets_of_losses_and_what_they_were_cast_from():
    g = ge.Graph("t")
    p = g.input("p", shape=(None, 2))
    labels = g.input("labels", shape=(None,), dtype="int64")
    y = g.input("y", shape=(None, 2), dtype="int32")
    ce = ge.ops.cross_entropy(p, labels)
    reg = ge.ops.mse(p, ge.ops.cast(y, dtype="float32"))
    assert loss_targets(g.nodes()) == {labels.id, y.id, reg.inputs[1].id}
    assert p.id not in loss_targets(g.nodes()) and ce.id not in loss_targets(g.nodes())


def test_every_built_in_loss_says_where_its_target_is():
    from graphengine.nn.loss_names import loss_op_names

    names = loss_op_names()
    assert len(names) >= 10
    assert all(ge.ops.manager.ops[name].target_input == 1 for name in names)
    assert ge.ops.manager.ops["add"].target_input is None


def test_dtype_kind_from_the_graph_or_the_run():
    g = ge.Graph("k")
    x = g.input("x", shape=(2,), dtype="float32")
    n = g.input("n", shape=(2,))  # dtype left to the feed
    flag = g.input("flag", shape=(2,), dtype="bool")
    assert dtype_kind(x, None) == "f" and dtype_kind(flag, None) == "b"
    assert dtype_kind(n, None) is None
    run = g.forward({"x": np.ones(2, dtype="float32"), "n": np.ones(2, dtype="int16"), "flag": np.ones(2, bool)})
    assert dtype_kind(n, run) == "i"  # from the run


def test_targets_doctest():
    import doctest

    import graphengine.visualize.targets as targets

    assert doctest.testmod(targets).attempted > 0 and doctest.testmod(targets).failed == 0
