"""The multilayer perceptron: forward pass and hand-written backprop, written once for every backend."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np
from array_api_compat import array_namespace

from ..backend import Backend, axpy, backend_of, dtype_name, float_dtype, matmul_into, resolve, to_numpy
from ..errors import DeviceMismatchError, XPNetTypeError, XPNetValueError, describe
from ..validation import check_float, check_inputs, check_sizes, check_targets, check_x, check_y
from .activations import get_activation
from .init import Seed, generators, init_params
from .losses import get_loss

Array = Any
F = TypeVar("F", bound=Callable[..., Any])


def on_device(method: F) -> F:
    """Run a method with the model's device current (see :meth:`xpnet.backend.Backend.activate`)."""

    @functools.wraps(method)
    def wrapper(self: MLP, *args: Any, **kwargs: Any) -> Any:
        with self.backend.activate():
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


class MLP:
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]`` with hand-written backprop.

    Layer ``l`` computes ``z = a @ W + b`` with ``W`` of shape ``(fan_in, fan_out)`` and a 1-D ``b``;
    hidden layers apply ``activation``; the output layer is fused with ``loss`` (logits for
    ``"cross_entropy"``, sigmoid units for ``"quadratic"``).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first, e.g. ``(784, 100, 10)``.
    activation : {"relu", "sigmoid", "tanh", "identity"}
        Hidden-layer activation.
    loss : {"cross_entropy", "quadratic"}
        ``cross_entropy``: softmax cross-entropy on integer labels ``(n,)``; ``quadratic``: mean over the
        batch of ``½‖a − y‖²`` on sigmoid outputs and real targets ``(n, k)``.
    device : str
        Device spec (``"auto"``, ``"cpu"``, ``"cuda:0"``, ``"torch:cpu"``, ``"strict:device1"``, ...).
    dtype : {"float32", "float64"}
        Floating dtype of parameters and computation.
    seed : int, numpy SeedSequence or Generator, optional
        Seeds the host generator of the initial weights; the same seed gives identical weights on every backend.

    Attributes
    ----------
    params : list of arrays
        ``[W1, b1, W2, b2, ...]`` on the model's device.
    classes : list of str or None
        Names of the output classes when the model was trained on named labels (``predict`` returns indices
        into it); saved with the model.
    feature_names : list of str or None
        Names of the input columns (a DataFrame's or a CSV header's); saved with the model.
    """

    classes: list[str] | None = None
    feature_names: list[str] | None = None
    _standardize: tuple[Array, Array] | None = None  # (mean, 1 / std) on the device, applied to every input
    _standardize_host: tuple[np.ndarray, np.ndarray] | None = None  # (mean, std) as given, float64

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: str = "relu",
        loss: str = "cross_entropy",
        device: str | Backend | None = "auto",
        dtype: Any = "float32",
        seed: Seed = None,
    ) -> None:
        sizes = check_sizes(sizes)
        self._configure(activation, loss, resolve(device))
        self._dtype = float_dtype(self.backend, dtype)
        host = init_params(sizes, activation, generators(seed, 1)[0], dtype_name(self._dtype))
        self.params: list[Array] = [self.backend.asarray(p) for p in host]

    def _configure(self, activation: str, loss: str, backend: Backend) -> None:
        self.activation = activation
        self._act, self._act_derivative = get_activation(activation)
        self.loss = loss
        self._loss = get_loss(loss)
        self.backend = backend

    @classmethod
    def from_params(cls, params: Sequence[Array], *, activation: str = "relu", loss: str = "cross_entropy") -> MLP:
        """Build a network around existing ``[W1, b1, ...]`` arrays; the device follows the arrays.

        The arrays are copied, so training the network never modifies the caller's arrays.
        """
        if isinstance(params, (str, bytes)) or not isinstance(params, Sequence) or len(params) < 2 or len(params) % 2:
            raise XPNetValueError(
                f"params: expected a list [W1, b1, W2, b2, ...] of even length >= 2; received {describe(params)}"
            )
        backend = backend_of(params[0])
        for i, p in enumerate(params):
            if backend_of(p).spec != backend.spec:
                raise DeviceMismatchError(
                    f"params[{i}] lives on {backend_of(p).spec!r} but params[0] on {backend.spec!r}"
                )
            if p.dtype != params[0].dtype:
                raise XPNetTypeError(
                    f"params[{i}] has dtype {p.dtype}, params[0] has {params[0].dtype}; cast them to one dtype"
                )
        for i in range(0, len(params), 2):
            W, b = params[i], params[i + 1]
            fan_in = params[i - 2].shape[1] if i else W.shape[0]
            if W.ndim != 2 or W.shape[0] != fan_in or b.ndim != 1 or b.shape[0] != W.shape[1]:
                raise XPNetValueError(
                    f"params[{i}], params[{i + 1}]: expected W of shape ({fan_in}, m) and b of shape (m,); "
                    f"received {tuple(W.shape)} and {tuple(b.shape)}"
                )
        net = cls.__new__(cls)
        net._configure(activation, loss, backend)
        net._dtype = float_dtype(backend, params[0].dtype)
        with backend.activate():
            net.params = [backend.xp.asarray(p, copy=True) for p in params]
        return net

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
    def sizes(self) -> tuple[int, ...]:
        """Layer widths, input first."""
        return (self.params[0].shape[0], *(W.shape[1] for W in self.params[::2]))

    @property
    def device(self) -> Any:
        """The native device object the parameters live on (as ``array.device`` reports it)."""
        return self.backend.device

    @property
    def dtype(self) -> Any:
        """The namespace dtype of the parameters."""
        return self._dtype

    @property
    def xp(self) -> Any:
        """The Array API namespace of the parameters."""
        return array_namespace(self.params[0])

    def __getstate__(self) -> dict[str, Any]:
        """Pickling (scikit-learn estimators, joblib): host copies of the parameters and the device's spec.

        xpnet's own files never hold pickles (:func:`xpnet.save`); this is for estimators in memory or in a cache.
        """
        return {"spec": self.backend.spec, "dtype": dtype_name(self._dtype), "activation": self.activation,
                "loss": self.loss, "params": [to_numpy(p) for p in self.params], "classes": self.classes,
                "feature_names": self.feature_names, "standardization": self.standardization}  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._configure(state["activation"], state["loss"], resolve(state["spec"]))
        self._dtype = float_dtype(self.backend, state["dtype"])
        with self.backend.activate():
            self.params = [self.backend.asarray(p) for p in state["params"]]
        self.classes, self.feature_names = state["classes"], state["feature_names"]
        self.set_standardization(*(state["standardization"] or (None,)))

    def __repr__(self) -> str:
        return (
            f"MLP(sizes={self.sizes}, activation={self.activation!r}, loss={self.loss!r}, "
            f"device={self.backend.spec!r}, dtype={dtype_name(self._dtype)!r})"
        )

    # ----------------------------------------------------------------- forward
    def _forward(self, x: Array) -> tuple[list[Array], list[Array]]:
        """Pre-activations ``zs`` and activations ``activations`` (``activations[0] = x``) of every layer."""
        if self._standardize is not None:
            mean, inverse = self._standardize
            x = (x - mean) * inverse  # (n, d)
        activations, zs = [x], []
        n_layers = len(self.params) // 2
        for layer in range(n_layers):
            W, b = self.params[2 * layer], self.params[2 * layer + 1]
            z = activations[-1] @ W  # (n, fan_out)
            z += b  # in place: no second (n, fan_out) array
            zs.append(z)
            if layer < n_layers - 1:
                activations.append(self._act(z))
        return zs, activations

    def _inputs(self, x: Array) -> Array:
        return check_inputs(x, self.backend, self._dtype, self.sizes[0])

    def _check_data(self, x: Array, y: Array) -> tuple[Array, Array]:
        """A data set checked against this model; host data stay on the host, uncast (see :mod:`xpnet.data`)."""
        x = check_x(x, self.backend, self.sizes[0])
        return x, check_y(y, self.backend, x.shape[0], self.sizes[-1], self._loss.integer_targets)

    @on_device
    def __call__(self, x: Array) -> Array:
        """Network output ``(n, k)``: logits for cross-entropy, sigmoid activations for the quadratic cost."""
        zs, _ = self._forward(self._inputs(x))
        return self._loss.output(zs[-1])

    @on_device
    def predict_proba(self, x: Array) -> Array:
        """Class probabilities ``(n, k)`` (rows sum to 1) on the model's device."""
        zs, _ = self._forward(self._inputs(x))
        return self._loss.proba(zs[-1])

    @on_device
    def predict(self, x: Array) -> Array:
        """Predicted class indices ``(n,)`` on the model's device."""
        zs, _ = self._forward(self._inputs(x))
        return self.xp.argmax(zs[-1], axis=1)

    # ---------------------------------------------------------------- backward
    @on_device
    def loss_and_grads(self, x: Array, y: Array, *, l2: float = 0.0) -> tuple[Array, list[Array]]:
        """Loss on ``(x, y)`` and its gradient with respect to every parameter, by backprop.

        Parameters
        ----------
        x : array, shape (n, sizes[0])
        y : array, shape (n,) integer labels (cross_entropy) or (n, sizes[-1]) targets (quadratic)
        l2 : float
            Adds ``½·l2·Σ‖W‖²`` over the weights (not the biases) to the loss and ``l2·W`` to their gradients;
            it does not scale with the batch size.

        Returns
        -------
        loss : 0-d array on the model's device
        grads : list of arrays in the order of ``params``
        """
        l2 = check_float("l2", l2)
        x = self._inputs(x)
        y = check_targets(y, self.backend, x.shape[0], self.sizes[-1], self._loss.integer_targets, self._dtype)
        loss, grads, _ = self._backprop(x, y, l2)
        if l2:
            loss = loss + (0.5 * l2) * sum(self.xp.sum(W * W) for W in self.params[::2])
        return loss, grads

    def _loss_and_output(self, x: Array, y: Array) -> tuple[Array, Array]:
        """Forward pass only: the data loss and the last layer's pre-activation ``z`` (for evaluation)."""
        zs, _ = self._forward(x)
        loss, _ = self._loss.value_and_delta(zs[-1], y)
        return loss, zs[-1]

    def _backprop(
        self, x: Array, y: Array, l2: float, into: list[tuple[Array, float]] | None = None
    ) -> tuple[Array, list[Array], Array]:
        """Unchecked backprop on arrays already on the device (the training loop's hot path).

        Returns the data loss (without the L2 term), the gradients (with the L2 term) and the
        last layer's pre-activation ``z`` ``(n, k)``, from which callers count correct predictions.
        With ``into`` (one ``(buffer, beta)`` per parameter, see :meth:`xpnet.optim.Optimizer.gradient_sinks`)
        each gradient is accumulated as ``buffer = beta·buffer + gradient`` instead, fused into the matrix
        product, and the buffers are returned in place of the gradients.
        """
        xp = array_namespace(x)
        zs, activations = self._forward(x)
        loss, delta = self._loss.value_and_delta(zs[-1], y)  # delta = dloss/dz_L, (n, k)
        grads: list[Array] = [None] * len(self.params)
        for layer in range(len(zs) - 1, -1, -1):
            W = self.params[2 * layer]
            if into is None:
                grads[2 * layer] = activations[layer].T @ delta  # (fan_in, fan_out)
                grads[2 * layer + 1] = xp.sum(delta, axis=0)  # (fan_out,)
            else:
                (gW, beta_W), (gb, beta_b) = into[2 * layer], into[2 * layer + 1]
                grads[2 * layer] = matmul_into(activations[layer].T, delta, gW, beta_W)  # beta·gW + a.T @ delta
                gb *= beta_b
                gb += xp.sum(delta, axis=0)
                grads[2 * layer + 1] = gb
            if l2:
                grads[2 * layer] = axpy(l2, W, grads[2 * layer])  # += l2·W, in place
            if layer:
                delta = delta @ W.T  # (n, fan_in), a fresh array: scaled in place
                delta *= self._act_derivative(zs[layer - 1], activations[layer])
        return loss, grads, zs[-1]


def check_model(model: Any, name: str = "model") -> MLP:
    """``model`` if it is an :class:`MLP`, else an error that names the argument."""
    if not isinstance(model, MLP):
        raise XPNetTypeError(f"{name}: expected an xpnet.MLP; received {describe(model)}")
    return model
