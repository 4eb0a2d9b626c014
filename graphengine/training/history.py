"""``History``: what a training run recorded, one value per epoch and key."""

from __future__ import annotations

import json
import math

from ..errors import GraphEngineError, did_you_mean


class HistoryError(GraphEngineError, KeyError):
    """A history key that was not recorded (e.g. ``val_loss`` without validation data)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class History:
    """Per-epoch records: ``history["loss"]`` is the list of training losses, one per epoch.

    Keys: ``loss`` and each metric (``accuracy``), their ``val_`` versions when there is
    validation data, ``lr`` and ``time`` (seconds per epoch). ``history.epochs`` are the
    epoch numbers (1-based). Extra attributes: ``stopped_epoch`` and ``best_epoch`` (set by
    early stopping), ``params`` (sample counts, epochs, batch size; with ``fit(comm=)``
    also ``ranks``, ``global_batch_size`` and this process's ``rank``) and, for histories made
    by ``fit``, ``model`` (the model trained: the ``ge.nn`` Module, or the output node of a
    graph built by hand) and ``trainer`` (the :class:`~graphengine.training.Trainer`:
    ``evaluate``, ``predict``, ``save_checkpoint``).
    """

    def __init__(self, params: dict | None = None):
        self.history: dict[str, list] = {}
        self.epochs: list[int] = []
        self.params = dict(params or {})
        self.stopped_epoch = None
        self.best_epoch = None
        self.trainer = None
        self.model = None

    def append(self, epoch: int, logs: dict) -> None:
        """Record the logs of one epoch (missing keys of earlier epochs are padded with NaN)."""
        index = len(self.epochs)
        self.epochs.append(int(epoch))
        for key, value in logs.items():
            column = self.history.setdefault(key, [math.nan] * index)
            column.append(float(value))
        for key, column in self.history.items():
            if len(column) < index + 1:
                column.append(math.nan)

    def __getitem__(self, key: str) -> list:
        try:
            return self.history[key]
        except KeyError:
            raise HistoryError(
                f"history has no {key!r}; recorded: {', '.join(self.history) or 'nothing yet'}."
                + did_you_mean(key, self.history)
                + (" Validation keys need validation_split= or validation_data= in fit." if key.startswith("val_") else "")
            ) from None

    def __contains__(self, key) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self):
        return self.history.keys()

    def last(self, key: str) -> float:
        """The value of ``key`` at the last epoch."""
        column = self[key]
        if not column:
            raise HistoryError(f"history has no epochs yet for {key!r}")
        return column[-1]

    def best(self, key: str = "val_loss", mode: str = "auto") -> tuple[int, float]:
        """``(epoch, value)`` of the best epoch for ``key`` (min for losses, max otherwise)."""
        column = self[key]
        mode = resolve_mode(key, mode)
        pairs = [(e, v) for e, v in zip(self.epochs, column) if not math.isnan(v)]
        if not pairs:
            raise HistoryError(f"history has no finite values of {key!r}")
        pick = min if mode == "min" else max
        return pick(pairs, key=lambda ev: ev[1])

    def as_dict(self) -> dict:
        return {"epochs": list(self.epochs), "history": {k: list(v) for k, v in self.history.items()},
                "stopped_epoch": self.stopped_epoch, "best_epoch": self.best_epoch}

    def to_json(self, path=None) -> str:
        text = json.dumps(self.as_dict(), indent=1)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    def plot(self, path=None, **options):
        """Loss and accuracy curves (see :func:`graphengine.training.plots.plot_history`):
        the figure, shown inline when a Jupyter cell ends with ``history.plot()`` (no magic
        needed), and written to ``path`` when given.

        In data-parallel training (``fit(comm=...)``) every rank records the same history
        and ``params["rank"]`` says which rank this is; only rank 0 draws and writes the
        file: on the other ranks ``plot`` returns None and writes nothing, so one script
        runs unchanged on every rank."""
        if self.params.get("rank", 0) != 0:
            return None
        from .plots import plot_history

        return plot_history(self, path, **options)

    def __repr__(self) -> str:
        if not self.epochs:
            return "<History: no epochs>"
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if k not in ("time",))
        return f"<History: {len(self.epochs)} epochs; last: {last}>"


def resolve_mode(key: str, mode: str = "auto") -> str:
    """'min' for losses and errors, 'max' for accuracies and scores (mode='auto')."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise HistoryError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    lowered = key.lower()
    return "min" if ("loss" in lowered or "error" in lowered or "mse" in lowered or "mae" in lowered) else "max"


__all__ = ["History", "HistoryError", "resolve_mode"]
