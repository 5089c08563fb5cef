"""Training: :func:`train` (arguments, data, model, epochs), the epoch loop and its step, checkpoints, callbacks,
history, learning-rate schedules, evaluation, metrics, and the text printed per epoch."""

from __future__ import annotations

from .callbacks import EarlyStopping
from .evaluate import Evaluation, evaluate
from .history import History
from .result import TrainResult
from .train import train

__all__ = ["EarlyStopping", "Evaluation", "History", "TrainResult", "evaluate", "train"]
