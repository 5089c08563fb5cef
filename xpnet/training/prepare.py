"""From a :class:`~xpnet.data.sources.DataSource` to the checked arrays a run trains, validates and tests on.

Host data are checked (shape, dtype, values) and looked over for mistakes that train silently to chance
(:mod:`xpnet.advice`); the output width comes from the labels; a validation split is drawn with the run's
generator; standardization statistics come from the training split only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..advice import check_inputs_scale, check_labels, one_hot_hint
from ..backend import Backend, is_host_array, to_numpy
from ..data.sources import DataSource, as_column, n_outputs, split_validation, targets_for_loss
from ..errors import XPNetTypeError, XPNetValueError
from ..nn.losses import get_loss
from ..nn.network import MLP
from ..validation import check_array, check_x, host_labels, host_values


@dataclass
class Prepared:
    """Training, validation and test arrays (host data stay on the host) and the output width they need."""

    x: Any
    y: Any
    val: tuple[Any, Any] | None
    test: tuple[Any, Any] | None
    n_outputs: int


def prepare(
    source: DataSource,
    backend: Backend,
    loss: str,
    *,
    validation: Any,
    rng: np.random.Generator,
    n_features: int | None = None,
    n_out: int | None = None,
    standardize: bool = False,
) -> Prepared:
    """Check ``source`` for ``loss`` on ``backend``; ``n_features``/``n_out`` are a continued model's widths."""
    regression = not get_loss(loss).classifies
    if regression and source.classes is not None:
        shown = ", ".join(repr(c) for c in source.classes[:5]) + (", ..." if len(source.classes) > 5 else "")
        raise XPNetValueError(
            f"y: loss={loss!r} regresses numeric targets; received class names ({shown}): classify them with "
            "loss='cross_entropy', or pass numbers"
        )
    if regression:  # one target per row is a column of targets (checked as targets, not labels)
        source = dataclasses.replace(
            source,
            y=as_column(source.y),
            test=None if source.test is None else (source.test[0], as_column(source.test[1])),
        )
    x, y = check_data(source.x, source.y, backend, loss, n_features=n_features)
    check_inputs_scale(x, scaled=source.scale is not None or standardize)
    # The output width comes from the training targets (or the model); test and validation labels follow it.
    if n_out is None:  # labels implying too many classes are refused here, before any advice on them
        n_out = len(source.classes) if source.classes else n_outputs(y, loss if y.ndim == 2 else "cross_entropy")
    check_labels(y, loss)
    y = targets_for_loss(y, loss, backend, n_out)
    test = None
    if source.test is not None:
        x_test, y_test = check_data(*source.test, backend, loss, names=("x_test", "y_test"))
        _refuse_unseen_classes(y_test, n_out)
        test = (x_test, targets_for_loss(y_test, loss, backend, n_out, "y_test"))
    x, y, val = split_validation(x, y, validation, rng, backend)
    if val is not None:
        val = (val[0], targets_for_loss(val[1], loss, backend, n_out))
    return Prepared(x, y, val, test, n_out)


def build_model(source: DataSource, ready: Prepared, backend: Backend, hidden: Sequence[int], *,
                standardize: bool, standardize_targets: bool, **layers: Any) -> MLP:  # fmt: skip
    """A new network for the prepared data (``layers``: MLP's activation, loss, dtype, seed, dropout, norm...): the
    data's class names, feature names and image shape, and the standardization of its inputs (and of a regression's
    targets) measured on the training split."""
    model = MLP((ready.x.shape[1], *hidden, ready.n_outputs), device=backend, **layers)
    model.classes, model.feature_names = source.classes, source.features
    model.image_shape, model.target_vector = source.image_shape, source.target_vector
    if standardize:
        model.set_standardization(*standardization(ready.x, source.scale))
    if not model._loss.classifies and standardize_targets:
        model.set_target_standardization(*standardization(ready.y, None))
    return model


