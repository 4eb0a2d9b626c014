"""What ``fit`` shows while it trains: a progress display chosen for where it runs.

* In a Jupyter notebook (an IPython kernel is running): ONE output that updates in place,
  the whole run long. With ipywidgets installed it is tqdm's notebook bar (one widget for
  all epochs; its label shows the epoch and the last epoch's metrics); without ipywidgets,
  a single line of text updated through ``IPython.display`` (``display_id``).
* In a terminal (stderr is a TTY): a tqdm bar during each epoch, then, once the epoch is
  done, the bar is replaced by a full line with every metric (``epoch 3/10  loss 0.1234
  accuracy 0.9500  val_loss ...  1.2s``), never cut at the terminal width.
* Elsewhere (output redirected to a file, a test): nothing, unless asked.

``progress``: ``None`` (the default: notebook or terminal display as above, nothing
otherwise), ``True`` (always show: the notebook display in a notebook, else bar and
lines on stderr), ``"lines"`` (only the per-epoch lines, no bar), ``False`` (silent).
``verbose=True`` prints the per-epoch line on stdout when no display prints it already.
"""

from __future__ import annotations

import importlib.util
import sys
import time

from ..errors import GraphEngineError


class ProgressError(GraphEngineError, ValueError):
    """``progress=`` was given a value fit does not know."""


PROGRESS_CHOICES = (None, True, False, "lines")


def in_notebook() -> bool:
    """True when running inside an IPython kernel (Jupyter, nbclient), not a plain terminal.

    Only looks: IPython is not imported when it is not loaded already (a kernel always has it)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # a half-imported or stubbed IPython
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def has_widgets() -> bool:
    """True when ipywidgets can be imported (tqdm's notebook bar needs it)."""
    if "ipywidgets" in sys.modules:
        return sys.modules["ipywidgets"] is not None  # None: blocked on purpose
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):
        return False


def format_logs(logs: dict) -> str:
    """``loss 0.1234  accuracy 0.9500  val_loss ...  lr 0.05  1.2s``: every key of the epoch."""
    parts = []
    for key, value in logs.items():
        if key == "time":
            continue
        parts.append(f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}")
    if "time" in logs:
        parts.append(f"{logs['time']:.1f}s")
    return "  ".join(parts)


def epoch_line(epoch: int, epochs: int, logs: dict) -> str:
    return f"epoch {epoch}/{epochs}  {format_logs(logs)}"


class Progress:
    """The silent display; the others override what they show. ``fit`` calls
    ``epoch_begin``, ``batch_end`` after each step, ``epoch_end`` with the epoch's logs
    and ``close`` once at the end (``failed=True`` when training stopped on an error)."""

    def __init__(self, epochs: int, initial_epoch: int, n_batches: int, verbose: bool = False):
        self.epochs = int(epochs)
        self.initial_epoch = int(initial_epoch)
        self.n_batches = int(n_batches)
        self.verbose = bool(verbose)

    prints_epoch_lines = False

    def epoch_begin(self, epoch: int) -> None:
        pass

    def batch_end(self, batch: int, loss: float) -> None:
        pass

    def epoch_end(self, epoch: int, logs: dict) -> None:
        if self.verbose and not self.prints_epoch_lines:
            print(epoch_line(epoch, self.epochs, logs), flush=True)

    def close(self, failed: bool = False) -> None:
        pass


class TerminalProgress(Progress):
    """A tqdm bar per epoch (``bar=True``) on ``stream``, replaced at the end of the epoch
    by the full line of the epoch's metrics."""

    prints_epoch_lines = True

    def __init__(self, epochs, initial_epoch, n_batches, verbose=False, *, bar: bool = True, stream=None):
        super().__init__(epochs, initial_epoch, n_batches, verbose)
        self.stream = stream if stream is not None else sys.stderr
        self.show_bar = bar and _tqdm() is not None
        self.bar = None

    def epoch_begin(self, epoch):
        if self.show_bar:
            tqdm = _tqdm()
            self.bar = tqdm(total=self.n_batches, desc=f"epoch {epoch}/{self.epochs}", unit="batch", leave=False,
                            file=self.stream, dynamic_ncols=True)

    def batch_end(self, batch, loss):
        bar = self.bar
        if bar is not None:
            bar.update(1)
            if batch % max(1, self.n_batches // 20) == 0 or batch == self.n_batches - 1:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def epoch_end(self, epoch, logs):
        self._close_bar()
        print(epoch_line(epoch, self.epochs, logs), file=self.stream, flush=True)

    def _close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self, failed=False):
        self._close_bar()


