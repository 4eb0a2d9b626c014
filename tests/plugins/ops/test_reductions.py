"""Reductions over dim / axis (None, int, tuple, negative) with keepdim / keepdims: sum, mean,
max, min, prod, logsumexp, var, std, norm, argmax, argmin, any, all; cumsum, cumprod,
logcumsumexp along one dim."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.testing import check_op

SETTINGS = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def reduction_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"] if ndim else ["none", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axis = draw(hnp.valid_tuple_axes(ndim))
    return shape, {"axis": axis, "keepdims": draw(st.booleans())}


def distinct(rng, shape):
    """Values at least 0.5 apart: no ties, so max has a gradient everywhere."""
    size = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(size) * 0.5 + rng.uniform(0, 0.1)).reshape(shape) - size / 4


def logsumexp_reference(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


REDUCTIONS = {
    "sum": (np.sum, lambda rng, shape: rng.standard_normal(shape)),
    "mean": (np.mean, lambda rng, shape: rng.standard_normal(shape)),
    "max": (np.max, distinct),
    "logsumexp": (logsumexp_reference, lambda rng, shape: 3 * rng.standard_normal(shape)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(case=reduction_cases(), seed=seeds)
def test_reduction_conforms(name, case, seed):
    shape, attrs = case
    reference, gen = REDUCTIONS[name]
    x = gen(np.random.default_rng(seed), shape)
    check_op(name, [x], reference=lambda x, axis, keepdims: reference(x, axis=axis, keepdims=keepdims),
             attrs=attrs)


@pytest.mark.parametrize("name", sorted(REDUCTIONS) + ["min", "prod", "var", "std", "norm", "argmax", "argmin",
                                                   "any", "all"])
def test_full_reduction_returns_a_0d_array_not_a_scalar(name):
    op = ge.default_manager().get_op(name)
    out = op.forward(np, np.arange(6.0, dtype=np.float32).reshape(2, 3))
    want = {"argmax": np.int64, "argmin": np.int64, "any": np.bool_, "all": np.bool_}.get(name, np.float32)
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == want


def test_max_splits_the_gradient_evenly_between_ties():
    op = ge.default_manager().get_op("max")
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
    out = op.forward(np, x, axis=1)
    (g,) = op.backward(np, np.array([1.0, 2.0]), (x,), out, axis=1)
    np.testing.assert_array_equal(g, [[0.0, 0.5, 0.5], [2.0, 0.0, 0.0]])


@pytest.mark.parametrize("value", [1e4, -1e4])
def test_logsumexp_is_stable_for_large_float32_inputs(value):
    op = ge.default_manager().get_op("logsumexp")
    x = np.array([[value, value, value - 1.0], [0.0, value, -value]], dtype=np.float32)
    # overflow, 0/0 and log(0) raise; underflow of e^(x - max) to 0 is expected and fine
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        out = op.forward(np, x, axis=1)
        (g,) = op.backward(np, np.ones_like(out), (x,), out, axis=1)
    assert out.dtype == g.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(g))
    # exact: row 0 is value + log(2 + e^-1); row 1 (0, ±1e4, ∓1e4) is 1e4 + log(1 + e^-1e4 + e^-2e4) = 1e4
    np.testing.assert_allclose(out[0], value + np.log(2 + np.exp(-1.0)), rtol=1e-6)
    np.testing.assert_allclose(out[1], 1e4, rtol=1e-6)
    np.testing.assert_allclose(g.sum(axis=1), [1.0, 1.0], rtol=1e-6)  # softmax rows


def test_logsumexp_of_a_row_of_minus_infinity_is_minus_infinity():
    op = ge.default_manager().get_op("logsumexp")
    x = np.array([[-np.inf, -np.inf], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = op.forward(np, x, axis=1)
    np.testing.assert_array_equal(out, [-np.inf, np.log(2.0)])


def test_reduction_shape_rules_with_an_unknown_batch_axis():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3, 4))
    assert ge.ops.sum(x, axis=0).shape == (3, 4)
    assert ge.ops.mean(x, axis=(1, 2)).shape == (None,)
    assert ge.ops.max(x, axis=-1, keepdims=True).shape == (None, 3, 1)
    assert ge.ops.logsumexp(x).shape == ()
    with pytest.raises(ge.ShapeError, match="axis 3 is out of range"):
        ge.ops.sum(x, axis=3)
    with pytest.raises(ge.ShapeError, match="repeated axis"):
        ge.ops.mean(x, axis=(1, -2))
    assert ge.ops.max(x, dim=-1, keepdim=True).shape == (None, 3, 1)  # torch's names too
    with pytest.raises(ge.AttributeSpecError, match="Did you mean 'keepdim"):
        ge.ops.max(x, axis=1, keepdimz=True)


def test_mean_of_squares_through_the_graph_in_float32():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3), dtype="float32")
    m = ge.ops.mean(x * x, axis=0)
    loss = ge.ops.sum(m) + ge.ops.logsumexp(x)
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    run = g.forward({"x": X}).backward(loss)
    assert run.value(loss).dtype == np.float32 and run.grad(x).dtype == np.float32
    softmax_all = np.exp(X - X.max()) / np.exp(X - X.max()).sum()
    np.testing.assert_allclose(run.value(m), (X * X).mean(axis=0))
    np.testing.assert_allclose(run.grad(x), 2 * X / 2 + softmax_all, rtol=1e-6)


# -- torch's names: dim / keepdim beside axis / keepdims ---------------------------------

FEW = settings(max_examples=10, deadline=None)
rng0 = np.random.default_rng(0)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "logsumexp", "var", "std", "norm",
                                  "any", "all"])
def test_dim_and_keepdim_are_the_same_options_as_axis_and_keepdims(name):
    op = ge.default_manager().get_op(name)
    x = distinct(rng0, (2, 3, 4))
    torch_style = op.forward(np, x, dim=(0, 2), keepdim=True)
    numpy_style = op.forward(np, x, axis=(0, 2), keepdims=True)
    np.testing.assert_array_equal(torch_style, numpy_style)
    assert torch_style.shape == (1, 3, 1) == op.shape((2, 3, 4), dim=(0, 2), keepdim=True)
    np.testing.assert_array_equal(op.forward(np, x, dim=1, axis=1), op.forward(np, x, axis=1))  # same value: fine


def test_dim_and_axis_that_disagree_are_refused_naming_the_node_and_both_values():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    with pytest.raises(ge.AttributeSpecError) as info:
        ge.ops.sum(x, dim=0, axis=1, name="total")
    message = str(info.value)
    assert "'total'" in message and "sum" in message and "dim=0" in message and "axis=1" in message
    assert "pass only one" in message
    with pytest.raises(ge.AttributeSpecError, match="keepdim=True and keepdims=False"):
        ge.ops.var(x, dim=1, keepdim=True, keepdims=False)


# -- var, std, min, prod, norm: check_op on hypothesis shapes ------------------------------

def torch_dims(case):
    """A reduction case with torch's option names."""
    shape, attrs = case
    return shape, {"dim": attrs["axis"], "keepdim": attrs["keepdims"]}


