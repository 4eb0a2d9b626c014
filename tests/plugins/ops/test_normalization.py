"""Normalisation ops (layer_norm, batch_norm, group_norm): conformance (check_op) on
hypothesis shapes, with and without affine inputs, float32, build-time errors, PyTorch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.op import sum_to_shape
from graphengine.testing import check_op

SETTINGS = settings(max_examples=10, deadline=None)
seeds = st.integers(0, 2**32 - 1)
EPS = 1e-5


# -- references, from the formulas ------------------------------------------------------

def normalize(x, axes, eps=EPS):
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def channel(v, ndim):
    return np.reshape(v, (1, -1) + (1,) * (ndim - 2))


def layer_norm_reference(x, *affine, normalized_shape=None, eps=EPS):
    k = len(normalized_shape)
    y = normalize(x, tuple(range(x.ndim - k, x.ndim)), eps)
    if affine:
        y = y * affine[0]
    if len(affine) > 1:
        y = y + affine[1]
    return y


def batch_norm_reference(x, rm, rv, *affine, training=False, momentum=0.1, eps=EPS):
    if training:
        y = normalize(x, (0,) + tuple(range(2, x.ndim)), eps)
    else:
        y = (x - channel(rm, x.ndim)) / np.sqrt(channel(rv, x.ndim) + eps)
    if affine:
        y = y * channel(affine[0], x.ndim)
    if len(affine) > 1:
        y = y + channel(affine[1], x.ndim)
    return y


def group_norm_reference(x, *affine, num_groups=1, eps=EPS):
    n, c = x.shape[:2]
    y = np.empty_like(x)
    size = c // num_groups
    for i in range(n):
        for grp in range(num_groups):
            block = x[i, grp * size:(grp + 1) * size]
            y[i, grp * size:(grp + 1) * size] = (block - block.mean()) / np.sqrt(block.var() + eps)
    if affine:
        y = y * channel(affine[0], x.ndim)
    if len(affine) > 1:
        y = y + channel(affine[1], x.ndim)
    return y


# -- conformance -----------------------------------------------------------------------

@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), k=st.integers(1, 3),
       n_affine=st.integers(0, 2), seed=seeds)
def test_layer_norm_conforms(shape, k, n_affine, seed):
    k = min(k, len(shape))
    if int(np.prod(shape[-k:])) < 2:
        shape = shape[:-1] + (3,)  # one element per group normalises to 0: no gradient to check
    rng = np.random.default_rng(seed)
    normalized = shape[-k:]
    inputs = [rng.standard_normal(shape)] + [rng.standard_normal(normalized) for _ in range(n_affine)]
    check_op("layer_norm", inputs, reference=layer_norm_reference, attrs={"normalized_shape": normalized})


@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 4), spatial=st.sampled_from([(), (3,), (2, 3)]),
       n_affine=st.integers(0, 2), training=st.booleans(), seed=seeds)
def test_batch_norm_conforms(n, c, spatial, n_affine, training, seed):
    rng = np.random.default_rng(seed)
    if training and n * int(np.prod(spatial)) < 2:
        n = 2
    x = rng.standard_normal((n, c) + spatial)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    inputs = [x, rm, rv] + [rng.standard_normal(c) for _ in range(n_affine)]
    check_op("batch_norm", inputs, reference=batch_norm_reference, attrs={"training": training},
             differentiable=[True, False, False] + [True] * n_affine)


@SETTINGS
@given(n=st.integers(1, 3), groups=st.integers(1, 3), per_group=st.integers(1, 3),
       spatial=st.sampled_from([(2,), (2, 3)]), n_affine=st.integers(0, 2), seed=seeds)
def test_group_norm_conforms(n, groups, per_group, spatial, n_affine, seed):
    rng = np.random.default_rng(seed)
    c = groups * per_group
    inputs = [rng.standard_normal((n, c) + spatial)] + [rng.standard_normal(c) for _ in range(n_affine)]
    check_op("group_norm", inputs, reference=group_norm_reference, attrs={"num_groups": groups})


def test_layer_norm_takes_its_shape_from_the_weight_and_a_scalar_weight_before_a_bias():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    check_op("layer_norm", [x, w, b], reference=lambda x, w, b, **_: layer_norm_reference(
        x, w, b, normalized_shape=(4,)))
    check_op("layer_norm", [x, np.asarray(1.0), b], attrs={"normalized_shape": (4,)},
             reference=lambda x, w, b, **kw: layer_norm_reference(x, b * 0 + 1, b, **kw))


def test_small_example_from_the_docstrings():
    op = ge.default_manager().get_op("layer_norm")
    np.testing.assert_allclose(op.forward(np, np.array([[1.0, 2.0, 3.0]]), normalized_shape=3),
                               [[-1.2247, 0.0, 1.2247]], atol=1e-4)
    bn = ge.default_manager().get_op("batch_norm")
    x = np.array([[1.0], [3.0]])
    np.testing.assert_allclose(bn.forward(np, x, np.zeros(1), np.ones(1), training=True, eps=0.0), [[-1.0], [1.0]])


def test_float32_stays_float32_with_float32_running_statistics():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    stats = np.zeros(3, np.float32), np.ones(3, np.float32)
    w, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    for name, inputs, attrs in [("batch_norm", [x, *stats, w, b], {"training": True}),
                                ("batch_norm", [x, *stats, w, b], {"training": False}),
                                ("group_norm", [x, w, b], {"num_groups": 3}),
                                ("layer_norm", [x, np.ones((4, 4), np.float32)], {})]:
        op = ge.default_manager().get_op(name)
        y = op.forward(np, *inputs, **attrs)
        grads = op.backward(np, np.ones_like(y), tuple(inputs), y, **attrs)
        assert y.dtype == np.float32, name
        assert all(g is None or g.dtype == np.float32 for g in grads), name


# -- errors at build time ----------------------------------------------------------------

def test_shape_errors_say_what_and_how_to_fix():
    g = ge.Graph()
    x = g.input("x", shape=(None, 6, 4, 4))
    with pytest.raises(ge.ShapeError, match=r"6 channels cannot be split into num_groups=4.*divisor of 6"):
        ge.ops.group_norm(x, num_groups=4)
    with pytest.raises(ge.ShapeError, match=r"op group_norm.*weight must have shape \(6,\)"):
        ge.ops.group_norm(x, g.param("w", np.ones(5)), num_groups=2)
    with pytest.raises(ge.ShapeError, match=r"running_mean must have shape \(6,\).*got \(4,\)"):
        ge.ops.batch_norm(x, g.const(np.zeros(4)), g.const(np.ones(6)))
    with pytest.raises(ge.ShapeError, match=r"normalized_shape \(3,\) must be the last axes"):
        ge.ops.layer_norm(x, normalized_shape=(3,))
    with pytest.raises(ge.AttributeSpecError, match="layer_norm needs normalized_shape="):
        ge.ops.layer_norm(x)
    with pytest.raises(ge.AttributeSpecError, match="num_groups must be a positive int"):
        ge.ops.group_norm(x, num_groups=0)
    with pytest.raises(ge.ShapeError, match="at most two inputs after"):
        ge.ops.layer_norm(x, g.const(np.ones(4)), g.const(np.ones(4)), g.const(np.ones(4)), normalized_shape=4)


def test_train_step_through_a_graph_changes_only_weight_and_bias():
    rng = np.random.default_rng(3)
    g = ge.Graph("bn")
    x = g.input("x", shape=(None, 2, 3, 3))
    w, b = g.param("w", np.ones(2)), g.param("b", np.zeros(2))
    rm, rv = g.const(np.zeros(2), name="rm"), g.const(np.ones(2), name="rv")
    y = ge.ops.batch_norm(x, rm, rv, w, b, training=True)
    loss = ge.ops.sum(y * y * y)
    run = g.forward({"x": rng.standard_normal((4, 2, 3, 3))}).backward(loss)
    assert run.grad(w).shape == (2,) and run.grad(b).shape == (2,)
    assert run.grad(x).shape == (4, 2, 3, 3)


# -- PyTorch, where it is installed ------------------------------------------------------

def test_against_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5, 5))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    lw, lb = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    seed = rng.standard_normal(x.shape)
    cases = [
        ("batch_norm", [x, rm, rv, w, b], {"training": True}, [0, 3, 4],
         lambda t: F.batch_norm(t[0], torch.tensor(rm), torch.tensor(rv), t[3], t[4], training=True)),
        ("batch_norm", [x, rm, rv, w, b], {"training": False}, [0, 3, 4],
         lambda t: F.batch_norm(t[0], torch.tensor(rm), torch.tensor(rv), t[3], t[4], training=False)),
        ("group_norm", [x, w, b], {"num_groups": 2}, [0, 1, 2], lambda t: F.group_norm(t[0], 2, t[1], t[2])),
        ("layer_norm", [x, lw, lb], {"normalized_shape": (5, 5)}, [0, 1, 2],
         lambda t: F.layer_norm(t[0], (5, 5), t[1], t[2])),
    ]
    for name, inputs, attrs, with_grad, torch_fn in cases:
        op = ge.default_manager().get_op(name)
        y = op.forward(np, *inputs, **attrs)
        grads = op.backward(np, seed, tuple(inputs), y, **attrs)
        tensors = [torch.tensor(v, requires_grad=i in with_grad) for i, v in enumerate(inputs)]
        ty = torch_fn(tensors)
        ty.backward(torch.tensor(seed))
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg=name)
        for i in with_grad:
            got = sum_to_shape(np, grads[i], inputs[i].shape)
            np.testing.assert_allclose(got, tensors[i].grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=f"{name} {i}")


def test_node_dtype_is_the_input_dtype_whatever_the_statistics_dtype():
    g = ge.Graph("dtypes")
    x = g.input("x", shape=(None, 2, 3, 3), dtype="float32")
    rm, rv = g.const(np.zeros(2)), g.const(np.ones(2))  # float64 statistics
    w64 = g.param("w", np.ones(2))
    nodes = [ge.ops.batch_norm(x, rm, rv, w64, training=True), ge.ops.batch_norm(x, rm, rv, w64),
             ge.ops.group_norm(x, w64, num_groups=2), ge.ops.layer_norm(x, g.param("lw", np.ones((3, 3))))]
    loss = ge.ops.sum(ge.ops.add(ge.ops.add(nodes[0], nodes[1]), ge.ops.add(nodes[2], nodes[3])))
    run = g.forward({"x": np.random.default_rng(0).standard_normal((2, 2, 3, 3)).astype(np.float32)})
    run.backward(loss)
    for node in nodes:
        assert node.dtype == np.float32 and run.value(node).dtype == np.float32, node.name
    assert run.grad(x).dtype == np.float32 and run.grad(w64).dtype == np.float64


def test_a_number_as_the_weight_before_a_bias_in_a_graph():
    g = ge.Graph("scalar_weight")
    x = g.input("x", shape=(None, 4, 3, 3), dtype="float32")
    b = g.param("b", np.zeros(4, np.float32))
    outputs = [ge.ops.layer_norm(x, 2.0, g.param("lb", np.zeros((3, 3), np.float32)), normalized_shape=(3, 3)),
               ge.ops.group_norm(x, 2.0, b, num_groups=2),
               ge.ops.batch_norm(x, g.const(np.zeros(4)), g.const(np.ones(4)), 2.0, b, training=True)]
    loss = ge.ops.sum(ge.ops.add(ge.ops.add(outputs[0], outputs[1]), outputs[2]))
    run = g.forward({"x": np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(np.float32)})
    run.backward(loss)
    for y in outputs:
        assert run.value(y).dtype == np.float32
        np.testing.assert_allclose(run.value(y).std(), 2.0, rtol=1e-3)
    np.testing.assert_allclose(run.grad(b), 2 * 18.0)  # two ops use b; each sums 2·3·3 ones
