"""einsum: explicit and implicit output, ellipsis, diagonals, broadcasting; check_op and PyTorch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.op import sum_to_shape
from graphengine.testing import check_op

RNG = np.random.default_rng(11)


def normal(*shape):
    return RNG.standard_normal(shape)


CASES = [
    ("ij,jk->ik", [normal(3, 4), normal(4, 2)]),
    ("bij,bjk->bik", [normal(2, 3, 4), normal(2, 4, 5)]),
    ("ij,jk", [normal(3, 4), normal(4, 2)]),          # implicit output: ik
    ("i,i->", [normal(4), normal(4)]),                 # dot product
    ("i,j->ij", [normal(3), normal(2)]),               # outer product
    ("ij->ji", [normal(3, 4)]),
    ("ij->", [normal(3, 4)]),
    ("ij->i", [normal(3, 4)]),                         # j is summed out: its gradient is broadcast
    ("ii", [normal(3, 3)]),                            # trace
    ("ii->i", [normal(3, 3)]),                         # diagonal
    ("iij,k->jk", [normal(3, 3, 2), normal(2)]),
    ("...ij,...jk->...ik", [normal(2, 3, 4), normal(4, 5)]),
    ("...j,...j->...", [normal(3, 4), normal(2, 1, 4)]),   # the ellipsis broadcasts (1 against 3)
    ("b h i d, b h j d -> b h i j", [normal(2, 2, 3, 4), normal(2, 2, 5, 4)]),  # attention scores
]


@pytest.mark.parametrize("equation, inputs", CASES, ids=[c[0] for c in CASES])
def test_einsum_conforms(equation, inputs):
    check_op("einsum", inputs, reference=lambda *xs, equation: np.einsum(equation, *xs),
             attrs={"equation": equation})


def test_einsum_matches_pytorch():
    torch = pytest.importorskip("torch")
    for equation, inputs in CASES:
        op = ge.default_manager().get_op("einsum")
        out = op.forward(np, *inputs, equation=equation)
        seed = RNG.standard_normal(out.shape)
        grads = op.backward(np, seed, tuple(inputs), out, equation=equation)
        tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
        want = torch.einsum(equation, *tensors)
        want.backward(torch.tensor(seed))
        np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=equation)
        for g, x, t in zip(grads, inputs, tensors):
            summed = sum_to_shape(np, np.asarray(g), x.shape)  # the engine sums broadcast gradients back
            np.testing.assert_allclose(summed, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=equation)


def test_einsum_through_the_graph_in_float32():
    g = ge.Graph()
    q = g.input("q", shape=(None, 3, 4), dtype="float32")
    k = g.input("k", shape=(None, 5, 4), dtype="float32")
    scores = ge.ops.einsum(q, k, equation="bid,bjd->bij")
    assert scores.shape == (None, 3, 5) and scores.dtype == np.float32
    loss = ge.ops.sum(scores * scores)
    Q = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    K = RNG.standard_normal((2, 5, 4)).astype(np.float32)
    for fetch in (None, [loss, q, k]):
        run = g.forward({"q": Q, "k": K}, fetch=fetch).backward(loss)
        S = np.einsum("bid,bjd->bij", Q, K)
        assert run.grad(q).dtype == np.float32
        np.testing.assert_allclose(run.grad(q), np.einsum("bij,bjd->bid", 2 * S, K), rtol=1e-5)
        np.testing.assert_allclose(run.grad(k), np.einsum("bij,bid->bjd", 2 * S, Q), rtol=1e-5)


def test_einsum_errors_name_the_node_the_letter_and_the_sizes():
    g = ge.Graph()
    a = g.input("a", shape=(None, 3))
    b = g.input("b", shape=(4, 2))
    with pytest.raises(ge.ShapeError, match=r"'prod'.*letter 'j' has size 3 in an earlier operand and 4 in operand 1"):
        ge.ops.einsum(a, b, equation="ij,jk->ik", name="prod")
    with pytest.raises(ge.AttributeSpecError, match="names 1 operand, but 2 were given"):
        ge.ops.einsum(a, b, equation="ij->i")
    with pytest.raises(ge.AttributeSpecError, match="einsum needs equation="):
        ge.ops.einsum(a, b)
    with pytest.raises(ge.ShapeError, match="does not fit an operand of 2 axes"):
        ge.ops.einsum(a, equation="ijk->i")
    with pytest.raises(ge.AttributeSpecError, match="output names each letter once"):
        ge.ops.einsum(a, equation="ij->iz")


def test_an_integer_operand_meeting_float32_gives_float32():
    g = ge.Graph()
    a = g.input("a", shape=(2, 3), dtype="float32")
    m = g.input("m", shape=(3,), dtype="int32")
    y = ge.ops.einsum(a, m, equation="ij,j->i")
    loss = ge.ops.sum(y)
    feeds = {"a": np.ones((2, 3), np.float32), "m": np.array([1, 2, 3], np.int32)}
    run = g.forward(feeds).backward(loss)
    assert y.dtype == run.value(y).dtype == run.grad(a).dtype == np.float32
    np.testing.assert_array_equal(run.value(y), [6.0, 6.0])
    np.testing.assert_array_equal(run.grad(a), [[1.0, 2.0, 3.0]] * 2)


@settings(max_examples=10, deadline=None)
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=3),
       sizes=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)), seed=st.integers(0, 2**32 - 1))
def test_batched_matmul_einsum_conforms_on_random_broadcast_batches(batch, sizes, seed):
    i, j, k = sizes
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(batch.input_shapes[0] + (i, j))
    b = rng.standard_normal(batch.input_shapes[1] + (j, k))
    check_op("einsum", [a, b], reference=lambda *xs, equation: np.einsum(equation, *xs),
             attrs={"equation": "...ij,...jk->...ik"})
