"""Figures of a training run: learning curves, and misclassified test images beside the confusion matrix.

matplotlib is optional (``pip install "xpnet[plot]"``) and imported only when a figure is drawn. Figures are built
with the object-oriented API on the Agg renderer: no pyplot, no global backend switch in the caller's session.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .datasets.remote import MissingDependencyError
from .errors import XPNetValueError
from .io.atomic import atomic_open

__all__ = ["image_path", "plot_errors", "plot_history"]


def _matplotlib() -> None:
    """MissingDependencyError saying how to install matplotlib, when it is not."""
    try:
        import matplotlib.backends.backend_agg
        import matplotlib.figure  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            'plotting needs matplotlib, which is not installed; install it with: pip install "xpnet[plot]"'
        ) from exc


def _new_figure(**options: Any) -> Any:
    """A matplotlib Figure on an Agg canvas, or MissingDependencyError saying how to install matplotlib."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure


def image_path(path: str | os.PathLike[str], name: str = "path") -> Path:
    """``path`` checked to end in an image format matplotlib writes (``.png``, ``.pdf``, ``.svg``, ...)."""
    _matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    path = Path(path)
    if path.suffix[1:].lower() not in formats:
        raise XPNetValueError(
            f"{name}: {str(path)!r} names no image format matplotlib writes; expected a suffix among "
            f"{', '.join('.' + kind for kind in sorted(formats))}"
        )
    return path


def _save(figure: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` to ``path`` (format from the suffix), atomically, creating missing parent folders."""
    path = image_path(path)
    with atomic_open(path, "wb") as f:
        figure.savefig(f, format=path.suffix[1:].lower(), dpi=120)
    return path


def plot_history(history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Draw loss and accuracy per epoch (training and, when present, validation) and save the figure.

    Parameters
    ----------
    history : History or sequence of dict
        Per-epoch records with keys ``epoch``, ``train_loss``, ``train_accuracy`` and optionally
        ``val_loss``, ``val_accuracy`` (``None`` when there was no validation data). A
        :class:`xpnet.History`'s ``meta`` (data set, device) goes into the title.
    path : str or os.PathLike
        Output file; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    XPNetValueError
        If ``history`` has no epochs.
    MissingDependencyError
        If matplotlib is not installed.
    """
    if len(history) == 0:
        raise XPNetValueError("history: no epochs to plot; train for at least one epoch")
    figure = _new_figure(figsize=(10, 4), layout="constrained")  # first: says how to install matplotlib
    from matplotlib.ticker import MaxNLocator

    metrics = ("loss", "accuracy") if any(r.get("train_accuracy") is not None for r in history) else ("loss",)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):  # a regression run (mse) has no accuracy: its loss alone
        for split in ("train", "val"):
            key = f"{split}_{metric}"
            points = [(r["epoch"], r[key]) for r in history if r.get(key) is not None]
            if points:
                epochs, values = zip(*points)
                ax.plot(epochs, values, marker="o", markersize=3, label=split)
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    meta = getattr(history, "meta", {})
    if meta:
        figure.suptitle(f"{meta.get('data', '?')} on {meta.get('device', '?')}")
    return _save(figure, path)


def plot_errors(images: Any, y_true: Any, y_pred: Any, path: str | os.PathLike[str], *, max_images: int = 36) -> Path:
    """Draw up to ``max_images`` misclassified images (titled ``true→pred``) and the confusion matrix.

    Parameters
    ----------
    images : array, shape (n, rows, cols) or (n, rows*cols)
        Host images (any numeric dtype); flat rows must be square images.
    y_true, y_pred : array of int, shape (n,)
        True and predicted class labels (>= 0).
    path : str or os.PathLike
        Output file; the format follows the suffix.
    max_images : int
        How many misclassified images to show at most (the first ones, in data order), on a 6-wide grid.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    XPNetValueError
        If the shapes disagree, the set is empty, labels are negative or flat images are not square.
    MissingDependencyError
        If matplotlib is not installed.
    """
    images, y_true, y_pred = np.asarray(images), np.asarray(y_true), np.asarray(y_pred)
    n = images.shape[0] if images.ndim else 0
    if n == 0 or images.ndim not in (2, 3) or y_true.shape != (n,) or y_pred.shape != (n,):
        raise XPNetValueError(
            f"plot_errors: expected images (n, rows, cols) or (n, rows*cols) and labels (n,) with n > 0; "
            f"received images {images.shape}, y_true {y_true.shape}, y_pred {y_pred.shape}"
        )
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise XPNetValueError(f"plot_errors: flat images of {images.shape[1]} pixels are not square")
        images = images.reshape(n, side, side)  # (n, side, side)
    y_true, y_pred = y_true.astype(np.int64), y_pred.astype(np.int64)
    if min(y_true.min(), y_pred.min()) < 0:
        raise XPNetValueError("plot_errors: labels must be class indices >= 0")
    k = int(max(y_true.max(), y_pred.max())) + 1
    confusion = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)  # (k, k), rows = true
    wrong = np.flatnonzero(y_true != y_pred)

    figure = _new_figure(figsize=(14, 7), layout="constrained")
    grid_part, matrix_part = figure.subfigures(1, 2, width_ratios=(1, 1.1))
    columns = 6
    rows = max(1, math.ceil(min(len(wrong), max_images) / columns))
    cells = grid_part.subplots(rows, columns, squeeze=False).ravel()
    for ax in cells:
        ax.set_axis_off()
    for ax, i in zip(cells, wrong[:max_images]):
        ax.imshow(images[i], cmap="gray_r")
        ax.set_title(f"{y_true[i]}→{y_pred[i]}", fontsize=10)
    shown = min(len(wrong), max_images)
    grid_part.suptitle(f"{shown} of {len(wrong)} misclassified (true→pred)")

    ax = matrix_part.subplots()
    ax.imshow(confusion, cmap="Blues")
    threshold = confusion.max() / 2
    for (i, j), count in np.ndenumerate(confusion):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color="white" if count > threshold else "black")
    accuracy = 1.0 - len(wrong) / n
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true")
    ax.set_title(f"confusion matrix ({n} samples, accuracy {accuracy:.2%})")
    return _save(figure, path)
