"""The error ge.nn raises when a module is used in a way that cannot build a graph."""

from __future__ import annotations

from ..errors import GraphEngineError


class ModuleError(GraphEngineError, ValueError):
    """A module was used in a way that cannot build a graph (wrong graph, not built, ...)."""


__all__ = ["ModuleError"]
