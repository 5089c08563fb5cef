"""``cupy.cuda.Device``: a numbered simulated GPU; entering it makes it current (arrays are made there)."""

from __future__ import annotations

from typing import Any

from .. import _dispatch
from .._errors import CUDARuntimeError

TOTAL_MEMORY = 16 * 2**30


class Device:
    """GPU ``device`` (an int or a Device; None: the current one).

    As CuPy's: equal to a Device of the same id, **unhashable** (``__eq__`` without ``__hash__``), a context
    manager that makes it the current device for the block (and restores the previous one).
    """

    def __init__(self, device: Any = None) -> None:
        index = _dispatch.current_device() if device is None else int(device)
        if not 0 <= index < _dispatch.DEVICE_COUNT:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self.id = index
        self._previous: list[int] = []

    def __int__(self) -> int:
        return self.id

    __index__ = __int__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # CuPy: __eq__ without __hash__, so unhashable

    def __enter__(self) -> Device:
        self._previous.append(_dispatch.state.device)
        _dispatch.state.device = self.id
        return self

    def __exit__(self, *exc: object) -> None:
        _dispatch.state.device = self._previous.pop()

    def use(self) -> None:
        _dispatch.state.device = self.id

    def synchronize(self) -> None:
        _dispatch.refuse_sync("a device synchronisation")

    @property
    def pci_bus_id(self) -> str:
        return f"0000:{0x18 + self.id:02X}:00.0"

    @property
    def compute_capability(self) -> str:
        return "90"

    @property
    def mem_info(self) -> tuple[int, int]:
        return TOTAL_MEMORY, TOTAL_MEMORY

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"
