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


class _PathError:
    # OSError.__str__ shows "[Errno None] None: 'path'" once .filename is set; ours are sentences.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingFileError(_PathError, GraphEngineError, FileNotFoundError):
    """A file the user named does not exist; the message names the path, what was expected
    there and how to make one. Also a ``FileNotFoundError`` (``.filename`` is the path)."""


class NotAFileError(_PathError, GraphEngineError, IsADirectoryError):
    """A folder (or another thing that is not a regular file) was given where a file is
    expected; the message names it and the files inside that might be meant. Also an
    ``IsADirectoryError`` (``.filename`` is the path)."""


class SaveFileIsFolderError(SaveFormatError, NotAFileError):
    """A folder given where a save file (graph, weights, model, checkpoint) is expected:
    both a :class:`SaveFormatError` and an ``IsADirectoryError``."""


def require_file(path, what: str, fix: str, *, suffixes=(), folder_error=NotAFileError) -> str:
    """``os.fspath(path)`` where it names a regular file; else a :class:`MissingFileError`
    (also ``FileNotFoundError``) or ``folder_error`` (a :class:`NotAFileError`, also
    ``IsADirectoryError``) that names the path, ``what`` was expected there (``"graph file"``)
    and ``fix`` (how to make one). For a folder, the files in it ending with one of
    ``suffixes`` are listed (the user probably meant one of them).

    >>> require_file("no/such.ge", "graph file", "save one with g.save(path)")
    Traceback (most recent call last):
    ...
    graphengine.errors.MissingFileError: graph file 'no/such.ge' does not exist (the folder 'no' does not exist either); save one with g.save(path)
    """
    import os

    path = os.fspath(path)
    if os.path.isfile(path):
        return path
    shown = path if isinstance(path, str) else os.fsdecode(path)
    if os.path.isdir(path):
        inside = sorted(name for name in os.listdir(path) if suffixes and name.endswith(tuple(suffixes)))
        listing = (f"; it holds {', '.join(repr(n) for n in inside[:5])}{' ...' if len(inside) > 5 else ''}"
                   if inside else "")
        error = folder_error(f"{what} {shown!r} is a directory, not a file{listing}: pass the path of the file")
    elif os.path.exists(path):
        error = folder_error(f"{what} {shown!r} is not a regular file (a device or a pipe?): pass the path of a file")
    else:
        folder = os.path.dirname(shown)
        if folder and not os.path.isdir(folder):
            where = f" (the folder {folder!r} does not exist either)"
        elif not os.path.isabs(shown):
            where = f" (looked in the current folder, {os.getcwd()!r})"
        else:
            where = ""
        error = MissingFileError(f"{what} {shown!r} does not exist{where}; {fix}")
    error.filename = shown
    raise error


def require_writable(path, what: str, example: str) -> str:
    """``os.fspath(path)``, refused before anything is written where it cannot be: a folder
    (:class:`NotAFileError`) or a path in a folder that does not exist
    (:class:`MissingFileError`, also FileNotFoundError). ``example``: a file name to suggest."""
    import os

    path = os.fspath(path)
    shown = path if isinstance(path, str) else os.fsdecode(path)
    if os.path.isdir(path):
        error = NotAFileError(f"cannot write the {what} to {shown!r}: it is a directory; give a file name inside "
                              f"it, e.g. {os.path.join(shown, example)!r}")
    else:
        folder = os.path.dirname(shown)
        if not folder or os.path.isdir(folder):
            return path
        error = MissingFileError(f"cannot write the {what} to {shown!r}: the folder {folder!r} does not exist; "
                                 f"create it first (os.makedirs({folder!r}, exist_ok=True))")
    error.filename = shown
    raise error


def close_matches(word: str, candidates, n: int = 3) -> list[str]:
    """The candidates closest to ``word`` (for 'did you mean' hints)."""
    import difflib

    return difflib.get_close_matches(word, sorted(candidates), n=n, cutoff=0.6)


def did_you_mean(word: str, candidates) -> str:
    matches = close_matches(word, candidates)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"


class DtypeRuleWarning(UserWarning):
    """A run computed a dtype other than graphengine's dtype rules give for the actual
    inputs: integer data reached an op, through an input declared without a dtype, that
    casts it to float only when the dtype is known at build time (NumPy then promotes
    int64 with float32 to float64)."""
