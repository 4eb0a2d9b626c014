"""Losses: conformance on hypothesis shapes, targets (integer / one-hot / soft), reductions,
stability at |x| = 1e4 in float32, dtypes with integer targets, errors, graph runs."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=20, deadline=None)
seeds = st.integers(0, 2**32 - 1)
reductions = st.sampled_from(["none", "mean", "sum"])


class Pair(tuple):
    """(prediction shape, target shape), read as ``.input_shapes`` like hypothesis's pairs."""

    @property
    def input_shapes(self):
        return tuple(self)


@st.composite
def pair_shapes_strategy(draw):
    """A prediction shape and a target an element loss takes: the same shape, 1 where it
    repeats (same rank), or a single value (rank 0)."""
    p_shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    form = draw(st.sampled_from(["same", "ones", "scalar"]))
    if form == "scalar":
        return Pair((p_shape, ()))
    if form == "same":
        return Pair((p_shape, p_shape))
    return Pair((p_shape, tuple(d if draw(st.booleans()) else 1 for d in p_shape)))


pair_shapes = pair_shapes_strategy()


def reduce(loss, reduction):
    return {"none": lambda v: v, "mean": np.mean, "sum": np.sum}[reduction](loss)


# -- references, written from the formulas ---------------------------------------------

def mse_reference(p, t, reduction="none"):
    return reduce((p - t) ** 2, reduction)


def mae_reference(p, t, reduction="none"):
    return reduce(np.abs(p - t), reduction)


def bce_reference(p, y, reduction="none"):
    return reduce(-(y * np.log(p) + (1 - y) * np.log(1 - p)), reduction)


def bce_logits_reference(x, y, reduction="none"):
    p = 1 / (1 + np.exp(-x))
    return reduce(-(y * np.log(p) + (1 - y) * np.log(1 - p)), reduction)


def log_softmax(z, axis=-1):
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _as_distribution(target, logits, axis):
    """Integer class indices as one-hot rows along ``axis``; distributions unchanged."""
    if target.ndim == logits.ndim:
        return target
    classes = logits.shape[axis]
    return np.moveaxis(np.eye(classes)[target], -1, axis % logits.ndim)


def cross_entropy_reference(z, target, axis=-1, reduction="none"):
    return reduce(-np.sum(_as_distribution(target, z, axis) * log_softmax(z, axis), axis=axis), reduction)


def nll_reference(log_probs, target, axis=-1, reduction="none"):
    return reduce(-np.sum(_as_distribution(target, log_probs, axis) * log_probs, axis=axis), reduction)


def hinge_reference(scores, target, reduction="none", margin=1.0):
    """Deck 000 eq. 4, one example at a time: L_i = Σ_{j≠y_i} max(0, f_j − f_{y_i} + 1)."""
    labels = target if target.ndim == 1 else target.argmax(axis=1)
    losses = []
    for f, y in zip(scores, labels):
        losses.append(sum(max(0.0, f[j] - f[y] + margin) for j in range(len(f)) if j != y))
    return reduce(np.array(losses, dtype=scores.dtype), reduction)


# -- elementwise losses ----------------------------------------------------------------

@SETTINGS
@given(shapes=pair_shapes, reduction=reductions, seed=seeds)
def test_mse_conforms(shapes, reduction, seed):
    rng = np.random.default_rng(seed)
    p_shape, t_shape = shapes.input_shapes
    check_op("mse", [rng.standard_normal(p_shape), rng.standard_normal(t_shape)], reference=mse_reference,
             attrs={"reduction": reduction})


@SETTINGS
@given(shapes=pair_shapes, reduction=reductions, seed=seeds)
def test_mae_conforms(shapes, reduction, seed):
    rng = np.random.default_rng(seed)
    p_shape, t_shape = shapes.input_shapes
    t = rng.standard_normal(t_shape)
    # |p - t| >= 0.2 after broadcasting: t on the integer grid, p on the half grid
    t = np.round(t)
    p = np.round(rng.standard_normal(p_shape)) + 0.5
    check_op("mae", [p, t], reference=mae_reference, attrs={"reduction": reduction})


@SETTINGS
@given(shapes=pair_shapes, reduction=reductions, seed=seeds)
def test_binary_cross_entropy_conforms(shapes, reduction, seed):
    rng = np.random.default_rng(seed)
    p_shape, y_shape = shapes.input_shapes
    p = rng.uniform(0.05, 0.95, p_shape)
    y = rng.uniform(0.0, 1.0, y_shape)  # soft labels: the target gets a gradient too
    check_op("binary_cross_entropy", [p, y], reference=bce_reference, attrs={"reduction": reduction})


