"""A network's whole state as host data, and back: for pickling, copies to another device, snapshots.

``state()`` holds the layer widths, the architecture, the loss, the device spec and dtype, every parameter and
buffer by name (host NumPy arrays), the class and feature names, the input image shape and the input
standardization. xpnet's files
(:mod:`xpnet.io`) store the same state as safetensors; this module never writes files.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..backend import Backend, as_parameter, dtype_name, float_dtype, resolve, to_numpy
from ..backend.transfer import copies
from ..errors import BackendUnavailableError, DataIntegrityError

Array = Any


class StateMixin:
    """What :class:`xpnet.MLP` can do with its state (see the module docstring)."""

    params: list[Array]
    buffers: list[Array]
    param_names: list[str]
    buffer_names: list[str]
    backend: Backend
    classes: list[str] | None
    feature_names: list[str] | None
    image_shape: tuple[int, int, int] | None

    def state(self) -> dict[str, Any]:
        """Everything that defines this network, as host data (NumPy arrays and JSON-able values)."""
        model: Any = self
        return {"sizes": list(model.sizes), "arch": model.arch.to_dict(), "loss": model.loss, "spec": self.backend.spec,
                "dtype": dtype_name(model.dtype), "params": dict(zip(self.param_names, map(to_numpy, self.params))),
                "buffers": dict(zip(self.buffer_names, map(to_numpy, self.buffers))), "classes": self.classes,
                "feature_names": self.feature_names, "image_shape": self.image_shape,
                "standardization": model.standardization, "target_standardization": model.target_standardization,
                "target_vector": bool(model.target_vector)}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any], device: str | Backend | None = None, dtype: Any = None) -> Any:
        """A network from :meth:`state` on ``device`` (default: the state's own) in ``dtype`` (default: its own).

        Raises :class:`xpnet.DataIntegrityError` when the arrays do not match the architecture.
        """
        from .architecture import check_architecture

        arch = state["arch"]
        architecture = check_architecture(len(state["sizes"]) - 2, arch["activation"], arch["dropout"] or 0.0,
                                          arch["norm"], arch["norm_momentum"], arch["norm_eps"])  # fmt: skip
        backend = resolve(state["spec"] if device is None else device)
        net: Any = cls.__new__(cls)
        net._build(state["sizes"], architecture, state["loss"], backend, float_dtype(backend, dtype or state["dtype"]))
        for kind in ("params", "buffers"):
            names, given = getattr(net, f"{kind[:-1]}_names"), state[kind]
            if sorted(given) != sorted(names):
                raise DataIntegrityError(f"expected {kind} {names} for this architecture; found {sorted(given)}")
        target = dtype_name(net.dtype)
        with backend.activate():
            net.params = [
                as_parameter(np.asarray(state["params"][n]).astype(target, copy=False), backend)
                for n in net.param_names
            ]
            net.buffers = [
                backend.asarray(np.asarray(state["buffers"][n]).astype(target, copy=False)) for n in net.buffer_names
            ]
        for i, name in enumerate(net.param_names):
            expected = _shape_of(net, i)
            if tuple(net.params[i].shape) != expected:
                raise DataIntegrityError(
                    f"{name} has shape {tuple(net.params[i].shape)}; the architecture needs {expected}"
                )
        net.classes, net.feature_names = state.get("classes"), state.get("feature_names")
        shape = state.get("image_shape")
        net.image_shape = None if shape is None else tuple(shape)
        if state.get("standardization") is not None:
            net.set_standardization(*state["standardization"])
        if state.get("target_standardization") is not None:
            net.set_target_standardization(*state["target_standardization"])
        net.target_vector = bool(state.get("target_vector", False))
        return net

    def to(self, device: str | Backend, dtype: Any = None) -> Any:
        """A copy of this network on ``device`` (any spec), optionally in another ``dtype``."""
        return type(self).from_state(self.state(), device=device, dtype=dtype)

    def __getstate__(self) -> dict[str, Any]:
        """Pickling (scikit-learn estimators, joblib): :meth:`state`, host arrays and the device's spec."""
        return self.state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling restores the network on its device; where that device is missing (a model trained on a GPU,
        unpickled on a CPU server) on ``"auto"``'s choice instead, with a warning."""
        try:
            net = type(self).from_state(state)
        except BackendUnavailableError as exc:
            warnings.warn(
                f"the pickled network lived on {state['spec']!r}, which is not usable here ({exc}); it is restored "
                "on device 'auto' instead",
                RuntimeWarning,
                stacklevel=2,
            )
            net = type(self).from_state(state, device="auto")
        self.__dict__.update(net.__dict__)

    def snapshot(self) -> tuple[list[Array], list[Array]]:
        """Copies of the parameters and buffers, on the device (for early stopping and the divergence guard)."""
        return copies(self.params), copies(self.buffers)

    def restore(self, snapshot: tuple[list[Array], list[Array]]) -> None:
        """Put copies of a :meth:`snapshot` back (training updates arrays in place: the snapshot stays as taken,
        so it can be restored again)."""
        params, buffers = snapshot
        self.params[:], self.buffers[:] = copies(params), copies(buffers)


def _shape_of(net: Any, index: int) -> tuple[int, ...]:
    """The shape parameter ``index`` must have: ``W`` ``(fan_in, fan_out)``, everything else ``(fan_out,)``."""
    for layer, slots in zip(net.layers, net._param_slots):
        if index in slots:
            position = slots.index(index)
            if hasattr(layer, "fan_in"):
                return (layer.fan_in, layer.fan_out) if position == 0 else (layer.fan_out,)
            return (layer.units,)
    raise IndexError(index)
