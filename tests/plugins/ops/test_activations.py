"""Activations: conformance on hypothesis shapes, stability at |x| = 1e4 in float32, step, gelu (exact and
tanh forms), the torch.nn.functional activations against PyTorch where installed, dtypes."""

import math
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
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def sigmoid_reference(x):
    return np.exp(-np.logaddexp(0.0, -x))  # 1 / (1 + e^-x) without overflow in the reference itself


def gelu_tanh_reference(x, approximate="tanh"):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


@np.vectorize
def gelu_exact_reference(x):
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def normal(rng, shape):
    return 2.0 * rng.standard_normal(shape)


def away_from_zero(rng, shape):
    """|x| >= 0.1: relu, leaky_relu and elu have a kink at 0."""
    return rng.uniform(0.1, 3.0, shape) * rng.choice([-1.0, 1.0], shape)


def away_from_three(rng, shape):
    """|x ± 3| >= 0.1: hardswish and hardsigmoid have kinks at -3 and 3."""
    x = rng.uniform(-5.0, 5.0, shape)
    return np.where(np.abs(np.abs(x) - 3.0) < 0.1, x * 0.9, x)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


ACTIVATIONS = {
    # name: (reference, value generator, attrs)
    "sigmoid": (sigmoid_reference, normal, {}),
    "tanh": (np.tanh, normal, {}),
    "relu": (lambda x: np.maximum(x, 0.0), away_from_zero, {}),
    "leaky_relu": (lambda x, alpha=0.01: np.where(x > 0, x, alpha * x), away_from_zero, {}),
    "elu": (lambda x, alpha=1.0: np.where(x > 0, x, alpha * (np.exp(x) - 1)), away_from_zero, {}),
    "softplus": (lambda x: np.log(1.0 + np.exp(x)), normal, {}),
    "gelu": (gelu_exact_reference, normal, {}),
    "logsigmoid": (lambda x: -np.logaddexp(0.0, -x), normal, {}),
    "hardswish": (lambda x: x * np.clip(x + 3, 0, 6) / 6, away_from_three, {}),
    "hardsigmoid": (lambda x: np.clip(x + 3, 0, 6) / 6, away_from_three, {}),
    "mish": (lambda x: x * np.tanh(np.logaddexp(0.0, x)), normal, {}),
    "selu": (lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)), away_from_zero, {}),
    "celu": (lambda x, alpha=1.0: np.where(x > 0, x, alpha * (np.exp(x / alpha) - 1)), away_from_zero, {}),
    "softsign": (lambda x: x / (1 + np.abs(x)), away_from_zero, {}),
    "silu": (lambda x: x * sigmoid_reference(x), normal, {}),
    "identity": (lambda x: x, normal, {}),
    "step": (lambda x: (x > 0).astype(x.dtype), away_from_zero, {}),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_activation_conforms(name, shape, seed):
    reference, gen, attrs = ACTIVATIONS[name]
    check_op(name, [gen(np.random.default_rng(seed), shape)], reference=reference, attrs=attrs)


@pytest.mark.parametrize("name, alpha", [("leaky_relu", 0.2), ("leaky_relu", 0.0), ("elu", 0.5), ("elu", 2.0),
                                         ("celu", 0.5), ("celu", 2.0)])
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_activation_with_alpha_conforms(name, alpha, shape, seed):
    reference, gen, _ = ACTIVATIONS[name]
    check_op(name, [gen(np.random.default_rng(seed), shape)], reference=reference, attrs={"alpha": alpha})


@st.composite
def class_axis_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


def softmax_reference(z, axis=-1):
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_reference(z, axis=-1):
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("name, reference", [("softmax", softmax_reference),
                                             ("log_softmax", log_softmax_reference)])
@SETTINGS
@given(case=class_axis_cases(), seed=seeds)
def test_softmax_family_conforms(name, reference, case, seed):
    shape, axis = case
    z = 3.0 * np.random.default_rng(seed).standard_normal(shape)
    check_op(name, [z], reference=reference, attrs={"axis": axis})


