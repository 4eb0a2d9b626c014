"""Layers: shapes, parameter counts, names and scopes, numerics, errors."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.nn import ModuleError


def _graph(features=784, name="g"):
    g = ge.Graph(name)
    return g, g.input("x", shape=(None, features))


def test_dense_shapes_counts_and_formula(rng):
    g, x = _graph(5)
    layer = ge.nn.Dense(5, 3, seed=0)
    assert layer.parameter_count() == 5 * 3 + 3  # known before it is built
    y = layer(x)
    assert y.shape == (None, 3)
    assert layer.W.shape == (5, 3) and layer.b.shape == (3,)
    assert [p.name for p in layer.params()] == ["dense/W", "dense/b"]
    X = rng.standard_normal((4, 5)).astype(np.float32)
    out = g.forward({"x": X}, fetch=[y]).value(y)
    np.testing.assert_allclose(out, X @ layer.W.value + layer.b.value, rtol=1e-6)
    assert layer.parameter_count() == 18
    assert ge.nn.Linear is ge.nn.Dense


def test_dense_infers_its_input_size_and_checks_it():
    g, x = _graph(7)
    layer = ge.nn.Dense(None, 4)
    with pytest.raises(ModuleError, match="does not know its parameter shapes"):
        layer.parameter_count()
    layer(x)
    assert layer.in_features == 7 and layer.parameter_count() == 32
    g2, x2 = _graph(7, "other")
    with pytest.raises(ModuleError, match="expects inputs with 3 features"):
        ge.nn.Dense(3, 4)(x2)


def test_dense_without_bias_and_with_activation():
    g, x = _graph(4)
    layer = ge.nn.Dense(4, 2, bias=False, activation="relu", init=np.ones((4, 2)))
    y = layer(x)
    assert y.op == "relu" and layer.parameter_count() == 8
    out = g.forward({"x": np.array([[1, -2, 0, 0]], np.float32)}, fetch=[y]).value(y)
    assert out.tolist() == [[0.0, 0.0]]


def test_sequential_names_scopes_and_summary():
    g, x = _graph()
    model = ge.nn.Sequential(ge.nn.Dense(784, 30), "sigmoid", ge.nn.Dense(30, 10), seed=0)
    assert model.parameter_count() == 784 * 30 + 30 + 30 * 10 + 10 == 23860
    out = model(x)
    assert out.shape == (None, 10)
    assert [p.name for p in model.params()] == [
        "sequential/dense_1/W", "sequential/dense_1/b", "sequential/dense_2/W", "sequential/dense_2/b"]
    assert model[0].W.scope == "sequential/dense_1"
    assert g.node("sequential/sigmoid_1/sigmoid").scope == "sequential/sigmoid_1"
    assert g.parameter_count("sequential/dense_1") == 23550
    assert [m.own_parameter_count() for m in model] == [23550, 0, 310]
    text = model.summary()
    assert "dense_1" in text and "23550" in text and "(?, 10)" in text and "total parameters: 23860" in text


def test_same_construction_gives_the_same_graph():
    def build():
        g, x = _graph(3)
        ge.nn.Sequential(ge.nn.Dense(3, 4), "tanh", ge.nn.Dense(4, 1), seed=5)(x)
        return g

    a, b = build(), build()
    assert [n.name for n in a.nodes()] == [n.name for n in b.nodes()]
    for pa, pb in zip(a.params(), b.params()):
        np.testing.assert_array_equal(pa.value, pb.value)


def test_seeds_decide_initial_values():
    g, x = _graph(3)
    m1 = ge.nn.Sequential(ge.nn.Dense(3, 4), ge.nn.Dense(4, 4), seed=1)
    m2 = ge.nn.Sequential(ge.nn.Dense(3, 4), ge.nn.Dense(4, 4), seed=2)
    m1(x)
    m2(x)
    assert not np.array_equal(m1[0].W.value, m2[0].W.value)
    assert not np.array_equal(m1[1].W.value, m1[1].W.value[::-1])  # layers draw different values
    assert m2.path == "sequential_2"  # second top-level Sequential in the graph


def test_two_top_level_modules_get_distinct_scopes_and_explicit_names_must_be_free():
    g, x = _graph(2)
    ge.nn.Dense(2, 2, name="layer")(x)
    with pytest.raises(ModuleError, match="already has a scope 'layer'"):
        ge.nn.Dense(2, 2, name="layer")(x)


def test_activation_layers_by_name_and_typo():
    g, x = _graph(3)
    for cls, op in [(ge.nn.Sigmoid, "sigmoid"), (ge.nn.Tanh, "tanh"), (ge.nn.ReLU, "relu"), (ge.nn.Step, "step"),
                    (ge.nn.Softmax, "softmax"), (ge.nn.Identity, "identity")]:
        assert cls()(x).op == op
    assert ge.nn.Activation("leaky_relu", alpha=0.2)(x).attrs["alpha"] == 0.2
    with pytest.raises(ge.UnknownOpError, match="sigmoid"):
        ge.nn.Activation("sigmoidd")
    with pytest.raises(ge.UnknownOpError):
        ge.nn.Sequential(ge.nn.Dense(3, 3), "rleu")


class LogisticRegression(ge.nn.Module):
    """Deck 001's module, written the same way."""

    def __init__(self, D_in):
        super().__init__()
        self.lin = ge.nn.Linear(D_in, 1)
        self.out = ge.nn.Sigmoid()

    def forward(self, x):
        a = self.lin(x)
        return self.out(a)


