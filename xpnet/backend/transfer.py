"""Moving arrays: host to device (once, cast on the host), device to NumPy, asynchronous copies, free memory."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..errors import XPNetValueError
from .arrays import backend_of, dtype_name, is_host_array, to_device
from .specs import Backend


def to_numpy(x: Any) -> np.ndarray:
    """Copy any backend's array to a host ``numpy.ndarray`` (the one place that does it)."""
    if isinstance(x, np.ndarray):
        return x
    if is_host_array(x):
        return np.asarray(x)
    name = array_namespace(x).__name__.split(".")[-1]
    if name == "cupy":
        return x.get()
    if name == "torch":
        if x.device.type == "meta":
            raise XPNetValueError("cannot read values of a tensor on torch:meta (it has shapes but no data)")
        return x.detach().cpu().numpy()
    if name == "ndonnx":
        return np.asarray(x.unwrap_numpy())  # a constant; a symbolic input has no values and raises
    if name == "array_api_strict":
        return np.asarray(x.to_device(importlib.import_module("array_api_strict").Device("CPU_DEVICE")))
    return np.asarray(x)


def host_view(x: Any) -> np.ndarray | None:
    """A NumPy array sharing ``x``'s memory (NumPy arrays, PyTorch CPU tensors), or None where there is none."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__ == "torch" and x.device.type == "cpu" and not x.requires_grad:
        return x.numpy()
    return None


def free_memory(target: Backend) -> int | None:
    """Free bytes on ``target``'s device, or ``None`` where the backend cannot tell (host memory, simulated devices)."""
    if target.name == "cupy":
        with target.device:
            return int(importlib.import_module("cupy").cuda.runtime.memGetInfo()[0])
    if target.name == "torch" and target.device.type == "cuda":
        return int(importlib.import_module("torch").cuda.mem_get_info(target.device)[0])
    if target.name == "jax" and target.device.platform != "cpu":
        stats = target.device.memory_stats() or {}  # XLA's allocator: its limit and what it holds
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    return None


def copy_into(target: Any, host: np.ndarray, backend: Backend) -> Any:
    """``host`` written into the device array ``target`` (same shape; cast to its dtype) and ``target`` returned: its
    memory keeps its address, as a captured CUDA graph needs. Where arrays are immutable (JAX) a new array instead."""
    if not backend.updates_in_place:
        from .arrays import to_device

        return to_device(np.asarray(host), backend, dtype=target.dtype)
    with backend.activate():
        fresh = backend.asarray(np.ascontiguousarray(np.broadcast_to(host, tuple(target.shape))), dtype=target.dtype)
        target[...] = fresh
    return target


def zeros(backend: Backend, shape: tuple[int, ...], dtype: Any) -> Any:
    """Zeros of ``shape`` and ``dtype`` on ``backend``'s device. Where the backend compiles (JAX) from host zeros:
    ``jnp.zeros`` compiles a program per shape and dtype (~0.3 s each on a GPU), a transfer compiles none."""
    if backend.compiles:
        return to_device(np.zeros(shape, dtype=dtype_name(dtype)), backend)
    return backend.xp.zeros(shape, dtype=dtype, device=backend.device)


def zeros_like_each(arrays: list[Any]) -> list[Any]:
    """Zeros shaped, typed and laid out as each of ``arrays`` (all on one device), on it: an optimizer's state."""
    backend = backend_of(arrays[0]) if arrays else None
    if backend is not None and backend.compiles:
        return [zeros(backend, tuple(a.shape), a.dtype) for a in arrays]
    return [array_namespace(a).zeros_like(a) for a in arrays]


def copies(arrays: list[Any]) -> list[Any]:
    """A copy of each of ``arrays`` (all on one device) on it, laid out as it is: snapshots a training step cannot
    change. On JAX a copy by the runtime: ``asarray(copy=True)`` compiles a program per shape."""
    backend = backend_of(arrays[0]) if arrays else None
    if backend is not None and backend.name == "jax":
        jax = importlib.import_module("jax")
        if jax.__version_info__ >= (0, 6):  # 0.4.34-0.5.x took may_alias=False and returned the same buffer
            return list(jax.device_put(arrays, backend.device, may_alias=False))
    return [array_namespace(a).asarray(a, copy=True) for a in arrays]
