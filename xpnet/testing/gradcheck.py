"""Backprop against central finite differences on a float64 host copy of a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..nn.backprop import TRAINING
from ..nn.layers import Context
from ..nn.network import MLP
from ..validation import check_float

DEFAULT_TOLERANCE = 1e-6
SCALE_FLOOR = 1e-3  # below it, a gradient is compared absolutely


@dataclass(frozen=True)
class GradCheck:
    """Result of :func:`check_grads`.

    Attributes
    ----------
    max_relative_error : float
        Largest relative error over the checked parameters.
    per_parameter : list of float
        Relative error of each parameter, in the order of ``model.params``.
    tolerance : float
    passed : bool
        ``max_relative_error <= tolerance``.
    """

    max_relative_error: float
    per_parameter: list[float]
    tolerance: float
    passed: bool

    def __bool__(self) -> bool:
        return self.passed


def check_grads(
    model: MLP,
    x: Any,
    y: Any,
    *,
    l2: float = 0.0,
    eps: float = 1e-6,
    tolerance: float = DEFAULT_TOLERANCE,
    max_entries: int | None = 64,
    seed: int = 0,
    context: Context = TRAINING,
) -> GradCheck:
    """Compare backprop with central finite differences ``(L(p+eps) − L(p−eps)) / 2eps``.

    The check runs on a float64 copy of ``model`` on the host (NumPy), so it tests the math of the
    model, free of float32 rounding; the model itself is not modified.

    Parameters
    ----------
    model : MLP
    x : array, shape (n, sizes[0])
    y : array, shape (n,) or (n, sizes[-1])
    l2 : float
        L2 penalty included in the loss.
    eps : float
        Finite-difference step.
    tolerance : float
        Pass when every relative error ``‖g_bp − g_fd‖ / max(‖g_bp‖ + ‖g_fd‖, 1e-3)`` is at most this (default 1e-6;
        a correct gradient gives about 1e-9 with ``eps=1e-6`` in float64 away from ReLU kinks). The floor judges
        gradients that vanish (a bias before batch norm) by their absolute error, not by the noise of ``g_fd``.
    max_entries : int or None
        Check at most this many randomly chosen entries of each parameter (``None``: all of them).
    seed : int
        Chooses the entries.
    context : xpnet.nn.layers.Context
        The pass checked: training mode by default (a fixed dropout mask, batch statistics), or
        ``xpnet.nn.layers.EVALUATION``.
    """
    eps = check_float("eps", eps, low_inclusive=False)
    host = model.to("cpu", dtype="float64")  # every layer, buffer and setting, in float64 on the host
    x64 = to_numpy(x).astype(np.float64)
    y_host = to_numpy(y)
    y64 = y_host.astype(np.float64) if y_host.ndim == 2 else y_host
    _, grads = host.loss_and_grads(x64, y64, l2=l2, context=context)
    rng = np.random.default_rng(seed)
    errors = []
    for p, g in zip(host.params, grads):
        g_flat = np.asarray(g).reshape(-1)
        picks = (
            np.arange(p.size)
            if max_entries is None or p.size <= max_entries
            else rng.choice(p.size, max_entries, replace=False)
        )
        numeric = np.empty(picks.size)
        for k, i in enumerate(picks):
            at = np.unravel_index(i, p.shape)  # p itself: a matrix parameter is column-major, its reshape a copy
            saved = p[at]
            p[at] = saved + eps
            plus = float(host.loss_and_grads(x64, y64, l2=l2, context=context)[0])
            p[at] = saved - eps
            minus = float(host.loss_and_grads(x64, y64, l2=l2, context=context)[0])
            p[at] = saved
            numeric[k] = (plus - minus) / (2 * eps)
        analytic = g_flat[picks]
        scale = max(np.linalg.norm(analytic) + np.linalg.norm(numeric), SCALE_FLOOR)
        errors.append(float(np.linalg.norm(analytic - numeric) / scale))
    worst = max(errors)
    return GradCheck(worst, errors, tolerance, worst <= tolerance)
