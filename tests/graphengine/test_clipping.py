"""Gradient clipping by global norm and by value (graphengine/clipping.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphengine as ge
from graphengine.clipping import ClipError, clip_grad_norm, clip_grad_value, global_grad_norm


def two_params(dtype=np.float64):
    g = ge.Graph("clip")
    a = g.param("a", np.zeros(2, dtype=dtype))
    b = g.param("b", np.zeros((1,), dtype=dtype))
    return g, a, b


def test_global_norm_over_all_params():
    _, a, b = two_params()
    grads = {a: np.array([3.0, 0.0]), b: np.array([4.0])}
    assert global_grad_norm(grads) == 5.0


def test_clip_grad_norm_scales_everything_by_one_factor():
    _, a, b = two_params()
    grads = {a: np.array([3.0, 0.0]), b: np.array([4.0])}
    clipped = clip_grad_norm(grads, max_norm=1.0)
    np.testing.assert_allclose(clipped[a], [0.6, 0.0])
    np.testing.assert_allclose(clipped[b], [0.8])
    assert global_grad_norm(clipped) == pytest.approx(1.0)
    np.testing.assert_array_equal(grads[a], [3.0, 0.0])  # the input is not modified


def test_clip_grad_norm_below_the_bound_is_unchanged():
    _, a, b = two_params()
    grads = {a: np.array([0.3, 0.0]), b: np.array([0.4])}
    clipped = clip_grad_norm(grads, max_norm=1.0)
    assert clipped is not grads
    np.testing.assert_array_equal(clipped[a], grads[a])
    np.testing.assert_array_equal(clipped[b], grads[b])


def test_clip_grad_value():
    _, a, b = two_params()
    clipped = clip_grad_value({a: np.array([3.0, -0.2]), b: np.array([-4.0])}, 0.5)
    np.testing.assert_array_equal(clipped[a], [0.5, -0.2])
    np.testing.assert_array_equal(clipped[b], [-0.5])


def test_float32_stays_float32():
    _, a, b = two_params(np.float32)
    grads = {a: np.array([30.0, 0.0], dtype=np.float32), b: np.array([40.0], dtype=np.float32)}
    assert clip_grad_norm(grads, 1.0)[a].dtype == np.float32
    assert clip_grad_value(grads, 1.0)[b].dtype == np.float32


def test_clipping_a_run_before_the_step():
    g = ge.Graph("clip_run")
    w = g.param("w", np.array([3.0, 4.0]))
    loss = ge.ops.sum(w * w) / 2          # gradient = w, norm 5
    run = g.forward({}).backward(loss)
    opt = ge.optimizers.create("sgd", g.params(), lr=1.0)
    opt.step(clip_grad_norm(run, max_norm=2.5))
    np.testing.assert_allclose(w.value, [3.0 - 1.5, 4.0 - 2.0])
    np.testing.assert_allclose(run.grad(w), [3.0, 4.0])  # the run keeps its gradients


def test_non_finite_gradient_is_named():
    _, a, b = two_params()
    grads = {a: np.array([np.nan, 1.0]), b: np.array([1.0])}
    with pytest.raises(ge.NonFiniteError, match=r"gradient of 'a' contains NaN or Inf"):
        clip_grad_norm(grads, 1.0)
    passed = clip_grad_norm(grads, 1.0, error_if_nonfinite=False)
    assert math.isnan(float(passed[a][0]))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), "big"])
def test_bad_thresholds(bad):
    _, a, _ = two_params()
    with pytest.raises(ClipError, match="positive"):
        clip_grad_norm({a: np.ones(2)}, bad)
    with pytest.raises(ClipError, match="positive"):
        clip_grad_value({a: np.ones(2)}, bad)


def test_wrong_grads_type():
    with pytest.raises(ge.DtypeError, match=r"clip_grad_norm takes a Run .* or a mapping param -> gradient, got list"):
        clip_grad_norm([np.ones(2)], 1.0)
    with pytest.raises(ge.DtypeError, match=r"clip_grad_value takes a Run"):
        clip_grad_value(np.ones(2), 1.0)
    with pytest.raises(ge.DtypeError, match=r"global_grad_norm takes a Run"):
        global_grad_norm(3.0)


def test_none_gradients_pass_through():
    _, a, b = two_params()
    grads = {a: np.array([30.0, 40.0]), b: None}
    assert global_grad_norm(grads) == 50.0
    assert clip_grad_norm(grads, 5.0)[b] is None
    assert clip_grad_value(grads, 5.0)[b] is None
    np.testing.assert_allclose(clip_grad_norm(grads, 5.0)[a], [3.0, 4.0])


def test_the_old_plugin_import_path_and_ge_give_the_core_functions():
    import graphengine.clipping as core
    import graphengine.plugins.optimizers as plugin
    import graphengine.plugins.optimizers.clipping as plugin_module

    for name in ("clip_grad_norm", "clip_grad_value", "global_grad_norm", "ClipError"):
        assert getattr(plugin, name) is getattr(core, name), name
        assert getattr(plugin_module, name) is getattr(core, name), name
        assert getattr(ge, name) is getattr(core, name), name