def test_softmax_matches_the_deck_000_example():
    op = ge.default_manager().get_op("softmax")
    s = op.forward(np, np.array([1.2, 5.1, 2.7]))
    np.testing.assert_allclose(s, [0.018, 0.90, 0.08], atol=0.005)
    np.testing.assert_allclose(s.sum(), 1.0)


# -- stability: float32 at |x| = 1e4, no overflow, no warnings -------------------------

EXTREME = np.array([-1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4], dtype=np.float32)


def _run_quietly(name, x, **attrs):
    """Forward and backward (seed of ones) with every NumPy warning turned into an error."""
    op = ge.default_manager().get_op(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = op.forward(np, x, **attrs)
        (grad,) = op.backward(np, np.ones_like(out), (x,), out, **attrs)
    assert out.dtype == np.float32 and grad.dtype == np.float32
    assert np.all(np.isfinite(out)), out
    assert np.all(np.isfinite(grad)), grad
    return out, grad


def test_sigmoid_is_stable_at_large_magnitudes():
    out, grad = _run_quietly("sigmoid", EXTREME)
    assert out[0] == 0.0 and out[-1] == 1.0 and out[3] == 0.5
    np.testing.assert_allclose(out[1:-1], sigmoid_reference(EXTREME[1:-1].astype(np.float64)), rtol=1e-6, atol=1e-38)
    np.testing.assert_allclose(grad, out * (1 - out), rtol=1e-6)
    assert grad[0] == 0.0 and grad[-1] == 0.0


def test_softplus_is_stable_at_large_magnitudes():
    out, grad = _run_quietly("softplus", EXTREME)
    np.testing.assert_allclose(out, [0.0, math.log1p(math.exp(-100.0)), math.log1p(math.exp(-1.0)), math.log(2.0),
                                     1.0 + math.log1p(math.exp(-1.0)), 100.0, 1e4], rtol=1e-6, atol=1e-38)
    np.testing.assert_allclose(grad, sigmoid_reference(EXTREME.astype(np.float64)), rtol=1e-6, atol=1e-38)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_is_stable_at_large_magnitudes(name):
    z = np.stack([EXTREME, -EXTREME, np.full(7, 1e4, dtype=np.float32)])
    out, grad = _run_quietly(name, z, axis=-1)
    probs = np.exp(out) if name == "log_softmax" else out
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probs[2], 1 / 7, rtol=1e-6)
    np.testing.assert_allclose(probs[0], np.eye(7)[6], atol=1e-30)
    if name == "log_softmax":
        assert out[0, 0] == np.float32(-2e4)
        np.testing.assert_allclose(grad, 1 - 7 * probs, atol=1e-6)  # seed of ones: 1 - n·softmax
    else:
        np.testing.assert_allclose(grad, 0.0, atol=1e-6)  # seed of ones: Σ of probabilities is constant


@pytest.mark.parametrize("name", ["silu", "gelu", "elu", "tanh", "leaky_relu", "relu", "identity", "logsigmoid",
                                  "hardswish", "hardsigmoid", "mish", "selu", "celu", "softsign"])
def test_other_activations_stay_finite_at_large_magnitudes(name):
    x = EXTREME[np.abs(EXTREME) != 0.0]  # away from relu's kink
    _run_quietly(name, x)


# -- numpy scalar attributes and float32 -----------------------------------------------

@pytest.mark.parametrize("name", ["leaky_relu", "elu"])
def test_numpy_scalar_alpha_does_not_upcast_float32(name):
    op = ge.default_manager().get_op(name)
    x = np.array([-1.0, 2.0], dtype=np.float32)
    out = op.forward(np, x, alpha=np.float64(0.3))
    (grad,) = op.backward(np, np.ones_like(out), (x,), out, alpha=np.float64(0.3))
    assert out.dtype == grad.dtype == np.float32


