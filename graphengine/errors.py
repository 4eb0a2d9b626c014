"""Every error graphengine raises derives from :class:`GraphEngineError`.

Each class also derives from the builtin exception a Python user would catch for
that kind of mistake (``ValueError`` for bad shapes, ``KeyError`` for unknown names,
``AttributeError`` for a misspelt ``ge.ops.<name>``), so ordinary ``except`` clauses work.
"""

from __future__ import annotations


class GraphEngineError(Exception):
    """Base class of every error graphengine raises."""


class _PlainKeyError(KeyError):
    # KeyError.__str__ shows repr(message) in quotes; our messages are sentences.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ShapeError(GraphEngineError, ValueError):
    """Shapes of an op's inputs do not fit its shape rule, or a feed has the wrong shape."""


class DtypeError(GraphEngineError, TypeError):
    """An array has a dtype the operation cannot take (for example strings or objects)."""


class GraphCycleError(GraphEngineError, ValueError):
    """Adding an edge would close a cycle; the message names the cycle."""


class GraphStructureError(GraphEngineError, ValueError):
    """The graph is malformed: wrong arity, a node from another graph, a duplicate name."""


class NodeNotFoundError(GraphEngineError, _PlainKeyError):
    """No node of that name (or id) in the graph."""


class FeedError(GraphEngineError, ValueError):
    """A feed is missing, has the wrong shape, or is not numeric."""


class UnknownFeedError(GraphEngineError, _PlainKeyError):
    """A feed names something that is not an input of the graph (a typo, usually)."""


class ValueNotAvailableError(GraphEngineError, _PlainKeyError):
    """A run has no value (or gradient) for that node: it did not run, or it was freed."""


class BackwardError(GraphEngineError, ValueError):
    """``Run.backward`` cannot start: non-scalar target without a seed, wrong seed shape, ..."""


class OpExecutionError(GraphEngineError, RuntimeError):
    """An op raised while running; the message names the node, op, shapes and dtypes."""


class NonFiniteError(GraphEngineError, FloatingPointError):
    """``check_finite=True`` found a NaN or Inf; the message names the first bad node."""


class UnknownOpError(GraphEngineError, AttributeError):
    """``ge.ops.<name>`` for a name no plugin registered; the message suggests close names."""


class UnknownNameError(GraphEngineError, _PlainKeyError):
    """An optimizer, regularizer, initializer or backend name no plugin registered."""


class AttributeSpecError(GraphEngineError, TypeError):
    """An op node was given an attribute its op does not take."""


class PluginError(GraphEngineError, RuntimeError):
    """A plugin failed to import or register, or two plugins claimed the same name."""


class BackendUnavailableError(GraphEngineError, RuntimeError):
    """The requested array backend (CuPy) cannot be used here; the message says how to install it."""


class BackendMismatchError(GraphEngineError, TypeError):
    """An array lives on another backend than the graph (no silent host/device copies)."""


class SaveFormatError(GraphEngineError, ValueError):
    """A file is not a graphengine save file, or holds something that is refused (pickles)."""


def close_matches(word: str, candidates, n: int = 3) -> list[str]:
    """The candidates closest to ``word`` (for 'did you mean' hints)."""
    import difflib

    return difflib.get_close_matches(word, sorted(candidates), n=n, cutoff=0.6)


def did_you_mean(word: str, candidates) -> str:
    matches = close_matches(word, candidates)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"