@SETTINGS
@given(shapes=pair_shapes, reduction=reductions, seed=seeds)
def test_binary_cross_entropy_with_logits_conforms(shapes, reduction, seed):
    rng = np.random.default_rng(seed)
    x_shape, y_shape = shapes.input_shapes
    x = 3.0 * rng.standard_normal(x_shape)
    y = rng.uniform(0.0, 1.0, y_shape)
    check_op("binary_cross_entropy_with_logits", [x, y], reference=bce_logits_reference,
             attrs={"reduction": reduction})


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits", "mse", "mae"])
def test_elementwise_losses_take_integer_labels(name):
    rng = np.random.default_rng(1)
    p = rng.uniform(0.1, 0.9, (4, 3)) if name == "binary_cross_entropy" else rng.standard_normal((4, 3)) + 0.5
    y = rng.integers(0, 2, (4, 3))
    reference = {"binary_cross_entropy": bce_reference, "binary_cross_entropy_with_logits": bce_logits_reference,
                 "mse": mse_reference, "mae": mae_reference}[name]
    check_op(name, [p, y], reference=reference, attrs={"reduction": "mean"})


def test_binary_cross_entropy_is_finite_at_zero_and_one_without_warnings():
    op = ge.default_manager().get_op("binary_cross_entropy")
    p = np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = op.forward(np, p, y)
        gp, gy = op.backward(np, np.ones_like(loss), (p, y), loss)
    np.testing.assert_array_equal(loss, [100.0, 100.0, 0.0, 0.0])  # log clamped at -100
    assert loss.dtype == gp.dtype == gy.dtype == np.float32
    assert np.all(np.isfinite(gp)) and np.all(np.isfinite(gy))


# -- classification losses -------------------------------------------------------------

@st.composite
def classification_cases(draw, min_classes=1):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    if shape[axis] < min_classes:  # cross_entropy and hinge refuse one class (always 0)
        shape = tuple(min_classes if i == axis % len(shape) else d for i, d in enumerate(shape))
    kind = draw(st.sampled_from(["indices", "one_hot", "soft", "weighted"]))
    return shape, axis, kind, draw(reductions)


def _targets(rng, shape, axis, kind):
    classes = shape[axis]
    per_example = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    indices = rng.integers(0, classes, per_example)
    if kind == "indices":
        return indices
    onehot = np.moveaxis(np.eye(classes)[indices], -1, axis % len(shape))
    if kind == "one_hot":
        return onehot
    soft = rng.uniform(0.0, 1.0, shape)
    if kind == "weighted":  # rows need not sum to 1 (per-example weights): d/dz = softmax·Σt - t
        return soft
    return soft / soft.sum(axis=axis, keepdims=True)


@SETTINGS
@given(case=classification_cases(min_classes=2), seed=seeds)
def test_cross_entropy_conforms(case, seed):
    shape, axis, kind, reduction = case
    rng = np.random.default_rng(seed)
    z = 3.0 * rng.standard_normal(shape)
    target = _targets(rng, shape, axis, kind)
    check_op("cross_entropy", [z, target], reference=cross_entropy_reference,
             attrs={"axis": axis, "reduction": reduction})


@SETTINGS
@given(case=classification_cases(), seed=seeds)
def test_nll_conforms(case, seed):
    shape, axis, kind, reduction = case
    rng = np.random.default_rng(seed)
    log_probs = log_softmax(rng.standard_normal(shape), axis)
    target = _targets(rng, shape, axis, kind)
    check_op("nll", [log_probs, target], reference=nll_reference, attrs={"axis": axis, "reduction": reduction})


def _hinge_scores(rng, labels, classes):
    """Scores whose margins f_j - f_y + 1 stay at least 0.1 from 0 (the hinge's kink)."""
    scores = rng.standard_normal((len(labels), classes))
    correct = scores[np.arange(len(labels)), labels][:, None]
    margin = scores - correct + 1.0
    near = np.abs(margin) < 0.1
    near[np.arange(len(labels)), labels] = False
    return np.where(near, scores + 0.3, scores)


@SETTINGS
@given(batch=st.integers(1, 5), classes=st.integers(2, 5), one_hot=st.booleans(), reduction=reductions,
       margin=st.sampled_from([1.0]), seed=seeds)
def test_hinge_conforms(batch, classes, one_hot, reduction, margin, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, batch)
    scores = _hinge_scores(rng, labels, classes)
    target = np.eye(classes)[labels] if one_hot else labels
    check_op("hinge", [scores, target], reference=hinge_reference, attrs={"reduction": reduction},
             differentiable=[True, False])  # the target (an argmax) gets no gradient


def test_hinge_matches_deck_000_eq4_by_hand():
    # cs231n-style numbers: scores of 3 classes, correct class 0
    op = ge.default_manager().get_op("hinge")
    f = np.array([[3.2, 5.1, -1.7]])
    loss = op.forward(np, f, np.array([0]))
    np.testing.assert_allclose(loss, [max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1)])  # 2.9
    (g, gy) = op.backward(np, np.ones(1), (f, np.array([0])), loss)
    np.testing.assert_array_equal(g, [[-1.0, 1.0, 0.0]])  # one violator
    assert gy is None


@pytest.mark.parametrize("name", ["nll", "cross_entropy"])
def test_one_hot_targets_treat_zero_times_log_zero_as_zero(name):
    # deck 002's MNIST example: y has exact zeros where the one-hot target is 0
    y = np.array([[0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]])
    t = np.eye(10)[[2]]
    op = ge.default_manager().get_op(name)
    with np.errstate(divide="ignore"):
        first = np.log(y) if name == "nll" else np.where(y > 0, np.log(y), -1e4)  # logits: e^-1e4 = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = op.forward(np, first, t)
        g_first, g_t = op.backward(np, np.ones_like(loss), (first, t), loss, needs_grad=(True, False))
    np.testing.assert_allclose(loss, [-np.log(0.6)], rtol=1e-12)
    assert np.all(np.isfinite(g_first))


