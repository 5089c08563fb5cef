"""NumPy's functions as the stand-in's: each runs through :func:`cupy._dispatch.call` (device checks, capture)."""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from . import _dispatch


class ufunc:
    """A NumPy ufunc whose calls and methods (``reduce``, ``outer``, ...) run as the stand-in's kernels."""

    def __init__(self, wrapped: np.ufunc) -> None:
        self._wrapped = wrapped
        self.__name__ = wrapped.__name__
        self.__doc__ = wrapped.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _dispatch.call(self._wrapped, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._wrapped, name)
        if not callable(method):
            return method
        return lambda *args, **kwargs: _dispatch.call(method, args, kwargs)

    def __repr__(self) -> str:
        return f"<ufunc '{self.__name__}'>"


def function(wrapped: Any) -> Any:
    """``wrapped`` (a NumPy function) as a stand-in function."""

    def run(*args: Any, **kwargs: Any) -> Any:
        return _dispatch.call(wrapped, args, kwargs)

    run.__name__ = run.__qualname__ = getattr(wrapped, "__name__", "function")
    run.__doc__ = getattr(wrapped, "__doc__", None)
    return run


def populate(namespace: dict[str, Any], module: types.ModuleType, names: Any) -> list[str]:
    """Fill ``namespace`` with ``module``'s public ``names``: functions and ufuncs wrapped, types and constants
    as they are (CuPy's dtypes are NumPy's), submodules left out. Returns the names added."""
    added = []
    for name in names:
        value = getattr(module, name, None)
        if (value is None and name != "newaxis") or isinstance(value, types.ModuleType) or name in namespace:
            continue
        if isinstance(value, np.ufunc):
            namespace[name] = ufunc(value)
        elif callable(value) and not isinstance(value, type):
            namespace[name] = function(value)
        else:
            namespace[name] = value
        added.append(name)
    return added
