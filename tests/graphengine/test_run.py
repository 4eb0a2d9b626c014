"""Runs: values, backward, gradients, fetch semantics, freeing, seeds."""

import numpy as np
import pytest

import graphengine as ge


def mlp(rng, dtype=np.float64):
    g = ge.Graph("mlp")
    x = g.input("x", shape=(None, 4))
    y = g.input("y", shape=(None,), dtype="int64")
    W1 = g.param("W1", rng.normal(size=(4, 5)).astype(dtype))
    b1 = g.param("b1", np.zeros(5, dtype=dtype))
    W2 = g.param("W2", rng.normal(size=(5, 3)).astype(dtype))
    h = ge.ops.tanh(x @ W1 + b1)
    logits = h @ W2
    loss = ge.ops.cross_entropy(logits, y, reduction="mean")
    return g, dict(x=x, y=y, W1=W1, b1=b1, W2=W2, h=h, logits=logits, loss=loss)


def numeric_grad(g, loss, feeds, param, eps=1e-6):
    out = np.zeros_like(param.value)
    base = param.value.copy()
    for idx in np.ndindex(*base.shape):
        for sign in (1, -1):
            v = base.copy()
            v[idx] += sign * eps
            param.value = v
            out[idx] += sign * float(g.forward(feeds, fetch=[loss]).value(loss))
        param.value = base
    return out / (2 * eps)


def test_gradients_match_finite_differences_in_both_modes(rng):
    g, n = mlp(rng)
    feeds = {"x": rng.normal(size=(6, 4)), "y": rng.integers(0, 3, 6)}
    recorded = g.forward(feeds).backward(n["loss"])
    for name in ("W1", "b1", "W2"):
        numeric = numeric_grad(g, n["loss"], feeds, n[name])
        np.testing.assert_allclose(recorded.grad(n[name]), numeric, rtol=1e-5, atol=1e-8)
        for _ in range(3):  # interpreted first, generated code after
            fast = g.forward(feeds, fetch=[n["loss"]]).backward(n["loss"])
            np.testing.assert_allclose(fast.grad(n[name]), recorded.grad(n[name]), rtol=1e-12)


def test_fan_out_gradients_accumulate():
    g = ge.Graph()
    x = g.input("x", shape=())
    a = ge.ops.exp(x)
    y = a * a + a  # a fans out three times
    run = g.forward({"x": np.array(0.5)}).backward(y)
    e = np.exp(0.5)
    np.testing.assert_allclose(run.grad(a), 2 * e + 1)
    np.testing.assert_allclose(run.grad(x), (2 * e + 1) * e)
    # the edge contributions into a sum to its gradient
    mul = y.inputs[0]
    parts = [run.edge_grad(mul, 0), run.edge_grad(mul, 1), run.edge_grad(y, 1)]
    np.testing.assert_allclose(sum(parts), run.grad(a))
    for _ in range(3):
        fast = g.forward({"x": np.array(0.5)}, fetch=[y, x]).backward(y)
        np.testing.assert_allclose(fast.grad(x), (2 * e + 1) * e)
        assert isinstance(fast.grad(x), np.ndarray)


def test_fetch_runs_only_what_is_needed(rng):
    g, n = mlp(rng)
    other = ge.ops.exp(n["x"])
    run = g.forward({"x": np.ones((2, 4))}, fetch=[n["h"]])  # y is not needed
    assert run.ran(n["h"]) and not run.ran(n["loss"]) and not run.ran(other)
    with pytest.raises(ge.ValueNotAvailableError, match="did not run"):
        run.value(n["loss"])
    with pytest.raises(ge.ValueNotAvailableError, match="did not run"):
        run.value("exp_1")


