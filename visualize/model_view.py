"""What a diagram of a ``ge.nn`` model shows: the model's own nodes, its layers and their shapes.

``draw(model)`` draws the nodes a model built on its first call (its scope, e.g.
``sequential/...``) and the inputs that feed them: not the loss a trainer added, nor an
evaluation path. The model's own scope is not drawn as a cluster: its layers are the
top-level clusters (``dense_1``, ``relu_1``, ...), so ``collapse=True`` folds each layer.

A model that was never called on an input is built for the drawing only, on a copy (the
model itself stays unbuilt): from its input size when the first layer knows it
(``Dense(784, 30)``), else from ``input_shape=`` (one example's shape, without the batch
axis: ``(1, 28, 28)`` for a CNN on MNIST).
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field

from graphengine.errors import GraphEngineError
from graphengine.node import CONST, INPUT, PARAM

from .labels import format_shape


@dataclass
class ModelView:
    """The part of a graph a model diagram shows."""

    graph: object
    node_ids: set          # ids of the drawn nodes
    root: str              # the model's scope path, not drawn as a cluster ('' for none)
    title: str
    layer_types: dict = field(default_factory=dict)  # scope path below root -> module class name


def is_model(obj) -> bool:
    """True for a ``ge.nn`` module (a layer or a model)."""
    module = sys.modules.get("graphengine.nn.module")  # not imported: no module can exist yet
    return module is not None and isinstance(obj, module.Module)


def model_view(model, input_shape=None, error=ValueError) -> ModelView:
    """The graph, the nodes and the layer names to draw for ``model`` (built on a copy if it
    was never called: see the module docstring). ``error`` is the exception class raised
    when the model cannot be drawn."""
    name = type(model).__name__
    if input_shape is not None:
        try:
            if isinstance(input_shape, (str, bytes)):
                raise TypeError("a string")
            input_shape = tuple(int(d) for d in input_shape)
        except (TypeError, ValueError):
            raise error(f"input_shape must be one example's shape as a tuple of ints without the batch axis, "
                        f"e.g. (784,) or (1, 28, 28); got {input_shape!r}") from None
        if any(d < 1 for d in input_shape):
            raise error(f"input_shape {input_shape} has an axis below 1; give one example's shape, e.g. (1, 28, 28)")
    if not model.built:
        shape = input_shape
        if shape is None:
            features = first_input_size(model)
            if features is None:
                raise error(
                    f"cannot draw {name} {model.name or model.default_name!r}: it was never called on an input, and "
                    f"its first layer does not say its input size. Pass input_shape= (one example's shape without "
                    f"the batch axis, e.g. draw(model, input_shape=(1, 28, 28))), or call the model on an input node "
                    f"first (model(g.input('x', shape=(None, ...))))")
            shape = (features,)
        model = _built_copy(model, shape, error)
    elif input_shape is not None:
        raise error(f"{name} {model.path!r} is already built (in graph {model.graph.name!r}); input_shape= is only "
                    "for drawing a model that was never called. Leave it out.")
    graph, root = model.graph, model.path
    inside = {n.id for n in graph.nodes() if n.scope == root or n.scope.startswith(root + "/")}
    node_ids = set(inside)
    for node_id in inside:  # the inputs that feed the model (data, or the nodes of an outer graph)
        for src in graph.node(node_id).inputs:
            node_ids.add(src.id)
    types = {}
    for m in model.modules():
        if m is not model and m.path.startswith(root + "/"):
            types[m.path[len(root) + 1:]] = type(m).__name__
    title = f"{model.path} ({name})"
    return ModelView(graph, node_ids, root, title, types)


def first_input_size(model):
    """The input size the first layer declares (``Dense(784, 30)``: 784), or None."""
    from graphengine.nn.layers import Dense, Sequential

    while isinstance(model, Sequential) and len(model):
        model = model[0]
    if isinstance(model, Dense):
        return model.in_features
    return None


def _built_copy(model, shape, error):
    """A copy of ``model`` called on ``g.input('x', shape=(None,) + shape)`` in a new graph."""
    from graphengine.graph import Graph

    clone = copy.deepcopy(model)
    graph = Graph(model.name or model.default_name)
    x = graph.input("x", shape=(None,) + tuple(shape))
    try:
        clone(x)
    except GraphEngineError as exc:
        raise error(f"cannot draw {type(model).__name__} {model.name or model.default_name!r} for inputs of shape "
                    f"{format_shape((None,) + tuple(shape))}: building it failed: {exc}") from exc
    return clone


# ---------------------------------------------------------------------------- scope shapes

def scope_ports(members, drawn_ids, consumers_of):
    """(input nodes, output nodes) of a group of nodes (a layer): the nodes outside it that
    feed it and the nodes in it that something outside it reads (or that nothing reads),
    data only (no params or consts), each in id order.

    ``members`` is the set of node ids in the group, ``drawn_ids`` the set of ids in the
    diagram, ``consumers_of(node)`` the node's consumers.
    """
    inputs, outputs = {}, {}
    for node_id, node in members.items():
        for src in node.inputs:
            if src.id not in members and src.kind not in (PARAM, CONST):
                inputs[src.id] = src
        if node.kind in (PARAM, CONST, INPUT):
            continue
        readers = [c for c in consumers_of(node) if c.id in drawn_ids]
        if not readers or any(c.id not in members for c in readers):
            outputs[node_id] = node
    return [inputs[i] for i in sorted(inputs)], [outputs[i] for i in sorted(outputs)]


def shapes_text(nodes, shape_of) -> str:
    """'(None, 784)', or one shape per node separated by commas; '' for no nodes."""
    return ", ".join(format_shape(shape_of(node)) for node in nodes)


__all__ = ["ModelView", "is_model", "model_view", "first_input_size", "scope_ports", "shapes_text"]
