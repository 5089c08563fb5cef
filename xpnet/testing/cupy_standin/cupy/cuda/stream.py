"""``cupy.cuda.Stream``: the current stream of each device, and graph capture on a stream."""

from __future__ import annotations

import itertools
from typing import Any

from .. import _dispatch
from .._errors import CaptureError

_POINTERS = itertools.count(0x7F0000)


class Stream:
    """A stream of the device current when it is made; entering it makes it the current stream (per thread).

    ``begin_capture()`` starts recording every operation issued on it into a :class:`cupy.cuda.Graph` (nothing
    runs until the graph is launched); ``end_capture()`` returns the graph.
    """

    null: Stream

    def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False) -> None:
        self.ptr = 0 if null else next(_POINTERS)
        self.device_id = _dispatch.current_device()
        self._capture: Any = None
        self._previous: list[Any] = []

    def __enter__(self) -> Stream:
        self._previous.append(_dispatch.state.streams.get(self.device_id))
        self.use()
        return self

    def __exit__(self, *exc: object) -> None:
        previous = self._previous.pop()
        if previous is None:
            _dispatch.state.streams.pop(self.device_id, None)
        else:
            _dispatch.state.streams[self.device_id] = previous

    def use(self) -> Stream:
        _dispatch.state.streams[self.device_id] = self
        return self

    def synchronize(self) -> None:
        if self._capture is not None:
            raise CaptureError("cudaErrorStreamCaptureUnsupported: synchronizing a stream that is capturing")

    def begin_capture(self, mode: Any = None) -> None:
        if self.ptr == 0:
            raise CaptureError("cudaErrorStreamCaptureUnsupported: the null stream cannot capture")
        if self._capture is not None:
            raise CaptureError("cudaErrorIllegalState: the stream is already capturing")
        from .graph import Graph

        self._capture = Graph()
        _dispatch.CAPTURING[self.device_id] = self

    def end_capture(self) -> Any:
        if self._capture is None:
            raise CaptureError("cudaErrorIllegalState: the stream is not capturing")
        graph, self._capture = self._capture, None
        _dispatch.CAPTURING.pop(self.device_id, None)
        graph._sealed = True
        return graph

    def is_capturing(self) -> bool:
        return self._capture is not None

    def __repr__(self) -> str:
        return f"<Stream {self.ptr} (device {self.device_id})>"


class ExternalStream(Stream):
    def __init__(self, ptr: int, device_id: int = -1) -> None:
        super().__init__()
        self.ptr = ptr


Stream.null = Stream(null=True)


def get_current_stream(device_id: int = -1) -> Stream:
    return _dispatch.current_stream()
