"""Every op gives the same values AND gradients in all three ways the engine runs it:
recorded (fetch=None, interpreted), fetched (interpreted on the first replay) and fetched
again (generated straight-line code, which may paste an op's ``inline_forward`` /
``inline_backward`` templates instead of calling its methods).

``graphengine.testing.check_op`` checks the templates against the methods directly
(``inline_forward`` / ``inline_backward`` checks); these tests check that the engine's
three paths agree with the methods on every built-in op, in float64 and float32, with
the methods' broadcast-shaped gradients summed back as the engine does.
"""

import numpy as np
import pytest

import graphengine as ge
from graphengine.op import sum_to_shape

RNG = np.random.default_rng(2024)


def normal(*shape):
    return RNG.standard_normal(shape)


def positive(*shape):
    return RNG.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    return RNG.uniform(0.2, 2.0, shape) * RNG.choice([-1.0, 1.0], shape)


def distinct(*shape):
    return RNG.permutation(int(np.prod(shape))).reshape(shape) * 0.5 - 1.0


LABELS = np.array([0, 2, 1, 2])

CASES = [
    # (op name, inputs, attrs)
    ("add", [normal(3, 4), normal(4)], {}),
    ("sub", [normal(2, 1, 3), normal(4, 1)], {}),
    ("mul", [normal(3, 1), normal(1, 4)], {}),
    ("div", [normal(3, 4), away_from_zero(4)], {}),
    ("pow", [positive(3, 4), normal(3, 1)], {}),
    ("neg", [normal(3, 4)], {}),
    ("exp", [normal(3, 4)], {}),
    ("log", [positive(3, 4)], {}),
    ("sqrt", [positive(3, 4)], {}),
    ("abs", [away_from_zero(3, 4)], {}),
    ("square", [normal(3, 4)], {}),
    ("maximum", [distinct(3, 4), distinct(4) + 0.25], {}),
    ("minimum", [distinct(3, 4), distinct(4) + 0.25], {}),
    ("clip", [away_from_zero(3, 4)], {"low": -0.1, "high": 1.0}),
    ("where", [normal(3, 4) > 0, normal(3, 4), normal(4)], {}),
    ("matmul", [normal(2, 3, 4), normal(4, 5)], {}),
    ("matmul", [normal(4), normal(4)], {}),
    ("transpose", [normal(2, 3, 4)], {"axes": (1, 2, 0)}),
    ("reshape", [normal(2, 3, 4)], {"shape": (4, -1)}),
    ("concat", [normal(2, 3), normal(4, 3), normal(1, 3)], {"axis": 0}),
    ("stack", [normal(2, 3), normal(2, 3)], {"axis": -1}),
    ("getitem", [normal(5, 4)], {"index": (slice(None, None, -2), 1)}),
    ("getitem", [normal(5, 4)], {"index": ("__list__", (0, 0, 3))}),  # as x[[0, 0, 3]] stores it
    ("broadcast_to", [normal(3, 1)], {"shape": (2, 3, 4)}),
    ("sum", [normal(3, 4)], {"axis": 0}),
    ("mean", [normal(3, 4)], {"axis": (0, 1), "keepdims": True}),
    ("max", [distinct(3, 4)], {"axis": -1}),
    ("logsumexp", [normal(3, 4)], {"axis": 1}),
    ("sigmoid", [normal(3, 4)], {}),
    ("tanh", [normal(3, 4)], {}),
    ("relu", [away_from_zero(3, 4)], {}),
    ("leaky_relu", [away_from_zero(3, 4)], {"alpha": 0.2}),
    ("elu", [away_from_zero(3, 4)], {"alpha": 0.7}),
    ("softplus", [normal(3, 4)], {}),
    ("gelu", [normal(3, 4)], {}),
    ("silu", [normal(3, 4)], {}),
    ("softmax", [normal(3, 4)], {"axis": 0}),
    ("log_softmax", [normal(3, 4)], {}),
    ("step", [away_from_zero(3, 4)], {}),
    ("identity", [normal(3, 4)], {}),
    # elementwise functions and activations (plugins/ops/special.py, activations.py)
    ("gelu", [normal(3, 4)], {"approximate": "tanh"}),
    ("logsigmoid", [normal(3, 4)], {}),
    ("hardswish", [away_from_zero(3, 4)], {}),
    ("hardsigmoid", [away_from_zero(3, 4)], {}),
    ("mish", [normal(3, 4)], {}),
    ("selu", [away_from_zero(3, 4)], {}),
    ("celu", [away_from_zero(3, 4)], {"alpha": 0.5}),
    ("softsign", [normal(3, 4)], {}),
    ("erf", [normal(3, 4)], {}),
    ("sin", [normal(3, 4)], {}),
    ("cos", [normal(3, 4)], {}),
    ("tan", [away_from_zero(3, 4) * 0.6], {}),
    ("atan", [normal(3, 4)], {}),
    ("sinh", [normal(3, 4)], {}),
    ("cosh", [normal(3, 4)], {}),
    ("asinh", [normal(3, 4)], {}),
    ("floor", [away_from_zero(3, 4) + 0.05], {}),
    ("ceil", [away_from_zero(3, 4) + 0.05], {}),
    ("round", [normal(3, 4)], {"decimals": 1}),
    ("sign", [away_from_zero(3, 4)], {}),
    ("isnan", [np.array([[1.0, np.nan], [np.inf, 0.0]])], {}),
    ("isinf", [np.array([[1.0, np.nan], [np.inf, 0.0]])], {}),
    ("isfinite", [np.array([[1.0, np.nan], [np.inf, 0.0]])], {}),
    ("rsqrt", [positive(3, 4)], {}),
    ("log1p", [positive(3, 4)], {}),
    ("expm1", [normal(3, 4)], {}),
    ("log2", [positive(3, 4)], {}),
    ("exp2", [normal(3, 4)], {}),
    ("logaddexp", [normal(3, 4), normal(4)], {}),
    ("mse", [normal(4, 3), normal(1, 3)], {}),
    ("mae", [distinct(4, 3), distinct(1, 3) + 0.25], {"reduction": "sum"}),
    ("binary_cross_entropy", [RNG.uniform(0.1, 0.9, (4, 3)), RNG.uniform(0, 1, (4, 3))], {"reduction": "mean"}),
    ("binary_cross_entropy_with_logits", [normal(4, 3), RNG.integers(0, 2, (4, 3))], {}),
    ("cross_entropy", [normal(4, 3), LABELS], {"reduction": "mean"}),
    ("cross_entropy", [normal(4, 3), np.eye(3)[LABELS]], {}),
    ("nll", [normal(4, 3), LABELS], {"reduction": "sum"}),
    ("hinge", [normal(4, 3) * 3, LABELS], {}),
    ("max_pool2d", [distinct(2, 3, 5, 5)], {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("max_pool1d", [distinct(2, 3, 7)], {"kernel_size": 2, "ceil_mode": True}),
    ("avg_pool2d", [normal(2, 3, 5, 5)], {"kernel_size": 2, "padding": 1, "count_include_pad": False}),
    ("avg_pool1d", [normal(2, 3, 7)], {"kernel_size": 3, "stride": 2}),
    ("adaptive_avg_pool2d", [normal(2, 3, 5, 7)], {"output_size": (2, 3)}),
    ("dropout2d", [normal(4, 3, 2, 2)], {"p": 0.5, "seed": 3}),
    ("conv2d", [normal(2, 4, 6, 5), normal(6, 2, 3, 3), normal(6)], {"stride": (2, 1), "padding": 1, "groups": 2}),
    ("conv2d", [normal(2, 3, 6, 6), normal(4, 3, 3, 3)], {"padding": "same", "dilation": 2}),
    ("conv1d", [normal(2, 3, 9), normal(4, 3, 3), normal(4)], {"stride": 2, "padding": 1}),
    ("conv_transpose2d", [normal(2, 4, 3, 4), normal(4, 3, 3, 2), normal(6)],
     {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    ("pad", [normal(2, 3, 4)], {"pad": (1, 2, 2, 1), "mode": "reflect"}),
    ("pad", [normal(2, 3, 4)], {"pad": (1, -1), "mode": "constant", "value": 0.5}),
    # indexing by data, comparisons and logic, cast
    ("gather", [normal(3, 4), np.array([[0, 3], [2, 2], [1, 0]])], {"dim": 1}),
    ("take_along_axis", [normal(3, 1), np.array([[0], [2], [-1], [1]])], {"axis": 0}),
    ("index_select", [normal(3, 4), np.array([2, 0, 2])], {"dim": 0}),
    ("embedding", [np.array([[0, 2], [2, 1]]), normal(4, 3)], {"padding_idx": 3}),
    ("scatter_add", [normal(3, 4), np.array([[0, 2, 2, 0]]), normal(2, 4)], {"dim": 0}),
    ("one_hot", [np.array([0, 2, 1])], {"num_classes": 4}),
    ("getitem", [normal(5, 4), np.array([0, 0, 3])], {"index": (slice(None), ("__node__", 0))}),
    ("lt", [normal(3, 4), normal(4)], {}), ("le", [normal(3, 4), normal(4)], {}),
    ("gt", [normal(3, 4), normal(4)], {}), ("ge", [normal(3, 4), normal(4)], {}),
    ("eq", [np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])], {}),
    ("ne", [np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])], {}),
    ("logical_and", [normal(3, 4) > 0, normal(4) > 0], {}),
    ("logical_or", [normal(3, 4) > 0, normal(4) > 0], {}),
    ("logical_not", [normal(3, 4) > 0], {}),
    ("cast", [normal(3, 4)], {"dtype": "float64"}),
    ("stop_gradient", [normal(3, 4)], {}), ("detach", [normal(3, 4)], {}),
    # reductions, shape ops, sorting, einsum
    ("var", [normal(3, 4)], {"dim": 1}), ("std", [normal(3, 4)], {"dim": 0, "correction": 0}),
    ("min", [distinct(3, 4)], {"dim": -1}), ("prod", [away_from_zero(3, 4)], {"dim": 1}),
    ("norm", [away_from_zero(3, 4)], {"dim": 1}), ("argmax", [distinct(3, 4)], {"dim": 1}),
    ("argmin", [distinct(3, 4)], {}), ("any", [normal(3, 4) > 0], {"dim": 0}), ("all", [normal(3, 4) > 0], {"dim": 1}),
    ("cumsum", [normal(3, 4)], {"dim": 1}), ("cumprod", [away_from_zero(3, 4)], {"dim": 0}),
    ("logcumsumexp", [normal(3, 4)], {"dim": 1}), ("squeeze", [normal(3, 1, 4)], {"dim": 1}),
    ("unsqueeze", [normal(3, 4)], {"dim": 0}), ("flatten", [normal(2, 3, 4)], {"start_dim": 1}),
    ("flip", [normal(3, 4)], {"dims": (0, 1)}), ("roll", [normal(3, 4)], {"shifts": 1, "dims": 1}),
    ("tile", [normal(3, 4)], {"dims": (2, 1)}), ("repeat", [normal(3, 4)], {"repeats": (2, 1, 2)}),
    ("tril", [normal(3, 4)], {"diagonal": 1}), ("triu", [normal(3, 4)], {}),
    ("narrow", [normal(3, 4)], {"dim": 1, "start": 1, "length": 2}),
    ("sort", [distinct(3, 4)], {"dim": 1, "descending": True}), ("argsort", [distinct(3, 4)], {}),
    ("topk", [distinct(3, 4)], {"k": 2}), ("topk_indices", [distinct(3, 4)], {"k": 2, "largest": False}),
    ("einsum", [normal(2, 3), normal(3, 4)], {"equation": "ij,jk->ik"}),
    # normalisation and losses
    ("layer_norm", [normal(2, 3, 4), normal(4), normal(4)], {"normalized_shape": (4,)}),
    ("group_norm", [normal(2, 4, 3), normal(4), normal(4)], {"num_groups": 2}),
    ("batch_norm", [normal(4, 3, 2), normal(3), positive(3), normal(3), normal(3)], {"training": True}),
    ("smooth_l1", [distinct(4, 3), distinct(1, 3) + 0.25], {"beta": 1.0, "reduction": "mean"}),
    ("huber", [distinct(4, 3), distinct(1, 3) + 0.25], {"delta": 2.0}),
    ("kl_div", [np.log(RNG.dirichlet(np.ones(3), 4)), RNG.dirichlet(np.ones(3), 4)], {"reduction": "batchmean"}),
]