def test_composed_module_like_deck_001(rng):
    g, x = _graph(2)
    mod = LogisticRegression(D_in=2)
    y = mod(x)
    assert [n.name for n in g.nodes()] == [
        "x", "logisticregression/lin/W", "logisticregression/lin/matmul", "logisticregression/lin/b",
        "logisticregression/lin/add", "logisticregression/out/sigmoid"]
    assert mod.parameter_count() == 3 and [m for m in mod.children()] == [mod.lin, mod.out]
    X = rng.standard_normal((5, 2)).astype(np.float32)
    expected = 1 / (1 + np.exp(-(X @ mod.lin.W.value + mod.lin.b.value)))
    np.testing.assert_allclose(g.forward({x: X}, fetch=[y]).value(y), expected, rtol=1e-5)
    assert "logisticregression" in mod.summary() and "lin" in repr(mod)


def test_module_must_call_super_init():
    class Broken(ge.nn.Module):
        def __init__(self):
            self.lin = ge.nn.Dense(2, 2)

    with pytest.raises(ModuleError, match=r"must call super\(\).__init__\(\)"):
        Broken()


def test_module_params_live_in_one_graph():
    g1, x1 = _graph(2, "one")
    g2, x2 = _graph(2, "two")
    layer = ge.nn.Dense(2, 2)
    layer(x1)
    with pytest.raises(ModuleError, match="parameters in graph 'one'.*graph 'two'"):
        layer(x2)
    with pytest.raises(ModuleError, match="called on graph nodes"):
        layer(np.zeros((1, 2)))


def test_calling_twice_shares_params():
    g, x = _graph(3)
    layer = ge.nn.Dense(3, 3)
    a = layer(x)
    b = layer(a)
    assert len(g.params()) == 2 and a is not b
    assert layer.calls == 2


def test_flatten():
    g = ge.Graph("img")
    x = g.input("x", shape=(None, 28, 28))
    y = ge.nn.Flatten()(x)
    assert y.shape == (None, 784)
    out = g.forward({x: np.arange(2 * 784, dtype=np.float32).reshape(2, 28, 28)}, fetch=[y]).value(y)
    assert out.shape == (2, 784) and out[1, 0] == 784


def test_residual_identity_shortcut_and_its_gradient(rng):
    g, x = _graph(4)
    block = ge.nn.Residual(ge.nn.Dense(4, 4, init="zeros"), "tanh")
    y = block(x)
    assert block.projection is None and block.parameter_count() == 20
    X = rng.standard_normal((3, 4)).astype(np.float32)
    loss = ge.ops.sum(y)
    run = g.forward({x: X}).backward(loss)
    np.testing.assert_allclose(run.value(y), X)  # R(x) = tanh(0) = 0, so y = x
    np.testing.assert_allclose(run.grad(x), np.ones_like(X))  # and the identity path passes dl/dy = 1 through
    # with R(x) = tanh(x W + b) not zero: dl/dx = dl/dy (1 + dR/dx) (deck 001's residual backward)
    dense = block.inner[0]
    dense.W.value = rng.standard_normal((4, 4)).astype(np.float32)
    dense.b.value = rng.standard_normal(4).astype(np.float32)
    run = g.forward({x: X}).backward(loss)
    t = np.tanh(X @ dense.W.value + dense.b.value)
    np.testing.assert_allclose(run.grad(x), 1 + (1 - t * t) @ dense.W.value.T, rtol=1e-5)


