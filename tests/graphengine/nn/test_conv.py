"""Convolution layers: shapes, parameter layouts and counts, torch's default init, scopes,
numerics against the op (and torch.nn where installed), padding modes, errors, training."""

import math

import numpy as np
import pytest

import graphengine as ge
from graphengine.nn import ModuleError


def _image_graph(shape, name="g"):
    g = ge.Graph(name)
    return g, g.input("x", shape=shape)


def test_conv2d_layer_shapes_params_and_scope():
    g, x = _image_graph((None, 1, 28, 28))
    conv = ge.nn.Conv2d(1, 6, 5, padding=2, seed=0)
    assert conv.parameter_count() == 6 * 25 + 6  # known before it is built
    y = conv(x)
    assert y.shape == (None, 6, 28, 28)
    assert [p.name for p in conv.params()] == ["conv2d/weight", "conv2d/bias"]
    assert conv.weight.shape == (6, 1, 5, 5) and conv.bias.shape == (6,)
    assert conv.weight.value.dtype == np.float32
    assert y.name.startswith("conv2d/")
    X = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    out = g.forward({"x": X}, fetch=[y]).value(y)
    want = ge.default_manager().get_op("conv2d").forward(np, X, conv.weight.value, conv.bias.value, padding=2)
    np.testing.assert_allclose(out, want, rtol=1e-6)
    assert out.dtype == np.float32


def test_default_init_is_torch_uniform_on_one_over_sqrt_fan_in():
    g, x = _image_graph((None, 8, 10, 10))
    conv = ge.nn.Conv2d(8, 64, 3, groups=2, seed=1)
    conv(x)
    bound = 1 / math.sqrt(4 * 9)  # fan_in = in_channels/groups * kh * kw
    w, b = conv.weight.value, conv.bias.value
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound
    assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.1 * bound  # uniform's std


def test_seeded_layers_are_reproducible_and_init_can_be_overridden():
    values = []
    for _ in range(2):
        g, x = _image_graph((None, 3, 8, 8))
        conv = ge.nn.Conv2d(3, 4, 3, seed=7)
        conv(x)
        values.append(conv.weight.value.copy())
    np.testing.assert_array_equal(*values)
    g, x = _image_graph((None, 3, 8, 8))
    conv = ge.nn.Conv2d(3, 4, 3, init=0.5, bias=False)
    conv(x)
    assert np.all(conv.weight.value == 0.5) and [p.name for p in conv.params()] == ["conv2d/weight"]
    with pytest.raises(ModuleError, match="bias=False"):
        conv.bias


def test_conv1d_and_conv_transpose2d_layers():
    g = ge.Graph("layers")
    s = g.input("s", shape=(None, 4, 20))
    conv1 = ge.nn.Conv1d(4, 8, 3, stride=2, padding=1)
    assert conv1(s).shape == (None, 8, 10)
    assert conv1.weight.shape == (8, 4, 3)
    h = g.input("h", shape=(None, 16, 7, 7))
    up = ge.nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert up(h).shape == (None, 8, 14, 14)
    assert up.weight.shape == (16, 4, 3, 3) and up.parameter_count() == 16 * 4 * 9 + 8
    assert "output_padding=(1, 1)" in repr(up)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_add_a_pad_node(mode):
    g, x = _image_graph((None, 2, 6, 6))
    conv = ge.nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode, seed=0)
    y = conv(x)
    assert y.shape == (None, 3, 6, 6)
    pads = [n for n in g.nodes() if n.kind == "op" and n.op == "pad"]
    assert len(pads) == 1 and pads[0].attrs["mode"] == mode and pads[0].name.startswith("conv2d/")
    same = ge.nn.Conv2d(2, 3, 4, padding="same", padding_mode=mode)(x)
    assert same.shape == (None, 3, 6, 6)


def test_layer_errors_say_what_to_fix():
    g, x = _image_graph((None, 3, 8, 8))
    with pytest.raises(ModuleError, match="expects 1 input channels.*3 channels"):
        ge.nn.Conv2d(1, 6, 3)(x)
    with pytest.raises(ModuleError, match=r"expects inputs of shape \(N, C, L\)"):
        ge.nn.Conv1d(3, 6, 3)(x)
    with pytest.raises(ModuleError, match="divisible by groups"):
        ge.nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ModuleError, match="kernel_size must be an int or a tuple of 2 ints"):
        ge.nn.Conv2d(3, 6, (3, 3, 3))
    with pytest.raises(ModuleError, match="padding_mode"):
        ge.nn.Conv2d(3, 6, 3, padding_mode="mirror")
    with pytest.raises(ModuleError, match="padding"):
        ge.nn.ConvTranspose2d(3, 6, 3, padding="same")


def test_small_cnn_learns_with_fit():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((192, 1, 8, 8)).astype(np.float32) * 0.3
    labels = rng.integers(0, 2, 192)
    X[labels == 1, :, :, :4] += 1.0  # class 1: bright left half
    model = ge.nn.Sequential(ge.nn.Conv2d(1, 4, 3, padding=1), "relu", ge.nn.Conv2d(4, 4, 3, stride=2), "relu",
                             ge.nn.Flatten(), ge.nn.Dense(None, 2), seed=0)
    history = ge.training.fit(model, X, labels, loss="cross_entropy", optimizer="adam", lr=0.01, epochs=8,
                              batch_size=32, seed=0, progress=False)
    assert history.last("accuracy") > 0.95


def test_conv_layers_match_torch_nn():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for layer, torch_layer, shape in [
        (ge.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, padding_mode="reflect"),
         torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, padding_mode="reflect"), (2, 4, 9, 9)),
        (ge.nn.Conv1d(3, 5, 4, padding="same", dilation=2), torch.nn.Conv1d(3, 5, 4, padding="same", dilation=2),
         (2, 3, 12)),
        (ge.nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1), torch.nn.ConvTranspose2d(4, 6, 3, stride=2,
                                                                                             output_padding=1),
         (2, 4, 5, 5)),
    ]:
        g, x = _image_graph((None,) + shape[1:])
        y = layer(x)
        with torch.no_grad():
            torch_layer.weight.copy_(torch.tensor(layer.weight.value))
            torch_layer.bias.copy_(torch.tensor(layer.bias.value))
        X = rng.standard_normal(shape).astype(np.float32)
        out = g.forward({"x": X}, fetch=[y]).value(y)
        np.testing.assert_allclose(out, torch_layer(torch.tensor(X)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_conv_model_survives_save_and_load(tmp_path):
    g, x = _image_graph((None, 2, 8, 8))
    model = ge.nn.Sequential(ge.nn.Conv2d(2, 3, 3, padding="same", padding_mode="reflect"), "relu",
                             ge.nn.ConvTranspose2d(3, 2, 2, stride=2, output_padding=1, dilation=2), seed=0)
    y = model(x)
    X = np.random.default_rng(0).random((2, 2, 8, 8)).astype(np.float32)
    before = g.forward({"x": X}, fetch=[y]).value(y)
    g.save(str(tmp_path / "conv.ge"))
    g2 = ge.load(str(tmp_path / "conv.ge"))
    after = g2.forward({"x": X}, fetch=[g2.node(y.name)]).value(g2.node(y.name))
    assert before.shape == (2, 2, 18, 18)
    np.testing.assert_array_equal(before, after)
