"""The ``prelu`` op: a ReLU whose negative slope is learned."""

from __future__ import annotations

import graphengine as ge


class PReLU(ge.Op):
    """Parametric ReLU (He et al. 2015)::

        prelu(x, alpha) = x          where x > 0
                          alpha * x  elsewhere

    ``alpha`` is the second input, usually a param of shape ``(features,)`` (one slope
    per feature, broadcast over the batch) or ``()`` (one shared slope), so the slope is
    trained with the rest of the network. Gradients::

        d/dx     = 1 where x > 0, alpha elsewhere
        d/dalpha = 0 where x > 0, x elsewhere     (summed back to alpha's shape)

    >>> import numpy as np, graphengine as ge
    >>> g = ge.Graph("prelu")
    >>> x = g.input("x", shape=(None, 2))
    >>> alpha = g.param("alpha", np.array([0.1, 0.5]))
    >>> y = ge.ops.prelu(x, alpha)
    >>> g.forward({"x": np.array([[-2.0, -2.0], [3.0, 3.0]])}).value(y).tolist()
    [[-0.2, -1.0], [3.0, 3.0]]
    """

    name = "prelu"
    saves = ("inputs",)  # backward reads x and alpha, not the output

    def forward(self, xp, x, alpha):
        return xp.where(x > 0, x, alpha * x)

    def backward(self, xp, grad, inputs, output):
        x, alpha = inputs
        positive = x > 0
        dx = xp.where(positive, grad, alpha * grad)
        dalpha = xp.where(positive, xp.zeros_like(grad), x * grad)
        return (ge.unbroadcast(xp, dx, x.shape),
                ge.unbroadcast(xp, dalpha, getattr(alpha, "shape", ())))

    def shape(self, x, alpha):
        return ge.broadcast_shapes(x, alpha)
