"""History plots with matplotlib: loss and accuracy curves, training against validation.

The figures are built without pyplot (no global state, no display needed) and written
to PNG (or any format matplotlib knows from the file suffix). They are
:class:`InlineFigure` objects, matplotlib Figures that Jupyter shows inline on their own
(``_repr_png_``): ``history.plot()`` as the last line of a cell draws the curves, with no
``%matplotlib`` magic and no pyplot.
"""

from __future__ import annotations

import io
import math
import os

from ..errors import GraphEngineError


class PlotError(GraphEngineError, ValueError):
    """A plot was asked for keys the history does not have, or matplotlib is missing."""


_INLINE_FIGURE = None


def inline_figure_class():
    """The :class:`InlineFigure` class (made on first use: matplotlib is imported only then)."""
    global _INLINE_FIGURE
    if _INLINE_FIGURE is None:
        try:
            from matplotlib.figure import Figure
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise PlotError("plots need matplotlib: pip install 'graphengine-nn[train]' (or pip install matplotlib)") \
                from exc

        class InlineFigure(Figure):
            """A matplotlib Figure that notebooks display as a PNG (``_repr_png_``), made
            without pyplot; ``inline_dpi`` sets the resolution of that PNG."""

            inline_dpi = 100

            def _repr_png_(self):
                buffer = io.BytesIO()
                self.savefig(buffer, format="png", dpi=self.inline_dpi)
                return buffer.getvalue()

        _INLINE_FIGURE = InlineFigure
    return _INLINE_FIGURE


def new_figure(ncols: int = 1, nrows: int = 1, size=(5.0, 3.6)):
    """``(figure, axes)`` without pyplot; axes is a flat list. The figure is an
    :class:`InlineFigure`: Jupyter shows it inline when a cell returns it."""
    Figure = inline_figure_class()
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save_figure(fig, path, dpi: int = 110) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def plot_history(history, path=None, metrics=None, title: str | None = None, dpi: int = 110):
    """One panel per metric (default: loss, and accuracy when recorded), each with the
    training curve and, when recorded, the validation curve. Returns the figure (an
    :class:`InlineFigure`: shown inline when a notebook cell returns it); writes it to
    ``path`` when given (PNG for ``.png``), in a notebook or not."""
    if metrics is None:
        metrics = [k for k in ("loss", "accuracy") if k in history]
        if not metrics:
            metrics = [k for k in history.keys() if not k.startswith("val_") and k not in ("lr", "time")][:2]
    metrics = list(metrics)
    if not metrics:
        raise PlotError("nothing to plot: the history has no epochs (was fit interrupted before the first epoch?)")
    for key in metrics:
        if key not in history:
            raise PlotError(f"history has no {key!r}; it has {', '.join(history.keys())}")
    fig, axes = new_figure(len(metrics))
    fig.inline_dpi = dpi
    epochs = history.epochs
    for ax, key in zip(axes, metrics):
        ax.plot(epochs, history[key], marker="o", markersize=3, label=f"training {key}")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", markersize=3, label=f"validation {key}")
        if history.best_epoch is not None:
            ax.axvline(history.best_epoch, color="grey", linestyle=":", label=f"best epoch ({history.best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        ax.legend()
        values = [v for v in history[key] if not math.isnan(v)]
        if "loss" in key and values and min(values) > 0 and max(values) / min(values) > 50:
            ax.set_yscale("log")
    if title:
        fig.suptitle(title)
    if path is not None:
        save_figure(fig, path, dpi)
    return fig


__all__ = ["plot_history", "new_figure", "save_figure", "inline_figure_class", "PlotError"]
