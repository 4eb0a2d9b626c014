"""Generated code (graphengine.emitter) against the interpreter: inline op templates,
gradients summed in place, None gradients, liveness, errors naming the node."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.program import get_program, same_static_shape


def fast_runs(g, feeds, fetch, target, times=4):
    """Runs through the fetched path: interpreted first, generated code after."""
    runs = []
    for _ in range(times):
        run = g.forward(feeds, fetch=fetch)
        run.backward(target)
        runs.append(run)
    return runs


def plan_of(g, fetch):
    return get_program(g, [g.node(f).id for f in fetch], keep_all=False)


def test_chain_with_templates_matches_the_interpreter():
    g = ge.Graph()
    x = g.param("x", np.full((1, 8), 0.1, dtype=np.float32))
    c = g.const(np.full((1, 8), 0.5, dtype=np.float32))
    h = x
    for i in range(30):
        h = (h + c, h * c, ge.ops.tanh(h), ge.ops.sigmoid(h), h - 0.25, -h, ge.ops.relu(h))[i % 7]
    loss = ge.ops.sum(ge.ops.exp(h))
    reference = g.forward({}).backward(loss)
    for run in fast_runs(g, {}, [loss], loss):
        np.testing.assert_allclose(run.grad(x), reference.grad(x), rtol=1e-6)
        assert run.grad(x).dtype == np.float32
    source = plan_of(g, [loss]).forward_code.source
    assert "xp.tanh(" in source and "xp.multiply(" in source  # inlined, not called


def test_fan_out_sums_in_place_without_touching_kept_gradients(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.normal(size=(3, 3)))
    a = ge.ops.tanh(x @ W)
    b = a * a + a * 2.0 + ge.ops.exp(a) + a  # a fans out five times
    c = b + a  # and b's gradient passes straight into a's sum
    loss = ge.ops.sum(c * c)
    feeds = {"x": rng.normal(size=(4, 3))}
    reference = g.forward(feeds).backward(loss)
    for run in fast_runs(g, feeds, [loss, a, b, x], loss):
        for node in (W, a, b, x):
            np.testing.assert_allclose(run.grad(node), reference.grad(node), rtol=1e-12)
    source = list(plan_of(g, [loss, a, b, x]).backwards.values())[0].code.source
    assert "+=" in source


def test_broadcast_gradients_are_summed_back(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    b = g.param("b", rng.normal(size=(3,)))
    s = g.param("s", rng.normal(size=(1, 1)))
    loss = ge.ops.sum(ge.ops.tanh((x + b) * s - b))
    for batch in (4, 1, 4):  # the batch size changes between runs
        feeds = {"x": rng.normal(size=(batch, 3))}
        reference = g.forward(feeds).backward(loss)
        for run in fast_runs(g, feeds, [loss], loss, times=3):
            np.testing.assert_allclose(run.grad(b), reference.grad(b), rtol=1e-12)
            np.testing.assert_allclose(run.grad(s), reference.grad(s), rtol=1e-12)


def test_value_needed_only_for_its_shape_is_freed(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.normal(size=(3, 2)))
    b = g.param("b", np.zeros(2))
    z = x @ W
    loss = ge.ops.mean(ge.ops.tanh(z + b))
    feeds = {"x": rng.normal(size=(5, 2 + 1))}
    reference = g.forward(feeds).backward(loss)
    for run in fast_runs(g, feeds, [loss], loss):
        np.testing.assert_allclose(run.grad(W), reference.grad(W), rtol=1e-12)
        np.testing.assert_allclose(run.grad(b), reference.grad(b), rtol=1e-12)
    with pytest.raises(ge.ValueNotAvailableError, match="freed"):
        run.value(z)  # add's backward reads only z's shape
    assert z.name not in run.values()


class NoGradForSecond(ge.Op):
    """y = a * 1 + 0 * b; backward returns None for b even when b needs a gradient."""

    name = "no_grad_for_second"
    saves = ()

    def forward(self, xp, a, b):
        return a + 0 * b

    def backward(self, xp, grad, inputs, output):
        return (grad, None)

    def shape(self, a, b):
        return a


def test_backward_methods_returning_none(rng):
    g = ge.Graph()
    x = g.param("x", rng.normal(size=(3,)))
    w = g.param("w", rng.normal(size=(3,)))
    y = g.apply(NoGradForSecond(), ge.ops.tanh(x), ge.ops.tanh(w) * 2.0)
    loss = ge.ops.sum(y * y)
    reference = g.forward({}).backward(loss)
    for run in fast_runs(g, {}, [loss], loss):
        np.testing.assert_allclose(run.grad(x), reference.grad(x), rtol=1e-12)
        np.testing.assert_array_equal(run.grad(w), np.zeros(3))
    bplan = list(plan_of(g, [loss]).backwards.values())[0]
    assert "is not None: raise" in bplan.code.source  # checks the None the first run saw


def test_node_whose_consumers_are_not_differentiable(rng):
    g = ge.Graph()
    x = g.param("x", rng.normal(size=(3,)))
    a = ge.ops.tanh(x)
    loss = ge.ops.sum(ge.ops.step(a) * a)
    reference = g.forward({}).backward(loss)
    for run in fast_runs(g, {}, [loss], loss):
        np.testing.assert_allclose(run.grad(x), reference.grad(x), rtol=1e-12)


def test_error_in_an_inlined_op_names_the_node():
    g = ge.Graph()
    a = g.input("a", shape=(None, 3))
    b = g.input("b", shape=(None, 3))
    y = ge.ops.tanh(a, name="t") + b
    feeds = {"a": np.ones((2, 3)), "b": np.ones((3, 3))}  # batch sizes disagree at run time
    for _ in range(3):
        with pytest.raises(ge.OpExecutionError, match=f"forward of node '{y.name}' \\(op add\\).*float64\\[2, 3\\]"):
            g.forward(feeds, fetch=[y])


def test_forward_twice_then_backward_uses_generated_code(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.normal(size=(3, 3)))
    loss = ge.ops.mean(ge.ops.tanh(x @ W + 1.0))
    feeds = {"x": rng.normal(size=(2, 3))}
    reference = g.forward(feeds).backward(loss).grad(W)
    g.forward(feeds, fetch=[loss])
    run = g.forward(feeds, fetch=[loss])  # generated forward, first backward
    np.testing.assert_allclose(run.backward(loss).grad(W), reference, rtol=1e-12)


def test_same_static_shape():
    assert same_static_shape((1, 8), (1, 8))
    assert not same_static_shape((None, 8), (None, 8))
    assert not same_static_shape((1, 8), (8,))
    assert not same_static_shape(None, (8,))


def test_fetched_backward_releases_what_only_it_kept(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.normal(size=(3, 3)))
    h = ge.ops.tanh(x @ W)
    loss = ge.ops.mean(h @ W)
    feeds = {"x": rng.normal(size=(4, 3))}
    for _ in range(3):  # interpreted, then generated
        run = g.forward(feeds, fetch=[loss])
        assert run.value(h).shape == (4, 3)  # kept for backward (matmul reads it)
        run.backward(loss)
        with pytest.raises(ge.ValueNotAvailableError, match="backward released it"):
            run.value(h)
        with pytest.raises(ge.BackwardError, match="cannot run backward again"):
            run.backward(loss)
        assert run.grad(W).shape == (3, 3)
    recording = g.forward(feeds)  # keeps everything: backward as often as wanted
    first = recording.backward(loss).grad(W).copy()
    np.testing.assert_array_equal(recording.backward(loss).grad(W), first)
    run = g.forward(feeds, fetch=[loss, h])  # fetched values stay
    run.backward(loss)
    assert run.value(h).shape == (4, 3)


class AnyAttrs(ge.Op):
    name = "any_attrs"
    saves = ()

    def forward(self, xp, a, **attrs):
        return a * len(attrs)

    def backward(self, xp, grad, inputs, output, **attrs):
        return (grad * len(attrs),)

    def shape(self, a, **attrs):
        return a


def test_attribute_names_are_never_pasted_into_generated_code(tmp_path):
    """An attribute named like code (as a crafted file could give it) is refused when the
    node is built; a legal name stays a key of the generated code's namespace."""
    marker = tmp_path / "ran"
    g = ge.Graph()
    x = g.param("x", np.ones(2))
    with pytest.raises(ge.GraphEngineError, match="attribute name"):
        g.apply(AnyAttrs(), x, **{f"a=open({str(marker)!r}, 'w')).close()#": 1})
    name = "attribute_name_never_in_the_source"
    y = ge.ops.sum(g.apply(AnyAttrs(), x, **{name: 1}))
    for _ in range(3):
        run = g.forward({}, fetch=[y]).backward(y)
        g.forward({}).backward(y)
    step = ge.compile_step(y)
    step({})
    step({})
    assert not marker.exists()
    np.testing.assert_array_equal(run.grad(x), np.ones(2))
    assert name not in step.source and name not in get_program(g, [y.id], keep_all=False).forward_code.source


