"""The multilayer perceptron: layers composed into a network, with hand-written backprop, written once for
every backend. Its state (parameters, buffers, settings) travels through :mod:`xpnet.nn.state`."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..backend import Backend, as_parameter, backend_of, dtype_name, float_dtype, resolve
from ..errors import DeviceMismatchError, ModelTooLargeError, XPNetTypeError, XPNetValueError, describe
from ..tabular import model_inputs, model_labels
from ..validation import check_inputs, check_sizes, check_x, check_y
from .architecture import Architecture, build_layers, check_architecture
from .backprop import BackpropMixin, on_device
from .forward import forward
from .init import INITS, Seed, generators
from .layers import EVALUATION, Context, Dense
from .losses import get_loss
from .programs import program
from .scaling import ScalingMixin
from .state import StateMixin

Array = Any


class MLP(BackpropMixin, StateMixin, ScalingMixin):
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]`` with hand-written backprop.

    Each hidden layer is ``Dense -> [norm] -> activation -> [dropout]`` (see :mod:`xpnet.nn.layers`); the output
    layer is a ``Dense`` fused with ``loss``. ``Dense`` computes ``x @ W + b`` with ``W`` of shape
    ``(fan_in, fan_out)`` and a 1-D ``b``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first, e.g. ``(784, 100, 10)``.
    activation : {"relu", "leaky_relu", "elu", "gelu", "softplus", "sigmoid", "tanh", "identity"}
        Hidden-layer activation.
    loss : {"cross_entropy", "quadratic", "binary_cross_entropy", "mse"}
        ``cross_entropy``: softmax cross-entropy on integer labels ``(n,)``; ``quadratic``: mean over the batch of
        ``½‖a − y‖²`` on sigmoid outputs; ``binary_cross_entropy``: on sigmoid outputs; ``mse``: regression on
        identity outputs. The last three take targets ``(n, k)``.
    dropout : float or sequence of float
        Inverted-dropout rate of every hidden layer, or one per hidden layer (0 disables).
    norm : {None, "batch", "layer"}
        Batch or layer normalization between each hidden ``Dense`` and its activation.
    norm_momentum, norm_eps : float
        Batch norm's running-statistics momentum (PyTorch's convention) and both norms' epsilon.
    device : str
        Device spec (``"auto"``, ``"cpu"``, ``"cuda:0"``, ``"torch:cpu"``, ``"strict:device1"``, ...).
    dtype : {"float32", "float64"}
        Floating dtype of parameters and computation.
    seed : int, numpy SeedSequence or Generator, optional
        Seeds the host generator of the initial weights; the same seed gives identical weights on every backend.
    init : {"default", "sklearn"}
        The initial weights: He normal for rectifier units and Glorot uniform otherwise, zero biases; or
        scikit-learn's (uniform weights and biases within ``±sqrt(6 / (fan_in + fan_out))``, ``±sqrt(2 / (fan_in +
        fan_out))`` in sigmoid networks), with which the :mod:`xpnet.sklearn` estimators start.

    Attributes
    ----------
    params : list of arrays
        Every parameter on the model's device, named by :attr:`param_names` (``W1, b1, [gamma1, beta1,] W2, ...``).
        A weight matrix ``W`` is ``(fan_in, fan_out)`` and stored column-major (the transpose of a C-contiguous
        ``(fan_out, fan_in)`` array, PyTorch's ``nn.Linear`` layout; see :mod:`xpnet.backend.layout`): index it, or
        write into it with ``W[...] = ...``; ``reshape`` gives a copy.
    buffers : list of arrays
        Non-trained state (batch norm's running statistics), named by :attr:`buffer_names`.
    classes, feature_names : list of str or None
        Names of the output classes and input columns when the training data had them; saved with the model.
    image_shape : tuple of int or None
        ``(height, width, channels)`` of the images the model was trained on (an image folder or a named image
        data set), so ``xpnet predict`` can bring new images to that size and colour; saved with the model.
    """

    classes: list[str] | None = None
    feature_names: list[str] | None = None
    image_shape: tuple[int, int, int] | None = None
    target_vector: bool = False  # a regression model trained on (n,) targets: predict returns (n,)

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: str = "relu",
        loss: str = "cross_entropy",
        dropout: float | Sequence[float] = 0.0,
        norm: str | None = None,
        norm_momentum: float = 0.1,
        norm_eps: float = 1e-5,
        device: str | Backend | None = "auto",
        dtype: Any = "float32",
        seed: Seed = None,
        init: str = "default",
    ) -> None:
        sizes = check_sizes(sizes)
        arch = check_architecture(len(sizes) - 2, activation, dropout, norm, norm_momentum, norm_eps)
        if init not in INITS:
            raise XPNetValueError(f"init: expected one of {list(INITS)}; received {describe(init)}")
        backend = resolve(device)
        self._build(sizes, arch, loss, backend, float_dtype(backend, dtype), init)
        rng, host_params, host_buffers = generators(seed, 1)[0], [], []
        try:
            for layer in self.layers:
                made = layer.create(rng, dtype_name(self._dtype))
                host_params += made[0]
                host_buffers += made[1]
            with backend.activate():
                self.params: list[Array] = [as_parameter(p, backend) for p in host_params]
                self.buffers: list[Array] = [backend.asarray(b) for b in host_buffers]
        except MemoryError as exc:
            count = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
            size = count * np.dtype(dtype_name(self._dtype)).itemsize / 2**30
            raise ModelTooLargeError(
                f"sizes: a network of widths {sizes} holds about {count:,} parameters ({size:.3g} GiB as "
                f"{dtype_name(self._dtype)}), more than {backend.spec!r} could allocate ({exc})"
            ) from None

    def _build(
        self, sizes: Sequence[int], arch: Architecture, loss: str, backend: Backend, dtype: Any, init: str = "default"
    ) -> None:
        """Everything but the arrays: layers, names, slots, loss and device."""
        self._loss, self.loss, self.backend, self._dtype = get_loss(loss), loss, backend, dtype
        self.arch, self._sizes = arch, tuple(sizes)
        self.layers, params, buffers = build_layers(sizes, arch, init)
        self.param_names = [name for names in params for name in names]
        self.buffer_names = [name for names in buffers for name in names]
        self._param_slots = _slots(params)
        self._buffer_slots = _slots(buffers)
        self._weights = [slots[0] for layer, slots in zip(self.layers, self._param_slots) if isinstance(layer, Dense)]
        self._standardize: tuple[Array, Array] | None = None
        self._standardize_host: tuple[np.ndarray, np.ndarray] | None = None
        self._targets: tuple[Array, Array] | None = None  # (mean, std) the regression targets were trained as
        self._targets_host: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_params(cls, params: Sequence[Array], *, activation: str = "relu", loss: str = "cross_entropy") -> MLP:
        """Build a network of ``Dense`` layers around existing ``[W1, b1, ...]`` arrays; the device follows them.

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
        sizes = (params[0].shape[0], *(W.shape[1] for W in params[::2]))
        net = cls.__new__(cls)
        arch = check_architecture(len(sizes) - 2, activation, 0.0, None, 0.1, 1e-5)
        net._build(sizes, arch, loss, backend, float_dtype(backend, params[0].dtype))
        with backend.activate():
            net.params, net.buffers = [as_parameter(p, backend) for p in params], []
        return net

    # ---------------------------------------------------------------- properties
    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths, input first."""
        return self._sizes

    @property
    def activation(self) -> str:
        """The hidden layers' activation (its name)."""
        return self.arch.activation

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

    def __repr__(self) -> str:
        dropout = self.arch.dropout if any(self.arch.dropout) else None
        extra = "".join(
            f", {key}={value!r}" for key, value in (("dropout", dropout), ("norm", self.arch.norm)) if value
        )
        return (
            f"MLP(sizes={self.sizes}, activation={self.activation!r}, loss={self.loss!r}{extra}, "
            f"device={self.backend.spec!r}, dtype={dtype_name(self._dtype)!r})"
        )

    # ----------------------------------------------------------------- forward
    def _forward(self, x: Array, ctx: Context, keep: bool = False) -> tuple[Array, list[Any]]:
        """The last layer's output ``z`` ``(n, k)`` (before the loss's output function) and, with ``keep``, every
        layer's cache for backprop. A training pass stores the layers' updated buffers."""
        if self._standardize is not None:
            mean, inverse = self._standardize
            x = (x - mean) * inverse  # (n, d)
        return forward(self, x, ctx, keep)

    def _inputs(self, x: Array) -> Array:
        """``x`` on the device in the model's dtype; a DataFrame by the model's column names."""
        return check_inputs(
            model_inputs(x, self.feature_names, self.sizes[0]), self.backend, self._dtype, self.sizes[0]
        )

    def _check_data(self, x: Array, y: Array) -> tuple[Array, Array]:
        """A data set checked against this model; host data stay on the host, uncast (see :mod:`xpnet.data`). A
        DataFrame is read by the model's column names, labels given by name by its classes."""
        x = check_x(model_inputs(x, self.feature_names, self.sizes[0]), self.backend, self.sizes[0])
        y = model_labels("y", y, self.classes)
        return x, check_y(y, self.backend, x.shape[0], self.sizes[-1], self._loss.integer_targets)

    @on_device
    def __call__(self, x: Array) -> Array:
        """Network output ``(n, k)`` in evaluation mode: logits for cross-entropy, sigmoid outputs for the quadratic
        and binary cross-entropy losses, values for mse."""
        return program(self, "output", _output)(self._inputs(x))

    @on_device
    def predict_proba(self, x: Array) -> Array:
        """Class probabilities ``(n, k)`` (rows sum to 1) on the model's device."""
        return program(self, "proba", _proba)(self._inputs(x))

    @on_device
    def predict(self, x: Array) -> Array:
        """Predicted class indices ``(n,)`` on the model's device; for a regression model (loss ``"mse"``) the
        predicted values, ``(n,)`` when it was trained on ``(n,)`` targets, else ``(n, k)``."""
        if not self._loss.classifies:
            out = self(x)
            return self.xp.reshape(out, (-1,)) if self.target_vector and self.sizes[-1] == 1 else out
        return program(self, "predict", _predict)(self._inputs(x))


def _output(net: MLP, x: Array) -> Array:
    return net._output_of(net._forward(x, EVALUATION)[0])


def _proba(net: MLP, x: Array) -> Array:
    return net._loss.proba(net._forward(x, EVALUATION)[0])


def _predict(net: MLP, x: Array) -> Array:
    return array_namespace(x).argmax(net._forward(x, EVALUATION)[0], axis=1)


def _slots(names: list[list[str]]) -> list[list[int]]:
    """Each layer's positions in the flat list of its network's arrays."""
    slots, start = [], 0
    for layer_names in names:
        slots.append(list(range(start, start + len(layer_names))))
        start += len(layer_names)
    return slots


def check_model(model: Any, name: str = "model") -> MLP:
    """``model`` if it is an :class:`MLP`, else an error that names the argument."""
    if not isinstance(model, MLP):
        raise XPNetTypeError(f"{name}: expected an xpnet.MLP; received {describe(model)}")
    return model
