"""Shared inputs of the bad-input tables (tests/test_bad_input*.py): tiny valid data, models on several devices,
and the helpers that run a case."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import array_api_strict as strict
import numpy as np
import pytest

import xpnet
from xpnet.backend import resolve

NO_CUPY = pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="cupy is installed here")

X = np.random.default_rng(0).random((6, 3)).astype(np.float32)  # (n=6, d=3)
Y = np.array([0, 1, 2, 0, 1, 2])  # 3 classes
T = np.eye(3, dtype=np.float32)[Y]  # one-hot targets (6, 3)
NET = xpnet.MLP((3, 4, 3), device="cpu", seed=0)
QUAD = xpnet.MLP((3, 4, 3), loss="quadratic", device="cpu", seed=0)
STRICT_NET = xpnet.MLP((3, 4, 3), device="strict", seed=0)  # lives on strict:CPU_DEVICE
STRICT_QUAD = xpnet.MLP((3, 4, 3), loss="quadratic", device="strict", seed=0)
DEVICE1 = strict.Device("device1")
X_DEVICE1 = strict.asarray(X, device=DEVICE1)
Y_DEVICE1 = strict.asarray(Y, device=DEVICE1)
CPU = resolve("cpu")


def nan_at(a: np.ndarray, value: float = np.nan) -> np.ndarray:
    out = a.astype(np.float64, copy=True)
    out[1, 2] = value
    return out


def check(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern) as info:
        call()
    assert isinstance(info.value, xpnet.XPNetError)


def train(data: Any, **options: Any) -> Any:
    """A tiny, quiet CPU run; ``options`` override."""
    return xpnet.train(data, **({"epochs": 1, "progress": False, "device": "cpu", "hidden": (4,)} | options))


MISMATCH = r"array lives on 'strict:device1' but the model is on 'strict:CPU_DEVICE'"
