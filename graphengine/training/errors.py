"""The error every training failure raises (``fit``, ``Trainer``, targets, arguments)."""

from __future__ import annotations

from ..errors import GraphEngineError


class TrainingError(GraphEngineError, ValueError):
    """Training cannot start or continue: data that does not fit the model, bad options."""


__all__ = ["TrainingError"]
