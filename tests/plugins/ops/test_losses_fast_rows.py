"""cross_entropy's rows-of-classes backward (2-D logits, integer labels: the compiled MLP
step's path) against the plain formula scale·(softmax(z) - onehot(y)), within float rounding."""

import numpy as np
import pytest

import graphengine as ge


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def expected_grad(z, y, grad, reduction, ignore_index=-100):
    """d/dz of cross_entropy(z, y) in float64: (softmax(z) - onehot(y)) times the per-example scale."""
    z64 = z.astype(np.float64)
    kept = y != ignore_index
    onehot = np.zeros_like(z64)
    onehot[np.arange(len(y))[kept], y[kept]] = 1
    if reduction == "none":
        scale = np.asarray(grad, np.float64)
    elif reduction == "mean":
        scale = np.full(len(y), float(grad) / max(kept.sum(), 1))
    else:
        scale = np.full(len(y), float(grad))
    scale = np.where(kept, scale, 0.0)
    return (softmax(z64) - onehot) * scale[:, None]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ignored", [False, True])
@pytest.mark.parametrize("into_buffer", [False, True])
def test_rows_backward_is_the_softmax_formula(reduction, dtype, ignored, into_buffer):
    rng = np.random.default_rng(7)
    z = (rng.standard_normal((33, 10)) * 4).astype(dtype)
    y = rng.integers(0, 10, 33)
    if ignored:
        y[[2, 5, 30]] = -100
    op = ge.default_manager().get_op("cross_entropy")
    grad = (rng.uniform(0.5, 2, 33) if reduction == "none" else np.asarray(1.7)).astype(dtype)
    buffer = np.full_like(z, np.nan) if into_buffer else None
    (g, g_target) = op.backward(np, grad, (z, y), None, reduction=reduction, needs_grad=(True, False),
                                out=(buffer, None))
    assert g_target is None
    assert g.dtype == dtype and g.shape == z.shape
    if into_buffer:
        assert g is buffer
    tolerance = 2e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(g, expected_grad(z, y, grad, reduction), rtol=tolerance, atol=tolerance)
    if ignored:
        assert np.all(g[[2, 5, 30]] == 0)
    # every row of softmax(z) - onehot(y) sums to 0 (the scale aside)
    np.testing.assert_allclose(g.astype(np.float64).sum(axis=1), 0, atol=10 * tolerance)


def test_rows_backward_of_large_logits_is_finite():
    z = np.array([[1e4, 0, -1e4], [-3e4, 3e4, 0]], np.float32)
    y = np.array([0, 2])
    op = ge.default_manager().get_op("cross_entropy")
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # exp may underflow to 0: fine
        (g, _) = op.backward(np, np.asarray(np.float32(1)), (z, y), None, reduction="sum")
    np.testing.assert_array_equal(g, np.array([[0, 0, 0], [0, 1, -1]], np.float32))


def test_rows_backward_checks_the_labels_like_forward():
    op = ge.default_manager().get_op("cross_entropy")
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="0..2"):
        op.backward(np, np.asarray(np.float32(1)), (z, np.array([0, 3])), None, reduction="mean")


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("ignore_index", [-100, None, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows_of_classes_on_every_backend(backend, reduction, ignore_index, dtype):
    """The same path through a graph on each backend (CuPy runs it as fused kernels):
    values and gradients of the plain formulas, ignored labels included."""
    from graphengine.backends import asnumpy

    rng = np.random.default_rng(5)
    z = (rng.standard_normal((9, 4)) * 3).astype(dtype)
    y = rng.integers(0, 4, size=9)
    if ignore_index is not None:
        y[[1, 4]] = ignore_index
    g = ge.Graph(backend=backend)
    zn = g.input("z", shape=(None, 4), dtype=dtype)
    yn = g.input("y", shape=(None,), dtype="int64")
    loss = ge.ops.cross_entropy(zn, yn, reduction=reduction, ignore_index=ignore_index)
    upstream = rng.standard_normal(9).astype(dtype) if reduction == "none" else np.asarray(1.5, dtype)
    run = g.forward({"z": z, "y": y}).backward(loss, grad=g.xp.asarray(upstream))
    kept = np.ones(9, bool) if ignore_index is None else y != ignore_index
    p = softmax(z.astype(np.float64))
    per_row = np.where(kept, -np.log(p[np.arange(9), np.where(kept, y, 0)]), 0.0)
    want = {"none": per_row, "sum": per_row.sum(), "mean": per_row.sum() / kept.sum()}[reduction]
    tol = 1e-5 if dtype == "float32" else 1e-12
    value, grad = asnumpy(run.value(loss)), asnumpy(run.grad(zn))
    assert value.dtype == np.dtype(dtype) and grad.dtype == np.dtype(dtype)
    np.testing.assert_allclose(value, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, expected_grad(z, y, upstream, reduction, ignore_index if ignore_index is not None
                                                   else -100), rtol=tol, atol=tol)


def test_a_label_out_of_range_is_nan_on_the_device_and_an_error_on_numpy(backend):
    from graphengine.backends import asnumpy

    g = ge.Graph(backend=backend)
    zn = g.input("z", shape=(None, 3), dtype="float32")
    yn = g.input("y", shape=(None,), dtype="int64")
    loss = ge.ops.cross_entropy(zn, yn)
    feeds = {"z": np.zeros((3, 3), np.float32), "y": np.array([0, 3, 1])}
    if backend == "numpy":
        with pytest.raises(ge.OpExecutionError, match="class indices must lie in 0..2"):
            g.forward(feeds)
        return
    run = g.forward(feeds).backward(loss, grad=g.xp.ones(3, dtype="float32"))
    value, grad = asnumpy(run.value(loss)), asnumpy(run.grad(zn))
    np.testing.assert_allclose(value[[0, 2]], np.log(3.0), rtol=1e-6)
    assert np.isnan(value[1]) and np.isnan(grad[1]).all() and np.isfinite(grad[[0, 2]]).all()
