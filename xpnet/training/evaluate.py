"""Evaluation of a trained network on a data set: loss, accuracy and the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.batches import Batches, shard_bounds
from ..data.sources import targets_for_loss
from ..nn.network import MLP, check_model
from ..tabular import model_labels
from ..validation import check_float
from .metrics import Metrics


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    loss : float
        Mean loss over the samples (without any L2 term).
    accuracy : float or None
        Fraction of samples whose arg-max output equals the label (the target's arg-max for real targets); None
        for a regression model (loss ``"mse"``).
    confusion : numpy.ndarray, shape (k, k), or None
        ``confusion[i, j]`` counts samples of class ``i`` predicted as ``j``; None for a regression model.
    n : int
        Number of samples.
    rmse, mae, r2 : float or None
        A regression model's root mean squared error, mean absolute error (both in the targets' units) and
        coefficient of determination R², each the mean over the outputs as scikit-learn's metrics give them; None
        for a classifier.
    """

    loss: float
    accuracy: float | None
    confusion: np.ndarray | None
    n: int
    rmse: float | None = None
    mae: float | None = None
    r2: float | None = None


def evaluate(
    model: MLP, x: Any, y: Any, *, batch_size: int = 512, x_scale: float | None = None, session: Any = None
) -> Evaluation:
    """Evaluate ``model`` on ``(x, y)`` in batches on the model's device, reading the totals once.

    Parameters
    ----------
    model : MLP
    x : array, shape (n, sizes[0])
        Host or device inputs (device inputs must be on the model's device).
    y : array, shape (n,) or (n, k)
        Class labels (indices, or the model's class names) or ``(n, k)`` targets; losses on ``(n, k)`` targets
        (quadratic, binary cross-entropy) take labels too, one-hot encoded here as in training; a regression model
        takes ``(n,)`` targets as train does.
    batch_size : int
        Samples per forward pass (bounds the memory used).
    x_scale : float, optional
        Multiplies ``x`` after casting (``1/255`` for raw uint8 pixels).
    session : xpnet.distributed.Session, optional
        Data-parallel runs: each rank evaluates its share of the rows and every rank gets the totals.
    """
    with check_model(model).backend.activate():
        return _evaluate(model, x, y, batch_size, x_scale, session)


def _evaluate(model: MLP, x: Any, y: Any, batch_size: int, x_scale: float | None, session: Any) -> Evaluation:
    y = targets_for_loss(model_labels("y", y, model.classes), model.loss, model.backend, model.sizes[-1])
    x, y = model._check_data(x, y)
    x_scale = None if x_scale is None else check_float("x_scale", x_scale, low_inclusive=False)
    center = None
    if not model._loss.classifies:
        center = model._targets[0] if model._targets is not None else model.xp.zeros(
            (model.sizes[-1],), dtype=model.dtype, device=model.device)  # fmt: skip
    metrics = Metrics(model.params[0], model.sizes[-1], confusion=True, classifies=model._loss.classifies,
                      errors=center)  # fmt: skip
    first, last = (0, x.shape[0]) if session is None else shard_bounds(0, x.shape[0], *session.shard)
    if last > first:
        part = (x, y) if session is None else (x[first:last, ...], y[first:last, ...])
        for xb, yb in Batches(*part, model.backend, model.dtype, batch_size=batch_size, scale=x_scale):
            loss, z = model._loss_and_output(xb, yb)
            metrics.add(loss, z, yb)
    result = metrics.read(gather=None if session is None else session.gather)
    return Evaluation(result["loss"], result["accuracy"], result["confusion"], result["count"], result.get("rmse"),
                      result.get("mae"), result.get("r2"))  # fmt: skip