def _var_reference(x, dim=None, keepdim=False, correction=1):
    n = x.size // max(np.mean(x, axis=dim, keepdims=keepdim).size, 1)
    return np.var(x, axis=dim, keepdims=keepdim) * n / (n - correction)


def _std_reference(x, dim=None, keepdim=False, correction=1):
    return np.sqrt(_var_reference(x, dim, keepdim, correction))


def _norm_reference(x, p=2, dim=None, keepdim=False):
    axes = tuple(range(x.ndim)) if dim is None else dim
    a = np.abs(x)
    if p == np.inf:
        return np.max(a, axis=axes, keepdims=keepdim)
    if p == -np.inf:
        return np.min(a, axis=axes, keepdims=keepdim)
    return np.sum(a ** p, axis=axes, keepdims=keepdim) ** (1 / p)


def _count_reduced(shape, dim):
    axes = range(len(shape)) if dim is None else ([dim] if isinstance(dim, int) else dim)
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


@FEW
@given(case=reduction_cases(), seed=seeds, correction=st.sampled_from([0, 1]))
def test_var_and_std_conform(case, seed, correction):
    shape, attrs = torch_dims(case)
    if _count_reduced(shape, attrs["dim"]) <= correction:
        correction = 0  # a single entry: n - 1 = 0 gives nan (tested below)
    x = np.random.default_rng(seed).standard_normal(shape)
    attrs["correction"] = correction
    check_op("var", [x], reference=_var_reference, attrs=attrs)
    check_op("std", [x], reference=_std_reference, attrs=attrs)


@FEW
@given(case=reduction_cases(), seed=seeds)
def test_min_conforms(case, seed):
    shape, attrs = torch_dims(case)
    x = distinct(np.random.default_rng(seed), shape)
    check_op("min", [x], reference=lambda x, dim, keepdim: np.min(x, axis=dim, keepdims=keepdim), attrs=attrs)