def test_cross_entropy_equals_nll_of_log_softmax_through_the_graph():
    rng = np.random.default_rng(2)
    g = ge.Graph("ce")
    z = g.input("z", shape=(None, 4))
    y = g.input("y", shape=(None,), dtype="int64")
    ce = ge.ops.cross_entropy(z, y, reduction="mean")
    nll = ge.ops.nll(ge.ops.log_softmax(z), y, reduction="mean")
    Z, Y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    run_ce = g.forward({"z": Z, "y": Y}).backward(ce)
    run_nll = g.forward({"z": Z, "y": Y}).backward(nll)
    np.testing.assert_allclose(run_ce.value(ce), run_nll.value(nll))
    np.testing.assert_allclose(run_ce.grad(z), run_nll.grad(z))
    softmax = np.exp(log_softmax(Z))
    np.testing.assert_allclose(run_ce.grad(z), (softmax - np.eye(4)[Y]) / 6)


# -- stability and dtypes --------------------------------------------------------------

def _quiet_forward_backward(name, inputs, **attrs):
    op = ge.default_manager().get_op(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = op.forward(np, *inputs, **attrs)
        kwargs = dict(attrs)
        if type(op).signature_info()[3]:
            kwargs["needs_grad"] = tuple(np.asarray(x).dtype.kind == "f" for x in inputs)
        grads = op.backward(np, np.ones_like(out), tuple(inputs), out, **kwargs)
    return out, grads


def test_binary_cross_entropy_with_logits_is_stable_at_large_magnitudes():
    x = np.array([-1e4, -1e4, 1e4, 1e4, 0.0], dtype=np.float32)
    y = np.array([0, 1, 0, 1, 1])  # integer labels
    loss, (gx, gy) = _quiet_forward_backward("binary_cross_entropy_with_logits", [x, y])
    assert loss.dtype == gx.dtype == np.float32 and gy is None
    np.testing.assert_allclose(loss, [0.0, 1e4, 1e4, 0.0, np.log(2.0)], rtol=1e-6)
    np.testing.assert_allclose(gx, [0.0, -1.0, 1.0, 0.0, -0.5])


@pytest.mark.parametrize("value", [1e4, -1e4])
def test_cross_entropy_is_stable_at_large_magnitudes(value):
    z = np.array([[value, 0.0, -value], [value, value, value]], dtype=np.float32)
    labels = np.array([2, 1])
    loss, (gz, gy) = _quiet_forward_backward("cross_entropy", [z, labels])
    assert loss.dtype == gz.dtype == np.float32 and gy is None
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(gz))
    np.testing.assert_allclose(loss, [2 * value if value > 0 else 0.0, np.log(3.0)], rtol=1e-6)
    np.testing.assert_allclose(gz.sum(axis=1), 0.0, atol=1e-6)


@pytest.mark.parametrize("name, make_prediction", [
    ("mse", lambda rng: rng.standard_normal((4, 3))),
    ("mae", lambda rng: rng.standard_normal((4, 3)) + 0.5),
    ("binary_cross_entropy", lambda rng: rng.uniform(0.1, 0.9, (4, 3))),
    ("binary_cross_entropy_with_logits", lambda rng: rng.standard_normal((4, 3))),
])
def test_float32_prediction_with_integer_target_stays_float32(name, make_prediction):
    rng = np.random.default_rng(0)
    p = make_prediction(rng).astype(np.float32)
    y = rng.integers(0, 2, (4, 3))
    for reduction in ("none", "mean"):
        loss, (gp, gy) = _quiet_forward_backward(name, [p, y], reduction=reduction)
        assert loss.dtype == np.float32 and gp.dtype == np.float32 and gy is None


@pytest.mark.parametrize("name", ["cross_entropy", "nll", "hinge"])
@pytest.mark.parametrize("target_kind", ["indices", "int_one_hot", "float64_one_hot"])
def test_class_losses_keep_float32_for_every_target_kind(name, target_kind):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 5)
    target = {"indices": labels, "int_one_hot": np.eye(4, dtype=np.int64)[labels],
              "float64_one_hot": np.eye(4)[labels]}[target_kind]
    for reduction in ("none", "sum"):
        loss, (gz, gt) = _quiet_forward_backward(name, [z, target], reduction=reduction)
        assert loss.dtype == np.float32 and gz.dtype == np.float32
        if gt is not None:  # a float64 one-hot target gets its gradient in its own dtype
            assert gt.dtype == target.dtype
    z64 = z.astype(np.float64)
    reference = {"cross_entropy": cross_entropy_reference, "nll": nll_reference, "hinge": hinge_reference}[name]
    np.testing.assert_allclose(_quiet_forward_backward(name, [z, target])[0], reference(z64, labels), rtol=1e-5)