def test_residual_projection_when_sizes_differ(rng):
    g, x = _graph(6)
    block = ge.nn.Residual(ge.nn.Dense(6, 3), "relu", seed=0)
    assert block.parameter_count() == 6 * 3 + 3 + 6 * 3  # R plus the bias-free projection W_s
    y = block(x)
    assert y.shape == (None, 3) and block.projection is not None
    assert [p.name for p in block.params()][-1] == "residual/projection/W"
    X = rng.standard_normal((2, 6)).astype(np.float32)
    inner = block.inner
    r = np.maximum(X @ inner[0].W.value + inner[0].b.value, 0)
    np.testing.assert_allclose(g.forward({x: X}, fetch=[y]).value(y), X @ block.projection.W.value + r, rtol=1e-5)
    with pytest.raises(ModuleError, match="projection=False"):
        ge.nn.Residual(ge.nn.Dense(6, 3), projection=False)(x)


def test_dropout_paths():
    g, x = _graph(10)
    layer = ge.nn.Dropout(0.5)
    assert layer.is_mode_dependent and layer.parameter_count() == 0
    train = layer(x)
    assert train.op == "dropout" and train.attrs["training"] is True
    assert layer(x, training=False) is x
    X = np.ones((200, 10), np.float32)
    out = g.forward({x: X}, fetch=[train]).value(train)
    assert set(np.unique(out).tolist()) <= {0.0, 2.0} and 0.35 < (out == 0).mean() < 0.65
    out2 = g.forward({x: X}, fetch=[train]).value(train)
    assert not np.array_equal(out, out2)  # a fresh mask at every run
    with pytest.raises(ModuleError, match=r"in \[0, 1\)"):
        ge.nn.Dropout(1.0)


def test_gaussian_noise_paths():
    g, x = _graph(3)
    layer = ge.nn.GaussianNoise(0.1)
    assert layer(x).op == "gaussian_noise"
    assert layer(x, training=False) is x


def test_training_flag_is_inherited_by_sub_modules():
    g, x = _graph(4)
    model = ge.nn.Sequential(ge.nn.Dense(4, 4), ge.nn.Dropout(0.3), ge.nn.Dense(4, 2))
    train = model(x)
    with g.scope("eval"):
        evaluation = model(x, training=False)
    ops = lambda node: {n.op for n in g.nodes() if n.name.startswith(node)}  # noqa: E731
    assert "dropout" in ops("sequential/") and "dropout" not in ops("eval/")
    assert train is not evaluation and len(g.params()) == 4
    assert model.is_mode_dependent


def test_batchnorm_training_and_eval_paths(rng):
    g, x = _graph(3)
    bn = ge.nn.BatchNorm()
    assert bn.is_mode_dependent
    y = bn(x)
    with g.scope("eval"):
        y_eval = bn(x, training=False)
    assert bn.parameter_count() == 6 and [p.name for p in bn.params()] == ["batchnorm/gamma", "batchnorm/beta"]
    X = (rng.standard_normal((64, 3)) * [1.0, 5.0, 0.1] + [3.0, -2.0, 10.0]).astype(np.float32)
    (update,) = bn.state_updates()
    run = g.forward({x: X}, fetch=[y, y_eval, *update.nodes])
    out = run.value(y)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-2)
    np.testing.assert_allclose(run.value(y_eval), X / np.sqrt(1 + 1e-5), rtol=1e-5)  # running stats 0 and 1
    update.apply(*(run.value(n) for n in update.nodes))
    np.testing.assert_allclose(bn.running_mean, 0.1 * X.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * X.var(axis=0, ddof=1), rtol=1e-4)