@FEW
@given(case=reduction_cases(), seed=seeds, zeros=st.integers(0, 2))
def test_prod_conforms_with_zeros_in_the_input(case, seed, zeros):
    shape, attrs = torch_dims(case)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    x.reshape(-1)[rng.permutation(x.size)[:zeros]] = 0.0  # one or two exact zeros
    check_op("prod", [x], reference=lambda x, dim, keepdim: np.prod(x, axis=dim, keepdims=keepdim), attrs=attrs)


@pytest.mark.parametrize("p", [2, 1, 3, 1.5, np.inf, -np.inf, "fro"])
@FEW
@given(case=reduction_cases(), seed=seeds)
def test_norm_conforms(p, case, seed):
    shape, attrs = torch_dims(case)
    rng = np.random.default_rng(seed)
    x = distinct(rng, shape) + 0.25  # no zeros, no ties of |x|: every order is smooth there
    attrs["p"] = p
    check_op("norm", [x], reference=lambda x, p, dim, keepdim: _norm_reference(x, 2 if p == "fro" else p, dim,
                                                                                keepdim), attrs=attrs)


def test_prod_gradient_with_zeros_is_the_product_of_the_others():
    op = ge.default_manager().get_op("prod")
    x = np.array([[2.0, 3.0, 4.0], [0.0, 5.0, 6.0], [0.0, 7.0, 0.0]], dtype=np.float32)
    out = op.forward(np, x, dim=1)
    (g,) = op.backward(np, np.ones(3, dtype=np.float32), (x,), out, dim=1)
    np.testing.assert_array_equal(out, [24.0, 0.0, 0.0])
    np.testing.assert_array_equal(g, [[12.0, 8.0, 6.0], [30.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert g.dtype == np.float32


def test_norm_gradient_at_the_zero_vector_is_zero_as_in_torch():
    op = ge.default_manager().get_op("norm")
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    for p in (2, 1, 3, "fro"):
        out = op.forward(np, x, p=p, dim=1)
        (g,) = op.backward(np, np.ones(2), (x,), out, p=p, dim=1)
        assert np.all(np.isfinite(g)) and np.all(g[0] == 0.0), p
    np.testing.assert_allclose(op.forward(np, x, dim=1), [0.0, 5.0])


def test_norm_of_inf_splits_the_gradient_between_ties_and_p0_counts():
    op = ge.default_manager().get_op("norm")
    x = np.array([1.0, -3.0, 3.0])
    out = op.forward(np, x, p=np.inf)
    np.testing.assert_array_equal(op.backward(np, np.array(1.0), (x,), out, p=np.inf)[0], [0.0, -0.5, 0.5])
    assert op.forward(np, np.array([0.0, 2.0, -1.0], dtype=np.float32), p=0).dtype == np.float32
    assert float(op.forward(np, np.array([0.0, 2.0, -1.0]), p=0)) == 2.0


def test_std_of_a_constant_slice_has_a_zero_gradient_as_in_torch():
    op = ge.default_manager().get_op("std")
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    out = op.forward(np, x, dim=1)
    (g,) = op.backward(np, np.ones(2), (x,), out, dim=1)
    np.testing.assert_array_equal(g[0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(g[1], [-0.5, 0.0, 0.5])


def test_var_with_too_few_entries_gives_nan_or_inf_like_torch_without_warnings():
    op = ge.default_manager().get_op("var")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(op.forward(np, np.array([1.0])))
        assert np.isinf(op.forward(np, np.array([1.0, 2.0]), correction=2))


def test_norm_refuses_an_unsupported_p_at_build_time():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    with pytest.raises(ge.AttributeSpecError, match=r"cannot add node 'n' \(op norm\).*'nuc'.*SVD"):
        ge.ops.norm(x, p="nuc", name="n")
    with pytest.raises(ge.AttributeSpecError, match="p=0.5 is not supported"):
        ge.ops.norm(x, p=0.5)


# -- argmax, argmin, any, all: integer / bool outputs, no gradient -------------------------

@pytest.mark.parametrize("name, reference", [("argmax", np.argmax), ("argmin", np.argmin)])
@FEW
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), data=st.data(), seed=seeds,
       keepdim=st.booleans())
def test_argmax_and_argmin_conform(name, reference, shape, data, seed, keepdim):
    dim = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)) if shape else st.none())
    x = distinct(np.random.default_rng(seed), shape)

    def ref(x, dim, keepdim):
        if dim is None:
            flat = reference(x.reshape(-1))
            return np.reshape(flat, (1,) * x.ndim if keepdim else ())
        return reference(x, axis=dim, keepdims=keepdim)

    check_op(name, [x], reference=ref, attrs={"dim": dim, "keepdim": keepdim}, skip=("float32_preserved",))
    out = ge.default_manager().get_op(name).forward(np, x.astype(np.float32), dim=dim, keepdim=keepdim)
    assert out.dtype == np.int64 and isinstance(out, np.ndarray)