def test_fetched_runs_free_what_backward_does_not_need(rng):
    g, n = mlp(rng)
    feeds = {"x": rng.normal(size=(3, 4)), "y": np.array([0, 1, 2])}
    for _ in range(3):
        run = g.forward(feeds, fetch=[n["loss"]])
        pre = n["h"].inputs[0]  # x @ W1 + b1: tanh saves only its output
        with pytest.raises(ge.ValueNotAvailableError, match="freed"):
            run.value(pre)
        assert run.value(n["h"]).shape == (3, 5)  # kept: matmul's backward needs it
        run.backward(n["loss"])
        with pytest.raises(ge.ValueNotAvailableError, match="not kept"):
            run.grad(n["h"])
        with pytest.raises(ge.ValueNotAvailableError, match="not kept"):
            run.grad(n["x"])
        assert run.grad(n["W1"]).shape == (4, 5)
    recorded = g.forward(feeds).backward(n["loss"])
    assert recorded.value(pre).shape == (3, 5) and recorded.grad(n["h"]).shape == (3, 5)
    assert recorded.grad(n["x"]).shape == (3, 4)


def test_fetched_input_gets_its_gradient(rng):
    g, n = mlp(rng)
    feeds = {"x": rng.normal(size=(3, 4)), "y": np.array([0, 1, 2])}
    full = g.forward(feeds).backward(n["loss"]).grad(n["x"])
    for _ in range(3):
        run = g.forward(feeds, fetch=[n["loss"], n["x"]]).backward(n["loss"])
        np.testing.assert_allclose(run.grad(n["x"]), full)


