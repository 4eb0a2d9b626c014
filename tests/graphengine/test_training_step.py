"""The fused training step (graphengine.training_step) against forward/backward/step."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.training_step import compile_step


def mlp(rng, dtype=np.float32, activation="sigmoid"):
    g = ge.Graph("mlp")
    x = g.input("x", shape=(None, 6), dtype=dtype)
    y = g.input("y", shape=(None,), dtype="int64")
    W1 = g.param("W1", rng.normal(size=(6, 5)).astype(dtype))
    b1 = g.param("b1", np.zeros(5, dtype=dtype))
    W2 = g.param("W2", rng.normal(size=(5, 3)).astype(dtype))
    b2 = g.param("b2", np.zeros(3, dtype=dtype))
    h = getattr(ge.ops, activation)(x @ W1 + b1)
    h = h + ge.ops.tanh(h) * 0.5  # a fan-out
    loss = ge.ops.cross_entropy(h @ W2 + b2, y, reduction="mean")
    return g, x, y, loss


def data(rng, n, dtype=np.float32):
    return {"x": rng.normal(size=(n, 6)).astype(dtype), "y": rng.integers(0, 3, n)}


def twin(rng, **kwargs):
    """Two identical graphs: one trained by the fused step, one step by step."""
    seed = int(rng.integers(1 << 30))
    return mlp(np.random.default_rng(seed), **kwargs), mlp(np.random.default_rng(seed), **kwargs)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_steps_train_like_forward_backward_step(rng, optimizer, dtype):
    (g1, _, _, loss1), (g2, _, _, loss2) = twin(rng, dtype=dtype)
    step = compile_step(loss1, ge.optimizers.create(optimizer, g1.params(), lr=0.1))
    opt2 = ge.optimizers.create(optimizer, g2.params(), lr=0.1)
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    for n in (8, 8, 8, 3, 8, 3):  # full batches and a smaller last batch
        feeds = data(rng, n, dtype)
        value = step(feeds)
        run = g2.forward(feeds, fetch=[loss2]).backward(loss2)
        grads = {p.name: run.grad(p) for p in g2.params()}
        opt2.step(run)
        np.testing.assert_allclose(value, run.value(loss2), rtol=rtol)
        for p, grad in step.grads.items():
            np.testing.assert_allclose(grad, grads[p.name], rtol=rtol, atol=1e-6)
    for p1, p2 in zip(g1.params(), g2.params()):
        np.testing.assert_allclose(p1.value, p2.value, rtol=rtol, atol=1e-6)
        assert p1.value.dtype == dtype
    assert len(step._variants) == 2 and step.steps == 6


def test_broadcast_params_get_their_gradients_summed_back(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 4))
    s = g.param("s", rng.normal(size=(1, 1)))
    b = g.param("b", rng.normal(size=(1, 4)))
    c = g.param("c", rng.normal(size=(4,)))
    loss = ge.ops.mean(ge.ops.tanh(x * s + b) * c - c)
    step = compile_step(loss)
    for n in (5, 1, 5):
        feeds = {"x": rng.normal(size=(n, 4))}
        step(feeds)
        run = g.forward(feeds, fetch=[loss]).backward(loss)
        for p, grad in step.grads.items():
            np.testing.assert_allclose(grad, run.grad(p), rtol=1e-12)
            assert grad.shape == p.shape


def test_loss_returned_is_a_fresh_array_and_fetches_are_kept(rng):
    g, x, y, loss = mlp(rng)
    output = loss.inputs[0]
    step = compile_step(loss, fetch=[output])
    feeds = data(rng, 4)
    first = step(feeds)
    second = step(feeds)
    assert first is not second and first.shape == ()
    np.testing.assert_allclose(step.value(output), g.forward(feeds, fetch=[output]).value(output), rtol=1e-5)
    with pytest.raises(ge.GraphEngineError, match="not fetched"):
        step.value("W1")


def test_feeds_by_node_converted_dtypes_and_errors(rng):
    g, x, y, loss = mlp(rng)
    step = compile_step(loss)
    feeds = data(rng, 4, dtype=np.float64)  # converted to float32 on every call
    reference = g.forward(feeds, fetch=[loss]).value(loss)
    for _ in range(2):
        np.testing.assert_allclose(step({x: feeds["x"], y: feeds["y"]}), reference, rtol=1e-6)
    with pytest.raises(ge.UnknownFeedError, match="'xx'"):
        step({"xx": feeds["x"], "y": feeds["y"]})
    with pytest.raises(ge.FeedError, match="missing feed"):
        step({"x": feeds["x"]})
    with pytest.raises(ge.ShapeError):
        step({"x": feeds["x"][:, :5], "y": feeds["y"]})


def test_op_failure_names_the_node(rng):
    g, x, y, loss = mlp(rng)
    step = compile_step(loss)
    feeds = data(rng, 4)
    step(feeds)
    feeds["y"] = np.array([0, 1, 7, 2])  # a label out of range
    with pytest.raises(ge.OpExecutionError, match=f"node '{loss.name}' \\(op cross_entropy"):
        step(feeds)


def test_graph_changes_recompile(rng):
    g, x, y, loss = mlp(rng)
    step = compile_step(loss)
    feeds = data(rng, 4)
    step(feeds)
    ge.ops.exp(loss)  # the graph changed: plans are rebuilt
    np.testing.assert_allclose(step(feeds), g.forward(feeds, fetch=[loss]).value(loss), rtol=1e-6)


class HalfNone(ge.Op):
    """a + b whose backward gives b no gradient (None) even when it needs one."""

    name = "half_none"
    saves = ()

    def forward(self, xp, a, b):
        return a + b

    def backward(self, xp, grad, inputs, output):
        return (grad, None)

    def shape(self, a, b):
        return a


def test_backward_methods_returning_none(rng):
    g = ge.Graph()
    W = g.param("W", rng.normal(size=(3,)))
    V = g.param("V", rng.normal(size=(3,)))
    loss = ge.ops.sum(ge.ops.tanh(g.apply(HalfNone(), W * 2.0, V * 3.0)))
    step = compile_step(loss)
    run = g.forward({}, fetch=[loss]).backward(loss)
    for _ in range(2):
        step({})
        grads = {p.name: grad for p, grad in step.grads.items()}
        np.testing.assert_allclose(grads["W"], run.grad(W), rtol=1e-12)
        np.testing.assert_array_equal(grads["V"], np.zeros(3))


def test_one_step_is_refused_from_a_second_thread_while_it_runs(rng):
    import threading

    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.normal(size=(3, 2)))
    gate = threading.Event()
    release = threading.Event()

    class Slow(ge.Op):
        name = "slow_identity"
        saves = ()

        def forward(self, xp, a):
            if gate.is_set():
                release.wait(30)
            return a

        def backward(self, xp, grad, inputs, output):
            return (grad,)

        def shape(self, a):
            return a

    loss = ge.ops.sum(g.apply(Slow(), x @ W))
    step = compile_step(loss)
    feeds = {"x": rng.normal(size=(4, 3))}
    step(feeds)
    gate.set()
    worker = threading.Thread(target=step, args=(feeds,))
    worker.start()
    try:
        for _ in range(1000):  # until the worker is inside the step (a loaded machine may take a while)
            if step._lock.locked():
                break
            threading.Event().wait(0.01)
        assert step._lock.locked(), "the worker thread never entered the step"
        with pytest.raises(ge.GraphEngineError, match="running in another thread.*one step per thread"):
            step(feeds)
    finally:
        release.set()
        worker.join(5)
    gate.clear()
    np.testing.assert_allclose(step(feeds), g.forward(feeds, fetch=[loss]).value(loss), rtol=1e-12)


def test_fused_step_writes_into_buffers_through_out(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 8))
    y = g.input("y", shape=(None,), dtype="int64")
    W = g.param("W", rng.normal(size=(8, 4)).astype(np.float32))
    b = g.param("b", np.zeros(4, dtype=np.float32))
    loss = ge.ops.cross_entropy(ge.ops.sigmoid(x @ W + b), y, reduction="mean")
    step = compile_step(loss, ge.optimizers.create("adam", g.params(), lr=1e-3))
    feeds = {"x": rng.normal(size=(16, 8)).astype(np.float32), "y": rng.integers(0, 4, 16)}
    step(feeds)
    step(feeds)
    source = step.source
    assert "out=O" in source  # matmul / add / sigmoid forward into buffers
    assert "UPDATE(GRADS, " in source  # the update runs in the generated step
    arrays = {id(a) for a in step._last.buffers}
    assert id(step.grads[W]) in arrays  # matmul's backward wrote dW into its buffer
    assert id(step.grads[b]) in arrays  # the bias gradient summed over the batch into a buffer
    assert "xp.sum(" in source
    assert W.value.dtype == np.float32


def test_gradients_summed_into_buffers_match_a_run_step_after_step(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3, 4))
    b = g.param("b", rng.normal(size=(4,)))      # summed over two leading axes, into a buffer
    c = g.param("c", rng.normal(size=(3, 1)))    # summed over a middle axis: the general rule
    loss = ge.ops.sum(ge.ops.tanh(x + b) * c + b)  # b gets two contributions
    step = compile_step(loss)
    for k in range(4):
        feeds = {"x": rng.normal(size=(5, 3, 4))}
        step(feeds)
        run = g.forward(feeds, fetch=[loss]).backward(loss)
        for p in (b, c):
            np.testing.assert_allclose(step.grads[p], run.grad(p), rtol=1e-12)
    assert "axis=(0, 1)" in step.source


class SometimesNone(ge.Op):
    """Gives its second input a gradient only when the data is positive: breaks the rule."""

    name = "sometimes_none"
    saves = ("inputs",)

    def forward(self, xp, a, b):
        return a + b

    def backward(self, xp, grad, inputs, output):
        return (grad, grad if float(inputs[1].sum()) > 0 else None)

    def shape(self, a, b):
        return a


def test_a_backward_whose_none_depends_on_the_data_is_a_clear_error(rng):
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    W = g.param("W", np.ones(3))
    loss = ge.ops.sum(g.apply(SometimesNone(), W * 1.0, x * W))
    for _ in range(2):
        g.forward({"x": np.ones(3)}, fetch=[loss]).backward(loss)
    with pytest.raises(ge.OpExecutionError, match="sometimes_none.*returned None for input 1 but a gradient"):
        g.forward({"x": -np.ones(3)}, fetch=[loss]).backward(loss)


def test_a_ufunc_forward_writes_over_the_input_buffer_it_ends(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 8))
    W = g.param("W", rng.normal(size=(8, 4)))
    b = g.param("b", np.zeros(4))
    t = ge.ops.tanh(x @ W + b)  # matmul's buffer is taken over by the add, then by tanh
    loss = ge.ops.sum(t * t)    # t lives on (backward reads it): the product gets its own
    step = compile_step(loss)
    for _ in range(3):
        feeds = {"x": rng.normal(size=(16, 8))}
        step(feeds)
        run = g.forward(feeds, fetch=[loss]).backward(loss)
        for p in (W, b):
            np.testing.assert_allclose(step.grads[p], run.grad(p), rtol=1e-12)
    # z = x @ W, z + b and tanh share one array; t * t and the fan-out sum of dL/dt one each
    assert [buffer.shape for buffer in step._last.buffers].count((16, 4)) == 3


def test_an_optimizer_over_another_graph_of_the_same_name_is_named_as_such():
    def build():
        g = ge.Graph("net")
        x = g.input("x", shape=(2,))
        W = g.param("W", np.ones(2))
        return W, ge.ops.sum(x * W)

    W1, _ = build()
    _, loss2 = build()
    with pytest.raises(ge.GraphStructureError, match="another graph that is also named 'net'"):
        ge.compile_step(loss2, ge.optimizers.create("sgd", [W1], lr=0.1))


# -- keep_grads=False: the optimizer may consume the step's gradient buffers ----------------------

class RecordingSGD(ge.Optimizer):
    """SGD that uses the permission, recording it at every update (in `seen`)."""

    name = "recording_sgd"
    defaults = {"lr": 0.1}

    def __init__(self, params, **hyper):
        super().__init__(params, **hyper)
        self.seen = []

    def update(self, xp, value, grad, state):
        self.seen.append(self.may_consume_grad)
        out = grad if self.may_consume_grad else self.scratch(xp, value)
        xp.subtract(value, xp.multiply(grad, float(self.hyper["lr"]), out=out), out=value)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_consuming_the_gradients_trains_exactly_like_keeping_them(rng, optimizer):
    (g1, _, _, loss1), (g2, _, _, loss2) = twin(rng)
    kept = compile_step(loss1, ge.optimizers.create(optimizer, g1.params(), lr=0.05))
    consumed = compile_step(loss2, ge.optimizers.create(optimizer, g2.params(), lr=0.05), keep_grads=False)
    for n in (16, 16, 16, 16, 7, 7, 16):  # a last smaller batch gets its own variant
        feeds = data(rng, n)
        np.testing.assert_array_equal(consumed(feeds), kept(feeds))
        for p, q in zip(g1.params(), g2.params()):
            np.testing.assert_array_equal(q.value, p.value)  # the same operations on the same numbers
    assert "is O" in consumed.source  # the step checks that its gradients are its own buffers


def test_the_optimizer_consumes_only_the_generated_steps_own_buffers(rng):
    (g, _, _, loss), _ = twin(rng)
    opt = RecordingSGD(g.params())
    step = compile_step(loss, opt, keep_grads=False)
    feeds = data(rng, 16)
    step(feeds)  # interpreted: its gradients are the interpreter's arrays
    assert opt.seen == [False] * 4
    opt.seen.clear()
    step(feeds)
    step(feeds)
    assert opt.seen == [True] * 8
    assert step.keep_grads is False


def test_keep_grads_false_refuses_step_grads_and_the_default_keeps_them(rng):
    (g1, _, _, loss1), (g2, _, _, loss2) = twin(rng)
    consumed = compile_step(loss1, RecordingSGD(g1.params()), keep_grads=False)
    kept = compile_step(loss2, RecordingSGD(g2.params()))
    feeds = data(rng, 16)
    for _ in range(3):
        consumed(feeds)
        kept(feeds)
    with pytest.raises(ge.GraphEngineError, match=r"keep_grads=False.*Compile it with keep_grads=True.*before_update"):
        _ = consumed.grads
    assert kept.optimizer.seen == [False] * 12
    assert set(kept.grads) == set(g2.params())
    no_update = compile_step(loss1, keep_grads=False)  # without an optimizer nothing consumes them
    no_update(feeds)
    run = g1.forward(feeds, fetch=[loss1]).backward(loss1)
    for p, grad in no_update.grads.items():
        np.testing.assert_allclose(grad, run.grad(p), rtol=1e-5, atol=1e-7)


def test_a_gradient_shared_by_two_params_is_never_consumed(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.normal(size=(3, 2)).astype(np.float32))
    V = g.param("V", rng.normal(size=(3, 2)).astype(np.float32))
    loss = ge.ops.mean(ge.ops.tanh(x @ (W + V)))  # add's backward hands one gradient to both
    opt = RecordingSGD([W, V])
    step = compile_step(loss, opt, keep_grads=False)
    feeds = {"x": rng.normal(size=(8, 3)).astype(np.float32)}
    for _ in range(3):
        before = {p: p.value.copy() for p in (W, V)}
        run = g.forward(feeds, fetch=[loss]).backward(loss)
        expected = {p: before[p] - 0.1 * run.grad(p) for p in (W, V)}
        step(feeds)
        for p in (W, V):
            np.testing.assert_allclose(p.value, expected[p], rtol=1e-5, atol=1e-6)
    assert True not in opt.seen
    assert "UPDATE(GRADS, False)" in step.source


def test_hooks_see_intact_gradients_and_an_array_a_hook_makes_is_kept(rng):
    (g, _, _, loss), _ = twin(rng)
    opt = RecordingSGD(g.params())
    copies = []
    seen_by_hook = []

    def look(grads):
        seen_by_hook.append({p: gr.copy() for p, gr in grads.items()})
        return grads  # the step's own arrays: they may be consumed

    def replace(grads):
        made = {p: gr * 1.0 for p, gr in grads.items()}  # new arrays: the hook's, not the step's
        copies.append(made)
        return made

    step = compile_step(loss, opt, keep_grads=False, before_update=[look])
    feeds = data(rng, 16)
    for _ in range(3):
        step(feeds)
    assert opt.seen[-4:] == [True] * 4
    run = g.forward(feeds, fetch=[loss]).backward(loss)
    step(feeds)
    for p in g.params():  # the hook saw the gradients of this step, before the update consumed them
        np.testing.assert_allclose(seen_by_hook[-1][p], run.grad(p), rtol=1e-5, atol=1e-7)
    step.before_update[:] = [replace]
    opt.seen.clear()
    run = g.forward(feeds, fetch=[loss]).backward(loss)
    step(feeds)
    assert opt.seen == [False] * 4
    for p in g.params():  # the hook's arrays were left alone by the update
        np.testing.assert_allclose(copies[-1][p], run.grad(p), rtol=1e-5, atol=1e-7)


def test_an_optimizer_whose_step_takes_no_consume_grads_still_works(rng):
    class OldStep(RecordingSGD):
        name = "old_step"

        def step(self, grads):  # written before consume_grads existed
            super().step(grads)

    (g1, _, _, loss1), (g2, _, _, loss2) = twin(rng)
    old = compile_step(loss1, OldStep(g1.params()), keep_grads=False)
    new = compile_step(loss2, RecordingSGD(g2.params()))
    feeds = data(rng, 16)
    for _ in range(3):
        old(feeds)
        new(feeds)
    assert True not in old.optimizer.seen
    for p, q in zip(g1.params(), g2.params()):
        np.testing.assert_array_equal(p.value, q.value)


def test_an_error_of_a_hook_inside_the_generated_step_comes_out_as_it_was(rng):
    g, _, _, loss = mlp(rng)
    calls = []

    class Stop(Exception):
        pass

    def hook(grads):
        calls.append(1)
        if len(calls) == 3:  # the second generated call
            raise Stop("from the hook")
        return grads

    step = compile_step(loss, ge.optimizers.create("sgd", g.params(), lr=0.1), keep_grads=False,
                        before_update=[hook])
    feeds = data(rng, 4)
    step(feeds)
    step(feeds)
    with pytest.raises(Stop, match="from the hook"):
        step(feeds)
    step(feeds)  # the lock was released: the step runs again
    assert step.steps == 3
