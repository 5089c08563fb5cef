"""CuPy's memory pools, as far as xpnet uses them: device memory (not tracked) and pinned host memory, whose
pool keeps every staging block it handed out (as CuPy's does) until ``free_all_blocks``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np


class MemoryPool:
    """The device memory pool: allocations are NumPy's; the figures are those of an empty pool."""

    def __init__(self, allocator: Any = None) -> None:
        self._limit = 0

    def malloc(self, size: int) -> Any:
        return np.empty(size, dtype=np.uint8)

    def used_bytes(self) -> int:
        return 0

    def total_bytes(self) -> int:
        return 0

    def free_bytes(self) -> int:
        return 0

    def free_all_blocks(self, stream: Any = None) -> None:
        pass

    def set_limit(self, size: int | None = None, fraction: float | None = None) -> None:
        self._limit = int(size or 0)

    def get_limit(self) -> int:
        return self._limit


class PinnedMemoryPool:
    """Page-locked host memory: blocks handed out for host-to-device staging stay cached in the pool."""

    def __init__(self) -> None:
        self._free: list[np.ndarray] = []

    def malloc(self, size: int) -> np.ndarray:
        size = 1 << max(int(size) - 1, 0).bit_length()  # rounded up to a power of two, as CuPy's pool does
        for i, block in enumerate(self._free):
            if block.nbytes == size:
                return self._free.pop(i)
        block = np.empty(size, dtype=np.uint8)
        block.fill(0)  # touched, as a page-locked allocation is resident
        return block

    def release(self, block: np.ndarray) -> None:
        self._free.append(block)

    def n_free_blocks(self) -> int:
        return len(self._free)

    def free_all_blocks(self) -> None:
        self._free.clear()

    def held_bytes(self) -> int:
        """Bytes cached by the pool (a stand-in figure: CuPy reports only the block count)."""
        return sum(block.nbytes for block in self._free)


_allocator: list[Any] = []


@contextlib.contextmanager
def using_allocator(allocator: Any = None) -> Iterator[None]:
    _allocator.append(allocator)
    try:
        yield
    finally:
        _allocator.pop()


def set_allocator(allocator: Any = None) -> None:
    _allocator[:] = [allocator]


def set_pinned_memory_allocator(allocator: Any = None) -> None:
    pass
