"""Graph construction: nodes, names, scopes, operators, shape rules, cycles, validation."""

import networkx as nx
import numpy as np
import pytest

import graphengine as ge


def test_issue_example_builds_and_runs(rng):
    X = rng.normal(size=(5, 3))
    Y = (rng.random((5, 1)) > 0.5).astype(float)
    g = ge.Graph("logreg")
    x = g.input("x", shape=(None, 3)); y = g.input("y", shape=(None, 1))
    W = g.param("W", np.zeros((3, 1))); b = g.param("b", np.zeros(1))
    p = ge.ops.sigmoid(x @ W + b)
    loss = ge.ops.mean(ge.ops.binary_cross_entropy(p, y))
    run = g.forward({"x": X, "y": Y})
    run.backward(loss)
    np.testing.assert_allclose(run.value(p), 0.5)
    # d mean(BCE(sigmoid(xW + b), y)) / dW = X^T (p - y) / n
    np.testing.assert_allclose(run.grad(W), X.T @ (0.5 - Y) / 5)
    np.testing.assert_allclose(run.grad(b), np.mean(0.5 - Y, axis=0))
    assert p.shape == (None, 1) and loss.shape == ()


def test_ids_names_and_order_are_stable():
    def build():
        g = ge.Graph("g")
        x = g.input("x", shape=(2,))
        h = ge.ops.tanh(x)
        ge.ops.tanh(h * 2.0)
        return [(n.id, n.name, n.kind, n.op) for n in g.nodes()]

    first = build()
    assert first == build()
    assert [n[1] for n in first] == ["x", "tanh_1", "const_1", "mul_1", "tanh_2"]
    assert [n[0] for n in first] == list(range(5))


def test_names_are_unique_and_validated():
    g = ge.Graph()
    g.input("x")
    with pytest.raises(ge.GraphStructureError, match="already has a node named 'x'"):
        g.param("x", np.zeros(2))
    with pytest.raises(ge.GraphStructureError, match="not allowed"):
        g.input("a/b")
    with pytest.raises(ge.GraphStructureError):
        g.input("")


def test_scopes_prefix_names_and_are_recorded():
    g = ge.Graph()
    x = g.input("x", shape=(None, 2))
    with g.scope("layer1"):
        W = g.param("W", np.ones((2, 3)))
        h = ge.ops.relu(x @ W)
        with g.scope("inner"):
            k = ge.ops.tanh(h)
    assert W.name == "layer1/W" and W.scope == "layer1"
    assert h.name == "layer1/relu"  # local to its scope: numbered only when taken there
    assert k.name == "layer1/inner/tanh" and k.scope == "layer1/inner"
    assert g.node("layer1/W") is W
    assert g.parameter_count("layer1") == 6 and g.parameter_count() == 6
    with pytest.raises(ge.GraphStructureError):
        with g.scope("a/b"):
            pass


def test_operators_and_reflected_forms():
    g = ge.Graph()
    a = g.input("a", shape=(2, 2))
    arr = np.array([[1.0, 2.0], [3.0, 4.0]])
    exprs = {
        "add": (a + 1, lambda v: v + 1), "radd": (1 + a, lambda v: 1 + v),
        "sub": (a - 2, lambda v: v - 2), "rsub": (2 - a, lambda v: 2 - v),
        "mul": (a * 3, lambda v: v * 3), "rmul": (3 * a, lambda v: 3 * v),
        "div": (a / 2, lambda v: v / 2), "rdiv": (2 / a, lambda v: 2 / v),
        "pow": (a ** 2, lambda v: v ** 2), "rpow": (2 ** a, lambda v: 2 ** v),
        "matmul": (a @ arr, lambda v: v @ arr), "rmatmul": (arr @ a, lambda v: arr @ v),
        "neg": (-a, lambda v: -v), "abs": (abs(a), np.abs), "T": (a.T, lambda v: v.T),
        "slice": (a[0:1], lambda v: v[0:1]), "column": (a[:, 1], lambda v: v[:, 1]),
        "item": (a[1, 0], lambda v: v[1, 0]), "fancy": (a[[1, 1, 0]], lambda v: v[[1, 1, 0]]),
        "arr_add": (arr + a, lambda v: arr + v),
    }
    value = np.array([[0.5, -1.0], [2.0, 3.0]])
    run = g.forward({"a": value})
    for label, (node, fn) in exprs.items():
        np.testing.assert_allclose(run.value(node), fn(value), err_msg=label)
        assert isinstance(node, ge.Node), label


