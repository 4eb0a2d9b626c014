"""Helpers for the seed-deck tests: a whole-graph central-difference gradient, in float64.

``graphengine.testing.gradcheck`` checks one op; the worked examples of the decks are
whole graphs (a network, a loss), so their gradients are checked here by perturbing a
param (or re-feeding an input) and re-running the graph forward.
"""

from __future__ import annotations

import numpy as np
import pytest


def scalar_value(run, node) -> float:
    """A 0-d (or one-element) value of a run as a Python float."""
    return float(np.asarray(run.value(node)).reshape(()))


def central_difference_param(graph, loss, feeds, param, index, eps=1e-6) -> float:
    """d loss / d param[index] by central differences; the param is restored afterwards."""
    original = np.array(param.value, dtype=np.float64, copy=True)
    try:
        plus = original.copy()
        plus[index] += eps
        param.value = plus
        f_plus = scalar_value(graph.forward(feeds, fetch=[loss]), loss)
        minus = original.copy()
        minus[index] -= eps
        param.value = minus
        f_minus = scalar_value(graph.forward(feeds, fetch=[loss]), loss)
    finally:
        param.value = original
    return (f_plus - f_minus) / (2 * eps)


def central_difference_input(graph, loss, feeds, name, index, eps=1e-6) -> float:
    """d loss / d feeds[name][index] by central differences."""
    base = np.array(feeds[name], dtype=np.float64, copy=True)
    plus, minus = base.copy(), base.copy()
    plus[index] += eps
    minus[index] -= eps
    f_plus = scalar_value(graph.forward({**feeds, name: plus}, fetch=[loss]), loss)
    f_minus = scalar_value(graph.forward({**feeds, name: minus}, fetch=[loss]), loss)
    return (f_plus - f_minus) / (2 * eps)


class Numeric:
    """Bundle of the helpers above, handed to tests by the ``numeric`` fixture."""

    scalar = staticmethod(scalar_value)
    param_grad = staticmethod(central_difference_param)
    input_grad = staticmethod(central_difference_input)


@pytest.fixture
def numeric():
    return Numeric()
