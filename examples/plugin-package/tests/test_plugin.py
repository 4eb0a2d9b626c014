"""The plugin's own behaviour, with graphengine's pytest fixtures (ge_plugin_manager,
ge_installed_plugin_manager, ge_backend): registration, the op in a trained graph, the
initializer, the node style, and discovery through the installed entry point."""

import numpy as np
import pytest

import graphengine as ge
import graphengine_example_plugin
from graphengine_example_plugin import LearnableActivations, Lion, Orthogonal
from graphengine_example_plugin.optimizers import LionConfigError

REGISTERED = {
    "ops": ["prelu"],
    "optimizers": ["lion"],
    "regularizers": ["elastic_net"],
    "initializers": ["orthogonal"],
    "node_styles": ["learnable_activations"],
}


@pytest.fixture
def manager(ge_plugin_manager):
    """graphengine's built-ins plus this plugin, added by hand (no installation needed)."""
    info = ge_plugin_manager.add_plugin(graphengine_example_plugin, name="example")
    assert info.status == "ok", info.errors
    return ge_plugin_manager


def test_registers_one_of_each(manager):
    info = manager.plugins["example"]
    assert info.registered == REGISTERED
    assert info.version == "0.1.0"
    assert manager.owner_of("ops", "prelu") == "example"


def test_installed_entry_point_is_discovered(ge_installed_plugin_manager):
    """Installed (pip install .), graphengine finds the plugin on its own."""
    info = ge_installed_plugin_manager.plugins.get("example")
    assert info is not None, "entry point 'example' not found: install the package first (pip install .)"
    assert info.status == "ok", info.errors
    assert info.registered == REGISTERED


def test_prelu_learns_its_slope_with_lion(manager, ge_backend):
    """A PReLU unit fitted to data made with slope 0.3: Lion brings alpha near 0.3."""
    g = ge.Graph("prelu_fit", backend=ge_backend, plugins=manager)
    x = g.input("x", shape=(None, 2))
    y = g.input("y", shape=(None, 2))
    alpha = g.param("alpha", np.array([0.9, -0.5], dtype=np.float32))
    error = g.apply("prelu", x, alpha) - y
    loss = g.apply("mean", error * error)
    data = np.random.default_rng(1).standard_normal((64, 2)).astype(np.float32)
    feeds = {"x": data, "y": np.where(data > 0, data, 0.3 * data)}
    opt = manager.optimizers["lion"](g.params(), lr=0.01)
    for step in range(300):
        if step == 200:
            opt.hyper["lr"] = 0.001  # Lion moves every coordinate by lr: smaller steps to settle
        opt.step(g.forward(feeds).backward(loss))
    fitted = alpha.value.get() if ge_backend == "cupy" else alpha.value  # cupy: copy to the host
    assert fitted.dtype == np.float32
    np.testing.assert_allclose(fitted, [0.3, 0.3], atol=0.005)


def test_lion_refuses_out_of_range_hyper_parameters():
    g = ge.Graph("h")
    w = g.param("w", np.zeros(3))
    with pytest.raises(LionConfigError, match=r"beta1=1\.5 is out of range"):
        Lion([w], beta1=1.5)
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        Lion([w], learning_rate=0.1)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 3, 2, 5)])
def test_orthogonal_is_orthogonal(shape):
    W = Orthogonal()(shape, seed=0, dtype="float64")
    assert W.shape == shape
    flat = W.reshape(-1, shape[-1])
    small = min(flat.shape)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_orthogonal_follows_the_initializer_contract():
    init = Orthogonal()
    assert init((4, 3)).dtype == np.float32  # float32 by default
    np.testing.assert_array_equal(init((4, 3), seed=7), init((4, 3), seed=7))
    rng = np.random.default_rng(7)
    assert not np.array_equal(init((4, 3), rng=rng), init((4, 3), rng=rng))  # draws on from the generator
    np.testing.assert_allclose(init((4, 3), seed=1, gain=2.0), 2 * init((4, 3), seed=1), rtol=1e-6)
    with pytest.raises(ge.GraphEngineError, match="both seed= and rng="):
        init((4, 3), seed=1, rng=np.random.default_rng(1))
    with pytest.raises(ge.DtypeError, match="floating dtype"):
        init((4, 3), dtype="int32")
    with pytest.raises(ge.GraphEngineError, match="at least two positive dimensions"):
        init((5,))


def test_style_marks_prelu_nodes_and_their_slopes(manager):
    g = ge.Graph("styled", plugins=manager)
    x = g.input("x", shape=(None, 2))
    alpha = g.param("alpha", np.full(2, 0.25))
    h = g.apply("prelu", x, alpha)
    out = g.apply("tanh", h)
    style = LearnableActivations()
    assert style.style(h)["fillcolor"] == "#ffedd5"
    assert style.style(alpha) == {"color": "#c2410c", "penwidth": "2"}
    assert style.style(x) is None and style.style(out) is None


def test_diagram_uses_the_registered_style(manager):
    from graphengine.visualize import draw

    g = ge.Graph("styled", plugins=manager)
    x = g.input("x", shape=(None, 2))
    g.apply("prelu", x, g.param("alpha", np.full(2, 0.25)))
    source = draw(g).source
    assert "#ffedd5" in source  # the prelu node is filled orange
    plain = ge.Graph("plain", plugins=manager)
    plain.apply("tanh", plain.input("x", shape=(2,)))
    assert "#ffedd5" not in draw(plain).source
