"""Normalisation layers (LayerNorm, BatchNorm2d, GroupNorm): scopes, params, training and
evaluation paths, running statistics through the graph state updates, errors; and
``Module.summary()``."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.nn import ModuleError


def _images(rng, n=4, c=3, h=5, w=5):
    return (rng.standard_normal((n, c, h, w)) * np.arange(1, c + 1)[None, :, None, None]
            + np.arange(c)[None, :, None, None]).astype(np.float32)


def test_batchnorm2d_training_path_normalises_per_channel_and_updates_running_stats(rng):
    g = ge.Graph("bn2d")
    x = g.input("x", shape=(None, 3, 5, 5))
    bn = ge.nn.BatchNorm2d(3)
    assert bn.is_mode_dependent and bn.parameter_count() == 6
    y = bn(x)
    with g.scope("eval"):
        y_eval = bn(x, training=False)
    assert [p.name for p in bn.params()] == ["batchnorm2d/weight", "batchnorm2d/bias"]
    assert y.op == "batch_norm" and y.attrs["training"] and not y_eval.attrs["training"]
    X = _images(rng)
    (update,) = bn.state_updates()
    run = g.forward({x: X}, fetch=[y, y_eval, *update.nodes])
    out = run.value(y)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-3)
    np.testing.assert_allclose(run.value(y_eval), X / np.sqrt(1 + 1e-5), rtol=1e-5)
    bn.update_running_stats(run)
    np.testing.assert_allclose(bn.running_mean, 0.1 * X.mean(axis=(0, 2, 3)), rtol=1e-4)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * X.var(axis=(0, 2, 3), ddof=1), rtol=1e-4)
    assert bn.running_mean.dtype == np.float32


def test_batchnorm2d_matches_pytorch_over_two_training_steps_and_eval(rng):
    torch = pytest.importorskip("torch")
    g = ge.Graph("bn2d")
    x = g.input("x", shape=(None, 3, 4, 4), dtype="float64")
    bn = ge.nn.BatchNorm2d(3, momentum=0.3, dtype="float64")
    y = bn(x)
    with g.scope("eval"):
        y_eval = bn(x, training=False)
    ref = torch.nn.BatchNorm2d(3, momentum=0.3).double()
    for step in range(2):
        X = _images(rng, c=3, h=4, w=4).astype(np.float64)
        run = g.forward({x: X})
        ref.train()
        want = ref(torch.tensor(X))
        np.testing.assert_allclose(run.value(y), want.detach().numpy(), rtol=1e-10, atol=1e-10)
        for u in bn.state_updates():
            u.apply(*(run.value(n) for n in u.nodes))
        np.testing.assert_allclose(bn.running_mean, ref.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(bn.running_var, ref.running_var.numpy(), rtol=1e-12)
    ref.eval()
    np.testing.assert_allclose(g.forward({x: X}).value(y_eval), ref(torch.tensor(X)).detach().numpy(), rtol=1e-10)


def test_fit_updates_batchnorm2d_running_statistics(rng):
    X = _images(rng, n=32, c=2, h=3, w=3) + 5.0
    labels = (X.mean(axis=(1, 2, 3)) > 5.5).astype(np.int64)
    model = ge.nn.Sequential(ge.nn.BatchNorm2d(2), ge.nn.Flatten(), ge.nn.Dense(18, 2), seed=0)
    ge.training.fit(model, X, labels, loss="cross_entropy", optimizer="sgd", lr=0.1, epochs=2, batch_size=16,
                    seed=0, progress=False)
    bn = model[0]
    assert np.all(bn.running_mean > 0.5)  # moved from 0 towards the data's means (~5)


def test_layernorm_and_groupnorm_layers(rng):
    g = ge.Graph("norms")
    x = g.input("x", shape=(None, 4, 3, 3), dtype="float64")
    ln = ge.nn.LayerNorm((3, 3), dtype="float64")
    gn = ge.nn.GroupNorm(2, 4, dtype="float64")
    y_ln, y_gn = ln(x), gn(x)
    assert ln.parameter_count() == 18 and gn.parameter_count() == 8
    assert [p.name for p in gn.params()] == ["groupnorm/weight", "groupnorm/bias"]
    assert y_ln.op == "layer_norm" and y_gn.op == "group_norm" and y_ln.shape == (None, 4, 3, 3)
    assert not ln.is_mode_dependent and not gn.is_mode_dependent
    X = rng.standard_normal((2, 4, 3, 3))
    loss = ge.ops.sum(y_ln * y_gn * y_gn)
    run = g.forward({x: X}).backward(loss)
    np.testing.assert_allclose(run.value(y_ln).mean(axis=(2, 3)), 0, atol=1e-12)
    groups = run.value(y_gn).reshape(2, 2, -1)
    np.testing.assert_allclose(groups.mean(axis=2), 0, atol=1e-12)
    assert run.grad(gn.params()[0]).shape == (4,) and run.grad(ln.params()[0]).shape == (3, 3)
    assert ge.nn.LayerNorm(8, elementwise_affine=False).parameter_count() == 0
    assert ge.nn.LayerNorm(8, bias=False).parameter_count() == 8
    assert "GroupNorm(2, 4" in repr(gn) and "LayerNorm((3, 3)" in repr(ln)


def test_normalisation_layers_match_pytorch(rng):
    torch = pytest.importorskip("torch")
    X = rng.standard_normal((2, 4, 3, 3))
    for layer, ref in [(ge.nn.LayerNorm((4, 3, 3), dtype="float64"), torch.nn.LayerNorm((4, 3, 3))),
                       (ge.nn.GroupNorm(2, 4, dtype="float64"), torch.nn.GroupNorm(2, 4))]:
        g = ge.Graph()
        x = g.input("x", shape=(None, 4, 3, 3), dtype="float64")
        y = layer(x)
        np.testing.assert_allclose(g.forward({x: X}).value(y), ref.double()(torch.tensor(X)).detach().numpy(),
                                   rtol=1e-10, atol=1e-12)


def test_layer_errors_name_the_layer_and_the_fix():
    g = ge.Graph()
    x = g.input("x", shape=(None, 6, 4, 4))
    with pytest.raises(ModuleError, match=r"BatchNorm2d 'batchnorm2d' normalises 3 channels.*6 channels on axis 1"):
        ge.nn.BatchNorm2d(3)(x)
    with pytest.raises(ModuleError, match=r"\(N, C, H, W\).*use ge.nn.BatchNorm"):
        ge.nn.BatchNorm2d()(g.input("flat", shape=(None, 6)))
    with pytest.raises(ModuleError, match="num_channels=6 is not divisible by num_groups=4"):
        ge.nn.GroupNorm(4, 6)
    with pytest.raises(ModuleError, match=r"GroupNorm 'groupnorm' expects inputs \(N, 8, ...\)"):
        ge.nn.GroupNorm(2, 8)(x)
    with pytest.raises(ModuleError, match=r"trailing axes \(5,\)"):
        ge.nn.LayerNorm(5)(x)
    with pytest.raises(ModuleError, match="normalized_shape must be a positive int"):
        ge.nn.LayerNorm(0)


# -- summary ---------------------------------------------------------------------------------

def test_summary_lists_layers_output_shapes_and_parameter_counts():
    g = ge.Graph("cnn")
    x = g.input("x", shape=(None, 3, 8, 8))
    model = ge.nn.Sequential(ge.nn.BatchNorm2d(3), ge.nn.GroupNorm(1, 3), ge.nn.Flatten(),
                             ge.nn.LayerNorm(192), ge.nn.Dense(192, 10), seed=0)
    before = model.summary()
    assert "batchnorm2d_1" in before and "?" not in before.splitlines()[-1]  # sizes known from the arguments
    model(x)
    lines = model.summary().splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "params"]
    rows = {line.split()[0]: line for line in lines[2:-3]}
    assert rows["batchnorm2d_1"].split()[1:] == ["BatchNorm2d", "(?,", "3,", "8,", "8)", "6"]
    assert rows["groupnorm_1"].split()[-1] == "6"
    assert rows["layernorm_1"].split()[1:] == ["LayerNorm", "(?,", "192)", "384"]
    assert rows["dense_1"].split()[-1] == "1930" and "(?, 10)" in rows["sequential"]
    total = 6 + 6 + 384 + 1930
    assert lines[-2] == f"total parameters: {total}" and model.parameter_count() == total
    assert lines[-1].startswith("non-trainable state values: 6 (running statistics")


def test_summary_before_the_first_call_shows_unknown_sizes_instead_of_failing():
    text = ge.nn.Sequential(ge.nn.BatchNorm2d(), ge.nn.Dense(None, 3)).summary()
    assert "total parameters: ?" in text
    assert [line.split()[-1] for line in text.splitlines()[3:5]] == ["?", "?"]


def test_batch_norm_called_twice_in_training_mode_names_its_second_statistics_apart():
    g = ge.Graph("g")
    x = g.input("x", shape=(None, 3))
    bn = ge.nn.BatchNorm(3)
    bn(x)
    bn(x)  # a second training path (what fit builds when it trains a built model again)
    names = [n.name for n in g.nodes() if "batch_" in n.name]
    assert names == ["batchnorm/batch_mean", "batchnorm/batch_var", "batchnorm/batch_mean_2", "batchnorm/batch_var_2"]
    assert len(bn.batch_stats) == 2