def test_batchnorm_gradient_matches_finite_differences(rng):
    g = ge.Graph("bn64")
    x = g.input("x", shape=(None, 2), dtype="float64")
    bn = ge.nn.BatchNorm(2, dtype="float64")
    y = bn(x)
    weights = g.const(rng.standard_normal((5, 2)))
    loss = ge.ops.sum(y * y * weights)
    X = rng.standard_normal((5, 2))
    grad = g.forward({x: X}, fetch=[loss]).backward(loss).grad(bn.params()[0])
    eps = 1e-6
    gamma = bn.params()[0]
    numeric = np.zeros(2)
    for i in range(2):
        for sign in (1, -1):
            value = gamma.value.copy()
            value[i] += sign * eps
            gamma.value = value
            numeric[i] += sign * float(g.forward({x: X}, fetch=[loss]).value(loss)) / (2 * eps)
            value[i] -= sign * eps
            gamma.value = value
    np.testing.assert_allclose(grad, numeric, rtol=1e-5)


def test_batchnorm_wrong_feature_count():
    g, x = _graph(3)
    with pytest.raises(ModuleError, match="normalizes 4 features"):
        ge.nn.BatchNorm(4)(x)


def test_sequential_rejects_repeated_layer_and_bad_items():
    d = ge.nn.Dense(2, 2)
    with pytest.raises(ModuleError, match="appears twice"):
        ge.nn.Sequential(d, d)
    with pytest.raises(ModuleError, match="expected a ge.nn.Module or an activation name"):
        ge.nn.Sequential(3)


def test_an_array_init_stays_on_its_device_with_the_param_dtype(ge_device_xp):
    """make_initial_value never calls np.asarray on an array init (a CuPy array would refuse)."""
    from graphengine.nn import make_initial_value
    from graphengine.testing.pytest_plugin import DeviceArray

    init = ge_device_xp.asarray(np.ones((2, 3)))
    value = make_initial_value(init, (2, 3), "float32", rng=None, where="dense/W")
    assert isinstance(value, DeviceArray) and value.dtype == np.float32
    with pytest.raises(ge.ShapeError, match=r"initial value for dense/W has shape \(2, 3\), expected \(3, 2\)"):
        make_initial_value(init, (3, 2), "float32", rng=None, where="dense/W")


def test_dense_with_a_cupy_array_init_on_a_cupy_graph():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    if not ge.cupy_available():
        pytest.skip("CuPy is installed but no usable GPU was found")
    g = ge.Graph("dense_cupy")
    g.to("cupy")
    x = g.input("x", shape=(None, 3))
    layer = ge.nn.Dense(3, 2, init=cupy.full((3, 2), 0.5), bias_init=cupy.zeros(2))
    y = layer(x)
    out = g.forward({"x": np.ones((4, 3), dtype=np.float32)}).value(y)
    assert isinstance(out, cupy.ndarray) and out.dtype == cupy.float32
    assert cupy.asnumpy(out).tolist() == [[1.5, 1.5]] * 4


# -- a failed build is undone -------------------------------------------------------------------

def _graph_state(g):
    return ([(n.id, n.name, n.kind, n.op, n.shape) for n in g.nodes()], dict(g._name_counters), g.version,
            {k: (sorted(v["roots"]), list(v["updates"])) for k, v in g.extensions.items()})


def test_a_failed_layer_build_removes_what_it_added_and_the_fixed_model_builds_as_in_a_fresh_graph():
    g, x = _graph(3)
    before = _graph_state(g)
    broken = ge.nn.Sequential(ge.nn.Dense(3, 4), ge.nn.BatchNorm(), "relu", ge.nn.Dense(5, 2), seed=0)
    with pytest.raises(ModuleError, match="expects inputs with 5 features"):
        broken(x)   # dense_1, batchnorm_1 (params, state, an update) and relu_1 were built first
    assert _graph_state(g) == before and ge.nn.graph_state_updates(g) == []
    assert not broken.built and broken[0].params() == [] and broken.path == ""
    assert broken[1].state() == [] and broken.state_updates() == []

    def fixed():
        return ge.nn.Sequential(ge.nn.Dense(3, 4), ge.nn.BatchNorm(), "relu", ge.nn.Dense(4, 2), seed=0)

    out = fixed()(x)
    fresh, fresh_x = _graph(3)
    fixed()(fresh_x)
    assert _graph_state(g)[:3] == _graph_state(fresh)[:3]   # 'sequential', not 'sequential_2'
    assert out.name == "sequential/dense_2/add"
    for mine, theirs in zip(g.params(), fresh.params()):
        np.testing.assert_array_equal(mine.value, theirs.value)


