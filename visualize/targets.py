"""Which nodes of a diagram carry no real gradient: the targets of losses, and integer data.

A loss's target (class labels, regression targets) may get a gradient from the loss, but it
trains nothing: heat maps leave it neutral. Integer and bool nodes are not differentiable:
diagrams show no gradient for them (an engine fills their gradient with zeros).

>>> import graphengine as ge
>>> g = ge.Graph("t")
>>> p = g.input("p", shape=(None, 3)); y = g.input("y", shape=(None,), dtype="int64")
>>> loss = ge.ops.cross_entropy(p, y)
>>> loss_targets(g.nodes()) == {y.id}, dtype_kind(y, None)
(True, 'i')
"""

from __future__ import annotations

import numpy as np

from graphengine.errors import GraphEngineError, ValueNotAvailableError
from graphengine.node import OP

PASS_THROUGH = ("cast", "stop_gradient")  # a target stays a target through these


def loss_targets(nodes) -> set:
    """Ids of the nodes that are the targets of losses (and what they were cast from)."""
    out = set()
    for n in nodes:
        # a loss op says where its target is (Op.target_input)
        position = getattr(getattr(n, "_op_impl", None), "target_input", None) if n.kind == OP else None
        if position is None or len(n.inputs) <= position:
            continue
        src = n.inputs[position]
        out.add(src.id)
        while src.kind == OP and src.op in PASS_THROUGH and src.inputs:
            src = src.inputs[0]
            out.add(src.id)
    return out


def dtype_kind(node, run):
    """The NumPy dtype kind of a node ('f', 'i', 'b', ...), from the graph or else the run;
    None if unknown."""
    dtype = node.dtype
    if dtype is None and run is not None:
        try:
            dtype = getattr(run.value(node), "dtype", None)
        except (ValueNotAvailableError, GraphEngineError):
            return None
    try:
        return np.dtype(dtype).kind if dtype is not None else None
    except TypeError:
        return None


__all__ = ["loss_targets", "dtype_kind", "PASS_THROUGH"]