def test_slicing_gradient_scatters_back():
    g = ge.Graph()
    h = g.input("h", shape=(3, 2))
    y = ge.ops.sum(h[0:2] * 2.0) + ge.ops.sum(h[:, 1])
    run = g.forward({"h": np.ones((3, 2))}).backward(y)
    np.testing.assert_allclose(run.grad(h), [[2, 3], [2, 3], [0, 1]])


def test_shape_rule_refuses_mismatch_at_build_time():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", np.zeros((4, 1)))
    with pytest.raises(ge.ShapeError) as info:
        x @ W
    message = str(info.value)
    assert "matmul" in message and "'x' (None, 3)" in message and "'W' (4, 1)" in message
    assert len(g) == 2  # nothing was added
    with pytest.raises(ge.ShapeError, match="broadcast"):
        g.input("a", shape=(2, 3)) + g.input("b", shape=(4,))


def test_arity_and_attribute_errors():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    with pytest.raises(ge.GraphStructureError, match="takes 1 input"):
        g.apply("tanh", x, x)
    with pytest.raises(ge.AttributeSpecError, match="axis"):
        ge.ops.sum(x, axes=0)
    with pytest.raises(ge.GraphStructureError, match="needs at least one graph node"):
        ge.ops.tanh(np.ones(2))


def test_nodes_of_another_graph_are_refused():
    g1, g2 = ge.Graph("one"), ge.Graph("two")
    a = g1.input("a", shape=(2,))
    b = g2.input("b", shape=(2,))
    with pytest.raises(ge.GraphStructureError, match="belongs to graph 'one'"):
        b + a


def test_misspelt_op_suggests_close_names():
    with pytest.raises(AttributeError) as info:
        ge.ops.sigmoud
    assert isinstance(info.value, ge.UnknownOpError)
    assert "sigmoid" in str(info.value)
    assert "tanh" in dir(ge.ops)


def test_params_inputs_and_values():
    g = ge.Graph()
    W = g.param("W", np.zeros((2, 2), dtype=np.float32))
    b = g.param("b", np.zeros(2))
    g.input("x", shape=(None, 2), dtype="float32")
    assert g.params() == [W, b]
    assert [n.name for n in g.inputs()] == ["x"]
    W.value = np.ones((2, 2))
    assert W.value.dtype == np.float32 and W.value.sum() == 4
    with pytest.raises(ge.ShapeError, match="shape"):
        W.value = np.ones(3)
    with pytest.raises(ge.DtypeError, match="floating point"):
        g.param("i", np.arange(3))
    with pytest.raises(ge.DtypeError, match="not numeric"):
        g.param("s", np.array(["a"]))
    with pytest.raises(ge.GraphStructureError, match="only params"):
        g.inputs()[0].value


def test_python_scalars_do_not_upcast_float32():
    g = ge.Graph()
    x = g.input("x", shape=(3,), dtype="float32")
    y = (x * 2.0 + 1) / 3.0 - 0.5
    assert y.dtype == np.float32
    total = ge.ops.sum(y)
    run = g.forward({"x": np.ones(3, dtype=np.float32)}).backward(total)
    with pytest.raises(ge.ValueNotAvailableError, match="added to the graph after the run"):
        run.value(ge.ops.exp(y))
    assert run.value(y).dtype == np.float32
    assert run.grad(x).dtype == np.float32


def test_networkx_view_is_structure_only():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    W = g.param("W", np.ones(2))
    y = x * x + W
    view = g.nx
    assert isinstance(view, nx.DiGraph)
    assert view.edges[x.id, y.inputs[0].id]["positions"] == (0, 1)  # x * x: both positions
    for _, data in view.nodes(data=True):
        assert not any(isinstance(v, np.ndarray) for v in data.values())
    with pytest.raises(nx.NetworkXError):
        view.add_edge(0, 1)


def test_rewire_refuses_cycles_and_names_them():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    a = ge.ops.tanh(x, name="a")
    b = ge.ops.exp(a, name="b")
    c = ge.ops.neg(b, name="c")
    with pytest.raises(ge.GraphCycleError) as info:
        g.rewire(a, 0, c)
    assert "a -> b -> c -> a" in str(info.value)
    assert a.inputs == (x,)
    g.rewire(c, 0, a)  # fine: a -> c
    assert c.inputs == (a,) and g.nx.has_edge(a.id, c.id) and not g.nx.has_edge(b.id, c.id)
    g.validate()


