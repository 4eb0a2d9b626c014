"""``ge.Optimizer``: the base class optimizer plugins subclass.

The base class walks the parameters, keeps per-parameter state and applies the update;
a subclass writes only the per-parameter rule::

    class SGD(ge.Optimizer):
        name = "sgd"
        defaults = {"lr": 0.01}

        def update(self, xp, value, grad, state):
            return value - self.hyper["lr"] * grad
"""

from __future__ import annotations

import numpy as np

from .errors import AttributeSpecError, GraphEngineError, GraphStructureError, ShapeError, did_you_mean
from .node import PARAM, Node


class Optimizer:
    """Base class of optimizers.

    ``defaults`` maps every hyper-parameter the rule reads to its default; values given
    to the constructor override them (unknown names are refused). ``update`` returns the
    new value of one parameter, given its current value, its gradient and its state
    (a dict the optimizer owns, one per parameter, that ``init_state`` fills first).
    """

    name = ""
    defaults: dict = {"lr": 0.01}

    def __init__(self, params, **hyper):
        params = list(params)
        for p in params:
            if not isinstance(p, Node) or p.kind != PARAM:
                raise GraphStructureError(
                    f"optimizer {self.name!r} takes param nodes (g.params()); got {p!r}"
                )
        if len({id(p) for p in params}) != len(params):
            raise GraphStructureError(f"optimizer {self.name!r}: a param is listed twice")
        unknown = sorted(set(hyper) - set(self.defaults))
        if unknown:
            raise AttributeSpecError(
                f"optimizer {self.name!r} got unknown hyper-parameter{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}; it takes: {', '.join(sorted(self.defaults))}."
                + did_you_mean(unknown[0], self.defaults)
            )
        self.params = params
        self.hyper = {**self.defaults, **hyper}
        self.state: dict = {}  # param node -> dict
        self.steps = 0

    def init_state(self, xp, value) -> dict:
        """Fresh state for one parameter (e.g. zero moment buffers)."""
        return {}

    def update(self, xp, value, grad, state):  # pragma: no cover - abstract
        raise NotImplementedError(f"optimizer {self.name!r} has no update rule")

    def _grads_from(self, grads):
        if hasattr(grads, "param_grads"):
            run = grads
            return {p: run.grad(p) for p in self.params if run.ran(p)}
        if hasattr(grads, "items"):
            return {p: g for p, g in grads.items()}
        raise TypeError("step() takes a Run (after run.backward) or a mapping param node -> gradient")

    def step(self, grads) -> None:
        """Update every parameter that has a gradient (from a Run or a mapping)."""
        mapping = self._grads_from(grads)
        self.steps += 1
        for p in self.params:
            g = mapping.get(p)
            if g is None:
                continue
            value = p._value
            xp = p.graph.xp
            if tuple(g.shape) != tuple(value.shape):
                raise ShapeError(
                    f"optimizer {self.name!r}: gradient for {p.name!r} has shape {tuple(g.shape)}, "
                    f"the param has {tuple(value.shape)}"
                )
            if g.dtype != value.dtype:
                g = g.astype(value.dtype)
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = self.init_state(xp, value)
            new = self.update(xp, value, g, state)
            if new is not None and new is not value:
                new = xp.asarray(new)  # 0-d arithmetic gives NumPy scalars; params stay arrays
                p._value = new.astype(value.dtype, copy=False) if new.dtype != value.dtype else new

    def state_dict(self) -> dict:
        """Hyper-parameters, step count and per-parameter state keyed by param name
        (copies, as NumPy arrays, whatever the backend: later steps do not change it)."""
        return {
            "name": self.name,
            "hyper": dict(self.hyper),
            "steps": self.steps,
            "state": {p.name: {k: (np.array(p.graph._backend.to_numpy(v), copy=True) if hasattr(v, "shape") else v)
                               for k, v in st.items()}
                      for p, st in self.state.items()},
        }

    def load_state_dict(self, data: dict) -> None:
        if data.get("name") not in (None, self.name):
            raise GraphEngineError(f"state dict is for optimizer {data.get('name')!r}, not {self.name!r}")
        by_name = {p.name: p for p in self.params}
        unknown = sorted(set(data.get("state", {})) - set(by_name))
        if unknown:
            raise GraphEngineError(f"state dict has state for unknown params: {', '.join(unknown)}")
        self.hyper.update(data.get("hyper", {}))
        self.steps = int(data.get("steps", 0))
        self.state = {}
        for name, st in data.get("state", {}).items():
            p = by_name[name]
            xp = p.graph.xp
            self.state[p] = {k: (xp.asarray(v) if hasattr(v, "shape") else v) for k, v in st.items()}

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"<Optimizer {self.name}({hyper}) over {len(self.params)} params>"
