"""``cupy.cuda.runtime``: the CUDA runtime calls xpnet makes, answered for the simulated GPUs."""

from __future__ import annotations

from typing import Any

from .. import _dispatch
from .._errors import CUDARuntimeError
from .device import TOTAL_MEMORY, Device

__all__ = ["CUDARuntimeError", "deviceSynchronize", "getDevice", "getDeviceCount", "getDeviceProperties",
           "is_hip", "memGetInfo", "setDevice"]  # fmt: skip
is_hip = False


def getDeviceCount() -> int:
    return _dispatch.DEVICE_COUNT


def getDevice() -> int:
    return _dispatch.current_device()


def setDevice(device: int) -> None:
    Device(device).use()


def memGetInfo() -> tuple[int, int]:
    return TOTAL_MEMORY, TOTAL_MEMORY


def deviceSynchronize() -> None:
    _dispatch.refuse_sync("a device synchronisation")


def getDeviceProperties(device: int) -> dict[str, Any]:
    Device(device)
    return {"name": b"xpnet CuPy stand-in", "totalGlobalMem": TOTAL_MEMORY, "major": 9, "minor": 0,
            "multiProcessorCount": 4, "pciBusID": 0x18 + device}  # fmt: skip


def runtimeGetVersion() -> int:
    return 13000


def driverGetVersion() -> int:
    return 13000