def test_class_losses_through_a_float32_graph_with_integer_labels():
    rng = np.random.default_rng(5)
    g = ge.Graph("softmax_classifier")
    x = g.input("x", shape=(None, 3), dtype="float32")
    y = g.input("y", shape=(None,), dtype="int64")
    W = g.param("W", rng.standard_normal((3, 4)).astype(np.float32))
    scores = x @ W
    loss = (ge.ops.cross_entropy(scores, y, reduction="mean") + ge.ops.hinge(scores, y, reduction="mean")
            + ge.ops.nll(ge.ops.log_softmax(scores), y, reduction="sum"))
    X, Y = rng.standard_normal((6, 3)).astype(np.float32), rng.integers(0, 4, 6)
    run = g.forward({"x": X, "y": Y}, fetch=[loss]).backward(loss)
    assert run.value(loss).dtype == np.float32 and run.grad(W).dtype == np.float32


# -- errors ----------------------------------------------------------------------------

def test_float_targets_without_a_class_axis_are_refused_with_the_fix():
    op = ge.default_manager().get_op("cross_entropy")
    with pytest.raises(ge.DtypeError, match=r"targets of shape \(4,\) float64 for logits of shape \(4, 4\) float64: "
                                            r".*class indices and must be integers.*astype\('int64'\)"):
        op.forward(np, np.zeros((4, 4)), np.array([0.0, 1.0, 2.0, 3.0]))


@pytest.mark.parametrize("name", ["cross_entropy", "nll", "hinge"])
def test_out_of_range_class_indices_name_the_op_and_the_range(name):
    g = ge.Graph()
    z = g.input("z", shape=(None, 3))
    y = g.input("y", shape=(None,), dtype="int64")
    loss = getattr(ge.ops, name)(z, y)
    with pytest.raises(ge.OpExecutionError, match=rf"{name}: class indices must lie in 0\.\.2.*from 0 to 3"):
        g.forward({"z": np.zeros((2, 3)), "y": np.array([0, 3])}, fetch=[loss])


HOST_READS = ("__int__", "__float__", "__bool__", "__index__", "item", "tolist", "get")


