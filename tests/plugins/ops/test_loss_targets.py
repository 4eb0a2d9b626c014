"""Label mistakes that used to train silently on garbage are refused with errors that name
the loss node, both shapes and dtypes, and the fix: class-loss targets that are neither
integer class indices nor one-hot rows, binary cross-entropy targets outside [0, 1], and
element-loss targets that only broadcast by accident."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.plugin_manager import default_manager

ELEMENT_LOSSES = ["mse", "mae", "huber", "smooth_l1", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                  "kl_div"]
CLASS_LOSSES = ["cross_entropy", "nll", "hinge"]


def _graph(p_shape, t_shape, t_dtype="float32"):
    g = ge.Graph()
    return g, g.input("p", shape=p_shape, dtype="float32"), g.input("t", shape=t_shape, dtype=t_dtype)


# -- element losses: a target of another rank ---------------------------------------------

@pytest.mark.parametrize("name", ELEMENT_LOSSES)
def test_a_target_without_the_class_axis_is_refused_at_build_even_when_n_equals_the_width(name):
    g, p, t = _graph((10, 10), (10,))  # NumPy would broadcast (10, 10) against (10,) without a word
    with pytest.raises(ge.ShapeError) as info:
        g.apply(name, p, t, name="loss")
    message = str(info.value)
    assert "cannot add node 'loss'" in message and f"op {name}" in message
    assert "target of shape (10,) does not match the prediction's shape (10, 10)" in message
    assert "'p' (10, 10) float32, 't' (10,) float32" in message
    assert len(g) == 2


def test_the_fix_is_named_for_each_common_mistake():
    g, p, t = _graph((None, 1), (None,))
    with pytest.raises(ge.ShapeError, match=r"y.reshape\(-1, 1\) on the data, or ge.ops.unsqueeze\(y, dim=-1\)"):
        ge.ops.mse(p, t)
    g, p, t = _graph((None,), (None, 1))
    with pytest.raises(ge.ShapeError, match=r"y.reshape\(-1\) on the data, or ge.ops.squeeze\(y, dim=-1\)"):
        ge.ops.binary_cross_entropy(p, t)
    g, p, t = _graph((None, 10), (None,))
    with pytest.raises(ge.ShapeError, match="if the targets are class labels, use cross_entropy"):
        ge.ops.mse(p, t)
    g, p, t = _graph((None, 1), (None, 5))
    with pytest.raises(ge.ShapeError, match=r"axis 1: 5 against 1\); the target would make the loss bigger"):
        ge.ops.mse(p, t)


@pytest.mark.parametrize("t_shape", [(None, 10), (None, 1), (1, 10), (1, 1), (), (1,)])
def test_an_explicit_broadcast_builds(t_shape):
    g, p, t = _graph((None, 10), t_shape)
    assert ge.ops.mse(p, t).shape == (None, 10)
    assert ge.ops.mse(p, 0.5).shape == (None, 10)  # a single value


@pytest.mark.parametrize("name", ELEMENT_LOSSES)
def test_without_static_shapes_the_run_refuses_it(name):
    g = ge.Graph()
    p, t = g.input("p"), g.input("t")
    loss = g.apply(name, p, t, name="loss")
    feeds = {"p": np.full((4, 4), 0.5), "t": np.full(4, 0.5)}
    expected = (r"node 'loss' .*target of shape \(4,\) does not match the prediction's shape \(4, 4\)"
                r".*'p' float64\[4, 4\], 't' float64\[4\]")
    with pytest.raises(ge.OpExecutionError, match=expected):
        g.forward(feeds)
    good = g.forward({"p": np.full((4, 4), 0.5), "t": np.full((4, 1), 0.5)})
    assert good.value(loss).shape == (4, 4)


# -- binary cross-entropy: targets in [0, 1] ------------------------------------------------

@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("labels", [np.arange(10.0)[:, None], np.array([[-1.0], [1.0]]), np.array([[0], [7]])])
def test_bce_targets_outside_0_1_are_refused_naming_the_range(name, labels):
    g = ge.Graph()
    z = g.input("z", shape=(None, 1))
    y = g.input("y", shape=(None, 1), dtype=labels.dtype)
    loss = g.apply(name, ge.ops.sigmoid(z) if name == "binary_cross_entropy" else z, y, reduction="mean",
                   name="loss")
    low, high = labels.min(), labels.max()
    with pytest.raises(ge.OpExecutionError, match=rf"node 'loss' .*targets must lie in \[0, 1\] .*got values from "
                                                  rf"{low:g} to {high:g}.*use cross_entropy"):
        g.forward({"z": np.zeros((len(labels), 1)), "y": labels}, fetch=[loss])


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_bce_targets_inside_0_1_pass_soft_bool_and_integer(name):
    g = ge.Graph()
    z = g.input("z", shape=(None, 1))
    y = g.input("y", shape=(None, 1))
    loss = g.apply(name, ge.ops.sigmoid(z) if name == "binary_cross_entropy" else z, y, reduction="mean")
    for labels in (np.array([[0.0], [1.0]]), np.array([[0.25], [0.75]]), np.array([[True], [False]]),
                   np.array([[0], [1]])):
        assert float(g.forward({"z": np.zeros((2, 1)), "y": labels}).value(loss)) == pytest.approx(np.log(2))


def test_bce_checks_a_number_target_too():
    g = ge.Graph()
    p = g.input("p", shape=(2,))
    loss = ge.ops.binary_cross_entropy(p, 2.0)
    with pytest.raises(ge.OpExecutionError, match="got values from 2 to 2"):
        g.forward({"p": np.array([0.5, 0.5])})


class _FakeDevice:
    """numpy under another name: the code takes the device path (no host reads)."""
    def __getattr__(self, name):
        return getattr(np, name)


def test_off_numpy_bad_bce_targets_give_nan_losses_and_gradients_without_reading_the_device():
    xp = _FakeDevice()
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        op = default_manager().get_op(name)
        p, y = np.array([0.5, 0.5, 0.5]), np.array([0.0, 7.0, 1.0])
        loss = op.forward(xp, p, y)
        assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all()
        grad, _ = op.backward(xp, np.ones(3), (p, y), loss, needs_grad=(True, False))
        assert np.isnan(grad[1]) and np.isfinite(grad[[0, 2]]).all()


# -- class losses: integer indices or one-hot of the logits' shape ------------------------

@pytest.mark.parametrize("name", CLASS_LOSSES)
def test_float_class_indices_are_refused_at_build(name):
    g, z, y = _graph((None, 10), (None,), "float32")
    with pytest.raises(ge.DtypeError, match="cannot add node"):
        g.apply(name, z, y)


@pytest.mark.parametrize("name", CLASS_LOSSES)
def test_check_inputs_refuses_float_class_indices_naming_both_shapes_and_dtypes(name):
    impl = default_manager().get_op(name)
    with pytest.raises(ge.DtypeError) as info:
        impl.check_inputs([(None, 10), (None,)], [np.dtype("float32"), np.dtype("float64")])
    assert str(info.value) == (
        f"{name}: targets of shape (None,) float64 for logits of shape (None, 10) float32: targets of the logits' "
        "shape without the class axis are class indices and must be integers. Cast them (y.astype('int64') on the "
        "data, or ge.ops.cast(y, dtype='int64')), or pass one-hot / soft targets of the logits' shape (None, 10)")
    impl.check_inputs([(None, 10), (None,)], [np.dtype("float32"), np.dtype("int32")])
    impl.check_inputs([(None, 10), (None, 10)], [np.dtype("float32"), np.dtype("float32")])  # one-hot / soft
    impl.check_inputs([(None, 10), (None,)], [np.dtype("float32"), None])                    # dtype unknown


@pytest.mark.parametrize("name", CLASS_LOSSES)
@pytest.mark.parametrize("t_dtype", ["float32", "int64"])
def test_a_column_of_labels_is_refused_at_build_naming_both_shapes(name, t_dtype):
    g, z, y = _graph((None, 10), (None, 1), t_dtype)
    with pytest.raises(ge.ShapeError) as info:
        g.apply(name, z, y, name="loss")
    message = str(info.value)
    assert "cannot add node 'loss'" in message and "y.reshape(-1)" in message
    assert f"'p' (None, 10) float32, 't' (None, 1) {t_dtype}" in message


@pytest.mark.parametrize("name", CLASS_LOSSES)
@pytest.mark.parametrize("target", [np.zeros((4, 1)), np.zeros(4), np.zeros(4, dtype=bool), np.zeros((4, 3))])
def test_without_static_shapes_the_run_refuses_bad_class_targets(name, target):
    g = ge.Graph()
    z, y = g.input("z"), g.input("y")
    g.apply(name, z, y, name="loss")
    with pytest.raises(ge.OpExecutionError, match=rf"node 'loss' \(op {name}.*failed: .*{target.shape}.*'z' "
                                                  rf"float64\[4, 2\], 'y' {target.dtype}"):
        g.forward({"z": np.zeros((4, 2)), "y": target})


@pytest.mark.parametrize("name", ["cross_entropy", "hinge"])
def test_one_class_is_refused_because_the_loss_is_always_zero(name):
    g, z, y = _graph((None, 1), (None,), "int64")
    with pytest.raises(ge.ShapeError, match=rf"{name} over one class is 0 whatever the input.*"
                                            "binary_cross_entropy_with_logits"):
        g.apply(name, z, y)
    g = ge.Graph()
    z, y = g.input("z"), g.input("y")
    g.apply(name, z, y)
    with pytest.raises(ge.OpExecutionError, match="over one class is 0"):
        g.forward({"z": np.zeros((4, 1)), "y": np.zeros((4, 1))})


def test_fit_with_float_label_columns_and_cross_entropy_stops_before_training():
    X, labels = ge.data.two_moons(64, noise=0.1, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 8), "tanh", ge.nn.Dense(8, 2), seed=0)
    with pytest.raises(ge.GraphEngineError, match=r"y.reshape\(-1\)"):
        ge.training.fit(model, X, labels.astype(float).reshape(-1, 1), loss="cross_entropy", epochs=1,
                        progress=False)