def test_argmax_takes_the_first_of_ties_and_one_dim_only():
    op = ge.default_manager().get_op("argmax")
    np.testing.assert_array_equal(op.forward(np, np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), dim=1), [1, 0])
    g = ge.Graph()
    x = g.input("x", shape=(None, 3), dtype="float32")
    assert ge.ops.argmax(x, dim=1).dtype == np.int64 and ge.ops.argmax(x, dim=1).shape == (None,)
    with pytest.raises(ge.AttributeSpecError, match="one dim"):
        ge.ops.argmax(x, dim=(0, 1))


@pytest.mark.parametrize("name, reference", [("any", np.any), ("all", np.all)])
@FEW
@given(case=reduction_cases(), seed=seeds)
def test_any_and_all_conform(name, reference, case, seed):
    shape, attrs = torch_dims(case)
    x = np.random.default_rng(seed).integers(0, 2, shape) * 1.0
    check_op(name, [x], reference=lambda x, dim, keepdim: reference(x, axis=dim, keepdims=keepdim), attrs=attrs,
             skip=("float32_preserved",))
    assert ge.default_manager().get_op(name).forward(np, x, **attrs).dtype == np.bool_


def test_no_gradient_flows_through_argmax_any_all():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    picked = ge.ops.argmax(x, dim=1)
    flags = ge.ops.all(x, dim=1)
    loss = ge.ops.sum(x * x)
    run = g.forward({"x": np.array([[1.0, 0.0, 3.0]])}).backward(loss)
    np.testing.assert_array_equal(run.value(picked), [2])
    np.testing.assert_array_equal(run.value(flags), [False])
    np.testing.assert_array_equal(run.grad(x), [[2.0, 0.0, 6.0]])
    for name in ("argmax", "argmin", "any", "all"):
        assert not ge.default_manager().get_op(name).differentiable


# -- integer data: torch's dtypes -----------------------------------------------------------

@pytest.mark.parametrize("name, want", [("sum", np.int64), ("prod", np.int64), ("cumsum", np.int64),
                                        ("cumprod", np.int64), ("mean", np.float32), ("var", np.float32),
                                        ("std", np.float32), ("norm", np.float32), ("max", np.int32),
                                        ("min", np.int32), ("argmax", np.int64), ("any", np.bool_),
                                        ("logsumexp", np.float32), ("logcumsumexp", np.float32),
                                        ("argmin", np.int64), ("all", np.bool_)])
def test_integer_inputs_give_torchs_dtypes_statically_and_at_run_time(name, want):
    g = ge.Graph()
    x = g.input("x", shape=(2, 3), dtype="int32")
    attrs = {"dim": 1}
    node = getattr(ge.ops, name)(x, **attrs)
    run = g.forward({"x": np.arange(6, dtype=np.int32).reshape(2, 3)})
    assert node.dtype == want and run.value(node).dtype == want


# -- cumsum, cumprod, logcumsumexp ------------------------------------------------------------

@st.composite
def scan_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5))
    dim = draw(st.integers(-len(shape), len(shape) - 1)) if shape else draw(st.sampled_from([0, -1]))
    return shape, dim


def _scan_reference(fn):
    def reference(x, dim):
        if x.ndim == 0:
            return x.copy()
        return fn(x, axis=dim)
    return reference


def _logcumsumexp(x, axis):
    return np.logaddexp.accumulate(x, axis=axis)


@FEW
@given(case=scan_cases(), seed=seeds)
def test_cumsum_and_logcumsumexp_conform(case, seed):
    shape, dim = case
    x = 3 * np.random.default_rng(seed).standard_normal(shape)
    check_op("cumsum", [x], reference=_scan_reference(np.cumsum), attrs={"dim": dim})
    check_op("logcumsumexp", [x], reference=_scan_reference(_logcumsumexp), attrs={"dim": dim})


@FEW
@given(case=scan_cases(), seed=seeds, zeros=st.integers(0, 3))
def test_cumprod_conforms_with_zeros_in_the_input(case, seed, zeros):
    shape, dim = case
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    x.reshape(-1)[rng.permutation(x.size)[:zeros]] = 0.0
    check_op("cumprod", [x], reference=_scan_reference(np.cumprod), attrs={"dim": dim})


