"""``cupy.cuda``: devices, streams, graphs, memory pools and the runtime of the simulated GPUs."""

from __future__ import annotations

from . import runtime
from .device import Device
from .graph import Graph
from .memory import MemoryPool, PinnedMemoryPool, set_allocator, set_pinned_memory_allocator, using_allocator
from .stream import ExternalStream, Stream, get_current_stream

__all__ = ["Device", "ExternalStream", "Graph", "MemoryPool", "PinnedMemoryPool", "Stream", "get_current_stream",
           "get_device_id", "is_available", "runtime", "set_allocator", "set_pinned_memory_allocator",
           "using_allocator"]  # fmt: skip


def is_available() -> bool:
    return True


def get_device_id() -> int:
    return runtime.getDevice()
