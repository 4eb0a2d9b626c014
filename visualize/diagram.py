"""``Diagram``: the ``graphviz.Digraph`` that :func:`~graphengine.visualize.draw` returns.

It is a plain ``graphviz.Digraph`` (``.source``, ``.render``, ``.pipe``, Jupyter display)
whose rendering methods turn a missing Graphviz ``dot`` executable into
:class:`GraphvizNotFoundError`, an error that says how to install Graphviz and that the
DOT text is still there. In Jupyter, a missing ``dot`` shows that message and the DOT text
instead of a traceback.
"""

from __future__ import annotations

import os
import pathlib
import shutil

import graphviz

from graphengine.errors import GraphEngineError

INSTALL_HINT = (
    "Install Graphviz (the `dot` program) with your package manager: "
    "`sudo apt-get install graphviz` (Debian/Ubuntu), `sudo dnf install graphviz` (Fedora), "
    "`brew install graphviz` (macOS), `conda install -c conda-forge graphviz` (conda), "
    "or `winget install graphviz` (Windows); then make sure `dot -V` works in a new shell."
)

FORMATS = ("svg", "png", "pdf")


class GraphvizNotFoundError(GraphEngineError, graphviz.ExecutableNotFound):
    """The Graphviz ``dot`` executable is not on PATH; the message names the install command.

    Also a ``graphviz.ExecutableNotFound`` (and a ``RuntimeError``), so existing handlers
    keep working.
    """

    def __init__(self, message: str):
        RuntimeError.__init__(self, message)


def missing_dot_message(what: str) -> str:
    path = os.environ.get("PATH", "")
    shown = path if len(path) <= 200 else path[:197] + "..."
    return (
        f"cannot {what}: the Graphviz `dot` executable was not found on PATH ({shown or 'PATH is empty'}). "
        f"{INSTALL_HINT} The DOT text does not need it: use diagram.source, or diagram.save('diagram.dot')."
    )


def _calling_dot(fmt, method, *args, **kwargs):
    """``method(*args, **kwargs)``, a graphviz rendering call, with a missing ``dot``
    raised as :class:`GraphvizNotFoundError` (rendering as ``fmt``)."""
    try:
        return method(*args, **kwargs)
    except graphviz.ExecutableNotFound as exc:
        if isinstance(exc, GraphvizNotFoundError):
            raise
        raise GraphvizNotFoundError(missing_dot_message(f"render the diagram as {fmt}")) from exc


def dot_available() -> bool:
    """True when the Graphviz ``dot`` executable is on PATH."""
    return shutil.which("dot") is not None


class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` made by :func:`~graphengine.visualize.draw`."""

    def pipe(self, *args, **kwargs):
        fmt = kwargs.get("format") or (args[0] if args else None) or self.format
        return _calling_dot(fmt, super().pipe, *args, **kwargs)

    def render(self, *args, **kwargs):
        return _calling_dot(kwargs.get("format") or self.format, super().render, *args, **kwargs)

    def write(self, path, format: str | None = None) -> pathlib.Path:
        """Render to exactly ``path`` (format from ``format=`` or the file suffix: svg, png,
        pdf; ``.dot``/``.gv`` writes the DOT text). Returns the path written."""
        path = pathlib.Path(path)
        fmt = (format or path.suffix.lstrip(".") or "svg").lower()
        if fmt in ("dot", "gv"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.source, encoding="utf-8")
            return path
        if fmt not in FORMATS:
            raise ValueError(
                f"cannot write {str(path)!r}: unknown format {fmt!r}; use one of {', '.join(FORMATS)} or dot "
                "(pass format= or end the file name with .svg, .png, .pdf or .dot)"
            )
        data = self.pipe(format=fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        try:
            return super()._repr_mimebundle_(include=include, exclude=exclude, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            return {"text/plain": f"{exc}\n\n{self.source}"}


__all__ = ["Diagram", "GraphvizNotFoundError", "dot_available", "INSTALL_HINT", "FORMATS"]
