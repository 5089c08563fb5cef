"""Running loss, accuracy and confusion counts kept on the device and read to the host in one transfer.

The training loop adds every batch here and calls :meth:`Metrics.read` once per epoch (or per
progress refresh): that read is the only host synchronisation of the loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..backend import backend_of, to_numpy
from ..backend.memo import by_spec
from ..backend.step_ops import add_loss_and_hits, latch_first
from ..backend.transfer import copy_into, zeros
from ..nn.losses import one_hot

Array = Any
Gather = Callable[[np.ndarray], np.ndarray]  # one host vector per rank -> every rank's vector, (ranks, n)


def predicted_labels(z: Array) -> Array:
    return array_namespace(z).argmax(z, axis=1)


def true_labels(y: Array) -> Array:
    """Integer labels ``(n,)`` as they are; one-hot or real targets ``(n, k)`` by their argmax."""
    return y if y.ndim == 1 else array_namespace(y).argmax(y, axis=1)


class Metrics:
    """Sums of loss and correct predictions (and, optionally, the confusion matrix) over batches, on the device."""

    def __init__(self, like: Array, n_classes: int, *, confusion: bool = False, classifies: bool = True,
                 errors: Array | None = None) -> None:  # fmt: skip
        backend, dtype = backend_of(like), like.dtype
        self._xp, self._dtype, self.n_classes = array_namespace(like), dtype, n_classes
        self._sums = zeros(backend, (2,), dtype)  # [loss * n, correct]
        self._first_bad = zeros(backend, (1,), dtype)  # first step with a non-finite loss; 0: none
        self._confusion = zeros(backend, (n_classes, n_classes), dtype) if confusion else None
        self.count = 0
        self.classifies = classifies  # regression: no accuracy, no confusion matrix
        self._accumulate = _compiled(backend, n_classes, classifies)  # chosen once, not per step
        # regression (given the targets' center, (k,)): per output Σ(z-y)², Σ|z-y|, Σ(y-c), Σ(y-c)², in one array
        self._center = errors
        self._errors = None if errors is None else zeros(backend, (4, n_classes), dtype)
        self._add_errors = None if errors is None else _errors(backend)
        self._read = _summary(backend)

    def add(self, loss: Array, z: Array, y: Array, step: int = 1) -> None:
        """Add global step ``step`` (1-based; exact in float32 up to 2**24): its mean ``loss`` (0-d), output
        pre-activations ``z`` ``(n, k)`` and targets ``y``."""
        self._sums, self._first_bad, self._confusion = self._accumulate(
            self._sums, self._first_bad, self._confusion, loss, z, y, float(step)
        )
        if self._add_errors is not None:
            self._errors = self._add_errors(self._errors, self._center, z, y)
        self.count += z.shape[0]

    def adopt(self, sums: Array, first_bad: Array, n: int) -> None:
        """Take the running sums a compiled step returned after adding its batch of ``n`` rows by :func:`accumulate`
        (the step, its batch's gather and the metrics as one program): sums and the first bad step only."""
        assert self._confusion is None and self._errors is None, "a compiled step adds no confusion or errors"
        self._sums, self._first_bad = sums, first_bad
        self.count += n

    def read(self, params: list[Array] | None = None, gather: Gather | None = None) -> dict[str, Any]:
        """One device-to-host transfer: mean loss, accuracy, the first non-finite step, (if kept) the confusion
        matrix ``(k, k)`` and, given ``params``, how many of them hold a NaN or an infinity.

        ``gather`` (data-parallel training: every rank's copy of a host vector, ``(ranks, n)``) combines the
        ranks' sums, so every rank reads the totals of the whole job. ``"sums"`` and ``"count"`` are the raw
        totals; ``"rank_sums"`` ``(ranks, 2)`` and ``"rank_counts"`` each rank's own, for checkpoints.
        """
        summary = self._read(self._sums, self._first_bad, params, self._confusion, self._errors)
        host = np.append(to_numpy(summary).astype(np.float64), float(self.count))
        rows = host[None] if gather is None else gather(host)  # (ranks, len): every rank's own figures
        host = _combine(rows)
        count = int(host[-1])
        n = max(count, 1)
        out: dict[str, Any] = {"loss": float(host[0]) / n, "accuracy": float(host[1]) / n if self.classifies else None}
        out["first_non_finite_step"] = int(host[2]) if host[2] > 0 else None
        out["sums"], out["count"] = host[:2].copy(), count
        out["rank_sums"], out["rank_counts"] = rows[:, :2].copy(), [int(c) for c in rows[:, -1]]
        rest = host[3:-1]
        if params is not None:
            out["non_finite_params"], rest = int(rest[0]), rest[1:]
        if self._confusion is not None:
            size = self.n_classes * self.n_classes
            confusion, rest = np.rint(rest[:size]).astype(np.int64).reshape(self.n_classes, -1), rest[size:]
            out["confusion"] = confusion if self.classifies else None
        if self._errors is not None:
            out.update(regression_figures(rest.reshape(4, self.n_classes), count))
        return out

    def restore(self, sums: Any, count: int) -> None:
        """Continue from a checkpoint's :meth:`state` (``sums`` on the host or the device), into the same memory
        where the backend updates in place (a captured step adds into it)."""
        backend = backend_of(self._sums)
        self._sums = copy_into(self._sums, to_numpy(sums), backend)
        self.count = count

    def reset(self) -> None:
        """Back to no batches, in the same memory (a captured step keeps adding into it)."""
        backend = backend_of(self._sums)
        self._sums, self._first_bad, self._confusion, self._errors = (
            None if a is None else copy_into(a, np.zeros(a.shape), backend)
            for a in (self._sums, self._first_bad, self._confusion, self._errors)
        )
        self.count = 0

    @property
    def buffers(self) -> tuple[Array, Array]:
        """``(sums, first bad step)``: what :func:`accumulate` adds into."""
        return self._sums, self._first_bad


def accumulate(
    n_classes: int,
    classifies: bool,
    sums: Array,
    first_bad: Array,
    confusion: Array | None,
    loss: Array,
    z: Array,
    y: Array,
    step: float,
) -> tuple[Array, Array, Array | None]:
    """One batch added to the running sums (a pure function: compiled as a whole where the backend compiles)."""
    first_bad = latch_first(first_bad, loss, step)  # the first step (1-based) whose loss is not finite
    pred, labels = (predicted_labels(z), true_labels(y)) if classifies else (None, None)
    sums = add_loss_and_hits(sums, loss, z.shape[0], pred, labels)
    if confusion is not None and classifies:
        truth = one_hot(labels, n_classes, sums.dtype)  # (n, k)
        confusion += truth.T @ one_hot(pred, n_classes, sums.dtype)
    return sums, first_bad, confusion


@by_spec(maxsize=32)
def _compiled(backend: Any, n_classes: int, classifies: bool) -> Callable[..., tuple[Array, Array, Array | None]]:
    """:func:`accumulate` for these settings: one compiled program on JAX (ten operations dispatched one by one
    cost more than the step's own compiled program there), the plain function everywhere else."""
    add = functools.partial(accumulate, n_classes, classifies)
    return backend.compile(add, donate=(0, 1, 2)) or add


def _summarise(
    sums: Array, first_bad: Array, params: list[Array] | None, confusion: Array | None, errors: Array | None
) -> Array:
    """``[loss·n, correct, first bad step, (parameters holding a NaN or infinity), (confusion...), (regression
    sums...)]`` in one vector: one read to the host (and one gather over the ranks) for all of it."""
    xp = array_namespace(sums)
    parts = [sums, first_bad]
    if params is not None:
        flags = [1.0 - xp.astype(xp.all(xp.isfinite(p)), sums.dtype) for p in params]
        parts.append(xp.reshape(xp.sum(xp.stack(flags)), (1,)))
    for table in (confusion, errors):
        if table is not None:
            parts.append(xp.reshape(table, (-1,)))
    return xp.concat(parts)


@by_spec(maxsize=8)
def _summary(backend: Any) -> Callable[..., Array]:
    """:func:`_summarise`, one compiled program (per shape) where the backend compiles."""
    return backend.compile(_summarise) or _summarise


def _add_errors(errors: Array, center: Array, z: Array, y: Array) -> Array:
    """Per-output sums of one regression batch added to ``errors`` ``(4, k)``: squared and absolute errors, and the
    targets' first two moments about ``center`` (the training targets' mean: sums that keep their precision)."""
    xp = array_namespace(z)
    diff, shifted = z - y, y - center  # (n, k)
    return errors + xp.stack([xp.sum(diff * diff, axis=0), xp.sum(xp.abs(diff), axis=0), xp.sum(shifted, axis=0),
                              xp.sum(shifted * shifted, axis=0)])  # fmt: skip


@by_spec(maxsize=8)
def _errors(backend: Any) -> Callable[..., Array]:
    return backend.compile(_add_errors, donate=(0,)) or _add_errors


def regression_figures(errors: np.ndarray, n: int) -> dict[str, float | None]:
    """RMSE, MAE and R² from the sums of :func:`_add_errors`, each the mean over the outputs (scikit-learn's
    ``uniform_average``); an output whose targets are constant has R² 1 if predicted exactly, else 0, as there."""
    if n == 0:
        return {"rmse": None, "mae": None, "r2": None}
    sse, sae, first, second = errors
    total = second - first * first / n  # Σ(y - ȳ)²
    r2 = np.where(total > 0, 1.0 - sse / np.where(total > 0, total, 1.0), np.where(sse == 0, 1.0, 0.0))
    return {"rmse": float(np.mean(np.sqrt(sse / n))), "mae": float(np.mean(sae / n)), "r2": float(np.mean(r2))}


def _combine(rows: np.ndarray) -> np.ndarray:
    """The ranks' vectors ``[loss·n, correct, first bad step, (bad params), (confusion...), (errors...), n]`` as one:
    sums, except the first non-finite step, which is the earliest any rank saw."""
    total = rows.sum(axis=0)
    bad = rows[:, 2][rows[:, 2] > 0]
    total[2] = bad.min() if bad.size else 0.0
    return total
