"""How every operation of the stand-in runs, as CuPy runs it on a GPU.

Operands are unwrapped to the NumPy arrays that hold their "device memory"; an operand on another device than the
current one is refused (CuPy launches every kernel on the current device); a NumPy array among the operands is refused
(CuPy converts nothing implicitly); NumPy computes; the result is wrapped on the *current* device, whatever device the
operands came from. While a stream captures a graph (:mod:`cupy.cuda.graph`), each operation is recorded for replay
instead: its output is allocated and poisoned, and reading any value back to the host is refused, as under CUDA.
"""

from __future__ import annotations

import os
import threading
from typing import Any, cast

import numpy as np

from ._errors import CaptureError

_CUBLAS = (np.matmul, np.dot, np.tensordot, np.inner, np.vdot, np.einsum)  # CuPy refuses these inside a capture
DEVICE_COUNT = int(os.environ.get("XPNET_STANDIN_GPUS", "2"))


class _State(threading.local):
    """The calling thread's current device and stream (CuPy keeps both per thread)."""

    def __init__(self) -> None:
        self.device = 0
        self.streams: dict[int, Any] = {}  # device -> the current stream there (absent: the null stream)


state = _State()
CAPTURING: dict[int, Any] = {}  # device -> the stream capturing a graph there (CUDA's global capture mode)


def current_device() -> int:
    return state.device


def current_stream() -> Any:
    from .cuda.stream import Stream

    return state.streams.get(state.device) or Stream.null


def capture() -> Any:
    """The graph the current stream is capturing into, or None; an operation issued on another stream of a device
    where one captures is refused, as CUDA refuses it (the legacy null stream would synchronise with the capture)."""
    capturing = CAPTURING.get(state.device)
    if capturing is None:
        return None
    if state.streams.get(state.device) is not capturing:
        raise CaptureError(
            "cudaErrorStreamCaptureImplicit: an operation on another stream while a stream of this device is "
            "capturing a graph"
        )
    return cast(Any, capturing)._capture


def refuse_sync(what: str) -> None:
    """A host synchronisation (a value read back, a blocking copy) is illegal while the stream captures."""
    if capture() is not None:
        raise CaptureError(
            f"cudaErrorStreamCaptureUnsupported: {what} while the current stream is capturing a graph (a captured "
            "step cannot read device values on the host; keep them on the device)"
        )


def unwrap(value: Any, device: int | None, host_ok: bool = False) -> Any:
    """``value`` with every stand-in array replaced by its NumPy memory, after the checks CuPy makes."""
    from ._array import ndarray

    if isinstance(value, ndarray):
        if device is not None and value._device != device:
            raise ValueError(
                f"The device where the array resides ({value._device}) is different from the current device "
                f"({device}). Peer access is unavailable between these 2 devices."
            )
        return value._a
    if isinstance(value, np.ndarray) and not host_ok:
        raise TypeError(f"Unsupported type {type(value)}")
    if isinstance(value, (list, tuple)):
        return type(value)(unwrap(v, device, host_ok) for v in value)
    return value


def wrap(value: Any, device: int) -> Any:
    """NumPy results as stand-in arrays on ``device`` (NumPy scalars too: CuPy's reductions return 0-d arrays)."""
    from ._array import ndarray

    if isinstance(value, np.ndarray):
        return ndarray._new(value, device)
    if isinstance(value, np.generic) and not isinstance(value, np.dtype):
        return ndarray._new(np.asarray(value), device)
    if isinstance(value, tuple):
        return tuple(wrap(v, device) for v in value)
    if isinstance(value, list):
        return [wrap(v, device) for v in value]
    return value


def call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], check_device: bool = True) -> Any:
    """Run ``func`` (a NumPy function) on stand-in operands as a CuPy kernel: see the module docstring.
    ``check_device=False``: a copy, which reads an array of any device."""
    from ._array import ndarray

    device = state.device
    out = kwargs.get("out")
    raw_args = unwrap(args, None if not check_device else device)
    raw_kwargs = {key: unwrap(value, device) for key, value in kwargs.items()}
    graph = capture()
    if graph is not None:
        if func in _CUBLAS:
            raise NotImplementedError("calling cuBLAS API during stream capture is currently unsupported")
        result = graph.record(func, raw_args, raw_kwargs)
    else:
        with np.errstate(all="ignore"):  # GPUs raise no floating-point warnings
            result = func(*raw_args, **raw_kwargs)
    if isinstance(out, ndarray):
        return out
    return wrap(result, device)