@pytest.fixture
def host_reads(monkeypatch):
    """Counts every read of a device array's values on the host (the device-to-host syncs
    CuPy would make) while the test runs on ``ge_device_xp``."""
    from graphengine.testing.pytest_plugin import DeviceArray

    reads = []
    for name in HOST_READS:
        original = getattr(DeviceArray, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(DeviceArray, name, counted)
    return reads


# (op, logits shape, class axis): axis -1 of 2-D logits is cross_entropy's class-major path
LABEL_CASES = [("cross_entropy", (4, 3), -1), ("cross_entropy", (3, 4), 0), ("nll", (4, 3), -1), ("hinge", (4, 3), -1)]


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("name, shape, axis", LABEL_CASES)
def test_off_numpy_bad_labels_give_nan_losses_without_reading_the_device(name, shape, axis, reduction,
                                                                           ge_device_xp, host_reads):
    """On a backend that is not NumPy the label range is checked on the device: no value
    is read back per forward or backward; an example with a bad label gets a NaN loss and
    NaN gradients, the others the values NumPy gives."""
    op = ge.default_manager().get_op(name)
    xp = ge_device_xp
    logits = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    labels = np.array([0, 3, 1, -1])
    bad = np.array([False, True, False, True])
    fixed = np.where(bad, 0, labels)
    attrs = {"axis": axis, "reduction": reduction}
    with np.errstate(all="raise"):
        want = op.forward(np, logits, fixed, axis=axis)
        want_grad = op.backward(np, np.ones_like(want), (logits, fixed), want, axis=axis)[0]

    got = op.forward(xp, xp.asarray(logits), xp.asarray(labels), **attrs)
    grad = xp.asarray(np.ones(() if reduction == "mean" else (4,), dtype=np.float32))
    got_grad = op.backward(xp, grad, (xp.asarray(logits), xp.asarray(labels)), got, **attrs)[0]
    assert host_reads == [], f"{name} read device values on the host: {host_reads}"

    loss, gradient = xp.asnumpy(got), xp.asnumpy(got_grad)
    assert loss.dtype == np.float32 and gradient.dtype == np.float32
    if reduction == "mean":
        assert np.isnan(loss)
        return
    np.testing.assert_array_equal(np.isnan(loss), bad)
    np.testing.assert_allclose(loss[~bad], want[~bad], rtol=1e-6)
    per_example = np.moveaxis(gradient, axis, -1)
    assert np.isnan(per_example[bad]).all()
    np.testing.assert_allclose(per_example[~bad], np.moveaxis(want_grad, axis, -1)[~bad], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, shape, axis", LABEL_CASES)
def test_off_numpy_good_labels_match_numpy_without_reading_the_device(name, shape, axis, ge_device_xp, host_reads):
    op = ge.default_manager().get_op(name)
    xp = ge_device_xp
    logits = np.random.default_rng(1).standard_normal(shape)
    labels = np.array([2, 0, 1, 2])
    want = op.forward(np, logits, labels, axis=axis, reduction="mean")
    got = op.forward(xp, xp.asarray(logits), xp.asarray(labels), axis=axis, reduction="mean")
    assert host_reads == []
    np.testing.assert_allclose(xp.asnumpy(got), want, rtol=1e-12)


def test_class_loss_shape_errors_at_build_time():
    g = ge.Graph()
    z = g.input("z", shape=(4, 3))
    with pytest.raises(ge.ShapeError, match=r"integer targets of shape \(5,\) do not match logits \(4, 3\)"):
        ge.ops.cross_entropy(z, g.input("y", shape=(5,), dtype="int64"))
    with pytest.raises(ge.ShapeError, match="targets must be class indices"):
        ge.ops.cross_entropy(z, g.input("bad", shape=(None, 3, 1)))
    with pytest.raises(ge.ShapeError, match="needs logits with a class axis"):
        ge.ops.cross_entropy(g.input("s", shape=()), g.input("t", shape=()))


def test_reduction_typo_and_attribute_typo_are_refused_at_build_time():
    g = ge.Graph()
    p = g.input("p", shape=(None, 1))
    t = g.input("t", shape=(None, 1))
    expected = (r"\(op mse\): attribute reduction='avg' \(a str\) does not fit op 'mse': reduction takes one of "
                r"'none', 'mean', 'sum'")
    with pytest.raises(ge.AttributeSpecError, match=expected):
        ge.ops.mse(p, t, reduction="avg")
    with pytest.raises(ge.AttributeSpecError, match="Did you mean 'reduction'"):
        ge.ops.binary_cross_entropy(p, t, reduce="mean")


def test_elementwise_loss_shape_mismatch_is_refused_at_build_time():
    g = ge.Graph()
    p = g.input("p", shape=(None, 3))
    t = g.input("t", shape=(None, 2))
    with pytest.raises(ge.ShapeError) as info:
        ge.ops.mse(p, t)
    assert "mse" in str(info.value) and "(None, 3)" in str(info.value) and "(None, 2)" in str(info.value)


# -- through the graph -----------------------------------------------------------------

def test_logistic_regression_gradients_through_the_graph():
    rng = np.random.default_rng(11)
    g = ge.Graph("logreg")
    x = g.input("x", shape=(None, 3))
    y = g.input("y", shape=(None, 1))
    W = g.param("W", rng.normal(0, 0.1, (3, 1)))
    b = g.param("b", np.zeros(1))
    logits = x @ W + b
    p = ge.ops.sigmoid(logits)
    loss = ge.ops.binary_cross_entropy(p, y, reduction="mean")
    stable = ge.ops.binary_cross_entropy_with_logits(logits, y, reduction="mean")
    X = rng.standard_normal((8, 3))
    Y = (rng.random((8, 1)) < 0.5).astype(np.float64)
    run = g.forward({"x": X, "y": Y})
    P = 1 / (1 + np.exp(-(X @ W.value + b.value)))
    np.testing.assert_allclose(run.value(loss), bce_reference(P, Y, "mean"))
    np.testing.assert_allclose(run.value(stable), run.value(loss))
    run.backward(loss)
    # deck 000: dL/dW = Xᵀ(p - y)/m, dL/db = Σ(p - y)/m
    np.testing.assert_allclose(run.grad(W), X.T @ (P - Y) / 8)
    np.testing.assert_allclose(run.grad(b), np.sum(P - Y, axis=0) / 8)
    grad_W = run.grad(W).copy()
    run.backward(stable)
    np.testing.assert_allclose(run.grad(W), grad_W)


def test_deck_002_average_cross_entropy_and_mse_numbers():
    # deck 002, "classification error vs cross-entropy": computed probabilities and targets
    computed = {"NN1": [[0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.1, 0.2, 0.7]],
                "NN2": [[0.1, 0.2, 0.7], [0.1, 0.7, 0.2], [0.3, 0.4, 0.3]]}
    targets = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float64)
    expected = {"NN1": (1.38, 0.81), "NN2": (0.64, 0.34)}
    for net, probs in computed.items():
        g = ge.Graph(net)
        p = g.input("p", shape=(None, 3))
        t = g.input("t", shape=(None, 3))
        ace = ge.ops.nll(ge.ops.log(p), t, reduction="mean")
        mse = ge.ops.mean(ge.ops.sum(ge.ops.mse(p, t), axis=1))
        run = g.forward({"p": np.array(probs), "t": targets})
        assert round(float(run.value(ace)), 2) == expected[net][0]
        assert round(float(run.value(mse)), 2) == expected[net][1]


# -- PyTorch's options: weight, ignore_index, label_smoothing, pos_weight ----------------

def _class_weights(w, like, axis):
    return np.reshape(w, tuple(like.shape[axis] if i == axis % like.ndim else 1 for i in range(like.ndim)))


def cross_entropy_options_reference(z, target, axis=-1, reduction="none", weight=None, ignore_index=-100,
                                    label_smoothing=0.0, log_probs=None):
    """PyTorch's definitions, written out: class weights, ignored labels, label smoothing."""
    lp = log_softmax(z, axis) if log_probs is None else log_probs
    classes = z.shape[axis]
    w = _class_weights(np.ones(classes) if weight is None else np.asarray(weight, float), z, axis)
    eps = label_smoothing
    if target.ndim == z.ndim:  # soft targets: mean over examples
        t = target * (1 - eps) + eps / classes
        return reduce(-np.sum(t * w * lp, axis=axis), reduction)
    keep = target != ignore_index
    hot = _as_distribution(np.where(keep, target, 0), z, axis)
    w_y = np.sum(hot * w, axis=axis) * keep
    nll = -np.sum(hot * lp, axis=axis) * w_y
    smooth = -np.sum(lp * w, axis=axis) * keep
    loss = (1 - eps) * nll + eps / classes * smooth
    if reduction == "mean":
        return np.sum(loss) / np.sum(w_y)
    return reduce(loss, reduction)


def nll_options_reference(log_probs, target, axis=-1, reduction="none", weight=None, ignore_index=-100):
    return cross_entropy_options_reference(log_probs, target, axis, reduction, weight, ignore_index,
                                           log_probs=log_probs)


@st.composite
def option_cases(draw, smoothing=True):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    if shape[-1] < 2:
        shape = shape[:-1] + (3,)
    axis = draw(st.sampled_from([-1, 0])) if len(shape) > 1 else -1
    if shape[axis] < 2:  # cross_entropy refuses one class (always 0)
        shape = (2,) + shape[1:]
    soft = draw(st.booleans())
    options = {"axis": axis, "reduction": draw(reductions)}
    if draw(st.booleans()):
        options["weight"] = tuple(draw(st.lists(st.floats(0.25, 2.0), min_size=shape[axis], max_size=shape[axis])))
    if smoothing and draw(st.booleans()):
        options["label_smoothing"] = draw(st.sampled_from([0.1, 0.5]))
    ignore = draw(st.sampled_from([-100, 1, None]))
    if ignore != -100:
        options["ignore_index"] = ignore
    return shape, soft, options


def _option_targets(rng, shape, axis, soft, ignore_index):
    if soft:
        t = rng.uniform(0.0, 1.0, shape)
        return t / t.sum(axis=axis, keepdims=True)
    per_example = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    labels = rng.integers(0, shape[axis], per_example)
    if ignore_index is not None:
        labels = np.where(labels == ignore_index, (ignore_index + 1) % shape[axis], labels)  # one kept at least
        if labels.size > 1:
            labels.flat[0] = ignore_index  # and one ignored
    return labels


@SETTINGS
@given(case=option_cases(), seed=seeds)
def test_cross_entropy_with_weight_ignore_index_and_label_smoothing_conforms(case, seed):
    shape, soft, options = case
    rng = np.random.default_rng(seed)
    z = 2.0 * rng.standard_normal(shape)
    target = _option_targets(rng, shape, options["axis"], soft, options.get("ignore_index", -100))
    check_op("cross_entropy", [z, target], reference=cross_entropy_options_reference, attrs=options)


@SETTINGS
@given(case=option_cases(smoothing=False), seed=seeds)
def test_nll_with_weight_and_ignore_index_conforms(case, seed):
    shape, soft, options = case
    rng = np.random.default_rng(seed)
    log_probs = log_softmax(rng.standard_normal(shape), options["axis"])
    target = _option_targets(rng, shape, options["axis"], soft, options.get("ignore_index", -100))
    check_op("nll", [log_probs, target], reference=nll_options_reference, attrs=options)


def test_ignored_labels_leave_the_fast_rows_path_exact():
    # 2-D logits with integer labels take cross_entropy's class-major path: ignored rows there too
    rng = np.random.default_rng(3)
    z = rng.standard_normal((5, 4))
    y = np.array([1, -100, 3, -100, 0])
    for reduction in ("none", "mean", "sum"):
        check_op("cross_entropy", [z, y], reference=cross_entropy_options_reference, attrs={"reduction": reduction})
    op = ge.default_manager().get_op("cross_entropy")
    g = op.backward(np, np.ones(()), (z, y), op.forward(np, z, y, reduction="mean"), reduction="mean")[0]
    assert np.all(g[[1, 3]] == 0)
    with np.errstate(all="raise"):  # every label ignored: NaN mean (0 / 0), as PyTorch gives, without warnings
        assert np.isnan(op.forward(np, z, np.full(5, -100), reduction="mean"))


def bce_pos_weight_reference(x, y, reduction="none", pos_weight=None):
    p = 1 / (1 + np.exp(-x))
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight)
    return reduce(-(pw * y * np.log(p) + (1 - y) * np.log(1 - p)), reduction)


