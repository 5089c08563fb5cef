"""A CuPy stand-in: CuPy's traits on NumPy memory, for testing code written for CuPy on a machine without a GPU.

Importable as ``cupy`` only when :mod:`xpnet.testing.cupy_standin` installs it (see there, and docs/devices.md for
the list of traits and the tests that cover each).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dispatch, cuda, fft, linalg
from ._array import ndarray
from ._namespace import populate
from .cuda.memory import MemoryPool, PinnedMemoryPool

__version__ = "14.0.0+xpnet.standin"
STANDIN = True
_memory_pool = MemoryPool()
_pinned_pool = PinnedMemoryPool()


def get_default_memory_pool() -> MemoryPool:
    return _memory_pool


def get_default_pinned_memory_pool() -> PinnedMemoryPool:
    return _pinned_pool


def array(obj: Any, dtype: Any = None, copy: bool = True, order: Any = "K", subok: bool = False, ndmin: int = 0,
          blocking: bool = False) -> ndarray:  # fmt: skip
    """A new array on the current device: from another CuPy array (any device: a device-to-device copy) or from host
    data, staged through a block of the pinned memory pool, which keeps the block (as CuPy's pool does)."""
    device = _dispatch.current_device()
    if isinstance(obj, ndarray):
        if not copy and (dtype is None or np.dtype(dtype) == obj.dtype):
            return obj
        copied = _dispatch.call(np.array, (obj,), {"dtype": dtype, "copy": True, "order": order, "ndmin": ndmin},
                                check_device=False)  # fmt: skip
        return copied
    _dispatch.refuse_sync("a host-to-device copy (cupy.asarray of host data: a replay would read reused memory)")
    host = np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin)
    _pinned_pool.release(_pinned_pool.malloc(host.nbytes))  # the staging block, cached afterwards
    return ndarray._new(host, device)


def asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> ndarray:
    """``a`` itself when it is a CuPy array of that dtype (on whatever device), else :func:`array`."""
    return array(a, dtype=dtype, copy=False, order=order or "K", blocking=blocking)


asanyarray = asarray


def ascontiguousarray(a: Any, dtype: Any = None) -> ndarray:
    return array(a, dtype=dtype, copy=False, order="C")


def asnumpy(a: Any, stream: Any = None, order: Any = "C", out: Any = None, blocking: bool = True) -> np.ndarray:
    return a.get(stream=stream, order=order, out=out) if isinstance(a, ndarray) else np.asarray(a, order=order)


def fuse(*args: Any, kernel_name: str | None = None) -> Any:
    """``cupy.fuse``: CuPy compiles the function into one kernel; the stand-in runs it operation by operation."""
    if len(args) == 1 and callable(args[0]):
        return args[0]
    return lambda function: function


def get_array_module(*args: Any) -> Any:
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


__all__ = ["array", "asanyarray", "asarray", "ascontiguousarray", "asnumpy", "cuda", "fft", "fuse",
           "get_array_module", "get_default_memory_pool", "get_default_pinned_memory_pool", "linalg", "ndarray"]  # fmt: skip
__all__ += populate(globals(), np, np.__all__)
bool_ = np.bool_
__all__.append("bool_")
