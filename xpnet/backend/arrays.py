"""Arrays and their backends: which :class:`~xpnet.backend.specs.Backend` an array lives on, host or device,
dtype names, and the one way data moves onto a device (:func:`to_device`, which never moves between devices).
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_cupy_array
from array_api_compat import device as device_of

from ..errors import DeviceMismatchError, XPNetValueError, describe
from .memo import registered
from .specs import Backend, _jax_backend, _numpy, _onnx

_SEEN: dict[str, Backend] = registered({})  # spec -> backend, for arrays whose spec is read off them (PyTorch, CuPy)


def backend_of(x: Any) -> Backend:
    """The :class:`Backend` an existing array lives on ("everything follows the data")."""
    spec = _spec_at_sight(x)  # a step asks several times: ~0.6 µs here where working it out takes ~3.5
    if spec is not None and spec in _SEEN:
        return _SEEN[spec]
    backend = _backend_of(x)
    if spec == backend.spec:
        _SEEN[spec] = backend
    return backend


def _spec_at_sight(x: Any) -> str | None:
    """The spec of a PyTorch tensor or CuPy array from its type and device alone; None for other arrays."""
    kind = type(x)
    if kind.__name__ == "Tensor" and kind.__module__ == "torch":  # not a Generator or storage, which have devices too
        return f"torch:{x.device}"
    if kind.__name__ == "ndarray" and kind.__module__.split(".", 1)[0] == "cupy":
        return f"cuda:{x.device.id}"
    return None


def _backend_of(x: Any) -> Backend:
    xp = array_namespace(x)
    dev = device_of(x)
    if xp.__name__ == "jax.numpy":
        return _jax_backend(xp, dev)
    if xp.__name__ == "ndonnx":
        return _onnx("onnx")
    name = xp.__name__.split(".")[-1]
    if name == "numpy":
        return _numpy()
    if name == "cupy":
        return Backend(f"cuda:{dev.id}", "cupy", xp, dev)
    if name == "torch":
        return Backend(f"torch:{dev}", "torch", xp, dev)
    if name == "array_api_strict":
        return Backend(f"strict:{dev._device}", "strict", xp, dev)
    return Backend(f"{name}:{dev}", name, xp, dev)


def device_scope(x: Any) -> contextlib.AbstractContextManager[Any]:
    """The GPU array ``x`` lives on made current while the block runs: CuPy makes arrays and runs kernels on the
    current GPU, so public functions that take arrays of ``cuda:N`` enter this. Nothing on other backends."""
    return x.device if is_cupy_array(x) else contextlib.nullcontext()


PINNED_STAGING_LIMIT = 1 << 20  # bytes: larger host arrays go to CuPy by ndarray.set, not through the pinned pool


def _to_cupy(xp: Any, host: np.ndarray) -> Any:
    """``host`` on the current GPU. ``cupy.asarray`` stages the copy through a block of CuPy's pinned memory pool
    (rounded up to a power of two) and the pool keeps the block: moving a 600 MB data set would hold 1 GiB of host
    memory for the rest of the process. Small arrays (batches) take that path, whose block is reused by every batch
    of one size and whose copy is queued asynchronously; large ones are copied straight from their own memory."""
    if host.nbytes < PINNED_STAGING_LIMIT:
        return xp.asarray(host)
    out = xp.empty(host.shape, dtype=host.dtype)
    out.set(np.ascontiguousarray(host))
    return out


def _jax_host(host: np.ndarray) -> np.ndarray:
    """``host`` in the dtype JAX would give it: 64-bit numbers become 32-bit without ``JAX_ENABLE_X64``."""
    import jax

    return host.astype(jax.dtypes.canonicalize_dtype(host.dtype), copy=False)


def is_host_array(x: Any) -> bool:
    """True for NumPy arrays, NumPy scalars and Python sequences (data that lives on the host)."""
    return isinstance(x, (np.ndarray, np.generic, list, tuple, int, float))


def column_major(a: Any) -> bool:
    """Whether ``a`` is a 2-D NumPy array or PyTorch tensor laid out column-major and not row-major: a matrix
    parameter on the host (:mod:`.layout`), or what the products made from one. False for every other array: their
    strides are not shown (array-api-strict, JAX) or never column-major (CuPy, :mod:`.layout`)."""
    if type(a) is np.ndarray:
        return a.ndim == 2 and a.flags.f_contiguous and not a.flags.c_contiguous
    if type(a).__module__ == "torch":
        return a.dim() == 2 and a.stride(0) == 1 and not a.is_contiguous()
    return False


_DTYPE_NAMES: dict[tuple[type, Any], str] = {}  # keyed with the type first: array-api-strict's dtypes hash as
# NumPy's and warn when compared with them, so two kinds of dtype must never meet in a lookup


def dtype_name(dtype: Any) -> str:
    """Canonical name (``"float32"``) of a dtype given as a string, NumPy dtype or any namespace's dtype."""
    if isinstance(dtype, str):
        return dtype
    key = (type(dtype), dtype)
    try:
        return _DTYPE_NAMES[key]  # a step asks several times; NumPy's refusal of a PyTorch dtype costs ~1 µs
    except (KeyError, TypeError):  # TypeError: an unhashable dtype object
        pass
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype).rsplit(".", 1)[-1].strip("'>)")
    with contextlib.suppress(TypeError):
        _DTYPE_NAMES[key] = name
    return name


def float_name(dtype: Any) -> str:
    """``"float32"`` or ``"float64"`` for a name or dtype object; anything else is an error naming ``dtype``."""
    name = dtype_name(dtype)
    if name not in ("float32", "float64"):
        raise XPNetValueError(f"dtype: expected 'float32' or 'float64'; received {describe(dtype)}")
    return name


def float_dtype(target: Backend, dtype: Any) -> Any:
    """The namespace's floating dtype for ``dtype`` (a name or dtype object), checked against the device."""
    name = float_name(dtype)
    resolved = getattr(target.xp, name)
    if not target.supports_dtype(resolved):
        hint = " (on JAX, set JAX_ENABLE_X64=1 before it is imported)" if target.name == "jax" else ""
        raise XPNetValueError(
            f"dtype: device {target.spec!r} has no {name}{hint}; use dtype='float32' or another device"
        )
    return resolved


def to_device(a: Any, target: Backend, dtype: Any = None) -> Any:
    """Move ``a`` onto ``target``: host data is transferred once; device data must already be there.

    Raises :class:`DeviceMismatchError` when ``a`` lives on another device than ``target``: moving
    between accelerators is never done silently.
    """
    xp, dev = target.xp, target.device
    if is_host_array(a):
        host = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype_name(dtype))  # cast on the host
        if target.name == "torch" and not host.flags.writeable:
            host = host.copy()  # torch:cpu would share the buffer and warns about read-only memory
        if target.name == "cupy":
            with dev:
                return _to_cupy(xp, host)
        if target.name == "jax":  # jnp.asarray compiles two small programs per shape and dtype; device_put none
            return importlib.import_module("jax").device_put(_jax_host(host), dev)
        return xp.asarray(host, device=dev)
    source = backend_of(a)
    if source.spec != target.spec:
        raise DeviceMismatchError(
            f"array lives on {source.spec!r} but the model is on {target.spec!r}; move it first "
            f"(e.g. xpnet.backend.to_numpy(x)) or build the model with device={source.spec!r}"
        )
    return a if dtype is None or a.dtype == dtype else xp.astype(a, dtype)