@SETTINGS
@given(batch=st.integers(1, 4), classes=st.integers(1, 4), reduction=reductions, scalar=st.booleans(), seed=seeds)
def test_binary_cross_entropy_with_logits_pos_weight_conforms(batch, classes, reduction, scalar, seed):
    rng = np.random.default_rng(seed)
    x, y = 3.0 * rng.standard_normal((batch, classes)), rng.uniform(0, 1, (batch, classes))
    pos_weight = 2.5 if scalar else tuple(rng.uniform(0.5, 3.0, classes).tolist())
    check_op("binary_cross_entropy_with_logits", [x, y], reference=bce_pos_weight_reference,
             attrs={"reduction": reduction, "pos_weight": pos_weight})


def smooth_l1_reference(p, t, reduction="none", beta=1.0):
    d = np.abs(p - t)
    return reduce(np.where(d < beta, 0.5 * d ** 2 / max(beta, 1e-300), d - 0.5 * beta) if beta else d, reduction)


def huber_reference(p, t, reduction="none", delta=1.0):
    d = np.abs(p - t)
    return reduce(np.where(d <= delta, 0.5 * d ** 2, delta * (d - 0.5 * delta)), reduction)


@pytest.mark.parametrize("name, key, value", [("smooth_l1", "beta", 1.0), ("smooth_l1", "beta", 0.5),
                                              ("smooth_l1", "beta", 0.0), ("huber", "delta", 1.0),
                                              ("huber", "delta", 2.0)])
