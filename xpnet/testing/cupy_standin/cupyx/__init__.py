"""``cupyx`` of the CuPy stand-in: page-locked host arrays (plain NumPy arrays here)."""

from __future__ import annotations

from typing import Any

import numpy as np


def empty_pinned(shape: Any, dtype: Any = float, order: Any = "C") -> np.ndarray:
    return np.empty(shape, dtype=dtype, order=order)


def zeros_pinned(shape: Any, dtype: Any = float, order: Any = "C") -> np.ndarray:
    return np.zeros(shape, dtype=dtype, order=order)