class NotebookBarProgress(Progress):
    """One tqdm notebook bar (an ipywidgets widget) for the whole run: total = every batch
    of every epoch; the description names the epoch, the postfix the last epoch's metrics.
    The widget is displayed here with a ``display_id``, and the display is refreshed at
    every epoch end, so that the output's plain-text fallback (what a notebook saved
    without widget state, or a text viewer, shows) follows the bar too."""

    def __init__(self, epochs, initial_epoch, n_batches, verbose=False):
        super().__init__(epochs, initial_epoch, n_batches, verbose)
        from IPython.display import display
        from tqdm.notebook import tqdm

        self.bar = tqdm(total=(self.epochs - self.initial_epoch) * self.n_batches, unit="batch", leave=True,
                        desc=f"epoch {self.initial_epoch + 1}/{self.epochs}", display=False)
        self.handle = display(self.bar.container, display_id=True)
        self.last = ""

    def epoch_begin(self, epoch):
        self.bar.set_description(f"epoch {epoch}/{self.epochs}", refresh=False)

    def batch_end(self, batch, loss):
        self.bar.update(1)

    def epoch_end(self, epoch, logs):
        self.last = format_logs(logs)
        self.bar.set_postfix_str(self.last, refresh=True)
        self.handle.update(self.bar.container)
        super().epoch_end(epoch, logs)

    def close(self, failed=False):
        if not failed and self.bar.n < self.bar.total:  # stopped early (EarlyStopping): not an error
            self.bar.total = self.bar.n
        self.bar.close()
        self.handle.update(self.bar.container)


class NotebookTextProgress(Progress):
    """One text output updated in place (``IPython.display`` with a ``display_id``), for
    notebooks without ipywidgets: ``epoch 3/10 [=====>    ] 45/100  loss 0.1234 | epoch 2:
    loss 0.2 ...``. Updates are at most every ``interval`` seconds, and at every epoch end."""

    def __init__(self, epochs, initial_epoch, n_batches, verbose=False, interval: float = 0.2):
        super().__init__(epochs, initial_epoch, n_batches, verbose)
        from IPython.display import display

        self.interval = float(interval)
        self.epoch = self.initial_epoch + 1
        self.batch = 0
        self.loss = None
        self.last = ""
        self._shown = 0.0
        self.handle = display(_Text(self._text()), display_id=True)

    def _text(self) -> str:
        width = 20
        done = int(width * self.batch / max(1, self.n_batches))
        bar = "=" * done + (">" if done < width else "") + " " * max(0, width - done - 1)
        text = f"epoch {self.epoch}/{self.epochs} [{bar}] {self.batch}/{self.n_batches}"
        if self.loss is not None:
            text += f"  loss {self.loss:.4f}"
        if self.last:
            text += f"  | {self.last}"
        return text

    def _show(self, force=False):
        now = time.monotonic()
        if force or now - self._shown >= self.interval:
            self._shown = now
            self.handle.update(_Text(self._text()))

    def epoch_begin(self, epoch):
        self.epoch, self.batch, self.loss = epoch, 0, None

    def batch_end(self, batch, loss):
        self.batch, self.loss = batch + 1, loss
        self._show()

    def epoch_end(self, epoch, logs):
        self.last = f"epoch {epoch}: {format_logs(logs)}"
        self._show(force=True)
        super().epoch_end(epoch, logs)

    def close(self, failed=False):
        self._show(force=True)


class _Text:
    """Plain text for ``IPython.display`` (its repr is the text itself, no quotes)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of the train extra
        return None
    return tqdm


def make_progress(progress, verbose: bool, *, epochs: int, initial_epoch: int, n_batches: int) -> Progress:
    """The display ``fit(progress=..., verbose=...)`` uses (see the module docstring)."""
    if progress not in PROGRESS_CHOICES or (progress is not None and not isinstance(progress, (bool, str))):
        raise ProgressError(f"progress must be None (automatic), True, False or 'lines', got {progress!r}")
    args = (epochs, initial_epoch, n_batches, verbose)
    if progress is False:
        return Progress(*args)
    if progress == "lines":
        return TerminalProgress(*args, bar=False)
    if in_notebook():
        if has_widgets() and _tqdm() is not None:
            return NotebookBarProgress(*args)
        return NotebookTextProgress(*args)
    if progress is True or _isatty(sys.stderr):
        return TerminalProgress(*args, bar=True)
    return Progress(*args)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


__all__ = ["make_progress", "in_notebook", "has_widgets", "format_logs", "epoch_line", "Progress",
           "TerminalProgress", "NotebookBarProgress", "NotebookTextProgress", "ProgressError", "PROGRESS_CHOICES"]