@SETTINGS
@given(shapes=pair_shapes, reduction=reductions, seed=seeds)
def test_smooth_l1_and_huber_conform(name, key, value, shapes, reduction, seed):
    rng = np.random.default_rng(seed)
    p_shape, t_shape = shapes.input_shapes
    # |p - t| in {0.25, 0.75, 1.25, ...}: at least 0.25 from the kinks at 0, 0.5, 1 and 2
    t = rng.integers(-3, 3, t_shape).astype(np.float64)
    p = rng.integers(-3, 3, p_shape) + 0.25
    reference = smooth_l1_reference if name == "smooth_l1" else huber_reference
    check_op(name, [p, t], reference=reference, attrs={"reduction": reduction, key: value})


def test_smooth_l1_and_huber_docstring_numbers():
    for name in ("smooth_l1", "huber"):
        op = ge.default_manager().get_op(name)
        np.testing.assert_allclose(op.forward(np, np.array([0.5, 3.0]), np.zeros(2)), [0.125, 2.5])
    huber = ge.default_manager().get_op("huber").forward(np, np.array([0.5, 3.0]), np.zeros(2), delta=2.0)
    smooth = ge.default_manager().get_op("smooth_l1").forward(np, np.array([0.5, 3.0]), np.zeros(2), beta=2.0)
    np.testing.assert_allclose(huber, 2.0 * smooth)


def kl_div_reference(lp, t, reduction="none", log_target=False):
    if log_target:
        loss = np.exp(t) * (t - lp)
    else:
        loss = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1.0)) - lp), 0.0)
    if reduction == "batchmean":
        return np.sum(loss) / loss.shape[0]
    return reduce(loss, reduction)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       reduction=st.sampled_from(["none", "mean", "sum", "batchmean"]), log_target=st.booleans(), seed=seeds)
def test_kl_div_conforms(shape, reduction, log_target, seed):
    rng = np.random.default_rng(seed)
    lp = log_softmax(rng.standard_normal(shape))
    t = np.exp(log_softmax(rng.standard_normal(shape)))
    check_op("kl_div", [lp, np.log(t) if log_target else t], reference=kl_div_reference,
             attrs={"reduction": reduction, "log_target": log_target})


def test_kl_div_zero_targets_give_no_loss_and_no_nan():
    op = ge.default_manager().get_op("kl_div")
    lp = np.log(np.array([[0.5, 0.5]], dtype=np.float32))
    with np.errstate(all="raise"):
        loss = op.forward(np, lp, np.array([[1.0, 0.0]], dtype=np.float32), reduction="batchmean")
    assert loss.dtype == np.float32 and loss.shape == ()
    np.testing.assert_allclose(loss, np.log(2.0), rtol=1e-6)


# -- the (N, 1) labels defect and the options' errors -------------------------------------

@pytest.mark.parametrize("name", ["cross_entropy", "nll"])
def test_integer_labels_of_shape_n_by_1_are_refused_with_the_fix(name):
    g = ge.Graph()
    z = g.input("z", shape=(None, 3))
    y = g.input("y", shape=(None, 1), dtype="int64")
    with pytest.raises(ge.ShapeError, match=rf"{name}.*shape \(None,\).*y\.reshape\(-1\)"):
        getattr(ge.ops, name)(z, y)
    # fed without a declared shape, the run refuses them too (no silent soft targets)
    g2 = ge.Graph()
    z2 = g2.input("z")
    y2 = g2.input("y")
    loss = getattr(ge.ops, name)(z2, y2, reduction="mean")
    labels = np.array([[0], [2], [1]])
    with pytest.raises(ge.OpExecutionError, match=r"integer targets of shape \(3, 1\).*\(3,\).*y\.reshape\(-1\)"):
        g2.forward({"z": np.zeros((3, 3)), "y": labels}, fetch=[loss])
    run = g2.forward({"z": np.zeros((3, 3)), "y": labels.reshape(-1)}, fetch=[loss])
    np.testing.assert_allclose(run.value(loss), np.log(3.0) if name == "cross_entropy" else 0.0)
    op = ge.default_manager().get_op(name)
    with pytest.raises(ge.ShapeError, match=r"float targets of shape \(3, 1\).*exactly the logits' shape"):
        op.forward(np, np.zeros((3, 3)), np.ones((3, 1)))


