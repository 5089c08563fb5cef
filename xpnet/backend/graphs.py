"""CUDA graphs: work captured once and replayed with one launch, on CuPy (stream capture) and PyTorch CUDA.

A capture records what a function queues on the GPU without running it; a replay runs it again on the *same
memory* with the *same arguments* (numbers given at capture are baked in). So everything a captured function
changes from call to call must live in device arrays it updates in place. :func:`capturer` gives a
:class:`Capturer` for a backend, or the reason there is none; the training step that uses it is
:mod:`xpnet.training.captured`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any

from .specs import Backend

Launch = Callable[[], None]


class Capturer:
    """Captures functions on one GPU: :meth:`scope` is where eager work and launches run (in one stream order),
    :meth:`warm` runs a function eagerly before its capture, :meth:`capture` returns the launch of its graph."""

    def __init__(self) -> None:
        self._graphs: list[Any] = []  # what the launches replay, alive as long as they may be called

    def scope(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def warm(self, fn: Callable[[], None]) -> None:
        fn()

    def capture(self, fn: Callable[[], None]) -> Launch:
        raise NotImplementedError

    def release(self) -> None:
        """Let every graph captured so far go (their launches must not be called again); work already launched
        runs to its end."""
        self._graphs.clear()


class CupyCapturer(Capturer):
    """A blocking stream of its own (ordered with the legacy default stream that CuPy's synchronous copies use) and
    a memory pool of its own for what the captured work allocates: the graph writes that memory at every replay,
    so nothing else may ever be given it."""

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self._cupy = importlib.import_module("cupy")
        self._device = backend.device
        with backend.device:
            self._stream = self._cupy.cuda.Stream(non_blocking=False)
        self._pool = self._cupy.cuda.MemoryPool()

    def scope(self) -> contextlib.AbstractContextManager[Any]:
        stack = contextlib.ExitStack()
        stack.enter_context(self._device)
        stack.enter_context(self._stream)
        return stack

    def capture(self, fn: Callable[[], None]) -> Launch:
        with self._device, self._stream, self._cupy.cuda.using_allocator(self._pool.malloc):
            self._stream.begin_capture()
            try:
                fn()
            except BaseException:
                with contextlib.suppress(Exception):  # an invalidated capture refuses to end too
                    self._stream.end_capture()
                raise
            graph = self._stream.end_capture()
        self._graphs.append(graph)  # the graph and its memory live as long as this capturer
        stream = self._stream
        return lambda: graph.launch(stream)


class TorchCapturer(Capturer):
    """``torch.cuda.CUDAGraph`` with one private memory pool for every graph of the run; warm-up work runs on a
    side stream first, as PyTorch's documentation asks (its cuBLAS workspace then exists before the capture)."""

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self._torch = importlib.import_module("torch")
        self._device = backend.device
        self._pool = self._torch.cuda.graph_pool_handle()

    def scope(self) -> contextlib.AbstractContextManager[Any]:
        return self._torch.cuda.device(self._device)

    def warm(self, fn: Callable[[], None]) -> None:
        torch = self._torch
        side = torch.cuda.Stream(device=self._device)
        side.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream(self._device).wait_stream(side)

    def capture(self, fn: Callable[[], None]) -> Launch:
        graph = self._torch.cuda.CUDAGraph()
        with self._torch.cuda.graph(graph, pool=self._pool):
            fn()
        self._graphs.append(graph)
        return graph.replay


def has_graphs(backend: Backend) -> bool:
    """Whether ``backend`` runs on CUDA, whose graphs could capture its steps (CuPy, PyTorch CUDA)."""
    return backend.name == "cupy" or (backend.name == "torch" and getattr(backend.device, "type", None) == "cuda")


def capturer(backend: Backend) -> tuple[Capturer | None, str]:
    """A :class:`Capturer` for ``backend`` and ``""``, or None and why a GPU's steps cannot be captured (``""`` for
    backends without CUDA graphs)."""
    if not has_graphs(backend):
        return None, ""  # no CUDA graphs: nothing is given up
    if backend.name == "cupy":
        from .device_blas import device_blas, turned_off

        if device_blas() is None:
            why = ("XPNET_DEVICE_BLAS=0 turned off xpnet's direct route to cuBLAS" if turned_off()
                   else "xpnet's direct route to cuBLAS is unavailable (a warning said why)")  # fmt: skip
            return None, f"CuPy refuses matrix products inside a capture, and {why}"
        return CupyCapturer(backend), ""
    return TorchCapturer(backend), ""