def test_validate_finds_a_cycle_made_behind_the_graphs_back():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    a = ge.ops.tanh(x, name="a")
    b = ge.ops.exp(a, name="b")
    g._nx.add_edge(b.id, a.id, positions=(0,))  # corrupt the structure directly
    with pytest.raises(ge.GraphCycleError, match="cycle"):
        g.validate()


def test_validate_passes_on_a_sound_graph():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", np.zeros((3, 2)))
    ge.ops.softmax(x @ W)
    g.validate()


def test_bool_of_a_node_is_refused():
    g = ge.Graph()
    x = g.input("x")
    with pytest.raises(ge.GraphStructureError, match="truth value"):
        if x:
            pass


def test_repr_and_len():
    g = ge.Graph("small")
    x = g.input("x", shape=(None, 2), dtype="float32")
    assert "small" in repr(g) and len(g) == 1
    assert repr(x) == "<Node 'x' input (None, 2) float32>"


def test_rewired_graph_runs_in_networkx_topological_order():
    # after the rewire, node 'a' (created first) consumes node 'b' (created later): creation
    # order is no longer topological, so the plan comes from networkx's sort
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    a = ge.ops.tanh(x, name="a")
    b = ge.ops.exp(x, name="b")
    out = ge.ops.sum(a, name="out")
    g.rewire(a, 0, b)
    feeds = {"x": np.array([0.0, 1.0])}
    want = np.tanh(np.exp([0.0, 1.0]))
    for fetch in (None, [out, x], [out, x], [out, x]):
        run = g.forward(feeds, fetch=fetch).backward(out)
        np.testing.assert_allclose(run.value(out), want.sum())
        np.testing.assert_allclose(run.grad(x), (1 - want ** 2) * np.exp([0.0, 1.0]))


def test_setting_a_param_copies_the_array_so_in_place_steps_never_reach_the_caller():
    g = ge.Graph()
    W = g.param("W", np.zeros(3))
    mine = np.ones(3)
    W.value = mine
    ge.optimizers.create("sgd", [W], lr=1.0).step({W: np.ones(3)})
    np.testing.assert_array_equal(mine, np.ones(3))
    np.testing.assert_array_equal(W.value, np.zeros(3))


# -- a failed build leaves nothing behind ------------------------------------------------------

def _state(g):
    return ([(n.id, n.name, n.kind, n.op, n.shape, n.dtype, tuple(i.id for i in n.inputs)) for n in g.nodes()],
            dict(g._name_counters), g.version, sorted(g.nx.edges(data="positions")), sorted(g.nx.nodes))


def _chain(g):
    x = g.node("x") if "x" in g else g.input("x", shape=(None, 3), dtype="float32")
    return ge.ops.tanh(x @ np.ones((3, 2), np.float32) + 1.0)


def test_a_refused_node_consumes_no_name_and_leaves_no_const():
    g = ge.Graph("g")
    x = g.input("x", shape=(None, 3), dtype="float32")
    ge.ops.tanh(x)
    before = _state(g)
    with pytest.raises(ge.ShapeError, match="matmul_1"):
        x @ np.ones((4, 2), np.float32)   # the array became a const node before the rule refused
    with pytest.raises(ge.GraphStructureError, match="already has a node named 'x'"):
        g.apply("add", x, 2.0, name="x")  # 2.0 became a const before the name was refused
    with pytest.raises(ge.GraphStructureError, match=r"takes 2 inputs, got 3 \(1\.0, 'x', 3\.0\)"):
        g.apply("add", 1.0, x, 3.0)       # two consts made, then the arity refused
    assert _state(g) == before
    # the same construction code gives the same graph as in a graph where nothing failed
    fresh = ge.Graph("g")
    ge.ops.tanh(fresh.input("x", shape=(None, 3), dtype="float32"))
    _chain(fresh)
    _chain(g)
    assert _state(g) == _state(fresh)


