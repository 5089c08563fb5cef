"""Evaluation of a trained network on a data set: loss, accuracy and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import Batches
from .metrics import Metrics
from .model import MLP
from .validation import check_float, check_model


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    loss : float
        Mean loss over the samples (without any L2 term).
    accuracy : float
        Fraction of samples whose arg-max output equals the label (the target's arg-max for real targets).
    confusion : numpy.ndarray, shape (k, k)
        ``confusion[i, j]`` counts samples of class ``i`` predicted as ``j``.
    n : int
        Number of samples.
    """

    loss: float
    accuracy: float
    confusion: np.ndarray
    n: int


def evaluate(model: MLP, x: Any, y: Any, *, batch_size: int = 512, x_scale: float | None = None) -> Evaluation:
    """Evaluate ``model`` on ``(x, y)`` in batches on the model's device, reading the totals once.

    Parameters
    ----------
    model : MLP
    x : array, shape (n, sizes[0])
        Host or device inputs (device inputs must be on the model's device).
    y : array, shape (n,) or (n, k)
        Integer labels (cross-entropy) or targets (quadratic).
    batch_size : int
        Samples per forward pass (bounds the memory used).
    x_scale : float, optional
        Multiplies ``x`` after casting (``1/255`` for raw uint8 pixels).
    """
    with check_model(model).backend.activate():
        return _evaluate(model, x, y, batch_size, x_scale)


def _evaluate(model: MLP, x: Any, y: Any, batch_size: int, x_scale: float | None) -> Evaluation:
    x, y = model._check_data(x, y)
    x_scale = None if x_scale is None else check_float("x_scale", x_scale, low_inclusive=False)
    batches = Batches(x, y, model.backend, model.dtype, batch_size=batch_size, scale=x_scale)
    metrics = Metrics(model.params[0], model.sizes[-1], confusion=True)
    for xb, yb in batches:
        loss, z = model._loss_and_output(xb, yb)
        metrics.add(loss, z, yb)
    result = metrics.read()
    return Evaluation(result["loss"], result["accuracy"], result["confusion"], metrics.count)
