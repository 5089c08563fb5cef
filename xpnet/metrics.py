"""Running loss, accuracy and confusion counts kept on the device and read to the host in one transfer.

The training loop adds every batch here and calls :meth:`Metrics.read` once per epoch (or per
progress refresh): that read is the only host synchronisation of the loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from .backend import to_numpy
from .losses import one_hot

Array = Any


def predicted_labels(z: Array) -> Array:
    return array_namespace(z).argmax(z, axis=1)


def true_labels(y: Array) -> Array:
    """Integer labels ``(n,)`` as they are; one-hot or real targets ``(n, k)`` by their argmax."""
    return y if y.ndim == 1 else array_namespace(y).argmax(y, axis=1)


class Metrics:
    """Sums of loss and correct predictions (and, optionally, the confusion matrix) over batches, on the device."""

    def __init__(self, like: Array, n_classes: int, *, confusion: bool = False) -> None:
        xp, dev = array_namespace(like), device_of(like)
        self._xp, self._dtype, self.n_classes = xp, like.dtype, n_classes
        self._sums = xp.zeros((2,), dtype=like.dtype, device=dev)  # [loss * n, correct]
        self._confusion = xp.zeros((n_classes, n_classes), dtype=like.dtype, device=dev) if confusion else None
        self.count = 0

    def add(self, loss: Array, z: Array, y: Array) -> None:
        """Add one batch: its mean ``loss`` (0-d), output pre-activations ``z`` ``(n, k)`` and targets ``y``."""
        xp, n = self._xp, z.shape[0]
        pred, labels = predicted_labels(z), true_labels(y)
        hits = xp.sum(xp.astype(pred == labels, self._dtype))
        self._sums = self._sums + xp.stack([loss * float(n), hits])
        if self._confusion is not None:
            truth = one_hot(labels, self.n_classes, self._dtype)  # (n, k)
            self._confusion = self._confusion + truth.T @ one_hot(pred, self.n_classes, self._dtype)
        self.count += n

    def read(self) -> dict[str, Any]:
        """One device-to-host transfer: mean loss, accuracy and (if kept) the confusion matrix ``(k, k)``."""
        parts = [self._sums]
        if self._confusion is not None:
            parts.append(self._xp.reshape(self._confusion, (-1,)))
        host = to_numpy(self._xp.concat(parts)).astype(np.float64)
        n = max(self.count, 1)
        out: dict[str, Any] = {"loss": float(host[0]) / n, "accuracy": float(host[1]) / n}
        if self._confusion is not None:
            out["confusion"] = np.rint(host[2:]).astype(np.int64).reshape(self.n_classes, self.n_classes)
        return out
