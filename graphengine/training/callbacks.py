"""Training callbacks: hooks the training loop calls at the start and end of training,
of each epoch and of each batch.

A callback subclasses :class:`Callback` and overrides what it needs; ``self.trainer`` is
the :class:`~graphengine.training.Trainer` (its ``graph``, ``model``, ``optimizer``,
``history``; setting ``trainer.stop_training = True`` ends training after the epoch)::

    class PrintLR(Callback):
        def on_epoch_end(self, epoch, logs):
            print(epoch, self.trainer.optimizer.hyper["lr"])

Built in: :class:`EarlyStopping`, :class:`ModelCheckpoint`, :class:`LambdaCallback`,
:class:`TerminateOnNaN`.
"""

from __future__ import annotations

import math
import os

from ..errors import GraphEngineError, NonFiniteError
from .history import resolve_mode


class CallbackError(GraphEngineError, ValueError):
    """A callback was configured wrongly or monitors a key the history does not have."""


class Callback:
    """Base class: every hook does nothing. ``logs`` are dicts of Python floats."""

    trainer = None

    def set_trainer(self, trainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, on_train_begin=None, on_train_end=None, on_epoch_begin=None, on_epoch_end=None,
                 on_batch_end=None):
        for name, fn in (("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_batch_end", on_batch_end)):
            if fn is not None:
                if not callable(fn):
                    raise CallbackError(f"LambdaCallback {name} must be callable, got {type(fn).__name__}")
                setattr(self, name, fn)


def _monitored(logs, monitor, who):
    if logs is None or monitor not in logs:
        available = ", ".join(sorted(logs or {})) or "none"
        hint = (" Validation metrics need validation_split= or validation_data= in fit."
                if monitor.startswith("val_") else "")
        raise CallbackError(f"{who} monitors {monitor!r}, which the epoch logs do not have (they have: {available}).{hint}")
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs.

    An epoch improves when the value beats the best so far by more than ``min_delta``
    (lower for losses, higher for accuracies; ``mode`` 'auto', 'min' or 'max').
    ``restore_best_weights`` puts back the params and state of the best epoch when
    training ends, whether it stopped early or ran out of epochs.

    The decision rule works without a trainer, on any sequence of values::

        stopper = EarlyStopping(patience=2)
        [stopper.update(v) for v in (1.0, 0.8, 0.9, 0.85)]   # [False, False, False, True]
        stopper.best_epoch                                    # 1 (0-based)
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = True, baseline: float | None = None, verbose: bool = False):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise CallbackError(f"EarlyStopping patience must be an int >= 0 (epochs to wait), got {patience!r}")
        min_delta = float(min_delta)
        if min_delta < 0 or math.isnan(min_delta):
            raise CallbackError(f"EarlyStopping min_delta must be >= 0, got {min_delta}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = resolve_mode(monitor, mode)
        self.restore_best_weights = bool(restore_best_weights)
        self.baseline = baseline
        self.verbose = verbose
        self.reset()

    def reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        if self.baseline is not None:
            self.best = float(self.baseline)
        self.best_epoch = None
        self.wait = 0
        self.stopped_epoch = None
        self.best_weights = None
        self._seen = 0

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int | None = None) -> bool:
        """Take one epoch's value; return True when training should stop now."""
        epoch = self._seen if epoch is None else epoch
        self._seen += 1
        if self.improved(float(value)):
            self.best = float(value)
            self.best_epoch = epoch
            self.wait = 0
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    # -- hooks --------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.reset()

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        stop = self.update(value, epoch)
        if self.best_epoch == epoch and self.restore_best_weights and self.trainer is not None:
            from .checkpoint import snapshot

            self.best_weights = snapshot(self.trainer.graph)
        if stop and self.trainer is not None:
            self.trainer.stop_training = True
            if self.verbose:
                print(f"early stopping at epoch {epoch}: {self.monitor} has not improved for {self.wait} epochs "
                      f"(best {self.best:.6g} at epoch {self.best_epoch})")

    def on_train_end(self, logs=None):
        if self.trainer is None:
            return
        history = getattr(self.trainer, "history", None)
        if history is not None:
            history.stopped_epoch = self.stopped_epoch
            history.best_epoch = self.best_epoch
        if self.restore_best_weights and self.best_weights is not None:
            from .checkpoint import restore

            restore(self.trainer.graph, self.best_weights)


class ModelCheckpoint(Callback):
    """Save a checkpoint at the end of epochs.

    By default it is a training checkpoint (``trainer.save_checkpoint``: weights, optimizer
    and lr schedule state, the data generator's state, the epoch and the history; ``.npz``
    arrays and JSON, no pickle) that ``fit(..., resume_from=path)`` continues from, ending
    exactly as the uninterrupted run. ``include_optimizer=False`` saves the graph instead
    (``graph.save``: structure and arrays, read back with ``ge.load``); ``weights_only=True``
    only the arrays (``save_weights``). :func:`graphengine.training.load_weights` reads the
    weights of all three.

    ``path`` may contain ``{epoch}`` and any log key (``"ckpt-{epoch:02d}-{val_loss:.3f}.ckpt"``).
    ``save_best_only`` saves only when ``monitor`` improves.
    """

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = False, mode: str = "auto",
                 weights_only: bool = False, include_optimizer: bool = True):
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self.mode = resolve_mode(monitor, mode)
        self.weights_only = bool(weights_only)
        self.include_optimizer = bool(include_optimizer)
        self.best = None
        self.saved: list[str] = []

    def on_train_begin(self, logs=None):
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            if not better:
                return
            self.best = value
        try:
            path = self.path.format(epoch=epoch, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise CallbackError(f"ModelCheckpoint path {self.path!r} cannot be formatted with epoch and "
                                f"{', '.join(logs)}: {exc}") from exc
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.weights_only:
            from .checkpoint import save_weights

            save_weights(self.trainer.graph, path)
        elif self.include_optimizer:
            from .checkpoint import save_checkpoint

            save_checkpoint(self.trainer, path)
        else:
            self.trainer.graph.save(path)
        self.saved.append(path)


class TerminateOnNaN(Callback):
    """Stop with an error as soon as a batch loss is NaN or Inf (names the epoch and batch).

    ``fit`` itself already stops on such a loss, before that step's update (so the params
    keep their last finite values); this callback also stops a loop that calls its
    ``on_batch_end`` with a loss, after the step."""

    def __init__(self):
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            raise NonFiniteError(
                f"training loss became {loss} at epoch {self.epoch}, batch {batch}; lower the learning rate, "
                "clip gradients (clip_norm=), or run g.forward(feeds, check_finite=True) to find the first bad node"
            )


class CallbackList:
    """Calls every callback's hook in order."""

    def __init__(self, callbacks, trainer):
        self.callbacks = list(callbacks or ())
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise CallbackError(
                    f"callbacks must be ge.training.Callback instances, got {type(cb).__name__}; wrap functions in "
                    "LambdaCallback(on_epoch_end=...)"
                )
            cb.set_trainer(trainer)
        self.wants_batches = any(type(cb).on_batch_end is not Callback.on_batch_end or "on_batch_end" in vars(cb)
                                 for cb in self.callbacks)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)

        return call


__all__ = ["Callback", "CallbackList", "LambdaCallback", "EarlyStopping", "ModelCheckpoint", "TerminateOnNaN",
           "CallbackError"]
