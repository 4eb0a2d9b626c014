"""Fixtures of the op tests."""

from __future__ import annotations

import numpy as np
import pytest

import graphengine as ge


@pytest.fixture
def against_torch():
    """``run(name, x, attrs, torch_fn, rng)``: op ``name``'s forward of ``x`` and its backward
    of a random upstream gradient, next to torch's (``torch_fn`` of a leaf tensor, with
    ``.backward`` of the same gradient). Returns ``(out, grad, torch_out, torch_grad)`` as
    NumPy arrays; skips where torch is not installed."""
    torch = pytest.importorskip("torch")

    def run(name, x, attrs, torch_fn, rng):
        op = ge.default_manager().get_op(name)
        out = op.forward(np, x, **attrs)
        upstream = rng.standard_normal(out.shape)
        (grad,) = op.backward(np, upstream, (x,), out, **attrs)
        leaf = torch.tensor(x, requires_grad=True)
        expected = torch_fn(leaf)
        expected.backward(torch.tensor(upstream))
        return out, grad, expected.detach().numpy(), leaf.grad.numpy()

    return run
