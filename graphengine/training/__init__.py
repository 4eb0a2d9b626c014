"""Training: ``fit`` and ``Trainer``, callbacks (early stopping, checkpoints), history and
its plots, checkpoints, image augmentation.

>>> import graphengine as ge
>>> X, y = ge.data.xor()
>>> model = ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 2), seed=0)
>>> history = ge.training.fit(model, X, y, optimizer="adam", lr=0.05, epochs=200, batch_size=4, seed=0)
>>> history.last("accuracy")
1.0

See ``docs/training.md``.
"""

from .augment import AugmentationError, ImageAugmenter, random_flip, random_shift
from .callbacks import (
    Callback,
    CallbackError,
    CallbackList,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    TerminateOnNaN,
)
from .checkpoint import (
    CheckpointError,
    TrainingCheckpoint,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    read_weights,
    restore,
    save_checkpoint,
    save_weights,
    snapshot,
)
from .history import History, HistoryError
from .metrics import METRICS, MetricError, accuracy, error_rate, predicted_classes
from .noise_step import NoiseStepError, current_noise_step, noise_step
from .plots import PlotError, plot_history
from .progress import ProgressError, in_notebook
from .trainer import FIT_ARGUMENTS, Trainer, TrainingError, UnknownArgumentError, fit

__all__ = [
    "fit", "Trainer", "TrainingError", "UnknownArgumentError", "FIT_ARGUMENTS", "ProgressError", "in_notebook",
    "History", "HistoryError",
    "Callback", "CallbackList", "CallbackError", "EarlyStopping", "ModelCheckpoint", "LambdaCallback", "TerminateOnNaN",
    "snapshot", "restore", "save_weights", "load_weights", "read_weights", "CheckpointError",
    "save_checkpoint", "read_checkpoint", "load_checkpoint", "TrainingCheckpoint",
    "ImageAugmenter", "random_shift", "random_flip", "AugmentationError",
    "plot_history", "PlotError",
    "accuracy", "error_rate", "predicted_classes", "METRICS", "MetricError",
    "noise_step", "current_noise_step", "NoiseStepError",
]
