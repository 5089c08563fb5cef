"""What xpnet's classifier and regressor share: parameters, fitting through :func:`xpnet.train`, stopping rules,
pickling and saving."""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from typing import Any

import numpy as np
import sklearn
from array_api_compat import is_array_api_obj
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..backend import as_parameter, backend_of, is_host_array, to_numpy
from ..errors import XPNetValueError
from ..nn.architecture import check_architecture
from ..nn.network import MLP
from ..optim import Optimizer, make_optimizer
from ..training.train import train
from ._params import ParameterChecks
from ._stopping import _Stopper

_NO_Y = "no y"  # _validate without targets (predicting); fit passes y, None included, to be checked


def _dispatching() -> bool:
    """scikit-learn's ``array_api_dispatch`` is on: Array API inputs stay in their namespace and on their device."""
    return bool(sklearn.get_config().get("array_api_dispatch", False))


class XPNetMLP(ParameterChecks, BaseEstimator):
    """Base of :class:`~xpnet.sklearn.MLPClassifier` and :class:`~xpnet.sklearn.MLPRegressor`."""

    _loss = "cross_entropy"
    _loss_scale = 1.0  # scikit-learn's data loss / xpnet's (its squared error is half the mean square)
    model_: MLP

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        optimizer: str = "adam",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate_init: float = 1e-3,
        momentum: float = 0.9,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        device: str = "auto",
        dtype: str | None = None,
        dropout: float = 0.0,
        norm: str | None = None,
        clip_norm: float | None = None,
        precision: str = "highest",
        compile: bool = True,
        standardize_targets: bool = True,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.dtype = dtype
        self.dropout = dropout
        self.norm = norm
        self.clip_norm = clip_norm
        self.precision = precision
        self.compile = compile
        self.standardize_targets = standardize_targets

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.array_api_support = True  # NumPy, CuPy, PyTorch, array-api-strict inputs stay on their device
        return tags

    # ------------------------------------------------------------------ fitting
    def _validate(self, X: Any, y: Any = "no y", *, reset: bool) -> Any:
        """scikit-learn's input checks (NaN, shapes, ``n_features_in_``); Array API inputs stay on their device."""
        dtypes: list[Any] = [np.float64, np.float32]
        if _dispatching() and is_array_api_obj(X) and not is_host_array(X):  # a device array: its own floats
            backend = backend_of(X)
            dtypes = [d for d in (backend.xp.float64, backend.xp.float32) if backend.supports_dtype(d)]
        if y is _NO_Y:
            return validate_data(self, X, reset=reset, dtype=dtypes)
        return validate_data(self, X, y, reset=reset, dtype=dtypes, **self._y_checks())

    def _y_checks(self) -> dict[str, Any]:
        return {}

    def _targets(self, y: Any, first: bool) -> Any:
        raise NotImplementedError

    def _new_model(self, model: MLP, targets: Any) -> None:
        """A first fit's model: a regressor standardizes its targets (``standardize_targets``)."""

    def _target_scale(self, model: MLP) -> float:
        """How much smaller xpnet's data loss is than scikit-learn's beyond ``_loss_scale`` (a regressor on
        standardized targets: their variance)."""
        return 1.0

    @staticmethod
    def _device_scope(X: Any) -> Any:
        """The device of an Array API input made current (CuPy allocates on the current GPU: ``cuda:N``)."""
        return backend_of(X).activate() if is_array_api_obj(X) and not is_host_array(X) else contextlib.nullcontext()

    def _fit(self, X: Any, y: Any, *, incremental: bool, epochs: int) -> XPNetMLP:
        """Train ``epochs`` passes (one for ``partial_fit``), from scratch or from the current weights."""
        with self._device_scope(X):
            return self._fit_here(X, y, incremental=incremental, epochs=epochs)

    def _fit_here(self, X: Any, y: Any, *, incremental: bool, epochs: int) -> XPNetMLP:
        self._check_counts()
        hidden, activation = self._hidden(), self._activation()
        keep = incremental or self.warm_start
        first = not (keep and hasattr(self, "model_") and self._same_architecture(hidden, activation, incremental))
        X, y = self._validate(X, y, reset=first)
        targets = self._targets(y, first)
        n = X.shape[0]
        batch = self._batch(n)
        if first:
            self._seed = int(check_random_state(self.random_state).randint(2**31))
            self.loss_curve_: list[float] = []
            self.t_ = 0
            self._optimizer: Optimizer = make_optimizer(self.optimizer, self.learning_rate_init, momentum=self.momentum)
            follow = not is_host_array(X) and self.device in (None, "auto")  # Array API input: its device
            sizes = (X.shape[1], *hidden, self._n_outputs(targets))
            model = MLP(sizes, activation=activation, loss=self._loss, dropout=self.dropout, norm=self.norm,
                        device=backend_of(X) if follow else self.device, dtype=self._float_dtype(X), seed=self._seed,
                        init="sklearn")  # scikit-learn's start: with He's, friedman1's R² was 0.78-0.82, not 0.86-0.88  # fmt: skip
            self._new_model(model, targets)
        else:
            model = self.model_
            self._seed += 1  # a new batch order for every later call, still reproducible
            if not incremental:  # a warm fit, as scikit-learn's: the weights stay, the update rule is built anew
                self._optimizer = make_optimizer(self.optimizer, self.learning_rate_init, momentum=self.momentum)
        early = self.early_stopping and not incremental
        best = math.inf if first else getattr(self, "best_loss_", math.inf)  # warm starts keep improving on it
        scale = self._loss_scale * self._target_scale(model)  # scikit-learn's data loss / xpnet's
        stopper = _Stopper(self.tol, self.n_iter_no_change, self._validation_score if early else None, best, scale)
        # scikit-learn's objective is loss + alpha/(2·batch)·Σ‖W‖²; xpnet's loss is 1/scale times its loss, so the
        # whole objective is scaled by 1/scale: l2 = alpha / (batch · scale) weighs the penalty as scikit-learn does;
        # the loss curve and tol are on scikit-learn's scale (the targets' units), so tol stops where it would stop
        result = train(
            (X, targets), model=model, epochs=epochs, batch_size=batch, optimizer=self._optimizer,
            l2=self.alpha / (batch * scale),
            lr_schedule="constant", validation=self.validation_fraction if early else None, seed=self._seed,
            shuffle=self.shuffle, progress=False, verbose=1 if self.verbose else 0,
            callbacks=[] if incremental else [stopper], distributed=False, clip_norm=self.clip_norm,
            precision=self.precision, compile=self.compile,
        )  # fmt: skip
        self.model_ = result.model
        self.model_.classes = getattr(self, "_class_names", None)
        history = [scale * loss for loss in result.history["train_loss"]]  # on scikit-learn's scale
        self.loss_curve_ += history
        self.n_iter_ = len(history) if not incremental else getattr(self, "n_iter_", 0) + len(history)
        self.t_ += n * len(history)
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else math.inf
        if early:
            self.validation_scores_, self.best_validation_score_ = stopper.scores, stopper.best_score
        if not incremental and not result.stopped_early and len(history) == self.max_iter:
            warnings.warn(
                f"{type(self).__name__}: the optimizer did not converge in max_iter={self.max_iter} iterations",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _same_architecture(self, hidden: tuple[int, ...], activation: str, incremental: bool) -> bool:
        """Whether the fitted model has the layers the parameters ask for now: a ``warm_start`` fit after they
        changed starts afresh (as a cold fit would); ``partial_fit`` cannot, and says so."""
        arch = self.model_.arch
        wanted = check_architecture(len(hidden), activation, self.dropout, self.norm, arch.norm_momentum, arch.norm_eps)
        now = {"hidden_layer_sizes": hidden, "activation": activation, "norm": wanted.norm, "dropout": wanted.dropout}
        fitted = {"hidden_layer_sizes": tuple(self.model_.sizes[1:-1]), "activation": arch.activation,
                  "norm": arch.norm, "dropout": tuple(arch.dropout)}  # fmt: skip
        changed = [name for name in now if now[name] != fitted[name]]
        if changed and incremental:
            name = changed[0]
            raise XPNetValueError(
                f"{name}: partial_fit continues the fitted network, whose {name} is {fitted[name]!r}; received "
                f"{now[name]!r}. Set it back, or call fit to start afresh"
            )
        return not changed

    def _validation_score(self, record: dict[str, Any]) -> float:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> XPNetMLP:
        """Train on ``X`` ``(n_samples, n_features)`` and ``y`` for up to ``max_iter`` epochs (from the current
        weights with ``warm_start=True``)."""
        return self._fit(X, y, incremental=False, epochs=self.max_iter)

    # ---------------------------------------------------------------- predicting
    def _n_outputs(self, targets: Any) -> int:
        raise NotImplementedError

    def _outputs(self, X: Any, method: str, proba: bool = False) -> Any:
        """The model's outputs (or class probabilities) for ``X`` on the model's device (Array API inputs must
        live there)."""
        check_is_fitted(self, "model_")
        with self._device_scope(X):
            X = self._validate(X, reset=False)
        where, fitted = ("cpu" if is_host_array(X) else backend_of(X).spec), self.model_.backend.spec
        if _dispatching() and where != fitted:  # as scikit-learn's own estimators: one namespace and device
            raise XPNetValueError(
                f"X: inputs passed to {type(self).__name__}.{method}() must use the same namespace and device as in "
                f"fit (array_api_dispatch is on): X is on {where!r}, the model was fitted on {fitted!r}"
            )
        return self.model_.predict_proba(X) if proba else self.model_(X)

    def _host_or_device(self, X: Any, values: Any) -> Any:
        """Predictions back in the caller's world: the device's arrays with ``array_api_dispatch`` and device
        inputs, NumPy otherwise."""
        return values if _dispatching() and not is_host_array(X) else to_numpy(values)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if "model_" in state:
            model: MLP = state.pop("model_")
            state["_model_state"] = model.__getstate__()
            opt: Optimizer = state.pop("_optimizer")
            bare = copy.copy(opt)
            bare.state = {}
            state["_optimizer_state"] = (bare, {k: [to_numpy(b) for b in v] for k, v in opt.state.items()})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        model_state = state.pop("_model_state", None)
        optimizer_state = state.pop("_optimizer_state", None)
        self.__dict__.update(state)
        if model_state is not None:
            model = MLP.__new__(MLP)
            model.__setstate__(model_state)
            self.model_ = model
            opt, buffers = optimizer_state
            opt.state = {k: [as_parameter(b, model.backend) for b in v] for k, v in buffers.items()}  # as params
            self._optimizer = opt
