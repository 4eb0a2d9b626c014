"""ge.nn.Embedding: scope and param, torch's initialization and padding row, lookups and
their gradients, training, errors."""

import numpy as np
import pytest

import graphengine as ge


def _ids_graph(shape=(None, 3)):
    g = ge.Graph("embed")
    return g, g.input("ids", shape=shape, dtype="int64")


def test_adds_its_weight_under_its_scope_and_gives_ids_shape_plus_dim():
    g, ids = _ids_graph()
    layer = ge.nn.Embedding(10, 4, seed=0)
    out = layer(ids)
    assert out.shape == (None, 3, 4) and out.dtype == np.float32
    assert out.op == "embedding" and out.name.startswith("embedding/")
    assert layer.weight.name == "embedding/weight" and layer.weight.shape == (10, 4)
    assert layer.weight.dtype == np.float32
    assert layer.parameter_count() == 40 and layer.expected_param_shapes() == {"weight": (10, 4)}
    assert repr(layer) == "Embedding(10, 4)"


def test_parameter_count_is_known_before_it_is_built():
    assert ge.nn.Embedding(7, 3).parameter_count() == 21


def test_weight_starts_standard_normal_and_the_padding_row_at_zero():
    g, ids = _ids_graph()
    layer = ge.nn.Embedding(2000, 8, padding_idx=-1, seed=1)
    layer(ids)
    weight = layer.weight.value
    assert layer.padding_idx == 1999 and repr(layer) == "Embedding(2000, 8, padding_idx=1999)"
    np.testing.assert_array_equal(weight[1999], 0)
    assert abs(float(weight[:1999].mean())) < 0.05 and abs(float(weight[:1999].std()) - 1.0) < 0.05


def test_same_seed_gives_the_same_table():
    tables = []
    for _ in range(2):
        g, ids = _ids_graph()
        layer = ge.nn.Embedding(5, 3, seed=3)
        layer(ids)
        tables.append(layer.weight.value)
    np.testing.assert_array_equal(*tables)


def test_an_array_init_is_kept_as_given():
    table = np.arange(6.0).reshape(3, 2)
    g, ids = _ids_graph()
    layer = ge.nn.Embedding(3, 2, padding_idx=0, init=table)
    out = layer(ids)
    np.testing.assert_array_equal(layer.weight.value, table)  # from_pretrained keeps the padding row
    run = g.forward({"ids": np.array([[2, 0, 2]])})
    np.testing.assert_array_equal(run.value(out), [[[4, 5], [0, 1], [4, 5]]])
    assert table[0, 1] == 1.0  # the caller's array is untouched


def test_gradient_sums_repeats_and_leaves_the_padding_row_alone_in_training():
    g, ids = _ids_graph()
    layer = ge.nn.Embedding(4, 2, padding_idx=0, seed=0)
    vectors = layer(ids)
    loss = ge.ops.sum(vectors)
    run = g.forward({"ids": np.array([[1, 1, 0], [3, 1, 0]])}).backward(loss)
    np.testing.assert_array_equal(run.grad(layer.weight), [[0, 0], [3, 3], [0, 0], [1, 1]])
    optimizer = ge.optimizers.create("sgd", g.params(), lr=0.1)
    before = layer.weight.value.copy()
    optimizer.step(run)
    np.testing.assert_array_equal(layer.weight.value[0], 0)
    np.testing.assert_allclose(layer.weight.value[1], before[1] - 0.3, rtol=1e-6)


def test_learns_to_classify_tokens():
    """Two classes told apart by which token an example holds: the table learns it."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 6, (64, 1))
    labels = (tokens[:, 0] >= 3).astype(np.int64)
    g, ids = _ids_graph((None, 1))
    y = g.input("y", shape=(None,), dtype="int64")
    model = ge.nn.Sequential(ge.nn.Embedding(6, 4), ge.nn.Flatten(), ge.nn.Dense(4, 2), seed=0)
    logits = model(ids)
    loss = ge.ops.cross_entropy(logits, y, reduction="mean")
    optimizer = ge.optimizers.create("adam", g.params(), lr=0.05)
    for _ in range(60):
        run = g.forward({"ids": tokens, "y": labels}, fetch=[loss, logits]).backward(loss)
        optimizer.step(run)
    assert float(run.value(loss)) < 0.1
    assert (run.value(logits).argmax(axis=1) == labels).all()


@pytest.mark.parametrize("args, match", [
    ((0, 3), "num_embeddings must be a positive int"),
    ((4, 2.5), "embedding_dim must be a positive int"),
    ((4, 2, 4), r"padding_idx must be an int in \[-4, 4\)"),
])
def test_bad_sizes_are_refused_at_construction(args, match):
    with pytest.raises(ge.nn.ModuleError, match=match):
        ge.nn.Embedding(*args)


def test_float_ids_are_refused_with_the_fix():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3), dtype="float32")
    with pytest.raises(ge.nn.ModuleError, match="dtype='int64'"):
        ge.nn.Embedding(4, 2)(x)


def test_matches_torch_embedding_forward_and_backward():
    torch = pytest.importorskip("torch")
    table = np.random.default_rng(5).standard_normal((6, 3)).astype(np.float32)
    id_values = np.array([[5, 2, 2], [0, 5, 2]])
    reference = torch.nn.Embedding(6, 3, padding_idx=2)
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(table))
    want = reference(torch.tensor(id_values))
    want.pow(2).sum().backward()
    g, ids = _ids_graph()
    layer = ge.nn.Embedding(6, 3, padding_idx=2, init=table)
    out = layer(ids)
    loss = ge.ops.sum(out * out)
    run = g.forward({"ids": id_values}).backward(loss)
    np.testing.assert_allclose(run.value(out), want.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(run.grad(layer.weight), reference.weight.grad.numpy(), rtol=1e-6)
