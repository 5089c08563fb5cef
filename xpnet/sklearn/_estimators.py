"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's interface over xpnet, on any device."""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets

from ..backend import is_host_array, to_numpy
from ..data.sources import as_column
from ..errors import XPNetValueError
from ..training.prepare import standardization
from ._base import XPNetMLP

_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (100,)
        Widths of the hidden layers.
    activation : {"relu", "tanh", "logistic", "identity", ...}, default "relu"
        Hidden-layer activation: scikit-learn's names, or any of xpnet's (``"sigmoid"`` for ``"logistic"``,
        ``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"softplus"``).
    optimizer : {"adam", "sgd", "momentum", "nesterov"}, default "adam"
        xpnet's update rule (scikit-learn calls it ``solver``; there is no ``"lbfgs"``).
    alpha : float, default 1e-4
        L2 penalty with scikit-learn's scaling (``alpha / (2·batch_size)·Σ‖W‖²`` beside the batch's loss), so the
        same value regularizes the same in both libraries: xpnet's ``l2`` is ``alpha / batch_size`` for the
        classifier and ``2·alpha / batch_size`` for the regressor, whose mean squared error is twice
        scikit-learn's half-mean-square ``squared_error``.
    batch_size : int or "auto", default "auto"
        Samples per step; ``"auto"`` is ``min(200, n_samples)``.
    learning_rate_init : float, default 1e-3
        The (constant) learning rate.
    momentum : float, default 0.9
        For ``optimizer="momentum"`` and ``"nesterov"``.
    max_iter : int, default 200
        Epochs (passes over the training data).
    shuffle : bool, default True
        Draw a new sample order every epoch.
    random_state : int, RandomState or None
        Seeds the initial weights, the batch order and the validation split.
    tol, n_iter_no_change : float, int
        Stop when the training loss (or, with ``early_stopping``, the validation score) has not improved by ``tol``
        for ``n_iter_no_change`` consecutive epochs.
    verbose : bool
        Print one line per epoch.
    warm_start : bool
        ``fit`` continues from the previous fit's weights with a new optimizer built from the current
        ``optimizer``/``learning_rate_init``/``momentum``, as scikit-learn does (and starts afresh when the layers
        asked for, ``hidden_layer_sizes``, ``activation``, ``dropout`` or ``norm``, changed since);
        ``partial_fit`` keeps the optimizer's state between calls.
    early_stopping : bool
        Hold out ``validation_fraction`` of the training data, stop on its score, keep the best weights.
    validation_fraction : float, default 0.1
    device : str, default "auto"
        An xpnet device spec (``"cpu"``, ``"cuda:0"``, ``"torch:cpu"``, ``"strict:device1"``, ...); ``"auto"``
        follows Array API inputs (with ``sklearn.set_config(array_api_dispatch=True)``), else a GPU if usable.
    dtype : {"float32", "float64"}, a dtype, or None
        None follows ``X`` (float32 stays float32, anything else is float64).
    dropout : float, default 0.0
        Inverted-dropout rate after every hidden layer (training only).
    norm : {None, "batch", "layer"}
        Batch or layer normalization in every hidden layer.
    clip_norm : float or None
        Clip the gradients' global norm.
    precision : {"highest", "tf32", "bf16"}, default "highest"
        The matrix products of training (see :func:`xpnet.train`): TensorFloat-32 on CUDA GPUs (CuPy, PyTorch,
        JAX), bfloat16 with float32 weights on PyTorch and JAX.
    compile : bool, default True
        Each training step as one program where the backend has one (JAX's jit, CUDA graphs on CuPy and PyTorch).
    standardize_targets : bool, default True
        The regressor trains on targets standardized per output (kept with the model and undone in ``predict``),
        so that targets of any scale train at the default learning rate; ignored by the classifier.

    Attributes
    ----------
    model_ : xpnet.MLP
        The trained network, on its device.
    loss_curve_ : list of float
        Training loss per epoch on scikit-learn's scale (the data loss, without the L2 term; for the regressor half
        the mean squared error, as scikit-learn's ``squared_error``, in standardized units with
        ``standardize_targets``).
    n_iter_ : int
        Epochs run by the last ``fit`` (``partial_fit`` calls add up).
    best_loss_, validation_scores_, best_validation_score_, t_, n_features_in_
        As in scikit-learn (``validation_scores_`` only with ``early_stopping``).
"""


class MLPClassifier(ClassifierMixin, XPNetMLP):
    __doc__ = (
        "A multilayer perceptron classifier trained by xpnet (softmax cross-entropy) on any device.\n"
        + _DOC
        + """\
    classes_ : ndarray
        The class labels, of any type (strings too), sorted.