# -- step and gelu ---------------------------------------------------------------------

def test_step_is_the_deck_002_unit_step_and_passes_no_gradient_through_the_graph():
    g = ge.Graph("perceptron")
    x = g.input("x", shape=(None,))
    w = g.param("w", np.array(2.0))
    fired = ge.ops.step(x * w)
    loss = ge.ops.sum(fired) + ge.ops.sum(x * w)  # the second term gives w a gradient path
    X = np.array([-1.5, 0.0, 2.0])
    run = g.forward({"x": X}).backward(loss)
    np.testing.assert_array_equal(run.value(fired), [0.0, 0.0, 1.0])  # deck 002: h(x) = 0 for x <= 0
    assert ge.default_manager().get_op("step").differentiable is False
    np.testing.assert_allclose(run.grad(w), X.sum())  # only through x * w, nothing through step


def test_step_of_integers_gives_float32():
    op = ge.default_manager().get_op("step")
    out = op.forward(np, np.array([-2, 0, 3]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 0.0, 1.0])
    assert op.dtype(np.dtype("int64")) == np.float32 and op.dtype(np.dtype("float64")) == np.float64


def test_gelu_tanh_form_is_within_1e3_of_the_erf_form():
    x = np.linspace(-8, 8, 2001)
    got = ge.default_manager().get_op("gelu").forward(np, x, approximate="tanh")
    assert np.max(np.abs(got - gelu_exact_reference(x))) < 1e-3


@SETTINGS
@given(shape=shapes, seed=seeds)
def test_gelu_tanh_form_conforms(shape, seed):
    check_op("gelu", [normal(np.random.default_rng(seed), shape)], reference=gelu_tanh_reference,
             attrs={"approximate": "tanh"})


def test_gelu_default_is_the_exact_form_to_float64_precision():
    x = np.linspace(-8, 8, 2001)
    got = ge.default_manager().get_op("gelu").forward(np, x)
    assert np.max(np.abs(got - gelu_exact_reference(x))) < 1e-14
    got32 = ge.default_manager().get_op("gelu").forward(np, x.astype(np.float32))
    assert got32.dtype == np.float32
    assert np.max(np.abs(got32 - gelu_exact_reference(x.astype(np.float32).astype(np.float64)))) < 1e-6


def test_gelu_refuses_an_unknown_approximation_at_build_time():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    with pytest.raises(ge.AttributeSpecError, match=r"gelu takes approximate='none' .* or 'tanh', got 'erf'"):
        ge.ops.gelu(x, approximate="erf")


def test_celu_refuses_alpha_zero_at_build_time():
    g = ge.Graph()
    x = g.input("x", shape=(3,))
    with pytest.raises(ge.AttributeSpecError, match=r"celu needs alpha != 0"):
        ge.ops.celu(x, alpha=0.0)


def test_hardswish_and_hardsigmoid_gradients_at_the_kinks_are_pytorchs():
    x = np.array([-3.0, 3.0, -4.0, 4.0, 0.0])
    for name, want in (("hardswish", [0.0, 1.0, 0.0, 1.0, 0.5]), ("hardsigmoid", [0.0, 0.0, 0.0, 0.0, 1 / 6])):
        op = ge.default_manager().get_op(name)
        out = op.forward(np, x)
        (grad,) = op.backward(np, np.ones_like(out), (x,), out)
        np.testing.assert_allclose(grad, want, err_msg=name)


TORCH_ACTIVATIONS = [("gelu", {}, "gelu", {}), ("gelu", {"approximate": "tanh"}, "gelu", {"approximate": "tanh"}),
                     ("logsigmoid", {}, "logsigmoid", {}), ("hardswish", {}, "hardswish", {}),
                     ("hardsigmoid", {}, "hardsigmoid", {}), ("mish", {}, "mish", {}), ("selu", {}, "selu", {}),
                     ("celu", {}, "celu", {}), ("celu", {"alpha": 0.7}, "celu", {"alpha": 0.7}),
                     ("softsign", {}, "softsign", {})]