def _refuse_unseen_classes(y_test: Any, n_out: int) -> None:
    """Test labels beyond the classes the training labels have: the output width comes from those, so say so."""
    if isinstance(y_test, np.ndarray) and y_test.ndim == 1 and y_test.size and y_test.dtype.kind in "iu":
        if int(y_test.max()) >= n_out:
            raise XPNetValueError(
                f"y_test: labels run up to {int(y_test.max())}, but the training labels hold only classes 0 to "
                f"{n_out - 1}, and the number of outputs ({n_out}) comes from them; train on data that holds every "
                "class (a larger --limit, say)"
            )


def trained_targets(model: Any, y: Any) -> Any:
    """Regression targets ``y`` (host or device) in the units the model trains in: ``(y - mean) / std`` where it
    standardizes its targets (host arrays stay on the host, in float64 until the batches cast them)."""
    stats = model.target_standardization
    if stats is None:
        return y
    if is_host_array(y):
        return (np.asarray(y, dtype=np.float64) - stats[0]) / stats[1]
    with model.backend.activate():
        return model._to_trained_units(y)


def standardization(x: Any, scale: float | None, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation (float64, on the host) of ``x * scale``; constant features get 1.

    Two passes over chunks of rows, so no float64 copy of the whole data set is made (device data are read back
    once, chunk by chunk).
    """
    n = x.shape[0]

    def rows(s: int) -> np.ndarray:
        return to_numpy(x[s : s + chunk, ...]).astype(np.float64) * (1.0 if scale is None else scale)

    mean = sum((rows(s).sum(axis=0) for s in range(0, n, chunk)), np.zeros(x.shape[1])) / n
    var = sum((((rows(s) - mean) ** 2).sum(axis=0) for s in range(0, n, chunk)), np.zeros(x.shape[1])) / n
    std = np.sqrt(var)
    return mean, np.where(std > 0, std, 1.0)


def check_data(
    x: Any, y: Any, target: Backend, loss: str, *, n_features: int | None = None, names: tuple[str, str] = ("x", "y")
) -> tuple[Any, Any]:
    """A training set before any model exists: ``x`` ``(n >= 1, d)``; ``y`` labels ``(n,)`` or targets ``(n, k)``.

    Labels (``(n,)``, required by ``"cross_entropy"``) must be non-negative integers; host ones are returned
    as int64. Targets ``(n, k)`` (``"quadratic"`` only) must be finite reals. Reads the range of device labels
    once (train reads their maximum anyway to count the classes).
    """
    integer_only = get_loss(loss).integer_targets
    x_name, y_name = names
    x = check_x(x, target, n_features, name=x_name)
    y = check_array(y_name, y, target)
    n = x.shape[0]
    if y.ndim not in (1, 2) or (integer_only and y.ndim != 1) or y.shape[0] != n:
        expected = f"({n},) labels" if integer_only else f"({n},) labels or ({n}, k) targets"
        hint = one_hot_hint(y) if integer_only and y.ndim == 2 and y.shape[0] == n else ""
        raise XPNetValueError(
            f"{y_name}: the {loss!r} loss expects {expected} to match {x_name}; received shape {tuple(y.shape)}{hint}"
        )
    if y.ndim == 2:
        if isinstance(y, np.ndarray):
            host_values(y_name, y)
        if y.shape[1] == 0:
            raise XPNetValueError(f"{y_name}: expected targets of shape ({n}, k >= 1); received shape {tuple(y.shape)}")
        return x, y
    if isinstance(y, np.ndarray):
        return x, host_labels(y_name, y, None)
    xp = target.xp
    if not xp.isdtype(y.dtype, "integral"):
        raise XPNetTypeError(f"{y_name}: expected integer class labels; received dtype {y.dtype}")
    low = int(to_numpy(xp.min(y)))
    if low < 0:
        raise XPNetValueError(f"{y_name}: labels must be >= 0; received min {low}")
    return x, y