def test_cumprod_gradient_at_and_after_zeros():
    op = ge.default_manager().get_op("cumprod")
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    out = op.forward(np, x, dim=0)
    (g,) = op.backward(np, np.ones(5), (x,), out, dim=0)
    # d/dx0 = 1 + 0 ...; d/dx1 = x0 + x0 x2 = 8; after the first zero every product holds it: 0
    np.testing.assert_array_equal(g, [1.0, 8.0, 0.0, 0.0, 0.0])


def test_logcumsumexp_keeps_small_early_entries_and_does_not_overflow():
    op = ge.default_manager().get_op("logcumsumexp")
    x = np.array([[-1000.0, 0.0, 1000.0], [1e4, 1e4, -1e4]], dtype=np.float32)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise"):
        warnings.simplefilter("error")
        out = op.forward(np, x, dim=1)
        (g,) = op.backward(np, np.ones_like(out), (x,), out, dim=1)
    assert out.dtype == g.dtype == np.float32
    np.testing.assert_allclose(out[0], [-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(out[1], [1e4, 1e4 + np.log(2.0), 1e4 + np.log(2.0)])
    assert np.all(np.isfinite(g))


def test_scans_need_one_dim():
    g = ge.Graph()
    x = g.input("x", shape=(None, 3))
    for name in ("cumsum", "cumprod", "logcumsumexp"):
        with pytest.raises(ge.AttributeSpecError, match=rf"{name} needs dim="):
            getattr(ge.ops, name)(x)
    with pytest.raises(ge.ShapeError, match="axis 2 is out of range"):
        ge.ops.cumsum(x, dim=2)
    assert ge.ops.cumsum(x, axis=1).shape == (None, 3)


# -- against PyTorch (where installed) ----------------------------------------------------------

def test_reductions_match_pytorch(against_torch):
    import torch
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 5))
    x[0, 1, 2] = 0.0
    x[2, 3, :2] = 0.0
    cases = [
        ("var", {"dim": 1}, lambda t: torch.var(t, dim=1)),
        ("var", {"dim": (0, 2), "correction": 0, "keepdim": True},
         lambda t: torch.var(t, dim=(0, 2), correction=0, keepdim=True)),
        ("std", {}, lambda t: torch.std(t)),
        ("std", {"dim": -1, "correction": 2}, lambda t: torch.std(t, dim=-1, correction=2)),
        ("min", {"dim": 1}, lambda t: torch.amin(t, dim=1)),
        ("prod", {"dim": 2}, lambda t: torch.prod(t, dim=2)),
        ("prod", {"dim": 1, "keepdim": True}, lambda t: torch.prod(t, dim=1, keepdim=True)),
        ("norm", {}, lambda t: torch.norm(t)),
        ("norm", {"p": 1, "dim": 2}, lambda t: torch.norm(t, p=1, dim=2)),
        ("norm", {"p": 3, "dim": (0, 1)}, lambda t: torch.norm(t, p=3, dim=(0, 1))),
        ("norm", {"p": float("inf"), "dim": 0}, lambda t: torch.norm(t, p=float("inf"), dim=0)),
        ("norm", {"p": "fro", "dim": (1, 2)}, lambda t: torch.norm(t, p="fro", dim=(1, 2))),
        ("cumsum", {"dim": 1}, lambda t: torch.cumsum(t, dim=1)),
        ("cumprod", {"dim": 2}, lambda t: torch.cumprod(t, dim=2)),
        ("logcumsumexp", {"dim": 0}, lambda t: torch.logcumsumexp(t, dim=0)),
        ("logsumexp", {"dim": 1}, lambda t: torch.logsumexp(t, dim=1)),
    ]
    for name, attrs, fn in cases:
        out, g, expected, expected_grad = against_torch(name, x, attrs, fn, rng)
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(np.broadcast_to(g, x.shape), expected_grad, rtol=1e-9, atol=1e-12,
                                   err_msg=f"{name} {attrs} gradient")
    for name, attrs, fn in [("argmax", {"dim": 1}, lambda t: torch.argmax(t, dim=1)),
                            ("argmin", {"keepdim": True}, lambda t: torch.argmin(t, keepdim=True)),
                            ("any", {"dim": (0, 2)}, lambda t: torch.any(t > 1, dim=(0, 2)))]:
        arg = x > 1 if name == "any" else x
        out = ge.default_manager().get_op(name).forward(np, arg, **attrs)
        want = fn(torch.tensor(x)).numpy()
        assert out.dtype == want.dtype and out.shape == want.shape and np.array_equal(out, want), name
