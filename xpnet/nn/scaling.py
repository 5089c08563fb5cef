"""What a network applies around its layers: the standardization of its inputs and of its regression targets.

Both are host statistics (float64) kept with the model (saved, exported, applied by ``predict``) and device copies
in the model's dtype that the forward pass uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import Backend, to_numpy
from ..errors import XPNetValueError
from ..validation import check_x

Array = Any


class ScalingMixin:
    """Input and target standardization of :class:`xpnet.MLP`."""

    backend: Backend
    loss: str
    _loss: Any
    _dtype: Any
    _standardize: tuple[Array, Array] | None
    _standardize_host: tuple[np.ndarray, np.ndarray] | None
    _targets: tuple[Array, Array] | None
    _targets_host: tuple[np.ndarray, np.ndarray] | None

    if TYPE_CHECKING:  # provided by the network itself

        @property
        def sizes(self) -> tuple[int, ...]: ...

    @property
    def standardization(self) -> tuple[Array, Array] | None:
        """``(mean, std)`` per input feature (host float64) subtracted and divided before the first layer, or None."""
        if self._standardize_host is None:
            return None
        return self._standardize_host[0].copy(), self._standardize_host[1].copy()

    def set_standardization(self, mean: Array | None, std: Array | None = None) -> None:
        """Standardize every input as ``(x - mean) / std`` before the first layer (``None`` removes it).

        ``mean`` and ``std`` are ``(sizes[0],)`` arrays (host or on the model's device); ``std`` must be positive.
        Training, ``predict`` and saved models all apply it.
        """
        if mean is None:
            self._standardize = self._standardize_host = None
            return
        stats = [check_x(np.reshape(to_numpy(a), (1, -1)), self.backend, self.sizes[0], name=name)[0]
                 for name, a in (("mean", mean), ("std", std))]  # fmt: skip
        if not np.all(stats[1] > 0):
            raise XPNetValueError(f"std: expected positive values; received min {stats[1].min()!r}")
        mean64, std64 = (np.asarray(a, dtype=np.float64) for a in stats)
        self._standardize_host = (mean64, std64)
        self._standardize = (self.backend.asarray(mean64, self._dtype), self.backend.asarray(1.0 / std64, self._dtype))

    @property
    def target_standardization(self) -> tuple[Array, Array] | None:
        """``(mean, std)`` per output (host float64) of the regression targets the network was trained on as
        ``(y - mean) / std``, or None. The network's outputs (``model(x)``, ``predict``, exports) are in the
        targets' own units: ``output · std + mean``."""
        if self._targets_host is None:
            return None
        return self._targets_host[0].copy(), self._targets_host[1].copy()

    def set_target_standardization(self, mean: Array | None, std: Array | None = None) -> None:
        """Train on ``(y - mean) / std`` and give outputs as ``output · std + mean`` (``None`` removes it); ``mean``
        and ``std`` are ``(sizes[-1],)`` arrays, ``std`` positive. Only regression (``loss="mse"``) models."""
        if mean is None:
            self._targets = self._targets_host = None
            return
        if self._loss.classifies:
            raise XPNetValueError(
                f"target standardization: only regression models (loss 'mse') have it; this one's loss is {self.loss!r}"
            )
        stats = [np.reshape(to_numpy(a), (-1,)).astype(np.float64) for a in (mean, std)]
        if any(a.shape != (self.sizes[-1],) or not np.all(np.isfinite(a)) for a in stats) or not np.all(stats[1] > 0):
            raise XPNetValueError(
                f"target standardization: expected finite mean and positive std of shape ({self.sizes[-1]},); "
                f"received shapes {[a.shape for a in stats]}"
            )
        self._targets_host = (stats[0], stats[1])
        self._targets = (self.backend.asarray(stats[0], self._dtype), self.backend.asarray(stats[1], self._dtype))

    def _output_of(self, z: Array) -> Array:
        """What the network gives for last-layer outputs ``z``: the loss's output function, in the targets' units."""
        return self._to_target_units(self._loss.output(z))

    def _to_trained_units(self, y: Array) -> Array:
        """Device targets ``y`` in the units the network trains in: ``(y - mean) / std`` where it standardizes them."""
        if self._targets is None:
            return y
        mean, std = self._targets
        return (y - mean) / std

    def _to_target_units(self, out: Array) -> Array:
        """Outputs in the trained units back in the targets' own: ``out · std + mean``."""
        if self._targets is None:
            return out
        mean, std = self._targets
        return out * std + mean