def test_non_scalar_target_needs_a_seed():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    y = x * 2.0
    run = g.forward({"x": np.ones(3)})
    with pytest.raises(ge.BackwardError, match="not a scalar"):
        run.backward(y)
    with pytest.raises(ge.BackwardError, match="must match"):
        run.backward(y, grad=np.ones(2))
    run.backward(y, grad=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(run.grad(x), [2, 4, 6])


def test_grad_before_backward_and_of_consts():
    g = ge.Graph()
    x = g.input("x", shape=())
    y = x * 3.0
    run = g.forward({"x": np.array(2.0)})
    with pytest.raises(ge.ValueNotAvailableError, match="backward"):
        run.grad(x)
    run.backward(y)
    with pytest.raises(ge.ValueNotAvailableError, match="const"):
        run.grad(y.inputs[1])


def test_unrelated_param_gets_zero_gradient():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    W = g.param("W", np.ones(2))
    U = g.param("U", np.ones((2, 2)))
    y = ge.ops.sum(x * W)
    ge.ops.sum(U)
    run = g.forward({"x": np.ones(2)}).backward(y)
    np.testing.assert_array_equal(run.grad(U), np.zeros((2, 2)))


def test_backward_replaces_earlier_gradients():
    g = ge.Graph()
    x = g.input("x", shape=())
    a, b = x * 2.0, x * 5.0
    run = g.forward({"x": np.array(1.0)})
    assert float(run.backward(a).grad(x)) == 2.0
    assert float(run.backward(b).grad(x)) == 5.0
    assert run.target is b


def test_step_activation_passes_no_gradient():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    W = g.param("W", np.ones(3))
    y = ge.ops.sum(ge.ops.step(x * W))
    run = g.forward({"x": np.array([-1.0, 0.0, 2.0])}).backward(y)
    np.testing.assert_array_equal(run.value(y.inputs[0]), [0, 0, 1])  # deck 002: 0 for x <= 0
    np.testing.assert_array_equal(run.grad(W), np.zeros(3))


def test_values_and_grads_listings(rng):
    g, n = mlp(rng)
    run = g.forward({"x": np.ones((2, 4)), "y": np.array([0, 2])}).backward(n["loss"])
    values, grads = run.values(), run.grads()
    assert list(values)[:2] == ["x", "y"] and n["loss"].name in values
    assert set(grads) >= {"W1", "b1", "W2", n["loss"].name}
    assert "recording" in repr(run)


def test_deep_chain_runs_forward_and_backward_iteratively():
    g = ge.Graph("deep")
    x = g.input("x", shape=(1,))
    one = g.const(1.0, name="one")
    h = x
    for _ in range(100_000):  # 100,001 nodes in a chain: no recursion anywhere
        h = h + one
    run = g.forward({"x": np.zeros(1)}, fetch=[h, x])
    assert float(run.value(h)[0]) == 100_000
    run.backward(h, grad=np.ones(1))
    assert float(run.grad(x)[0]) == 1.0


def test_param_updates_between_runs_are_seen_by_generated_code():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    W = g.param("W", np.ones(2))
    y = ge.ops.sum(x * W)
    for step in range(4):
        W.value = np.full(2, float(step))
        assert float(g.forward({"x": np.ones(2)}, fetch=[y]).value(y)) == 2.0 * step


def test_plan_recompiles_after_the_graph_changes():
    g = ge.Graph()
    x = g.input("x", shape=(2,))
    y = ge.ops.tanh(x)
    for _ in range(3):
        g.forward({"x": np.ones(2)}, fetch=[y])
    z = ge.ops.exp(y)
    run = g.forward({"x": np.zeros(2)}, fetch=[z])
    np.testing.assert_allclose(run.value(z), [1.0, 1.0])


def test_recording_run_computes_input_gradients_on_request(rng):
    """The hot loop differentiates params only; an input's gradient (and that of nodes
    depending on inputs alone) is computed when asked, and equals a fetched run's."""
    g, n = mlp(rng)
    scaled = n["x"] * 2.0  # depends on the input only
    loss = ge.ops.mean(ge.ops.tanh(scaled @ n["W1"]))
    feeds = {"x": rng.normal(size=(6, 4)), "y": rng.integers(0, 3, 6)}
    recorded = g.forward(feeds).backward(loss)
    assert recorded._grads[recorded._program.slot[n["x"].id]] is None  # not computed by backward
    fetched = g.forward(feeds, fetch=[loss, n["x"], scaled]).backward(loss)
    np.testing.assert_allclose(recorded.grad(n["x"]), fetched.grad(n["x"]), rtol=1e-12)
    np.testing.assert_allclose(recorded.grad(scaled), fetched.grad(scaled), rtol=1e-12)
    np.testing.assert_allclose(recorded.edge_grad(scaled, 0), recorded.grad(n["x"]), rtol=1e-12)
    assert "x" in recorded.grads()
    # an input the target does not depend on: zeros
    np.testing.assert_array_equal(recorded.grad(n["y"]), np.zeros(6))


def test_input_gradient_on_request_uses_the_seed_given_to_backward(rng):
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.normal(size=(3, 2)))
    y = ge.ops.tanh(x * 3.0) @ W  # x * 3 and tanh depend on the input only
    feeds = {"x": rng.normal(size=(4, 3))}
    seed = rng.normal(size=(4, 2))
    recorded = g.forward(feeds).backward(y, grad=seed)
    fetched = g.forward(feeds, fetch=[y, x]).backward(y, grad=seed)
    np.testing.assert_allclose(recorded.grad(x), fetched.grad(x), rtol=1e-12)
    np.testing.assert_allclose(recorded.grad(W), fetched.grad(W), rtol=1e-12)
    recorded.backward(y, grad=2 * seed)  # a new backward: gradients on request follow its seed
    np.testing.assert_allclose(recorded.grad(x), 2 * fetched.grad(x), rtol=1e-12)


def test_input_gradient_on_request_through_a_deep_input_only_chain():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    h = x
    for _ in range(5000):  # no recursion: deep chains work
        h = h * 1.0
    loss = ge.ops.sum(h)
    run = g.forward({"x": np.ones(3)}).backward(loss)
    np.testing.assert_array_equal(run.grad(x), np.ones(3))