@pytest.mark.parametrize("name, attrs, torch_name, torch_kwargs", TORCH_ACTIVATIONS)
def test_new_activations_match_pytorch(name, attrs, torch_name, torch_kwargs):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.concatenate([np.linspace(-6, 6, 61), [-3.0, 3.0, 0.0, -30.0, 30.0]])
    # float64: torch rounds some constants to float32 (1/6 in hardsigmoid, 1/alpha in celu);
    # float32: cancellation near 0
    for dtype, rtol, atol in ((np.float64, 1e-6, 1e-14), (np.float32, 1e-5, 5e-6)):
        data = x.astype(dtype)
        tx = torch.tensor(data, requires_grad=True)
        ty = getattr(F, torch_name)(tx, **torch_kwargs)
        ty.backward(torch.ones_like(ty))
        op = ge.default_manager().get_op(name)
        out = op.forward(np, data, **attrs)
        (grad,) = op.backward(np, np.ones_like(out), (data,), out, **attrs)
        assert out.dtype == dtype and grad.dtype == dtype
        np.testing.assert_allclose(out, ty.detach().numpy(), rtol=rtol, atol=atol)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "silu", "gelu", "elu", "leaky_relu", "logsigmoid",
                                  "hardswish", "hardsigmoid", "mish", "selu", "celu", "softsign", "softmax",
                                  "log_softmax"])
def test_activations_of_integer_data_give_float32(name):
    g = ge.Graph()
    x = g.input("x", shape=(3,), dtype="int32")
    y = getattr(ge.ops, name)(x)
    assert y.dtype == np.float32
    for fetch in (None, [y], [y]):
        assert g.forward({"x": np.array([-1, 0, 2], dtype=np.int32)}, fetch=fetch).value(y).dtype == np.float32


@pytest.mark.parametrize("name", ["relu", "identity"])
def test_relu_and_identity_keep_integer_data_integer(name):
    g = ge.Graph()
    x = g.input("x", shape=(3,), dtype="int32")
    y = getattr(ge.ops, name)(x)
    assert y.dtype == np.int32
    assert g.forward({"x": np.array([-1, 0, 2], dtype=np.int32)}).value(y).dtype == np.int32


def test_mlp_through_the_graph_with_every_activation_kind():
    rng = np.random.default_rng(7)
    g = ge.Graph("mlp")
    x = g.input("x", shape=(None, 3))
    W = g.param("W", rng.standard_normal((3, 4)))
    h = x @ W
    acts = [ge.ops.sigmoid(h), ge.ops.tanh(h), ge.ops.softplus(h), ge.ops.silu(h), ge.ops.gelu(h),
            ge.ops.elu(h, alpha=0.5), ge.ops.leaky_relu(h, alpha=0.1), ge.ops.log_softmax(h, axis=1)]
    loss = ge.ops.sum(acts[0])
    for a in acts[1:]:
        loss = loss + ge.ops.sum(a)
    X = rng.standard_normal((5, 3))
    run = g.forward({"x": X}).backward(loss)
    H = X @ W.value
    s = sigmoid_reference(H)
    local = (s * (1 - s) + (1 - np.tanh(H) ** 2) + s + s * (1 + H * (1 - s))
             + _gelu_derivative(H) + np.where(H > 0, 1.0, 0.5 * np.exp(H)) + np.where(H > 0, 1.0, 0.1)
             + (1 - 4 * softmax_reference(H, axis=1)))
    np.testing.assert_allclose(run.grad(W), X.T @ local, rtol=1e-10)


def _gelu_derivative(x):
    """d/dx of the exact GELU x·Φ(x): Φ(x) + x·φ(x)."""
    cdf = 0.5 * (1 + np.vectorize(math.erf)(x / np.sqrt(2.0)))
    return cdf + x * np.exp(-0.5 * x ** 2) / np.sqrt(2 * np.pi)
