"""A fitted estimator in xpnet's safe file format: the model's safetensors file with the estimator's settings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..backend import dtype_name
from ..errors import DataIntegrityError, XPNetTypeError, XPNetValueError, describe
from ..io.format import MODEL_KIND, load, save
from ..io.tensors import read_tensors
from ._estimators import MLPClassifier, MLPRegressor

_CLASSES = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}
_FITTED = ("n_features_in_", "loss_curve_", "n_iter_", "best_loss_", "t_", "_seed", "_one_output")


def save_estimator(estimator: MLPClassifier | MLPRegressor, path: str | os.PathLike) -> Path:
    """Write a fitted estimator to ``path`` (safetensors, no pickle, atomic); :func:`load_estimator` reads it."""
    if type(estimator).__name__ not in _CLASSES:
        raise XPNetTypeError(
            f"estimator: expected an xpnet.sklearn MLPClassifier or MLPRegressor; received {describe(estimator)}"
        )
    check_is_fitted(estimator, "model_")
    fitted = {name: getattr(estimator, name) for name in _FITTED if hasattr(estimator, name)}
    extra: dict[str, Any] = {"estimator": type(estimator).__name__, "params": _params(estimator), "fitted": fitted}
    if hasattr(estimator, "classes_"):
        extra["classes"] = estimator.classes_.tolist()
        extra["classes_dtype"] = estimator.classes_.dtype.str
    return save(estimator.model_, path, extra=extra)


def _params(estimator: MLPClassifier | MLPRegressor) -> dict[str, Any]:
    """The estimator's parameters as JSON: a dtype object by its name, a ``RandomState`` or ``Generator`` as None
    (the weights it seeded are saved; only a later fit would draw from it); anything else must be JSON already."""
    params = {
        name: value.item() if isinstance(value, np.generic) else value for name, value in estimator.get_params().items()
    }
    params["hidden_layer_sizes"] = list(estimator._hidden())
    if params.get("dtype") is not None:
        params["dtype"] = dtype_name(params["dtype"])
    if isinstance(params.get("random_state"), (np.random.RandomState, np.random.Generator)):
        params["random_state"] = None
    for name, value in params.items():
        try:
            json.dumps(value)
        except TypeError:
            raise XPNetValueError(
                f"{name}: save_estimator writes the parameters as JSON, and {describe(value)} is not; set {name} to a "
                "number, string or None before saving"
            ) from None
    return params


def load_estimator(path: str | os.PathLike, device: str | None = None) -> MLPClassifier | MLPRegressor:
    """Read an estimator written by :func:`save_estimator`, on ``device`` (default: its ``device`` parameter).

    It predicts exactly as the saved one; further ``fit``/``partial_fit`` calls start a fresh optimizer state.
    """
    _, meta = read_tensors(path, kind=MODEL_KIND)
    extra = meta.get("extra") or {}
    if extra.get("estimator") not in _CLASSES:
        raise DataIntegrityError(f"{path}: an xpnet model, but not one saved by xpnet.sklearn.save_estimator")
    params = dict(extra["params"])
    if isinstance(params.get("hidden_layer_sizes"), list):  # JSON has no tuples
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    estimator = _CLASSES[extra["estimator"]](**params)
    estimator.model_ = load(path, device=device or estimator.device)
    for name, value in extra["fitted"].items():
        setattr(estimator, name, value)
    if "classes" in extra:
        estimator.classes_ = np.asarray(extra["classes"], dtype=np.dtype(extra["classes_dtype"]))
        estimator._class_names = [str(c) for c in estimator.classes_]
    from ..optim import make_optimizer

    estimator._optimizer = make_optimizer(
        estimator.optimizer, estimator.learning_rate_init, momentum=estimator.momentum
    )
    return estimator