"""
    )

    _loss = "cross_entropy"

    def _targets(self, y: Any, first: bool) -> np.ndarray:
        host = to_numpy(y) if not is_host_array(y) else np.asarray(y)
        check_classification_targets(host)
        if first and not getattr(self, "_classes_given", False):
            self.classes_ = np.unique(host)
        self._classes_given = False
        unseen = np.setdiff1d(host, self.classes_)
        if unseen.size:
            raise XPNetValueError(
                f"y: labels {unseen.tolist()[:5]} are not among the classes {self.classes_.tolist()[:20]}"
            )
        self._class_names = [str(c) for c in self.classes_]
        return np.searchsorted(self.classes_, host).astype(np.int64)

    def _n_outputs(self, targets: Any) -> int:
        return len(self.classes_)

    def _validation_score(self, record: dict[str, Any]) -> float:
        return float(record["val_accuracy"])

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``, continuing from the current weights; ``classes`` (every label there will
        ever be) is required on the first call."""
        if hasattr(self, "model_") and classes is not None:
            given = np.unique(np.asarray(classes))
            if given.shape != self.classes_.shape or np.any(given != self.classes_):
                raise XPNetValueError(
                    f"classes: {given.tolist()[:20]} differ from the classes the estimator was fitted with, "
                    f"{self.classes_.tolist()[:20]}; pass the same classes (or none) on later calls"
                )
        if not hasattr(self, "model_"):
            if classes is None:
                raise XPNetValueError(
                    "classes: the first call to partial_fit needs every class label, e.g. np.unique(y)"
                )
            self.classes_, self._classes_given = np.unique(np.asarray(classes)), True
            try:
                return self._fit(X, y, incremental=True, epochs=1)
            except BaseException:  # a first call that failed leaves no classes behind for the next fit
                del self.classes_
                self._classes_given = False
                raise
        return self._fit(X, y, incremental=True, epochs=1)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities ``(n_samples, n_classes)`` in the order of ``classes_``."""
        proba = self._outputs(X, "predict_proba", proba=True)
        return self._host_or_device(X, proba)

    def predict(self, X: Any) -> Any:
        """The most probable class of each sample, as labels from ``classes_``."""
        z = self._outputs(X, "predict")
        with self._device_scope(z):
            index = array_namespace(z).argmax(z, axis=1)
            on_device = self._host_or_device(X, index)
            if on_device is not index or self.classes_.dtype.kind not in "biuf":  # host data, or names
                return self.classes_[to_numpy(index)]
            xp = array_namespace(z)
            return xp.take(xp.asarray(self.classes_, device=z.device), index)


class MLPRegressor(RegressorMixin, XPNetMLP):
    __doc__ = "A multilayer perceptron regressor trained by xpnet (identity output, mean squared error).\n" + _DOC

    _loss = "mse"
    _loss_scale = 0.5

    def _y_checks(self) -> dict[str, Any]:
        return {"multi_output": True, "y_numeric": True}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _targets(self, y: Any, first: bool) -> Any:
        if first:
            self._one_output = y.ndim == 1
        elif (y.ndim == 1) != self._one_output:
            raise XPNetValueError(f"y: expected the shape of the first fit's targets; received shape {tuple(y.shape)}")
        return as_column(
            to_numpy(y)
        )  # targets are small; xpnet.train moves them to X's device (they may come from another)

    def _n_outputs(self, targets: Any) -> int:
        return int(targets.shape[1])

    def _validation_score(self, record: dict[str, Any]) -> float:
        return float(record["val_r2"])  # scikit-learn's score for regressors, from the validation split

    def _new_model(self, model: Any, targets: Any) -> None:
        model.target_vector = self._one_output  # model_.predict gives (n,) too, as the estimator's does
        if self.standardize_targets:
            model.set_target_standardization(*standardization(targets, None))

    def _target_scale(self, model: Any) -> float:
        # On standardized targets xpnet's data loss is scikit-learn's over the targets' variance (the mean variance
        # of the outputs: exact for one output); the loss curve, tol and alpha are scaled back by it.
        stats = model.target_standardization
        return 1.0 if stats is None else float(np.mean(stats[1] ** 2))

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over ``(X, y)``, continuing from the current weights."""
        return self._fit(X, y, incremental=True, epochs=1)

    def predict(self, X: Any) -> Any:
        """Predicted targets: ``(n_samples,)`` when ``fit`` had one target per sample, else ``(n_samples, k)``."""
        out = self._outputs(X, "predict")
        if self._one_output:
            out = array_namespace(out).reshape(out, (-1,))
        return self._host_or_device(X, out)
