"""graphengine.training.graph_names: free node and scope names, fetch lists without repeats."""

import numpy as np

import graphengine as ge
from graphengine.training.graph_names import free_name, free_scope, unique_nodes


def test_free_name_numbers_a_taken_name():
    g = ge.Graph()
    assert free_name(g, "x") == "x"
    g.input("x", shape=(None, 2))
    assert free_name(g, "x") == "x_2"
    g.input("x_2", shape=(None, 2))
    assert free_name(g, "x") == "x_3"


def test_free_scope_numbers_a_scope_in_use_under_the_current_scope():
    g = ge.Graph()
    x = g.input("x", shape=(None, 2))
    assert free_scope(g, "loss") == "loss"
    with g.scope("loss"):
        ge.ops.tanh(x)
    assert free_scope(g, "loss") == "loss_2"
    with g.scope("outer"):
        assert free_scope(g, "loss") == "loss"
    assert free_scope(g, "x") == "x_2"  # a node's name is not a scope's
    g.input("loss_2", shape=(None, 2))  # nor is a numbered one
    assert free_scope(g, "loss") == "loss_3"


def test_unique_nodes_keeps_the_first_of_each_in_order():
    g = ge.Graph()
    a = g.param("a", np.ones(2))
    b = g.param("b", np.ones(2))
    assert unique_nodes([a, b, a, b]) == [a, b]
