"""``cupy.cuda.Graph``: the operations a stream captured, replayed by :meth:`Graph.launch`.

A replay runs every recorded operation again on the *same memory* (the arrays it read and wrote at capture) with
the *same arguments* (a Python number given at capture is baked in), as a CUDA graph does. Nothing runs at
capture: a new array made there holds NaN (floating) until the first launch, and an in-place update is not done.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .._errors import CaptureError


def _owned(value: Any) -> Any:
    """NumPy scalars (what NumPy's reductions return) as 0-d arrays: memory the graph can write at a replay."""
    if isinstance(value, np.generic):
        return np.array(value)
    if isinstance(value, tuple):
        return tuple(_owned(v) for v in value)
    return value


def _arrays(value: Any) -> list[np.ndarray]:
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _arrays(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arrays(v)]
    return []


class Graph:
    """A captured sequence of operations (see the module docstring)."""

    def __init__(self) -> None:
        self._nodes: list[tuple[Any, tuple[Any, ...], dict[str, Any], Any]] = []
        self._sealed = False
        self.launches = 0

    @property
    def node_count(self) -> int:
        return len(self._nodes)

    def record(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Record one operation on raw NumPy operands; returns its output memory (not computed yet)."""
        writes = "out" in kwargs or func is operator.setitem or func is np.copyto
        result = None
        if not writes:  # a new array: made now (for its shape), poisoned until a launch computes it
            with np.errstate(all="ignore"):
                result = _owned(func(*args, **kwargs))
            inputs = _arrays((args, kwargs))
            for made in _arrays(result):
                if (
                    made.base is None
                    and made.dtype.kind in "fc"
                    and not any(np.may_share_memory(made, a) for a in inputs)
                ):
                    made.fill(np.nan)
        elif "out" in kwargs:
            result = kwargs["out"]
        self._nodes.append((func, args, kwargs, result))
        return result

    def launch(self, stream: Any = None) -> None:
        """Run the captured operations once more, in order, on their memory."""
        from .. import _dispatch

        if not self._sealed:
            raise CaptureError("cudaErrorIllegalState: the graph is still being captured")
        if _dispatch.capture() is not None:
            raise CaptureError("cudaErrorStreamCaptureUnsupported: launching a graph while capturing")
        with np.errstate(all="ignore"):
            for func, args, kwargs, result in self._nodes:
                value = _owned(func(*args, **kwargs))
                if "out" in kwargs or result is None:
                    continue
                for target, computed in zip(_arrays(result), _arrays(value)):
                    if target is not computed:
                        np.copyto(target, computed)
        self.launches += 1

    def upload(self, stream: Any = None) -> None:
        """Instantiate ahead of the first launch (nothing to do here)."""