def test_a_run_refuses_to_show_a_param_an_optimizer_changed_after_it(rng):
    g, n = mlp(rng)
    feeds = {"x": rng.normal(size=(6, 4)), "y": rng.integers(0, 3, 6)}
    run = g.forward(feeds).backward(n["loss"])
    before = run.value(n["W1"]).copy()
    opt = ge.optimizers.create("sgd", g.params(), lr=0.1)
    opt.step(run)  # in place: the run's array of W1 changes
    assert not np.array_equal(n["W1"].value, before)
    run.value(n["h"])  # values of op nodes stay what they were
    with pytest.raises(ge.ValueNotAvailableError, match="'W1' was updated in place .* after this run"):
        run.value(n["W1"])
    with pytest.raises(ge.ValueNotAvailableError, match="updated in place"):
        run.backward(n["loss"])
    for _ in range(2):  # the input gradient computed on request would read the new W1: refused, every time
        with pytest.raises(ge.ValueNotAvailableError, match="updated in place"):
            run.grad(n["x"])
    run.grad(n["W1"])  # gradients the run computed before the step stay readable
    run2 = g.forward(feeds)  # a new run holds the new value
    np.testing.assert_array_equal(run2.value(n["W1"]), n["W1"].value)
    n["W1"].value = before  # replacing the array (not in place) leaves older runs alone
    np.testing.assert_array_equal(run2.value(n["W1"]), run2.value(n["W1"]))


def test_recording_runs_replay_generated_code_with_the_same_results(rng):
    g, n = mlp(rng, dtype=np.float32)
    feeds = {"x": rng.normal(size=(6, 4)).astype(np.float32), "y": rng.integers(0, 3, 6)}
    first = g.forward(feeds).backward(n["loss"])  # interpreted
    for _ in range(3):  # generated, keep-everything liveness
        run = g.forward(feeds).backward(n["loss"])
        for node in ("W1", "b1", "W2", "h", "logits", "x"):
            np.testing.assert_allclose(run.grad(n[node]), first.grad(n[node]), rtol=1e-6)
            assert run.grad(n[node]).dtype == first.grad(n[node]).dtype
        assert set(run.values()) == set(first.values())
    program = run._program
    assert program.forward_code is not None and program.backward(program.slot[n["loss"].id]).code is not None


def test_inline_display_of_a_big_run_folds_its_scopes(monkeypatch):
    import graphengine.run as run_module
    import graphengine.visualize as visualize

    calls = []

    class FakeDiagram:
        def _repr_mimebundle_(self, include=None, exclude=None):
            return {"text/plain": "diagram"}

    def fake_draw(graph, run=None, mode=None, **options):
        calls.append(options.get("collapse"))
        return FakeDiagram()

    monkeypatch.setattr(visualize, "draw", fake_draw)
    monkeypatch.setattr(run_module, "JUPYTER_COLLAPSE_ABOVE", 4)
    g = ge.Graph("display")
    h = g.input("x", shape=(1,))
    for k in range(2):
        with g.scope(f"block{k}"):
            h = ge.ops.tanh(ge.ops.tanh(h))
    run = g.forward({"x": np.ones(1)})
    assert run._repr_mimebundle_() == {"text/plain": "diagram"}
    monkeypatch.setattr(run_module, "JUPYTER_COLLAPSE_ABOVE", 500)
    run._repr_mimebundle_()
    assert calls == [1, None]  # 5 nodes: over a limit of 4 the scopes fold, under 500 they do not


def test_a_param_left_alone_by_the_step_stays_readable(rng):
    g, n = mlp(rng)
    feeds = {"x": rng.normal(size=(6, 4)), "y": rng.integers(0, 3, 6)}
    run = g.forward(feeds).backward(n["loss"])
    W2 = run.value(n["W2"]).copy()
    ge.optimizers.create("sgd", [n["W1"]], lr=0.1).step(run)  # only W1 changes in place
    np.testing.assert_array_equal(run.value(n["W2"]), W2)
    with pytest.raises(ge.ValueNotAvailableError, match="'W1' was updated in place"):
        run.value(n["W1"])