def test_a_layer_whose_build_failed_builds_once_its_input_fits():
    g, x = _graph(3)
    layer = ge.nn.Dense(None, 2, seed=1)
    bad = g.input("bad", shape=(None, 3, None))
    with pytest.raises(ModuleError):
        ge.nn.Sequential(layer, ge.nn.Dense(7, 1))(x)   # Dense(None, 2) read in_features=3, then failed
    assert layer.in_features is None and not layer.built
    with pytest.raises(ModuleError, match="last axis"):
        layer(bad)
    y = layer(g.input("x5", shape=(None, 5)))
    assert y.shape == (None, 2) and layer.W.shape == (5, 2) and layer.path == "dense"


def test_a_failed_second_call_keeps_the_params_of_the_first():
    class Net(ge.nn.Module):
        def __init__(self):
            super().__init__(seed=0)
            self.dense = ge.nn.Dense(3, 4)

        def forward(self, x):
            h = self.dense(x)
            return h if self.training else ge.ops.sum(h, axis=5)  # the evaluation path is wrong

    g, x = _graph(3)
    model = Net()
    out = model(x)
    params, weights = model.params(), model.dense.W.value.copy()
    before = _graph_state(g)
    with g.scope("eval"), pytest.raises(ge.ShapeError, match="axis 5"):
        model(x, training=False)   # x @ W and + b were built again before sum refused
    assert _graph_state(g) == before
    assert model.params() == params and model.calls == 1 and model.last_output_shape == out.shape
    np.testing.assert_array_equal(model.dense.W.value, weights)


def test_a_sub_module_failure_caught_inside_forward_undoes_only_that_sub_module():
    class Fallback(ge.nn.Module):
        def __init__(self):
            super().__init__()
            self.first = ge.nn.Dense(3, 4)
            self.wrong = ge.nn.Sequential(ge.nn.Dense(4, 4), ge.nn.Dense(5, 1))  # builds, then fails
            self.right = ge.nn.Dense(4, 1)

        def forward(self, x):
            h = self.first(x)
            try:
                return self.wrong(h)
            except ModuleError:
                return self.right(h)

    g, x = _graph(3)
    model = Fallback()
    out = model(x)
    assert [n.name for n in g.nodes() if n.kind != "input"] == [
        "fallback/first/W", "fallback/first/matmul", "fallback/first/b", "fallback/first/add",
        "fallback/right/W", "fallback/right/matmul", "fallback/right/b", "fallback/right/add"]
    assert not model.wrong.built and out.shape == (None, 1)


def test_dropout_and_noise_nodes_take_their_seed_from_the_layer_or_the_model():
    def seeds(model):
        g = ge.Graph()
        model(g.input("x", shape=(None, 4)))
        return [n.attrs["seed"] for n in g.nodes() if n.op in ("dropout", "gaussian_noise")]

    def noisy(seed=None, layer_seed=None):
        return ge.nn.Sequential(ge.nn.Dropout(0.5, seed=layer_seed), ge.nn.GaussianNoise(0.1), seed=seed)

    assert seeds(noisy()) == [None, None]  # no seed anywhere: fresh draws at every run
    a, b = seeds(noisy(seed=1)), seeds(noisy(seed=1))
    assert a == b and len(set(a)) == 2 and all(isinstance(s, int) and 0 <= s < 2**32 for s in a)
    assert seeds(noisy(seed=2)) != a
    own = seeds(noisy(layer_seed=5))
    assert own[0] is not None and own[1] is None  # the layer's own seed; the noise layer has none
    layer = ge.nn.GaussianNoise(0.2, seed=9)
    assert layer.get_config() == {"std": 0.2, "name": None, "seed": 9}
    assert ge.nn.GaussianNoise.from_config(layer.get_config()).seed == 9
    with pytest.raises(ModuleError, match="Dropout seed must be None .* got True"):
        ge.nn.Dropout(0.5, seed=True)