def _ids():
    seen = {}
    out = []
    for name, _, _ in CASES:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def test_every_builtin_op_has_a_case():
    from graphengine.plugins.ops import all_ops

    assert {op.name for op in all_ops()} == {name for name, _, _ in CASES}


def _direct(op, inputs, attrs, seed):
    """forward and backward called directly (the reference for the graph paths)."""
    differentiable = tuple(np.asarray(x).dtype.kind == "f" for x in inputs)
    output = np.asarray(op.forward(np, *inputs, **attrs))
    grads = None
    if op.differentiable:
        kwargs = dict(attrs)
        if type(op).signature_info()[3]:
            kwargs["needs_grad"] = differentiable
        grads = op.backward(np, seed, tuple(inputs), output, **kwargs)
        grads = [None if g is None else sum_to_shape(np, g, np.shape(x)) for g, x in zip(grads, inputs)]
    return output, grads, differentiable


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, inputs, attrs", CASES, ids=_ids())
def test_recorded_fetched_and_generated_runs_agree_with_the_methods(name, inputs, attrs, dtype):
    op = ge.default_manager().get_op(name)
    inputs = [x.astype(dtype) if x.dtype.kind == "f" else x for x in inputs]
    seed = np.random.default_rng(5).standard_normal(np.shape(op.forward(np, *inputs, **attrs))).astype(dtype)
    want_value, want_grads, differentiable = _direct(op, inputs, attrs, seed)
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}

    g = ge.Graph(f"paths_{name}")
    nodes = [g.input(f"x{i}", shape=x.shape, dtype=x.dtype) for i, x in enumerate(inputs)]
    out = g.apply(name, *nodes, **attrs)
    feeds = {n.name: x for n, x in zip(nodes, inputs)}
    wanted = [n for n, d in zip(nodes, differentiable) if d]
    for fetch in (None, [out] + wanted):
        for replay in range(3):  # fetched: interpreted first, generated code from the second run on
            where = f"{name}, fetch={'None' if fetch is None else 'list'}, run {replay + 1}"
            run = g.forward(feeds, fetch=fetch)
            value = np.asarray(run.value(out))
            assert value.dtype == want_value.dtype, where
            np.testing.assert_allclose(value, want_value, err_msg=where, **tolerance)
            if not op.differentiable:
                continue
            run.backward(out, grad=seed)
            for i, node in enumerate(nodes):
                if differentiable[i]:
                    got = np.asarray(run.grad(node))
                    assert got.dtype == inputs[i].dtype, where
                    want = want_grads[i] if want_grads[i] is not None else np.zeros_like(inputs[i])  # no gradient
                    np.testing.assert_allclose(got, want, err_msg=f"{where}, gradient of input {i}", **tolerance)


BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "mse"]


@pytest.mark.parametrize("name", BINARY)
def test_one_node_feeding_both_inputs_accumulates_both_gradients(name):
    """op(x, x): the two contributions are summed (generated code sums in place; the seed
    and the first contribution must not be overwritten)."""
    op = ge.default_manager().get_op(name)
    x_value = positive(3, 4)
    seed = np.random.default_rng(6).standard_normal((3, 4))
    output = op.forward(np, x_value, x_value)
    ga, gb = op.backward(np, seed.copy(), (x_value, x_value), output)
    want = ga + gb
    g = ge.Graph()
    x = g.input("x", shape=(3, 4))
    y = g.apply(name, x, x)
    for fetch in (None, [y, x]):
        for _ in range(3):
            run = g.forward({"x": x_value}, fetch=fetch)
            seed_given = seed.copy()
            run.backward(y, grad=seed_given)
            np.testing.assert_allclose(run.grad(x), want, rtol=1e-12)
            np.testing.assert_array_equal(seed_given, seed)  # the caller's seed is untouched


def test_fan_out_through_ops_whose_gradients_are_views_of_the_upstream_gradient():
    """identity, reshape, transpose and broadcast_to hand back the upstream gradient (or a
    view of it); summing three of them into x must not write into any of them."""
    g = ge.Graph()
    x = g.input("x", shape=(2, 3))
    y = g.input("y", shape=(3, 2))
    a = ge.ops.identity(x)
    b = ge.ops.reshape(y, shape=(2, 3))
    c = ge.ops.transpose(y)
    total = a + b + c + ge.ops.reshape(ge.ops.transpose(x), shape=(2, 3))
    loss = ge.ops.sum(total * total)
    X, Y = normal(2, 3), normal(3, 2)
    T = X + Y.reshape(2, 3) + Y.T + X.T.reshape(2, 3)
    dT = 2 * T
    want_x = dT + dT.reshape(3, 2).T
    want_y = dT.reshape(3, 2) + dT.T
    for fetch in (None, [loss, x, y]):
        for _ in range(3):
            run = g.forward({"x": X, "y": Y}, fetch=fetch).backward(loss)
            np.testing.assert_allclose(run.grad(x), want_x, rtol=1e-12)
            np.testing.assert_allclose(run.grad(y), want_y, rtol=1e-12)
