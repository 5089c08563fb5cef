"""Bad input at every public entry point gives an xpnet error that names the argument and what was received.

One table per entry point: ``(call, expected error class, regex)``. Every regex checks the argument's name
and the received value, shape or dtype, so a raw NumPy broadcasting or indexing error can never pass.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import array_api_strict as strict
import numpy as np
import pytest

import xpnet
from xpnet.backend import resolve
from xpnet.data import Batches
from xpnet.datasets import load_mnist

NO_CUPY = pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="cupy is installed here")

X = np.random.default_rng(0).random((6, 3)).astype(np.float32)  # (n=6, d=3)
Y = np.array([0, 1, 2, 0, 1, 2])  # 3 classes
T = np.eye(3, dtype=np.float32)[Y]  # one-hot targets (6, 3)
NET = xpnet.MLP((3, 4, 3), device="cpu", seed=0)
QUAD = xpnet.MLP((3, 4, 3), loss="quadratic", device="cpu", seed=0)
STRICT_NET = xpnet.MLP((3, 4, 3), device="strict", seed=0)  # lives on strict:CPU_DEVICE
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


# ----------------------------------------------------------------------------------------------------- MLP(...)
MLP_CASES = [
    pytest.param(
        lambda: xpnet.MLP((3,)), xpnet.XPNetValueError, r"sizes: .*at least 2.*received \[3\]", id="sizes-one"
    ),
    pytest.param(lambda: xpnet.MLP(()), xpnet.XPNetValueError, r"sizes: .*at least 2.*received \[\]", id="sizes-empty"),
    pytest.param(lambda: xpnet.MLP((3, 0, 2)), xpnet.XPNetValueError, r"sizes: .*positive.*\[3, 0, 2\]", id="sizes-0"),
    pytest.param(
        lambda: xpnet.MLP((3, -1, 2)), xpnet.XPNetValueError, r"sizes: .*positive.*\[3, -1, 2\]", id="sizes-neg"
    ),
    pytest.param(
        lambda: xpnet.MLP((3.0, 2)), xpnet.XPNetValueError, r"sizes: .*integer.*\[3\.0, 2\]", id="sizes-float"
    ),
    pytest.param(
        lambda: xpnet.MLP((3, True)), xpnet.XPNetValueError, r"sizes: .*integer.*\[3, True\]", id="sizes-bool"
    ),
    pytest.param(lambda: xpnet.MLP("34"), xpnet.XPNetTypeError, r"sizes: .*received '34' \(type str\)", id="sizes-str"),
    pytest.param(lambda: xpnet.MLP(3), xpnet.XPNetTypeError, r"sizes: .*received 3 \(type int\)", id="sizes-int"),
    pytest.param(
        lambda: xpnet.MLP((3, 2), activation="swish", device="cpu"),
        xpnet.XPNetValueError,
        r"activation: expected one of \['elu', 'gelu', 'identity', 'leaky_relu', 'relu', 'sigmoid', 'softplus', 'tanh'\]; received 'swish'",
        id="activation",
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), loss="hinge", device="cpu"),
        xpnet.XPNetValueError,
        r"loss: expected one of \['binary_cross_entropy', 'cross_entropy', 'mse', 'quadratic'\]; received 'hinge'",
        id="loss",
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), device="nosuch"),
        xpnet.XPNetValueError,
        r"device: unknown spec 'nosuch'; expected one of .*\"cpu\".*\"strict:<device>\"",
        id="device-unknown",
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), device=0), xpnet.XPNetTypeError, r"device .*received 0 \(type int\)", id="device-int"
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), device="strict:gpu7"),
        xpnet.XPNetValueError,
        r"device 'strict:gpu7'.* no device 'gpu7'; expected one of .*device1",
        id="device-strict-unknown",
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), device="cuda"),
        xpnet.BackendUnavailableError,
        r"device 'cuda' needs .*'cupy'.*Install it with: pip install \"xpnet\[cuda12\]\"",
        id="device-cuda-not-installed",
        marks=NO_CUPY,
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), device="strict:no_float64", dtype="float64"),
        xpnet.XPNetValueError,
        r"dtype: device 'strict:no_float64' has no float64",
        id="float64-on-no_float64",
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), device="cpu", dtype="int32"),
        xpnet.XPNetValueError,
        r"dtype: expected 'float32' or 'float64'; received 'int32'",
        id="dtype-int32",
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), device="cpu", dtype=np.float16),
        xpnet.XPNetValueError,
        r"dtype: expected 'float32' or 'float64'; received .*float16",
        id="dtype-float16",
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), device="cpu", seed="abc"), xpnet.XPNetTypeError, r"seed: .*received 'abc'", id="seed"
    ),
    pytest.param(
        lambda: xpnet.MLP((3, 2), device="cpu", seed=-1),
        xpnet.XPNetValueError,
        r"seed: expected a non-negative integer; received -1",
        id="seed-negative",
    ),
]


@pytest.mark.parametrize(("call", "error", "pattern"), MLP_CASES)
def test_mlp_constructor(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)


# ------------------------------------------------------ net(x), predict, predict_proba, loss_and_grads: bad x
BAD_X = [
    (X[0], xpnet.XPNetValueError, r"x: expected a 2-D array .*received shape \(3,\)", "1-D"),
    (X[None], xpnet.XPNetValueError, r"x: expected a 2-D array .*received shape \(1, 6, 3\)", "3-D"),
    (np.float32(1.0), xpnet.XPNetValueError, r"x: expected a 2-D array .*received shape \(\)", "0-D"),
    (X[:, :2], xpnet.XPNetValueError, r"x: expected .*\(n_samples >= 1, 3\); received shape \(6, 2\)", "features"),
    (X[:0], xpnet.XPNetValueError, r"x: expected .*n_samples >= 1.*received shape \(0, 3\)", "empty"),
    (nan_at(X), xpnet.XPNetValueError, r"x: expected finite numbers; received 1 NaN .*nan at index \(1, 2\)", "nan"),
    (nan_at(X, np.inf), xpnet.XPNetValueError, r"x: expected finite numbers; .*inf at index \(1, 2\)", "inf"),
    (nan_at(X, -np.inf), xpnet.XPNetValueError, r"x: expected finite numbers; .*-inf at index", "-inf"),
    (np.full((6, 3), 1e300), xpnet.XPNetValueError, r"x: values up to 1e\+300 overflow float32", "overflow"),
    (X.astype(object), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype object", "object"),
    (np.full((6, 3), "a"), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype <U1", "str"),
    (X.astype(np.complex64), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype complex64", "complex"),
    ([[1.0, 2.0, 3.0], [1.0]], xpnet.XPNetValueError, r"x: expected a rectangular array; received \[\[1\.0", "ragged"),
    (None, xpnet.XPNetTypeError, r"x: expected an array .*received None", "None"),
    ("abc", xpnet.XPNetTypeError, r"x: expected an array .*received 'abc'", "string"),
]
METHODS: dict[str, Callable[[Any], Any]] = {
    "call": lambda x: NET(x),
    "predict": lambda x: NET.predict(x),
    "predict_proba": lambda x: NET.predict_proba(x),
    "loss_and_grads": lambda x: NET.loss_and_grads(x, Y),
    "evaluate": lambda x: xpnet.evaluate(NET, x, Y),
    "train": lambda x: train((x, Y)),
}


def _x_cases() -> list[Any]:
    cases = []
    for method, call in METHODS.items():
        for x, error, pattern, name in BAD_X:
            if method == "train" and name in ("features", "ragged"):
                continue  # train takes its input width from x; a list x reads as ((x, y), (x_test, y_test))
            if method == "train":
                pattern = pattern.replace(r"\(n_samples >= 1, 3\)", r"\(n_samples >= 1, ")
            marks = []
            if method in ("evaluate", "train") and name == "overflow":
                marks = []  # the cast to the model's dtype happens in Batches
            cases.append(pytest.param(lambda c=call, x=x: c(x), error, pattern, id=f"{method}-{name}", marks=marks))
    return cases


@pytest.mark.parametrize(("call", "error", "pattern"), _x_cases())
def test_bad_x_everywhere(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)


# ------------------------------------------------------------------ bad y, l2, device mismatch (forward/backward)
MISMATCH = r"array lives on 'strict:device1' but the model is on 'strict:CPU_DEVICE'"
MODEL_CASES = [
    pytest.param(lambda: NET.loss_and_grads(X, Y[:4]), xpnet.XPNetValueError, r"y: expected shape \(6,\) .*received shape \(4,\)", id="y-length"),
    pytest.param(lambda: NET.loss_and_grads(X, -Y), xpnet.XPNetValueError, r"y: labels must lie in \[0, 3\); received min -2", id="y-negative"),
    pytest.param(lambda: NET.loss_and_grads(X, Y + 1), xpnet.XPNetValueError, r"y: labels must lie in \[0, 3\); received min 1, max 3", id="y-too-big"),
    pytest.param(lambda: NET.loss_and_grads(X, Y + 0.5), xpnet.XPNetTypeError, r"y: expected integer class labels; received dtype float64 with non-integer values such as 0\.5", id="y-fractional"),
    pytest.param(lambda: NET.loss_and_grads(X, np.full(6, np.nan)), xpnet.XPNetValueError, r"y: expected integer class labels; received NaN", id="y-nan"),
    pytest.param(lambda: NET.loss_and_grads(X, Y > 0), xpnet.XPNetTypeError, r"y: expected integer class labels; received dtype bool", id="y-bool"),
    pytest.param(lambda: NET.loss_and_grads(X, np.array(list("abcabc"))), xpnet.XPNetTypeError, r"y: expected integer class labels; received dtype <U1", id="y-str"),
    pytest.param(lambda: NET.loss_and_grads(X, Y.astype(object)), xpnet.XPNetTypeError, r"y: expected integer class labels; received dtype object", id="y-object"),
    pytest.param(lambda: NET.loss_and_grads(X, Y[:, None]), xpnet.XPNetValueError, r"y: expected shape \(6,\) .*received shape \(6, 1\)", id="y-column-cross-entropy"),
    pytest.param(lambda: NET.loss_and_grads(X, None), xpnet.XPNetTypeError, r"y: expected an array .*received None", id="y-None"),
    pytest.param(lambda: QUAD.loss_and_grads(X, Y), xpnet.XPNetValueError, r"y: expected shape \(6, 3\) .*received shape \(6,\)", id="quadratic-y-labels"),
    pytest.param(lambda: QUAD.loss_and_grads(X, T[:, :2]), xpnet.XPNetValueError, r"y: expected shape \(6, 3\) .*received shape \(6, 2\)", id="quadratic-y-width"),
    pytest.param(lambda: QUAD.loss_and_grads(X, nan_at(T)), xpnet.XPNetValueError, r"y: expected finite numbers; received 1 NaN .*index \(1, 2\)", id="quadratic-y-nan"),
    pytest.param(lambda: QUAD.loss_and_grads(X, T.astype(str)), xpnet.XPNetTypeError, r"y: expected real numbers .*received dtype <U", id="quadratic-y-str"),
    pytest.param(lambda: NET.loss_and_grads(X, Y, l2=-1.0), xpnet.XPNetValueError, r"l2: expected a finite number >= 0\.0; received -1\.0", id="l2-negative"),
    pytest.param(lambda: NET.loss_and_grads(X, Y, l2=float("nan")), xpnet.XPNetValueError, r"l2: expected a finite number >= 0\.0; received nan", id="l2-nan"),
    pytest.param(lambda: NET.loss_and_grads(X, Y, l2="0.1"), xpnet.XPNetTypeError, r"l2: expected a real number; received '0\.1'", id="l2-str"),
    pytest.param(lambda: STRICT_NET(X_DEVICE1), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-call"),
    pytest.param(lambda: STRICT_NET.predict(X_DEVICE1), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-predict"),
    pytest.param(lambda: STRICT_NET.loss_and_grads(X_DEVICE1, Y), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-x"),
    pytest.param(lambda: STRICT_NET.loss_and_grads(X, Y_DEVICE1), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-y"),
    pytest.param(lambda: STRICT_NET(strict.asarray(X.astype(np.complex64))), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype .*complex64", id="device-x-complex"),
    pytest.param(lambda: STRICT_NET.loss_and_grads(X, strict.asarray(Y.astype(np.float32))), xpnet.XPNetTypeError, r"y: expected integer class labels; received dtype .*float32", id="device-y-float"),
    pytest.param(lambda: xpnet.MLP.from_params([np.zeros((3, 2))]), xpnet.XPNetValueError, r"params: expected a list .*even length.*received \[array", id="from_params-odd"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), MODEL_CASES)
def test_model_methods(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)


# --------------------------------------------------------------------------------------------------- evaluate
EVALUATE_CASES = [
    pytest.param(lambda: xpnet.evaluate(NET, X, Y[:3]), xpnet.XPNetValueError, r"y: expected shape \(6,\) .*received shape \(3,\)", id="length"),
    pytest.param(lambda: xpnet.evaluate(NET, X[:0], Y[:0]), xpnet.XPNetValueError, r"x: .*received shape \(0, 3\)", id="empty"),
    pytest.param(lambda: xpnet.evaluate(NET, X, -Y), xpnet.XPNetValueError, r"y: labels must lie in \[0, 3\); received min -2", id="y-negative"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y + 3), xpnet.XPNetValueError, r"y: labels must lie in \[0, 3\); received min 3, max 5", id="y-too-big"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y + 0.25), xpnet.XPNetTypeError, r"y: expected integer class labels; .*0\.25", id="y-fractional"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y[:, None]), xpnet.XPNetValueError, r"y: expected shape \(6,\) .*received shape \(6, 1\)", id="y-column"),
    pytest.param(lambda: xpnet.evaluate(QUAD, X, nan_at(T)), xpnet.XPNetValueError, r"y: expected finite numbers; .*nan", id="quadratic-y-nan"),
    pytest.param(lambda: xpnet.evaluate(QUAD, X, Y), xpnet.XPNetValueError, r"y: expected shape \(6, 3\) .*received shape \(6,\)", id="quadratic-y-labels"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, batch_size=0), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received 0", id="batch_size-0"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, batch_size=-4), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received -4", id="batch_size-negative"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, batch_size=True), xpnet.XPNetTypeError, r"batch_size: .*received True \(type bool\)", id="batch_size-bool"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, batch_size=2.5), xpnet.XPNetTypeError, r"batch_size: .*received 2\.5 \(type float\)", id="batch_size-float"),
    pytest.param(lambda: xpnet.evaluate(STRICT_NET, X_DEVICE1, Y), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch"),
    pytest.param(lambda: xpnet.evaluate("net", X, Y), xpnet.XPNetTypeError, r"model: expected an xpnet\.MLP; received 'net'", id="model-str"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, x_scale="1/255"), xpnet.XPNetTypeError, r"x_scale: expected a real number; received '1/255'", id="x_scale-str"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, x_scale=float("nan")), xpnet.XPNetValueError, r"x_scale: .*received nan", id="x_scale-nan"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), EVALUATE_CASES)
def test_evaluate(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)


# ---------------------------------------------------------------------------------------------------- Batches
def batches(x: Any = X, y: Any = Y, target: Any = CPU, dtype: Any = np.float32, **options: Any) -> list[Any]:
    return list(Batches(x, y, target, dtype, **({"batch_size": 2} | options)))


STRICT = resolve("strict")
BATCHES_CASES = [
    pytest.param(lambda: batches(batch_size=0), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received 0", id="batch_size-0"),
    pytest.param(lambda: batches(batch_size=-1), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received -1", id="batch_size-negative"),
    pytest.param(lambda: batches(batch_size=True), xpnet.XPNetTypeError, r"batch_size: .*received True \(type bool\)", id="batch_size-bool"),
    pytest.param(lambda: batches(batch_size=1.5), xpnet.XPNetTypeError, r"batch_size: .*received 1\.5 \(type float\)", id="batch_size-float"),
    pytest.param(lambda: batches(batch_size="2"), xpnet.XPNetTypeError, r"batch_size: .*received '2' \(type str\)", id="batch_size-str"),
    pytest.param(lambda: batches(placement="gpu"), xpnet.XPNetValueError, r"placement: expected one of \['auto', 'device', 'stream'\]; received 'gpu'", id="placement"),
    pytest.param(lambda: batches(y=Y[:3]), xpnet.XPNetValueError, r"y: expected shape \(6,\) or \(6, k\) to match x; received shape \(3,\)", id="length"),
    pytest.param(lambda: batches(x=X[0]), xpnet.XPNetValueError, r"x: expected a 2-D array .*received shape \(3,\)", id="x-1-D"),
    pytest.param(lambda: batches(x=np.float32(1)), xpnet.XPNetValueError, r"x: expected a 2-D array .*received shape \(\)", id="x-0-D"),
    pytest.param(lambda: batches(x=X.astype(object)), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype object", id="x-object"),
    pytest.param(lambda: batches(x=X.astype(str)), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype <U", id="x-str"),
    pytest.param(lambda: batches(x=X.astype(np.complex64)), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype complex64", id="x-complex"),
    pytest.param(lambda: batches(y=np.zeros((6, 2, 2))), xpnet.XPNetValueError, r"y: expected shape \(6,\) or \(6, k\) .*received shape \(6, 2, 2\)", id="y-3-D"),
    pytest.param(lambda: batches(target=3), xpnet.XPNetTypeError, r"target: expected a Backend or a device spec .*received 3 \(type int\)", id="target-int"),
    pytest.param(lambda: batches(target="nosuch"), xpnet.XPNetValueError, r"device: unknown spec 'nosuch'", id="target-unknown"),
    pytest.param(lambda: batches(dtype="int8"), xpnet.XPNetValueError, r"dtype: expected 'float32' or 'float64'; received 'int8'", id="dtype-int8"),
    pytest.param(lambda: batches(x=X_DEVICE1, y=Y_DEVICE1, target=STRICT, dtype=strict.float32), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch"),
    pytest.param(lambda: batches(x=X_DEVICE1, y=Y, target=STRICT, dtype=strict.float32), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-x-only"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), BATCHES_CASES)
def test_batches(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)


# ------------------------------------------------------------------------------------------------------ train
TRAIN_CASES = [
    pytest.param(lambda: train((X, Y[:3])), xpnet.XPNetValueError, r"y: .*\(6,\).*received shape \(3,\)", id="length"),
    pytest.param(lambda: train((X, Y[:3]), validation=0.5), xpnet.XPNetValueError, r"y: .*\(6,\).*received shape \(3,\)", id="length-with-validation"),
    pytest.param(lambda: train((X, Y[:0])), xpnet.XPNetValueError, r"y: .*\(6,\).*received shape \(0,\)", id="y-empty"),
    pytest.param(lambda: train((X, -Y)), xpnet.XPNetValueError, r"y: labels must .*received min -2", id="y-negative"),
    pytest.param(lambda: train((X, Y + 0.5)), xpnet.XPNetTypeError, r"y: expected integer class labels; received dtype float64", id="y-fractional"),
    pytest.param(lambda: train((X, Y[:, None])), xpnet.XPNetValueError, r"y: .*\(6,\).*received shape \(6, 1\)", id="y-column-cross-entropy"),
    pytest.param(lambda: train((X, nan_at(T)), loss="quadratic"), xpnet.XPNetValueError, r"y: expected finite numbers; .*nan", id="quadratic-y-nan"),
    pytest.param(lambda: train((X, -Y), loss="quadratic"), xpnet.XPNetValueError, r"y: labels must .*received min -2", id="quadratic-y-negative"),
    pytest.param(lambda: train((X, Y + 0.5), loss="quadratic"), xpnet.XPNetTypeError, r"y: expected integer class labels; .*0\.5", id="quadratic-y-fractional-labels"),
    pytest.param(lambda: train((X, np.zeros((6, 3, 1))), loss="quadratic"), xpnet.XPNetValueError, r"y: .*received shape \(6, 3, 1\)", id="quadratic-y-3-D"),
    pytest.param(lambda: train((X, Y), batch_size=0), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received 0", id="batch_size-0"),
    pytest.param(lambda: train((X, Y), batch_size=True), xpnet.XPNetTypeError, r"batch_size: .*received True \(type bool\)", id="batch_size-bool"),
    pytest.param(lambda: train((X, Y), batch_size=32.0), xpnet.XPNetTypeError, r"batch_size: .*received 32\.0 \(type float\)", id="batch_size-float"),
    pytest.param(lambda: train((X, Y), epochs=-1), xpnet.XPNetValueError, r"epochs: expected an integer >= 0; received -1", id="epochs-negative"),
    pytest.param(lambda: train((X, Y), epochs=1.5), xpnet.XPNetValueError, r"epochs: expected an integer >= 0; received 1\.5", id="epochs-float"),
    pytest.param(lambda: train((X, Y), lr=0.0), xpnet.XPNetValueError, r"lr: expected a finite number > 0\.0; received 0\.0", id="lr-0"),
    pytest.param(lambda: train((X, Y), lr=-0.1), xpnet.XPNetValueError, r"lr: expected a finite number > 0\.0; received -0\.1", id="lr-negative"),
    pytest.param(lambda: train((X, Y), lr=float("nan")), xpnet.XPNetValueError, r"lr: expected a finite number > 0\.0; received nan", id="lr-nan"),
    pytest.param(lambda: train((X, Y), l2=-1e-4), xpnet.XPNetValueError, r"l2: expected a finite number >= 0\.0; received -0\.0001", id="l2-negative"),
    pytest.param(lambda: train((X, Y), momentum=-0.5), xpnet.XPNetValueError, r"momentum: expected a finite number >= 0\.0; received -0\.5", id="momentum-negative"),
    pytest.param(lambda: train((X, Y), activation="swish"), xpnet.XPNetValueError, r"activation: expected one of \['elu', 'gelu', 'identity', .*\]; received 'swish'", id="activation"),
    pytest.param(lambda: train((X, Y), loss="hinge"), xpnet.XPNetValueError, r"loss: expected one of \['binary_cross_entropy', 'cross_entropy', 'mse', 'quadratic'\]; received 'hinge'", id="loss"),
    pytest.param(lambda: train((X, Y), optimizer="lbfgs"), xpnet.XPNetValueError, r"optimizer: expected one of \['adam', 'adamw', 'momentum', 'nesterov', 'rmsprop', 'sgd'\]; received 'lbfgs'", id="optimizer"),
    pytest.param(lambda: train((X, Y), lr_schedule="linear"), xpnet.XPNetValueError, r"lr_schedule: expected one of \['constant', 'cosine', 'step'\] or a callable; received 'linear'", id="lr_schedule"),
    pytest.param(lambda: train((X, Y), placement="gpu"), xpnet.XPNetValueError, r"placement: expected one of \['auto', 'device', 'stream'\]; received 'gpu'", id="placement"),
    pytest.param(lambda: train((X, Y), device="nosuch"), xpnet.XPNetValueError, r"device: unknown spec 'nosuch'; expected one of .*\"cpu\"", id="device-unknown"),
    pytest.param(lambda: train((X, Y), device="cuda"), xpnet.BackendUnavailableError, r"device 'cuda' needs .*'cupy'.*pip install \"xpnet\[cuda12\]\"", id="device-cuda-not-installed", marks=NO_CUPY),
    pytest.param(lambda: train((X, Y), device="strict:no_float64", dtype="float64"), xpnet.XPNetValueError, r"dtype: device 'strict:no_float64' has no float64", id="float64-on-no_float64"),
    pytest.param(lambda: train((X, Y), dtype="float16"), xpnet.XPNetValueError, r"dtype: expected 'float32' or 'float64'; received 'float16'", id="dtype-float16"),
    pytest.param(lambda: train((X_DEVICE1, Y_DEVICE1), model=STRICT_NET, device="auto"), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-model"),
    pytest.param(lambda: train((X_DEVICE1, Y_DEVICE1), device="strict"), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-device"),
    pytest.param(lambda: train((X, Y), validation=0.0), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received 0\.0", id="validation-0"),
    pytest.param(lambda: train((X, Y), validation=1.0), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received 1\.0", id="validation-1"),
    pytest.param(lambda: train((X, Y), validation=-0.2), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received -0\.2", id="validation-negative"),
    pytest.param(lambda: train((X, Y), validation=2), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received 2", id="validation-2"),
    pytest.param(lambda: train((X, Y), validation=float("nan")), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received nan", id="validation-nan"),
    pytest.param(lambda: train((X, Y), validation="0.1"), xpnet.XPNetValueError, r"validation: expected a fraction .*received '0\.1'", id="validation-str"),
    pytest.param(lambda: train((X, Y), validation=0.01), xpnet.XPNetValueError, r"validation: 0\.01 of 6 samples leaves an empty", id="validation-rounds-to-0"),
    pytest.param(lambda: train((X, Y), validation=(X[:0], Y[:0])), xpnet.XPNetValueError, r"x(_val)?: .*received shape \(0, 3\)", id="validation-empty"),
    pytest.param(lambda: train((X, Y), validation=(X[:, :2], Y)), xpnet.XPNetValueError, r"x(_val)?: .*\(n_samples >= 1, 3\); received shape \(6, 2\)", id="validation-features"),
    pytest.param(lambda: train((X, Y), validation=(X, Y + 3)), xpnet.XPNetValueError, r"y(_val)?: labels must lie in \[0, 3\); received min 3", id="validation-labels"),
    pytest.param(lambda: train((X, Y), validation=(X, Y, Y)), xpnet.XPNetValueError, r"validation: expected .*\(x_val, y_val\); received \(array", id="validation-3-tuple"),
    pytest.param(lambda: train((X, Y), hidden=(0,)), xpnet.XPNetValueError, r"hidden: .*positive integer.*received \(0,\)", id="hidden-0"),
    pytest.param(lambda: train((X, Y), hidden=(-3,)), xpnet.XPNetValueError, r"hidden: .*positive integer.*received \(-3,\)", id="hidden-negative"),
    pytest.param(lambda: train((X, Y), hidden=(4.5,)), xpnet.XPNetValueError, r"hidden: .*integer.*received \(4\.5,\)", id="hidden-float"),
    pytest.param(lambda: train((X, Y), hidden="64"), xpnet.XPNetTypeError, r"hidden: expected a sequence .*received '64'", id="hidden-str"),
    pytest.param(lambda: train((X, Y), hidden=64), xpnet.XPNetTypeError, r"hidden: expected a sequence .*received 64 \(type int\)", id="hidden-int"),
    pytest.param(lambda: train(((X, Y),)), xpnet.XPNetTypeError, r"(?s)data: expected .*\(x, y\).*; received \(\(array.*\(type tuple\)", id="data-1-tuple"),
    pytest.param(lambda: train((X, Y, Y)), xpnet.XPNetTypeError, r"(?s)data: expected .*\(x, y\).*; received \(array.*\(type tuple\)", id="data-3-tuple"),
    pytest.param(lambda: train(((X, Y), (X,))), xpnet.XPNetValueError, r"data: expected \(\(x, y\), \(x_test, y_test\)\) with two pairs", id="data-test-not-a-pair"),
    pytest.param(lambda: train(((X, Y), (X[:, :2], Y))), xpnet.XPNetValueError, r"x(_test)?: .*received shape \(6, 2\)", id="data-test-features"),
    pytest.param(lambda: train(None), xpnet.XPNetTypeError, r"data: expected .*received None", id="data-None"),
    pytest.param(lambda: train("cifar10"), xpnet.XPNetValueError, r"data: 'cifar10' is neither a data set name \['mnist', 'fashion-mnist', 'kmnist'\] nor an existing .npz or .csv file", id="data-unknown-name"),
    pytest.param(lambda: train((X, Y), early_stopping=2), xpnet.XPNetValueError, r"early_stopping: needs validation data", id="early_stopping-without-validation"),
    pytest.param(lambda: train((X, Y), model=xpnet.MLP((5, 3), device="cpu")), xpnet.XPNetValueError, r"x: .*\(n_samples >= 1, 5\); received shape \(6, 3\)", id="model-width"),
    pytest.param(lambda: train((X, Y), model="mlp"), xpnet.XPNetTypeError, r"model: expected an xpnet\.MLP; received 'mlp'", id="model-str"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), TRAIN_CASES)
def test_train(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)


# ------------------------------------------------------------------------------------------------- load_mnist
def _corrupt_copy(tmp_path: Path) -> Path:
    from xpnet.datasets.mnist import FILE_NAMES

    for name in FILE_NAMES:
        (tmp_path / name).write_bytes(b"not gzip")
    return tmp_path


LOAD_MNIST_CASES = [
    pytest.param(lambda tmp: load_mnist(path=tmp / "nosuch"), xpnet.DataNotFoundError, r"MNIST files not found: looked in \S*nosuch .*\(from path=\)", id="path-missing"),
    pytest.param(lambda tmp: load_mnist(path=tmp), xpnet.DataNotFoundError, r"MNIST files not found: looked in \S+ .*\(from path=\)", id="path-empty-folder"),
    pytest.param(lambda tmp: load_mnist(path=_corrupt_copy(tmp)), xpnet.DataIntegrityError, r"checksum mismatch for \S+train-images", id="path-corrupt"),
    pytest.param(lambda tmp: load_mnist(path=3), xpnet.XPNetTypeError, r"path must be a str, os\.PathLike or None, got 3 \(type int\)", id="path-int"),
    pytest.param(lambda tmp: load_mnist(flatten="yes"), xpnet.XPNetTypeError, r"flatten must be a bool, got 'yes'", id="flatten-str"),
    pytest.param(lambda tmp: load_mnist(as_uint8=1), xpnet.XPNetTypeError, r"as_uint8 must be a bool, got 1 \(type int\)", id="as_uint8-int"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), LOAD_MNIST_CASES)
def test_load_mnist(call: Callable[[Path], Any], error: type[Exception], pattern: str, tmp_path: Path) -> None:
    check(lambda: call(tmp_path), error, pattern)


def test_load_mnist_missing_path_is_also_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_mnist(path=tmp_path / "nosuch")


# ------------------------------------------------------------------------------------------------------- CLI
CLI_CASES = [
    pytest.param(("--epochs", "-1"), r"epochs: expected an integer >= 0; received -1", id="epochs-negative"),
    pytest.param(("--lr", "0"), r"lr: expected a finite number > 0\.0; received 0\.0", id="lr-0"),
    pytest.param(("--batch-size", "0"), r"--batch-size: expected a positive integer; received 0", id="batch-size-0"),
    pytest.param(("--device", "nosuch"), r"device: unknown spec 'nosuch'; expected one of", id="device-unknown"),
    pytest.param(("--device", "cuda"), r"device 'cuda' needs .*Install it with: pip install", id="device-cuda", marks=NO_CUPY),
    pytest.param(("--hidden", "0"), r"hidden: .*positive integer.*received \[0\]", id="hidden-0"),
    pytest.param(("--data", "nosuch"), r"--data: 'nosuch' is neither a data set name \(mnist, fashion-mnist, kmnist\) nor an existing file or folder", id="data-unknown"),
    pytest.param(("--epochs", "1.5"), r"argument --epochs: invalid int value: '1\.5'", id="epochs-float"),
    pytest.param(("--validation", "2"), r"--validation: expected a fraction between 0 and 1, such as 0\.1; received 2$", id="validation-2"),
    pytest.param(("--early-stopping", "3"), r"--early-stopping: needs a validation set to watch; add --validation 0\.1", id="early-stopping-alone"),
    pytest.param(("--optimizer", "LBFGS"), r"argument --optimizer: invalid choice: 'lbfgs' \(choose from '?adam'?, '?adamw", id="optimizer-unknown"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "pattern"), CLI_CASES)
def test_cli_prints_the_message_and_exits_2(args: tuple[str, ...], pattern: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "xpnet", "train", *args, "--limit", "50", "--no-progress", "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last_line = proc.stderr.splitlines()[-1]  # after argparse's usage, the error is the last line
    assert last_line.startswith("xpnet: error: "), proc.stderr
    assert re.search(pattern, last_line), last_line
    assert not (out / "history.json").exists()
