"""Pooling ops and dropout2d: conformance (check_op) against a loop-per-window NumPy
reference on hypothesis shapes, torch semantics (only where torch is installed), errors."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=10, deadline=None)


# -- the reference: one Python loop iteration per output entry (slow, obviously right) ----

def out_size(L, k, s, p, dil, ceil_mode):
    span = L + 2 * p - dil * (k - 1) - 1
    n = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n - 1) * s >= L + p:
        n -= 1
    return n


def reference_pool(x, *, kind, d, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                   count_include_pad=True, divisor_override=None):
    x = np.asarray(x)
    unbatched = x.ndim == d + 1
    if unbatched:
        x = x[None]
    tup = lambda v: (v,) * d if isinstance(v, int) else tuple(v)
    k, p, dil = tup(kernel_size), tup(padding), tup(dilation)
    s = k if stride is None else tup(stride)
    spatial = x.shape[2:]
    out = [out_size(spatial[i], k[i], s[i], p[i], dil[i], ceil_mode) for i in range(d)]
    y = np.zeros(x.shape[:2] + tuple(out), dtype=x.dtype)
    for o in itertools.product(*[range(n) for n in out]):
        values, padded_count, inside_count = [], 1, 1
        for i in range(d):
            start = o[i] * s[i] - p[i]
            end = min(start + k[i], spatial[i] + p[i])
            padded_count *= end - start
            inside_count *= min(end, spatial[i]) - max(start, 0)
        for a in itertools.product(*[range(kk) for kk in k]):
            pos = tuple(o[i] * s[i] - p[i] + a[i] * dil[i] for i in range(d))
            if all(0 <= pos[i] < spatial[i] for i in range(d)):
                values.append(x[(slice(None), slice(None)) + pos])
        stacked = np.stack(values, axis=-1)
        index = (slice(None), slice(None)) + o
        if kind == "max":
            y[index] = stacked.max(axis=-1)
        else:
            divisor = divisor_override or (padded_count if count_include_pad else inside_count)
            y[index] = stacked.sum(axis=-1) / divisor
    return y[0] if unbatched else y


def reference_adaptive(x, *, output_size):
    H, W = x.shape[-2:]
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    oh, ow = oh or H, ow or W
    y = np.zeros(x.shape[:-2] + (oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * H // oh, -(-(i + 1) * H // oh))
            cols = slice(j * W // ow, -(-(j + 1) * W // ow))
            y[..., i, j] = x[..., rows, cols].mean(axis=(-2, -1))
    return y


def distinct(rng, shape):
    """Values at least 0.01 apart: no ties and no near-ties, so the argmax of every window
    stays put under the finite differences of the gradient check."""
    n = int(np.prod(shape))
    return rng.permutation(n).reshape(shape) * 0.01 - 0.005 * n


# -- configurations ------------------------------------------------------------------------

POOL_OPS = {  # op name: (kind, spatial axes, extra attributes to vary)
    "max_pool2d": ("max", 2),
    "max_pool1d": ("max", 1),
    "avg_pool2d": ("avg", 2),
    "avg_pool1d": ("avg", 1),
}

CONFIGS_2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0)),
    dict(kernel_size=3, stride=1, padding=1),                 # overlapping windows
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
]
CONFIGS_1D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=1, padding=1),
    dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
]
EXTRA = {
    "max": [dict(dilation=2)],
    "avg": [dict(count_include_pad=False)],
}


def cases():
    for name, (kind, d) in POOL_OPS.items():
        base = CONFIGS_2D if d == 2 else CONFIGS_1D
        for config in base:
            yield name, config
        for extra in EXTRA[kind]:
            yield name, dict(base[1], **extra)
    yield "avg_pool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)
    yield "avg_pool2d", dict(kernel_size=2, divisor_override=3)
    yield "max_pool2d", dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2))


CASES = list(cases())


def _id(case):
    name, config = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in config.items())


@pytest.mark.parametrize("name, attrs", CASES, ids=[_id(c) for c in CASES])
def test_pool_conforms(name, attrs):
    kind, d = POOL_OPS[name]
    rng = np.random.default_rng(0)
    x = distinct(rng, (2, 3) + (7, 6)[:d] if d == 2 else (2, 3, 9))
    check_op(name, [x], reference=lambda x, **a: reference_pool(x, kind=kind, d=d, **a), attrs=attrs)


@pytest.mark.parametrize("name", sorted(POOL_OPS))
@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_pool_conforms_on_random_shapes(name, data, seed):
    kind, d = POOL_OPS[name]
    kernel = tuple(data.draw(st.integers(1, 3), label="kernel") for _ in range(d))
    stride = tuple(data.draw(st.integers(1, 3), label="stride") for _ in range(d))
    padding = tuple(data.draw(st.integers(0, k // 2), label="padding") for k in kernel)
    ceil_mode = data.draw(st.booleans(), label="ceil_mode")
    spatial = tuple(data.draw(st.integers(k, k + 5), label="size") for k in kernel)
    lead = data.draw(st.sampled_from([(1, 1), (2, 3), (2,)]), label="batch, channels")
    attrs = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    if kind == "avg":
        attrs["count_include_pad"] = data.draw(st.booleans(), label="count_include_pad")
    x = distinct(np.random.default_rng(seed), lead + spatial)
    check_op(name, [x], reference=lambda x, **a: reference_pool(x, kind=kind, d=d, **a), attrs=attrs)


@pytest.mark.parametrize("output_size", [1, (1, 1), 2, (3, 2), (None, 3), (4, 5)])
def test_adaptive_avg_pool2d_conforms(output_size):
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 7))
    check_op("adaptive_avg_pool2d", [x], reference=reference_adaptive, attrs={"output_size": output_size})


@SETTINGS
@given(h=st.integers(1, 7), w=st.integers(1, 7), oh=st.integers(1, 5), ow=st.integers(1, 5),
       unbatched=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_adaptive_avg_pool2d_on_random_shapes(h, w, oh, ow, unbatched, seed):
    x = np.random.default_rng(seed).standard_normal((3, h, w) if unbatched else (2, 3, h, w))
    check_op("adaptive_avg_pool2d", [x], reference=reference_adaptive, attrs={"output_size": (oh, ow)})


def test_unbatched_input():
    x = distinct(np.random.default_rng(2), (3, 5, 5))
    check_op("max_pool2d", [x], reference=lambda x, **a: reference_pool(x, kind="max", d=2, **a),
             attrs={"kernel_size": 2, "stride": 1})
    check_op("avg_pool1d", [x[0]], reference=lambda x, **a: reference_pool(x, kind="avg", d=1, **a),
             attrs={"kernel_size": 2})


def test_max_pool_gradient_goes_to_the_first_maximum_on_ties():
    x = np.array([[[[1.0, 1.0], [1.0, 1.0]]]], dtype=np.float32)
    g = ge.Graph("ties")
    xn = g.input("x", shape=(1, 1, 2, 2))
    y = ge.ops.max_pool2d(xn, kernel_size=2)
    run = g.forward({"x": x})
    run.backward(y, grad=np.ones((1, 1, 1, 1), dtype=np.float32))
    np.testing.assert_array_equal(run.grad(xn), [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_overlapping_windows_add_their_gradients():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)  # the maximum 8 is in all 4 windows
    g = ge.Graph("overlap")
    xn = g.input("x", shape=(1, 1, 3, 3), dtype="float64")
    y = ge.ops.sum(ge.ops.max_pool2d(xn, kernel_size=2, stride=1))
    run = g.forward({"x": x})
    run.backward(y)
    np.testing.assert_array_equal(run.grad(xn)[0, 0], [[0, 0, 0], [0, 1, 1], [0, 1, 1]])


def test_float32_stays_float32_in_a_graph():
    g = ge.Graph("f32")
    x = g.input("x", shape=(None, 2, 8, 8), dtype="float32")
    outs = [ge.ops.max_pool2d(x, kernel_size=2), ge.ops.avg_pool2d(x, kernel_size=2, padding=1,
                                                                    count_include_pad=False),
            ge.ops.adaptive_avg_pool2d(x, output_size=3), ge.ops.dropout2d(x, p=0.5, seed=1)]
    run = g.forward({"x": np.ones((2, 2, 8, 8), dtype=np.float32)})
    for node in outs:
        assert node.dtype == np.float32 and run.value(node).dtype == np.float32, node.name


def test_shape_rule_with_unknown_batch():
    g = ge.Graph("shapes")
    x = g.input("x", shape=(None, 6, 28, 28))
    assert ge.ops.max_pool2d(x, kernel_size=2).shape == (None, 6, 14, 14)
    assert ge.ops.avg_pool2d(x, kernel_size=3, stride=2, padding=1).shape == (None, 6, 14, 14)
    assert ge.ops.max_pool2d(x, kernel_size=3, stride=2, ceil_mode=True).shape == (None, 6, 14, 14)
    assert ge.ops.adaptive_avg_pool2d(x, output_size=1).shape == (None, 6, 1, 1)
    assert ge.ops.adaptive_avg_pool2d(x, output_size=(None, 4)).shape == (None, 6, 28, 4)
    s = g.input("s", shape=(None, 4, 10))
    assert ge.ops.max_pool1d(s, kernel_size=3, stride=1, padding=1).shape == (None, 4, 10)
    assert ge.ops.avg_pool1d(s, kernel_size=2).shape == (None, 4, 5)


# -- dropout2d -------------------------------------------------------------------------------

def test_dropout2d_conforms_with_a_seed():
    # the kit's cupy check compares CuPy's values with NumPy's element by element, but a
    # seeded mask is drawn from each backend's own generator (as with dropout): the CuPy
    # path is checked by its properties below
    x = np.random.default_rng(3).standard_normal((4, 5, 3, 3))
    check_op("dropout2d", [x], reference=_dropout2d_reference, attrs={"p": 0.4, "seed": 7}, skip=("cupy",))
    check_op("dropout2d", [x[:, :, 0]], reference=_dropout2d_reference, attrs={"p": 0.3, "seed": 1}, skip=("cupy",))


def test_dropout2d_drops_whole_channels_on_every_backend(backend):
    from graphengine.backends import asnumpy

    g = ge.Graph(backend=backend)
    x = g.input("x", shape=(64, 8, 3, 3), dtype="float32")
    y = ge.ops.dropout2d(x, p=0.5, seed=3)
    X = np.random.default_rng(0).standard_normal((64, 8, 3, 3)).astype(np.float32) + 5.0  # never 0
    run = g.forward({"x": X}).backward(y, grad=g.xp.ones((64, 8, 3, 3), dtype=np.float32))
    out, grad = asnumpy(run.value(y)), asnumpy(run.grad(x))
    kept = (out != 0).all(axis=(2, 3))
    assert ((out == 0).all(axis=(2, 3)) | kept).all()  # a channel is kept or dropped as a whole
    np.testing.assert_allclose(out[kept], 2.0 * X[kept], rtol=1e-6)
    np.testing.assert_array_equal(grad, np.broadcast_to(np.where(kept[:, :, None, None], 2.0, 0.0), grad.shape))
    assert 0.3 < kept.mean() < 0.7
    again = asnumpy(g.forward({"x": X}).value(y))
    np.testing.assert_array_equal(again, out)  # seeded: the same mask on the same backend


def _dropout2d_reference(x, p, seed):
    """y = x·m/(1 - p) with one keep-mask entry per (n, c), drawn as dropout draws it."""
    from graphengine.plugins.regularizers.noise import keep_mask

    keep = keep_mask(x.shape[:2] + (1,) * (x.ndim - 2), p, seed, np)
    return x * keep / (1 - p)


@pytest.mark.parametrize("shape", [(6, 8, 4, 4), (6, 8, 5)])
def test_dropout2d_zeroes_whole_channels(shape):
    x = np.random.default_rng(4).uniform(1.0, 2.0, shape).astype(np.float32)
    g = ge.Graph("d2d")
    xn = g.input("x", shape=shape)
    y = ge.ops.dropout2d(xn, p=0.5)
    run = g.forward({"x": x})
    run.backward(y, grad=np.ones(shape, dtype=np.float32))
    out, grad = run.value(y), run.grad(xn)
    flat = out.reshape(shape[0], shape[1], -1)
    dropped = (flat == 0).all(axis=-1)
    kept = (flat != 0).all(axis=-1)
    assert (dropped | kept).all()  # a channel is dropped or kept as a whole
    assert 0 < dropped.sum() < dropped.size
    np.testing.assert_allclose(flat[kept], (x.reshape(flat.shape) * 2)[kept], rtol=1e-6)
    np.testing.assert_allclose(grad, (out != 0) * np.float32(2.0))  # the gradient uses the same mask


def test_dropout2d_evaluation_and_extremes():
    x = np.random.default_rng(5).standard_normal((2, 3, 2, 2))
    g = ge.Graph("modes")
    xn = g.input("x", shape=x.shape, dtype="float64")
    outs = {"eval": ge.ops.dropout2d(xn, p=0.5, training=False), "p0": ge.ops.dropout2d(xn, p=0.0),
            "p1": ge.ops.dropout2d(xn, p=1.0, seed=0)}
    run = g.forward({"x": x})
    np.testing.assert_array_equal(run.value(outs["eval"]), x)
    np.testing.assert_array_equal(run.value(outs["p0"]), x)
    np.testing.assert_array_equal(run.value(outs["p1"]), np.zeros_like(x))


# -- errors ----------------------------------------------------------------------------------

def _graph(shape=(None, 3, 8, 8), dtype="float32"):
    g = ge.Graph("errors")
    return g, g.input("x", shape=shape, dtype=dtype)


def test_kernel_larger_than_the_input_is_refused_with_node_and_shapes():
    g, x = _graph((None, 3, 4, 4))
    with pytest.raises(ge.ShapeError) as info:
        ge.ops.max_pool2d(x, kernel_size=5, name="pool")
    message = str(info.value)
    assert "'pool'" in message and "max_pool2d" in message and "(None, 3, 4, 4)" in message
    assert "smaller kernel_size" in message


@pytest.mark.parametrize("attrs, words", [
    (dict(kernel_size=0), "kernel_size must be >= 1"),
    (dict(kernel_size=(2, 2, 2)), "tuple of 2 ints"),
    (dict(kernel_size=2.5), "an int or a tuple"),
    (dict(kernel_size=2, stride=0), "stride must be >= 1"),
    (dict(kernel_size=2, padding=2), "more than half the kernel"),
    (dict(kernel_size=2, padding=-1), "padding must be >= 0"),
])
def test_bad_attributes_are_refused(attrs, words):
    g, x = _graph()
    with pytest.raises(ge.GraphEngineError) as info:
        ge.ops.avg_pool2d(x, **attrs, name="pool")
    assert words in str(info.value) and "'pool'" in str(info.value)


def test_wrong_rank_is_refused():
    g, x = _graph((None, 64))
    with pytest.raises(ge.ShapeError, match=r"\(N, C, H, W\) or \(C, H, W\)"):
        ge.ops.max_pool2d(x, kernel_size=2)
    with pytest.raises(ge.ShapeError, match=r"\(N, C, L\) or \(C, L\)"):
        ge.ops.avg_pool1d(g.input("y", shape=(None, 2, 3, 4)), kernel_size=2)
    with pytest.raises(ge.ShapeError, match="dropout2d"):
        ge.ops.dropout2d(x)


def test_bad_output_size_and_divisor_are_refused():
    g, x = _graph()
    with pytest.raises(ge.AttributeSpecError, match="output_size"):
        ge.ops.adaptive_avg_pool2d(x, output_size=0)
    with pytest.raises(ge.AttributeSpecError, match="divisor_override"):
        ge.ops.avg_pool2d(x, kernel_size=2, divisor_override=0)
    with pytest.raises(ge.GraphEngineError, match="p="):
        ge.ops.dropout2d(x, p=1.5)


def test_integer_input_is_refused_at_run_time_with_a_fix():
    g, x = _graph((2, 1, 4, 4), dtype="int64")
    y = ge.ops.max_pool2d(x, kernel_size=2, name="pool")
    with pytest.raises(ge.GraphEngineError) as info:
        g.forward({"x": np.ones((2, 1, 4, 4), dtype=np.int64)}, fetch=[y])
    message = str(info.value)
    assert "floating-point" in message and "int64" in message and "astype" in message


# -- against PyTorch (only where it is installed) ----------------------------------------------

TORCH_CASES = CASES + [
    ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)),
    ("avg_pool1d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)),
]


@pytest.mark.parametrize("name, attrs", TORCH_CASES, ids=[_id(c) for c in TORCH_CASES])
def test_matches_torch(name, attrs):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    kind, d = POOL_OPS[name]
    rng = np.random.default_rng(6)
    x = rng.integers(-3, 3, (2, 3) + ((9, 8) if d == 2 else (11,))).astype(np.float32)  # ties on purpose
    seed = rng.standard_normal(reference_pool(x, kind=kind, d=d, **attrs).shape).astype(np.float32)
    g = ge.Graph("torch")
    xn = g.input("x", shape=x.shape)
    y = getattr(ge.ops, name)(xn, **attrs)
    run = g.forward({"x": x})
    run.backward(y, grad=seed)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(F, name)(xt, **attrs)
    yt.backward(torch.tensor(seed))
    np.testing.assert_allclose(run.value(y), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(run.grad(xn), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("output_size", [1, (2, 3), (3, None), (5, 4)])
def test_adaptive_avg_pool2d_matches_torch(output_size):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    x = np.random.default_rng(7).standard_normal((2, 3, 7, 9)).astype(np.float32)
    g = ge.Graph("torch")
    xn = g.input("x", shape=x.shape)
    y = ge.ops.adaptive_avg_pool2d(xn, output_size=output_size)
    run = g.forward({"x": x})
    seed = np.random.default_rng(8).standard_normal(y.shape).astype(np.float32)
    run.backward(y, grad=seed)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.adaptive_avg_pool2d(xt, output_size)
    yt.backward(torch.tensor(seed))
    np.testing.assert_allclose(run.value(y), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run.grad(xn), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_dropout2d_keeps_the_torch_scaling():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    x = np.ones((64, 16, 2, 2), dtype=np.float32)
    yt = F.dropout2d(torch.tensor(x), p=0.25, training=True).numpy()
    g = ge.Graph("torch")
    y = ge.ops.dropout2d(g.input("x", shape=x.shape), p=0.25)
    ours = g.forward({"x": x}).value(y)
    assert set(np.unique(ours)) <= set(np.unique(yt)) == {0.0, np.float32(1 / 0.75)}
    assert abs((ours == 0).mean() - 0.25) < 0.08