def test_an_interrupted_build_removes_the_casts_it_added(monkeypatch):
    g = ge.Graph()
    f = g.input("f", shape=(2,), dtype="float32")
    i = g.input("i", shape=(2,), dtype="int32")
    before = _state(g)
    add_node = g._add_node

    def interrupted(node):
        if node.op == "mul":
            raise KeyboardInterrupt  # the worst moment: the cast node is in, the mul node not yet
        return add_node(node)

    monkeypatch.setattr(g, "_add_node", interrupted)
    with pytest.raises(KeyboardInterrupt):
        f * i
    assert _state(g) == before and not g._journaling
    monkeypatch.undo()
    y = f * i
    assert [n.name for n in g.nodes()] == ["f", "i", "cast_1", "mul_1"] and y.dtype == np.float32


def test_a_failed_build_keeps_compiled_plans_valid():
    g = ge.Graph()
    x = g.input("x", shape=(None, 2))
    y = ge.ops.tanh(x)
    feeds = {"x": np.ones((1, 2))}
    g.forward(feeds, fetch=[y])
    version = g.version
    with pytest.raises(ge.ShapeError):
        y @ np.ones((3, 3))
    assert g.version == version
    np.testing.assert_allclose(g.forward(feeds, fetch=[y]).value(y), np.tanh(np.ones((1, 2))))
    z = y * 2.0
    np.testing.assert_allclose(g.forward(feeds, fetch=[z]).value(z), 2 * np.tanh(np.ones((1, 2))))


def test_a_transaction_undoes_nodes_already_mirrored_into_networkx():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    before = _state(g)
    with pytest.raises(RuntimeError, match="late failure"):
        with g._transaction():
            h = ge.ops.tanh(x + 1.0)
            assert g.nx.has_node(h.id)  # mirrored
            g.rewire(h, 0, x)           # undone too
            raise RuntimeError("late failure")
    assert _state(g) == before and not g._journaling
    assert [n.name for n in g.nodes()] == ["x"]


# -- rewire checks every node downstream ----------------------------------------------------

def _rewire_graph():
    g = ge.Graph("r")
    x = g.input("x", shape=(None, 3))
    z = g.input("z", shape=(None, 5))
    W = g.param("W", np.ones((3, 2)))
    a = ge.ops.tanh(x, name="a")
    b = ge.ops.exp(a, name="b")
    y = ge.ops.matmul(b, W, name="y")
    out = ge.ops.sum(y, name="out")
    return g, x, z, a, b, y, out


def test_rewire_refuses_a_change_that_breaks_a_node_downstream_and_changes_nothing():
    g, x, z, a, b, y, out = _rewire_graph()
    before = _state(g)
    with pytest.raises(ge.ShapeError) as info:
        g.rewire(a, 0, z)   # a and b would fit (element-wise), y's matmul would not
    message = str(info.value)
    assert "rewiring input 0 of 'a' (op tanh) from 'x' to 'z'" in message
    assert "would break node 'y' (op matmul) downstream" in message and "(None, 5)" in message
    assert "unchanged" in message
    assert _state(g) == before and a.shape == b.shape == (None, 3)
    g.validate()
    run = g.forward({"x": np.zeros((2, 3)), "z": np.zeros((2, 5))}).backward(out)
    np.testing.assert_allclose(run.value(out), 12.0)


def test_rewire_updates_the_shapes_and_dtypes_downstream():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3), dtype="float64")
    x4 = g.input("x4", shape=(4, 3), dtype="float32")
    a = ge.ops.tanh(x, name="a")
    b = a * 2.0
    c = ge.ops.sum(b, axis=1)
    g.rewire(a, 0, x4)
    assert (a.shape, b.shape, c.shape) == ((4, 3), (4, 3), (4,))
    assert a.dtype == b.dtype == c.dtype == np.float32
    g.validate()
    run = g.forward({"x": np.zeros((1, 3)), "x4": np.ones((4, 3), np.float32)}, fetch=[c])
    assert run.value(c).dtype == np.float32 and run.value(c).shape == (4,)


def test_rewire_refuses_a_position_that_is_no_int():
    g, x, z, a, b, y, out = _rewire_graph()
    with pytest.raises(ge.GraphStructureError, match=r"has inputs 0\.\.0, not '0'"):
        g.rewire(a, "0", z)


def test_a_const_holds_its_own_copy_of_the_callers_array():
    a = np.array([0.3])
    g = ge.Graph("c")
    w = g.param("w", np.array([1.0]))
    c = g.const(a, name="c")
    loss = ge.ops.sum((w * c) ** 2)
    run = g.forward({})
    a[0] = 30.0  # the caller changes its array between forward and backward
    run.backward(loss)
    assert run.value(c)[0] == 0.3 and np.isclose(run.grad(w)[0], 0.18) and np.isclose(run.value(loss), 0.09)
    view = np.arange(4.0)[1:3]
    d = g.const(view, name="d")
    view[:] = -1
    assert g.forward({}).value(d).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("bad", ["x", None, np.array(["a", "b"]), np.array([1 + 2j, 0j])])
