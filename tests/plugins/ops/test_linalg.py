"""matmul (2-D, batched, 1-D operands) and transpose: conformance, shape rules, build-time errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)

# np.matmul's gufunc signature: '?' dims are optional, i.e. 1-D operands; batch axes broadcast
matmul_shapes = hnp.mutually_broadcastable_shapes(
    signature="(m?,n),(n,p?)->(m?,p?)", min_dims=0, max_dims=2, min_side=1, max_side=4
)


@SETTINGS
@given(shapes=matmul_shapes, seed=seeds)
def test_matmul_conforms_on_batched_and_1d_operands(shapes, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    check_op("matmul", [rng.standard_normal(a_shape), rng.standard_normal(b_shape)], reference=np.matmul)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (4, 5)),          # plain 2-D
    ((2, 3, 4), (4, 5)),       # batch @ matrix
    ((3, 4), (2, 4, 5)),       # matrix @ batch
    ((2, 1, 3, 4), (5, 4, 2)),  # batch axes broadcast both ways
    ((4,), (4, 5)),            # vector @ matrix
    ((3, 4), (4,)),            # matrix @ vector
    ((4,), (2, 4, 5)),         # vector @ batch
    ((2, 3, 4), (4,)),         # batch @ vector
    ((4,), (4,)),              # inner product: a 0-d array, not a NumPy scalar
])
def test_matmul_fixed_cases(a_shape, b_shape):
    rng = np.random.default_rng(0)
    check_op("matmul", [rng.standard_normal(a_shape), rng.standard_normal(b_shape)], reference=np.matmul)


def test_matmul_shape_rule_with_unknown_batch_axis():
    op = ge.default_manager().get_op("matmul")
    assert op.shape((None, 3), (3, 1)) == (None, 1)
    assert op.shape((None, 2, 3), (3,)) == (None, 2)
    assert op.shape((3,), (None, 3, 5)) == (None, 5)
    assert op.shape((4,), (4,)) == ()


def test_matmul_mismatch_is_refused_at_build_time_naming_op_and_shapes():
    g = ge.Graph("mm")
    x = g.input("x", shape=(None, 3))
    w = g.param("w", np.zeros((4, 1)))
    with pytest.raises(ge.ShapeError) as info:
        x @ w
    message = str(info.value)
    assert "matmul" in message
    assert "'x' (None, 3)" in message and "'w' (4, 1)" in message
    assert "size 3" in message and "size 4" in message


def test_matmul_of_a_scalar_is_refused_at_build_time():
    g = ge.Graph()
    x = g.input("x", shape=())
    with pytest.raises(ge.ShapeError, match="use mul"):
        x @ np.ones(3)


def _permutations(draw_shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=3)):
    @st.composite
    def strategy(draw):
        shape = draw(draw_shape)
        axes = draw(st.permutations(range(len(shape))))
        # some axes written as negative numbers, as users do
        axes = tuple(a - len(shape) if draw(st.booleans()) else a for a in axes)
        return shape, axes
    return strategy()


@SETTINGS
@given(case=_permutations(), seed=seeds)
def test_transpose_conforms(case, seed):
    shape, axes = case
    x = np.random.default_rng(seed).standard_normal(shape)
    check_op("transpose", [x], reference=lambda x, axes: np.transpose(x, axes), attrs={"axes": axes})


@pytest.mark.parametrize("shape, axes", [
    ((2, 3), (1, 0)),
    ((2, 3, 4), (1, 2, 0)),      # 3-cycles: the backward needs the inverse permutation
    ((2, 3, 4), (2, 0, 1)),
    ((2, 3, 4), (-1, 0, -2)),
    ((2, 3, 4, 5), (3, 0, 1, 2)),
    ((2, 3, 4, 5), (0, 2, 3, 1)),
])
def test_transpose_fixed_permutations(shape, axes):
    x = np.random.default_rng(0).standard_normal(shape)
    check_op("transpose", [x], reference=lambda x, axes: np.transpose(x, axes), attrs={"axes": axes})


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=3), seed=seeds)
def test_transpose_without_axes_reverses_them(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    check_op("transpose", [x], reference=lambda x: x.T)


@pytest.mark.parametrize("axes", [(0, 0, 1), (0, 1), (0, 1, 3), (0, 1, 2, 3)])
def test_transpose_refuses_a_non_permutation_at_build_time(axes):
    g = ge.Graph()
    x = g.input("x", shape=(None, 2, 3))
    with pytest.raises(ge.ShapeError, match="not a permutation"):
        ge.ops.transpose(x, axes=axes)


def test_dense_layer_through_the_graph():
    rng = np.random.default_rng(3)
    g = ge.Graph("dense")
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.standard_normal((3, 2)))
    b = g.param("b", rng.standard_normal(2))
    h = x @ W + b
    loss = ge.ops.sum(h.T @ h)
    X = rng.standard_normal((5, 3))
    run = g.forward({"x": X}, fetch=[loss, h])
    H = X @ W.value + b.value
    np.testing.assert_allclose(run.value(h), H)
    np.testing.assert_allclose(run.value(loss), np.sum(H.T @ H))
    run.backward(loss)
    # loss = Σ_ij Σ_n H_ni H_nj = Σ_n (Σ_i H_ni)², so dloss/dH_nk = 2 Σ_i H_ni
    dH = 2 * np.repeat(H.sum(axis=1, keepdims=True), 2, axis=1)
    np.testing.assert_allclose(run.grad(W), X.T @ dH)
    np.testing.assert_allclose(run.grad(b), dH.sum(axis=0))


def test_batched_matmul_float32_through_the_graph():
    rng = np.random.default_rng(4)
    g = ge.Graph()
    a = g.input("a", shape=(None, 2, 3), dtype="float32")
    w = g.param("w", rng.standard_normal((3, 4)).astype(np.float32))
    loss = ge.ops.mean(a @ w)
    A = rng.standard_normal((5, 2, 3)).astype(np.float32)
    run = g.forward({"a": A}, fetch=[loss]).backward(loss)
    assert run.value(loss).dtype == np.float32 and run.grad(w).dtype == np.float32
    # d mean / dw = Σ_{batch,rows} a / (5·2·4)
    want = np.repeat(A.sum(axis=(0, 1))[:, None], 4, axis=1) / 40
    np.testing.assert_allclose(run.grad(w), want, rtol=1e-5)
