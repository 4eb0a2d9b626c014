"""Convolution ops: conv1d, conv2d, conv_transpose2d and pad, through check_op on hypothesis
cases against naive loop references; PyTorch comparisons where torch is installed;
build-time errors that name the node, the op and the shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=10, deadline=None)


# --------------------------------------------------------------------------- references
# Written from the definitions, one output pixel at a time: slow, obviously right.

def _pads(padding, kernel, dilation):
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "same":
        return [((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2) for k, d in zip(kernel, dilation)]
    padding = (padding,) * len(kernel) if isinstance(padding, int) else padding
    return [(p, p) for p in padding]


def _pair(v, n=2):
    return (v,) * n if isinstance(v, int) else tuple(v)


def conv2d_reference(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    kh, kw = w.shape[2:]
    (pt, pb), (pl, pr) = _pads(padding, (kh, kw), (dh, dw))
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    n, c, hp, wp = xp.shape
    o = w.shape[0]
    ho, wo = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    cg, og = c // groups, o // groups
    y = np.zeros((n, o, ho, wo))
    for oc in range(o):
        g = oc // og
        for i in range(ho):
            for j in range(wo):
                patch = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw]
                y[:, oc, i, j] = np.sum(patch * w[oc], axis=(1, 2, 3))
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv1d_reference(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    padding = padding if isinstance(padding, str) else (0, _pair(padding, 1)[0])
    y = conv2d_reference(x[:, :, None], w[:, :, None], b, stride=(1, _pair(stride, 1)[0]), padding=padding,
                         dilation=(1, _pair(dilation, 1)[0]), groups=groups)
    return y[:, :, 0]


def conv_transpose2d_reference(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    (sh, sw), (dh, dw), (ph, pw), (oph, opw) = _pair(stride), _pair(dilation), _pair(padding), _pair(output_padding)
    n, c, h, wd = x.shape
    kh, kw = w.shape[2:]
    og = w.shape[1]
    cg = c // groups
    full = np.zeros((n, og * groups, (h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw))
    for ci in range(c):
        g = ci // cg
        for i in range(h):
            for j in range(wd):
                full[:, g * og:(g + 1) * og, i * sh:i * sh + dh * (kh - 1) + 1:dh, j * sw:j * sw + dw * (kw - 1) + 1:dw] += \
                    x[:, ci, i, j][:, None, None, None] * w[ci][None]
    y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def pad_reference(x, pad, mode="constant", value=None):
    pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)][::-1]
    pairs = [(0, 0)] * (x.ndim - len(pairs)) + pairs
    if mode == "constant":  # negative pads crop
        crop = tuple(slice(max(-lo, 0), x.shape[i] - max(-hi, 0)) for i, (lo, hi) in enumerate(pairs))
        return np.pad(x[crop], [(max(lo, 0), max(hi, 0)) for lo, hi in pairs], constant_values=value or 0)
    return np.pad(x, pairs, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])


# --------------------------------------------------------------------------- hypothesis cases

@st.composite
def conv_cases(draw, spatial=2):
    groups = draw(st.sampled_from([1, 1, 2]))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(spatial))
    kind = draw(st.sampled_from(["int", "tuple", "same", "valid"]))
    stride = (1,) * spatial if kind == "same" else tuple(draw(st.integers(1, 2)) for _ in range(spatial))
    padding = {"int": draw(st.integers(0, 2)), "tuple": tuple(draw(st.integers(0, 2)) for _ in range(spatial)),
               "same": "same", "valid": "valid"}[kind]
    sizes = tuple(d * (k - 1) + 1 + draw(st.integers(0, 3)) for k, d in zip(kernel, dilation))
    n = draw(st.integers(1, 2))
    attrs = {"stride": stride if draw(st.booleans()) or spatial == 1 else stride[0], "padding": padding,
             "dilation": dilation, "groups": groups}
    if spatial == 1:
        attrs = {k: (v[0] if isinstance(v, tuple) else v) for k, v in attrs.items()}
    return (n, c) + sizes, (o, c // groups) + kernel, draw(st.booleans()), attrs


@st.composite
def transpose_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    padding = tuple(draw(st.integers(0, (d * (k - 1)) // 2)) for k, d in zip(kernel, dilation))
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    attrs = {"stride": stride, "padding": padding, "output_padding": output_padding, "dilation": dilation,
             "groups": groups}
    return (draw(st.integers(1, 2)), c) + size, (c, o // groups) + kernel, draw(st.booleans()), attrs


def _inputs(rng, x_shape, w_shape, bias):
    inputs = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    if bias:
        inputs.append(rng.standard_normal(w_shape[0]))
    return inputs


@SETTINGS
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_conforms(case, seed):
    x_shape, w_shape, bias, attrs = case
    check_op("conv2d", _inputs(np.random.default_rng(seed), x_shape, w_shape, bias), reference=conv2d_reference,
             attrs=attrs)


@SETTINGS
@given(case=conv_cases(spatial=1), seed=st.integers(0, 2**32 - 1))
def test_conv1d_conforms(case, seed):
    x_shape, w_shape, bias, attrs = case
    check_op("conv1d", _inputs(np.random.default_rng(seed), x_shape, w_shape, bias), reference=conv1d_reference,
             attrs=attrs)


@SETTINGS
@given(case=transpose_cases(), seed=st.integers(0, 2**32 - 1))
def test_conv_transpose2d_conforms(case, seed):
    x_shape, w_shape, bias, attrs = case
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    if bias:
        inputs.append(rng.standard_normal(w_shape[1] * attrs["groups"]))
    check_op("conv_transpose2d", inputs, reference=conv_transpose2d_reference, attrs=attrs)


@st.composite
def pad_cases(draw):
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    shape = tuple(draw(st.integers(2, 4)) for _ in range(draw(st.integers(2, 4))))
    axes = draw(st.integers(1, min(3, len(shape))))
    pad = []
    for size in reversed(shape[-axes:]):
        top = {"constant": 2, "reflect": size - 1, "replicate": 3, "circular": size}[mode]
        low = -1 if mode == "constant" else 0
        pad += [draw(st.integers(low, top)), draw(st.integers(low, top))]
    attrs = {"pad": tuple(pad), "mode": mode}
    if mode == "constant" and draw(st.booleans()):
        attrs["value"] = 1.5
    return shape, attrs


@SETTINGS
@given(case=pad_cases(), seed=st.integers(0, 2**32 - 1))
def test_pad_conforms(case, seed):
    shape, attrs = case
    check_op("pad", [np.random.default_rng(seed).standard_normal(shape)], reference=pad_reference, attrs=attrs)


# --------------------------------------------------------------------------- fixed cases

def test_conv2d_lenet_shapes_and_unbatched_input():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 1, 12, 12)), rng.standard_normal((3, 1, 5, 5)), rng.standard_normal(3)
    check_op("conv2d", [x, w, b], reference=conv2d_reference, attrs={"padding": 2})
    check_op("conv2d", [x[0], w, b], reference=lambda x, w, b, **a: conv2d_reference(x[None], w, b, **a)[0],
             attrs={"stride": 2})


def test_conv2d_float32_and_integer_images():
    g = ge.Graph("images")
    x = g.input("x", shape=(None, 1, 6, 6), dtype="uint8")
    w = g.param("w", np.ones((2, 1, 3, 3), dtype=np.float32))
    y = ge.ops.conv2d(x, w)
    assert y.dtype == np.float32 and y.shape == (None, 2, 4, 4)
    run = g.forward({"x": np.full((3, 1, 6, 6), 2, dtype=np.uint8)})
    out = run.value(y)
    assert out.dtype == np.float32 and np.all(out == 18)
    loss = ge.ops.sum(y)
    for fetch in (None, [loss], [loss]):  # the weight gets a float32 gradient, the images none
        run = g.forward({"x": np.full((3, 1, 6, 6), 2, dtype=np.uint8)}, fetch=fetch)
        run.backward(loss)
        grad = run.grad(w)
        assert grad.dtype == np.float32 and np.all(grad == 2 * 3 * 16)


def test_mixed_float_dtypes_promote_and_the_node_says_so():
    g = ge.Graph("mixed")
    x = g.input("x", shape=(2, 1, 5, 5), dtype="float64")
    w = g.param("w", np.ones((2, 1, 3, 3), dtype=np.float32))
    y = ge.ops.conv2d(x, w)
    assert y.dtype == np.float64
    assert g.forward({"x": np.ones((2, 1, 5, 5))}).value(y).dtype == np.float64


def test_unbatched_conv1d_and_conv_transpose2d():
    rng = np.random.default_rng(5)
    check_op("conv1d", [rng.standard_normal((2, 7)), rng.standard_normal((3, 2, 3)), rng.standard_normal(3)],
             reference=lambda x, w, b, **a: conv1d_reference(x[None], w, b, **a)[0], attrs={"padding": "same"})
    check_op("conv_transpose2d", [rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 2, 2, 2))],
             reference=lambda x, w, **a: conv_transpose2d_reference(x[None], w, **a)[0], attrs={"stride": 2})


def test_conv_through_a_graph_trains_in_float32():
    rng = np.random.default_rng(0)
    g = ge.Graph("cnn")
    x = g.input("x", shape=(None, 2, 8, 8), dtype="float32")
    w = g.param("w", (0.1 * rng.standard_normal((4, 2, 3, 3))).astype(np.float32))
    b = g.param("b", np.zeros(4, dtype=np.float32))
    loss = ge.ops.mean(ge.ops.square(ge.ops.conv2d(x, w, b, padding="same")))
    run = g.forward({"x": rng.standard_normal((5, 2, 8, 8)).astype(np.float32)}, fetch=[loss])
    run.backward(loss)
    assert run.grad(w).dtype == np.float32 and run.grad(w).shape == (4, 2, 3, 3)
    assert run.grad(b).dtype == np.float32


def test_pad_keeps_integer_dtype():
    g = ge.Graph("pad")
    x = g.input("x", shape=(2, 3), dtype="int64")
    y = ge.ops.pad(x, pad=(1, 1), mode="replicate")
    out = g.forward({"x": np.arange(6).reshape(2, 3)}).value(y)
    assert out.dtype == np.int64 and out.tolist() == [[0, 0, 1, 2, 2], [3, 3, 4, 5, 5]]
    assert y.dtype == np.int64


# --------------------------------------------------------------------------- errors

def _graph(x_shape, w_shape, b_shape=None):
    g = ge.Graph("errors")
    nodes = [g.input("x", shape=x_shape), g.input("w", shape=w_shape)]
    if b_shape is not None:
        nodes.append(g.input("b", shape=b_shape))
    return g, nodes


def test_channel_mismatch_is_refused_at_build_time_with_node_op_and_shapes():
    _, (x, w) = _graph((None, 3, 8, 8), (6, 1, 5, 5))
    with pytest.raises(ge.ShapeError) as info:
        ge.ops.conv2d(x, w, name="c1")
    message = str(info.value)
    for part in ("c1", "conv2d", "(None, 3, 8, 8)", "(6, 1, 5, 5)", "3 channels", "in_channels"):
        assert part in message, (part, message)


@pytest.mark.parametrize("op, x_shape, w_shape, b_shape, attrs, words", [
    ("conv2d", (None, 1, 3, 3), (2, 1, 5, 5), None, {}, ["too small", "kernel"]),
    ("conv2d", (None, 1, 8, 8), (2, 1, 3, 3), (3,), {}, ["bias", "(2,)"]),
    ("conv2d", (None, 4, 8, 8), (3, 2, 3, 3), None, {"groups": 2}, ["divisible by groups"]),
    ("conv2d", (None, 1, 8, 8), (2, 1, 3, 3), None, {"padding": "same", "stride": 2}, ["same", "stride 1"]),
    ("conv2d", (None, 1, 8, 8), (2, 1, 3, 3), None, {"padding": "full"}, ["padding", "'full'"]),
    ("conv2d", (None, 1, 8, 8), (2, 1, 3, 3), None, {"stride": 0}, ["stride", "positive"]),
    ("conv2d", (None, 1, 8, 8), (2, 1, 3), None, {}, ["weight must have 4 axes"]),
    ("conv2d", (4, 8, 8), (2, 1, 3, 3), None, {"groups": 1}, ["4 channels"]),
    ("conv1d", (None, 2, 8), (2, 2, 3, 3), None, {}, ["weight must have 3 axes"]),
    ("conv_transpose2d", (None, 2, 4, 4), (2, 1, 3, 3), None, {"stride": 2, "output_padding": 2},
     ["output_padding", "smaller than stride"]),
    ("conv_transpose2d", (None, 3, 4, 4), (2, 1, 3, 3), None, {}, ["3 channels", "weight.shape[0]"]),
    ("conv_transpose2d", (None, 2, 4, 4), (2, 1, 3, 3), None, {"padding": "same"}, ["padding"]),
])
def test_bad_conv_arguments_say_what_and_where(op, x_shape, w_shape, b_shape, attrs, words):
    _, nodes = _graph(x_shape, w_shape, b_shape)
    with pytest.raises(ge.GraphEngineError) as info:
        getattr(ge.ops, op)(*nodes, name="bad", **attrs)
    message = str(info.value)
    for word in ["bad", op] + words:
        assert word in message, (word, message)


def test_bias_as_a_keyword_says_to_pass_it_as_an_input():
    _, (x, w, b) = _graph((None, 1, 8, 8), (2, 1, 3, 3), (2,))
    with pytest.raises(ge.GraphEngineError, match=r"third input.*conv2d\(x, weight, bias"):
        ge.ops.conv2d(x, w, bias=b)


@pytest.mark.parametrize("shape, attrs, words", [
    ((2, 3), {"pad": (3, 0), "mode": "reflect"}, ["smaller than the axis size 3"]),
    ((2, 3), {"pad": (1,), "mode": "constant"}, ["even number"]),
    ((2, 3), {"pad": (1, 1), "mode": "wrap"}, ["mode takes one of 'constant', 'reflect', 'replicate', 'circular'"]),
    ((2, 3), {"pad": (1, 1, 1, 1, 1, 1), "mode": "constant"}, ["pads 3 axes", "only 2"]),
    ((2, 3), {"pad": (-1, 1), "mode": "replicate"}, ["negative"]),
    ((2, 3), {"pad": (1, 1), "mode": "reflect", "value": 2.0}, ["value", "constant"]),
])
def test_bad_pad_arguments_are_refused(shape, attrs, words):
    g = ge.Graph("pad")
    x = g.input("x", shape=shape)
    with pytest.raises(ge.GraphEngineError) as info:
        ge.ops.pad(x, name="p", **attrs)
    for word in ["p", "pad"] + words:
        assert word in str(info.value), (word, str(info.value))


def test_every_conv_op_is_registered():
    names = ge.ops.names()
    for name in ("conv1d", "conv2d", "conv_transpose2d", "pad"):
        assert name in names


# --------------------------------------------------------------------------- PyTorch

TORCH_CONV2D = [
    ((2, 3, 9, 8), (4, 3, 3, 3), {"stride": 1, "padding": 1}),
    ((2, 4, 9, 8), (6, 2, (3, 2)), {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2}),
    ((1, 2, 7, 7), (3, 2, (4, 4)), {"padding": "same", "dilation": 2}),
    ((3, 4, 6, 7), (8, 1, (2, 2)), {"stride": 2, "padding": "valid", "groups": 4}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("x_shape, w_spec, attrs", TORCH_CONV2D)
def test_conv2d_matches_torch(x_shape, w_spec, attrs, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    k = w_spec[2] if isinstance(w_spec[2], tuple) else (w_spec[2], w_spec[3])
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_spec[:2] + k), rng.standard_normal(w_spec[0])]
    arrays = [a.astype(dtype) for a in arrays]
    _compare_with_torch(torch, "conv2d", torch.nn.functional.conv2d, arrays, attrs, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((2, 4, 5, 6), (4, 3, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    ((1, 2, 4, 4), (2, 3, 2, 3), {"stride": (3, 2), "padding": (0, 1), "output_padding": (2, 0), "dilation": (1, 2)}),
])
def test_conv_transpose2d_matches_torch(x_shape, w_shape, attrs, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (x_shape, w_shape, (w_shape[1] * attrs.get("groups", 1),))]
    _compare_with_torch(torch, "conv_transpose2d", torch.nn.functional.conv_transpose2d, arrays, attrs, dtype)


@pytest.mark.parametrize("attrs", [{"stride": 2, "padding": 1, "dilation": 2, "groups": 2}, {"padding": "same"}])
def test_conv1d_matches_torch(attrs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 4 // attrs.get("groups", 1), 3)),
              rng.standard_normal(6)]
    _compare_with_torch(torch, "conv1d", torch.nn.functional.conv1d, arrays, attrs, "float64")


@pytest.mark.parametrize("mode, pad", [("constant", (1, 2, -1, 3)), ("reflect", (2, 1, 1, 2)),
                                       ("replicate", (3, 1, 0, 2)), ("circular", (2, 3, 1, 1))])
def test_pad_matches_torch(mode, pad):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    _compare_with_torch(torch, "pad", lambda t, pad, mode: torch.nn.functional.pad(t, pad, mode=mode), [x],
                        {"pad": pad, "mode": mode}, "float64")


def _compare_with_torch(torch, name, function, arrays, attrs, dtype):
    op = ge.default_manager().get_op(name)
    y = op.forward(np, *arrays, **attrs)
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    ty = function(*tensors, **attrs)
    rtol, atol = (1e-10, 1e-10) if dtype == "float64" else (1e-4, 1e-4)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=atol)
    seed = np.random.default_rng(9).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(seed))
    grads = op.backward(np, seed, tuple(arrays), y, **attrs)
    for g, t in zip(grads, tensors):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=rtol, atol=atol)


def test_reused_column_buffers_give_the_same_results(monkeypatch):
    """Columns of 4 MiB and more are copied into a buffer reused between calls: forward and
    backward on two different inputs, one after the other, match the unbuffered path."""
    from graphengine.plugins.ops import convolution

    op = ge.default_manager().get_op("conv2d")
    rng = np.random.default_rng(7)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    xs = [rng.standard_normal((2, 16, 64, 64)).astype(np.float32) for _ in range(2)]
    assert 16 * 9 * 2 * 64 * 64 * 4 >= convolution._REUSE_BYTES

    def results():
        out = []
        for x in xs:
            y = op.forward(np, x, w, padding=1)
            out.append((y.copy(),) + op.backward(np, np.ones_like(y), (x, w), y, padding=1))
        return out

    buffered = results()
    monkeypatch.setattr(convolution, "_REUSE_BYTES", float("inf"))
    plain = results()
    for got, want in zip(buffered, plain):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(buffered[0][0], buffered[1][0])


def test_integer_weight_and_input_are_refused_when_run():
    g = ge.Graph("ints")
    x = g.input("x", shape=(1, 1, 4, 4), dtype="int64")
    w = g.input("w", shape=(1, 1, 3, 3), dtype="int64")
    ge.ops.conv2d(x, w, name="c")
    with pytest.raises(ge.GraphEngineError, match=r"node 'c' \(op conv2d\).*floating-point.*astype\('float32'\)"):
        g.forward({"x": np.ones((1, 1, 4, 4), dtype=np.int64), "w": np.ones((1, 1, 3, 3), dtype=np.int64)})