def test_setting_a_param_to_something_not_numeric_says_so(bad):
    g = ge.Graph()
    w = g.param("w", np.ones(2))
    with pytest.raises(ge.DtypeError, match="a param's value is a numeric array"):
        w.value = bad
    assert w.value.tolist() == [1.0, 1.0]


def test_apply_refusals_say_what_is_wrong_and_change_nothing():
    g = ge.Graph("g")
    x = g.input("x", shape=(2,), dtype="float32")
    other = ge.Graph("other").input("y", shape=(2,))
    before = _state(g)
    cases = [
        (lambda: g.apply("sum", x, axs=0), ge.AttributeSpecError,
         "op 'sum' got unknown attribute axs; it takes: axis, dim, keepdim, keepdims. Did you mean"),
        (lambda: g.apply("concat"), ge.GraphStructureError, "op 'concat' needs at least one input"),
        (lambda: g.apply("concat", [x, x]), ge.GraphStructureError,
         "op 'concat' takes its inputs as separate arguments: ge.ops.concat(*nodes)"),
        (lambda: g.apply("add", x, "x"), ge.GraphStructureError,
         "op 'add': input 1 is a str; inputs must be graph nodes, numbers or numpy arrays"),
        (lambda: g.apply("add", 2.0, other), ge.GraphStructureError, "belongs to graph 'other', not to 'g'"),
        (lambda: g.apply("tanh", 1.0, x), ge.GraphStructureError, "op 'tanh' takes 1 input, got 2 (1.0, 'x')"),
    ]
    for build, error, message in cases:
        with pytest.raises(error) as info:
            build()
        assert message in str(info.value)
        assert _state(g) == before and not g._journaling  # consts made before the refusal are gone too
    assert g.apply("add", x, 1.0).name == "add_1"  # no name was used up by the refusals


def _node_facts(n):
    return (n.op, n.name, n.shape, n.dtype, tuple(i.name for i in n.inputs), dict(n.attrs), n.scope)


def test_a_repeated_node_reuses_the_rules_answer_and_is_the_node_a_first_one_would_be(monkeypatch):
    g = ge.Graph("g")
    f = g.input("f", shape=(None, 3), dtype="float32")
    i = g.input("i", shape=(None, 3), dtype="int32")
    c = g.const(np.ones((1, 3), np.float32), name="c")
    ran = []
    rules = g._infer_rules
    monkeypatch.setattr(g, "_infer_rules", lambda impl, *rest: ran.append(impl.name) or rules(impl, *rest))
    first = f + c              # the rules run
    second = first + c         # same op, shapes and dtypes: their answer is reused
    assert ran == ["add"]
    assert _node_facts(second) == ("add", "add_2", (None, 3), np.float32, ("add_1", "c"), {}, "")
    with g.scope("block"):
        a, b = ge.ops.tanh(f), ge.ops.tanh(f)
    assert [_node_facts(n) for n in (a, b)] == [
        ("tanh", "block/tanh", (None, 3), np.float32, ("f",), {}, "block"),
        ("tanh", "block/tanh_2", (None, 3), np.float32, ("f",), {}, "block")]
    # an integer input meeting a float one gets its cast node every time, not only the first
    (f * i).name, (f * i).name
    assert [n.op for n in g.nodes()].count("cast") == 2
    # other shapes are other answers: the rule runs, and refuses
    with pytest.raises(ge.ShapeError, match="cannot add node 'add_3'"):
        f + g.const(np.ones((1, 4), np.float32))


def test_a_failed_change_undoes_the_nodes_repeated_inside_it_and_their_names():
    g = ge.Graph("g")
    x = g.input("x", shape=(2,), dtype="float32")
    ge.ops.tanh(x)
    before = _state(g)
    with pytest.raises(RuntimeError, match="layer failed"):
        with g._transaction():
            ge.ops.tanh(ge.ops.tanh(x))  # both answered from the rules' cache
            raise RuntimeError("layer failed")
    assert _state(g) == before
    assert ge.ops.tanh(x).name == "tanh_2"