class WrongGradShape(ge.Op):
    """y = x; its backward returns a gradient of the wrong shape once ``broken`` is set
    (after the first runs, so that generated code is what meets it)."""

    name = "wrong_grad_shape"
    saves = ()
    broken = False

    def forward(self, xp, x):
        return x * 1.0

    def backward(self, xp, grad, inputs, output):
        return (grad[:1] if self.broken else grad,)

    def shape(self, x):
        return x


def test_a_wrong_shaped_gradient_is_blamed_on_the_op_that_made_it_in_every_path(rng):
    g = ge.Graph()
    op = WrongGradShape()
    x = g.param("x", rng.normal(size=(3, 2)))
    y = ge.ops.tanh(g.apply(op, ge.ops.exp(x)))
    loss = ge.ops.sum(y)
    step = ge.compile_step(loss)
    for _ in range(3):  # the first runs are interpreted, the later ones generated code
        g.forward({}).backward(loss)
        g.forward({}, fetch=[loss]).backward(loss)
        step({})
    assert "def step" in step.source
    op.broken = True
    blamed = r"backward of node 'wrong_grad_shape_1' \(op wrong_grad_shape\).*shape \(1, 2\) for input 0 of shape \(3, 2\)"
    for fetch in (None, [loss]):
        with pytest.raises(ge.OpExecutionError, match=blamed):
            g.forward({}, fetch=fetch).backward(loss)
    with pytest.raises(ge.OpExecutionError, match=blamed):
        step({})


@pytest.mark.parametrize("through_view", [False, True])
def test_a_ufunc_takes_over_the_buffer_it_ends_only_when_it_reads_the_buffer_itself(through_view):
    from graphengine.emitter import Code

    code = Code()
    code.request("A", (2, 2), np.float64)
    code.request("B", (2, 2), np.float64)
    code.emit("    a = f(out=A)", fills=["A"], assign="a", holds={"A"})
    read = "a"
    if through_view:  # a transposed view of A: writing B over A while reading it would race
        code.emit("    t = a.T", reads=["a"], assign="t", holds=code.held(["a"]))
        read = "t"
    code.emit(f"    b = xp.add({read}, 1, out=B)", reads=[read], fills=["B"], assign="b", holds={"B"}, ufunc=True)
    code.emit("    return b", reads=["b"])
    namespace: dict = {}
    code.allocate(namespace, np)
    assert (namespace["A"] is namespace["B"]) is not through_view