def test_option_errors_say_what_and_how():
    op = ge.default_manager().get_op("cross_entropy")
    z, y = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(ge.ShapeError, match=r"weight must have one entry per class, shape \(3,\), got \(2,\)"):
        op.forward(np, z, y, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 1\], got 1.5"):
        op.forward(np, z, y, label_smoothing=1.5)
    g = ge.Graph()
    p = g.input("p", shape=(None, 3))
    with pytest.raises(ge.AttributeSpecError, match="batchmean"):
        ge.ops.kl_div(p, p, reduction="batchmeans")
    with pytest.raises(ge.AttributeSpecError, match="huber: delta must be > 0"):
        ge.ops.huber(p, p, delta=0.0)
    with pytest.raises(ge.AttributeSpecError, match="smooth_l1: beta must be >= 0"):
        ge.ops.smooth_l1(p, p, beta=-1.0)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_off_numpy_ignored_labels_stay_on_the_device(reduction, ge_device_xp, host_reads):
    op = ge.default_manager().get_op("cross_entropy")
    xp = ge_device_xp
    z = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y = np.array([0, -100, 2, 1])
    want = op.forward(np, z, y, reduction=reduction)
    want_grad = op.backward(np, np.ones_like(want), (z, y), want, reduction=reduction)[0]
    got = op.forward(xp, xp.asarray(z), xp.asarray(y), reduction=reduction)
    got_grad = op.backward(xp, xp.asarray(np.ones_like(want)), (xp.asarray(z), xp.asarray(y)), got,
                           reduction=reduction)[0]
    assert host_reads == []
    np.testing.assert_allclose(xp.asnumpy(got), want, rtol=1e-6)
    np.testing.assert_allclose(xp.asnumpy(got_grad), want_grad, rtol=1e-5, atol=1e-7)


# -- against PyTorch, where it is installed ------------------------------------------------

@pytest.mark.filterwarnings("ignore:reduction.*mean")  # PyTorch's note on kl_div's "mean"
def test_new_losses_match_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    z = rng.standard_normal((6, 4))
    labels = np.array([0, 3, -100, 2, 1, 3])
    soft = np.exp(log_softmax(rng.standard_normal((6, 4))))
    w = np.array([0.5, 1.0, 2.0, 1.5])
    x, y = rng.standard_normal((6, 4)), (rng.random((6, 4)) < 0.5).astype(float)
    cases = []
    for reduction in ("none", "mean", "sum"):
        for smoothing in (0.0, 0.2):
            for weight in (None, w):
                cases.append(("cross_entropy", [z, labels], dict(weight=weight, label_smoothing=smoothing),
                              lambda t, r=reduction, s=smoothing, wt=weight: F.cross_entropy(
                                  t[0], t[1], weight=None if wt is None else torch.tensor(wt), label_smoothing=s,
                                  reduction=r), reduction))
                cases.append(("cross_entropy", [z, soft], dict(weight=weight, label_smoothing=smoothing),
                              lambda t, r=reduction, s=smoothing, wt=weight: F.cross_entropy(
                                  t[0], t[1], weight=None if wt is None else torch.tensor(wt), label_smoothing=s,
                                  reduction=r), reduction))
        cases.append(("nll", [log_softmax(z), labels], dict(weight=w, ignore_index=-100),
                      lambda t, r=reduction: F.nll_loss(t[0], t[1], weight=torch.tensor(w), reduction=r), reduction))
        cases.append(("nll", [log_softmax(z), np.array([0, 1, 1, 2, 1, 3])], dict(ignore_index=1),
                      lambda t, r=reduction: F.nll_loss(t[0], t[1], ignore_index=1, reduction=r), reduction))
        cases.append(("binary_cross_entropy_with_logits", [x, y], dict(pos_weight=w),
                      lambda t, r=reduction: F.binary_cross_entropy_with_logits(t[0], t[1], pos_weight=torch.tensor(w),
                                                                                reduction=r), reduction))
        cases.append(("smooth_l1", [x, y], dict(beta=0.7),
                      lambda t, r=reduction: F.smooth_l1_loss(t[0], t[1], beta=0.7, reduction=r), reduction))
        cases.append(("huber", [x, y], dict(delta=0.7),
                      lambda t, r=reduction: F.huber_loss(t[0], t[1], delta=0.7, reduction=r), reduction))
    for reduction in ("none", "mean", "sum", "batchmean"):
        for log_target in (False, True):
            target = np.log(soft) if log_target else soft
            cases.append(("kl_div", [log_softmax(z), target], dict(log_target=log_target),
                          lambda t, r=reduction, lt=log_target: F.kl_div(t[0], t[1], reduction=r, log_target=lt),
                          reduction))
    for name, inputs, attrs, torch_fn, reduction in cases:
        op = ge.default_manager().get_op(name)
        out = op.forward(np, *inputs, reduction=reduction, **attrs)
        seed = rng.standard_normal(np.shape(out))
        grads = op.backward(np, seed, tuple(inputs), out, reduction=reduction, **attrs,
                            needs_grad=tuple(np.asarray(i).dtype.kind == "f" for i in inputs))
        tensors = [torch.tensor(v, requires_grad=np.asarray(v).dtype.kind == "f") for v in inputs]
        want = torch_fn(tensors)
        want.backward(torch.tensor(seed))
        label = f"{name} {attrs} {reduction}"
        np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=label)
        for i, t in enumerate(tensors):
            if t.requires_grad:
                got = np.broadcast_to(grads[i], t.shape)
                np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=f"{label} grad {i}")
