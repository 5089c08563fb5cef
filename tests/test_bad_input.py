"""Bad input at every public entry point gives an xpnet error that names the argument and what was received.

One table per entry point: ``(call, expected error class, regex)``. Every regex checks the argument's name
and the received value, shape or dtype, so a raw NumPy broadcasting or indexing error can never pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_strict as strict
import numpy as np
import pytest
from bad_inputs import (
    MISMATCH,
    NET,
    NO_CUPY,
    QUAD,
    STRICT_NET,
    STRICT_QUAD,
    X_DEVICE1,
    Y_DEVICE1,
    T,
    X,
    Y,
    check,
    nan_at,
    train,
)

import xpnet

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


def test_a_network_too_large_to_allocate_names_its_widths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed allocation (simulated: a real one could succeed by overcommit and then exhaust the machine)."""
    from xpnet.nn.layers import Dense

    def out_of_memory(*args: Any) -> Any:
        raise MemoryError("Unable to allocate 7.28 TiB")

    monkeypatch.setattr(Dense, "create", out_of_memory)
    pattern = r"sizes: a network of widths \(3, 1000000, 2\) holds about 6,000,002 parameters \(0\.0224 GiB as float32\), more than 'cpu' could allocate \(Unable to allocate 7\.28 TiB\)"
    check(lambda: xpnet.MLP((3, 10**6, 2), device="cpu"), xpnet.ModelTooLargeError, pattern)


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
            if method == "train" and name == "3-D":  # training takes image-shaped x as images: 1 sample here
                error, pattern = xpnet.XPNetValueError, r"y: .* expects \(1,\) labels to match x; received shape \(6,\)"
            marks = []
            if method == "train" and name == "overflow":  # 1e300 everywhere is also a constant x: advised first
                marks = [pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")]
            cases.append(pytest.param(lambda c=call, x=x: c(x), error, pattern, id=f"{method}-{name}", marks=marks))
    return cases


@pytest.mark.parametrize(("call", "error", "pattern"), _x_cases())
def test_bad_x_everywhere(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)


# ------------------------------------------------------------------ bad y, l2, device mismatch (forward/backward)
MODEL_CASES = [
    pytest.param(lambda: NET.loss_and_grads(X, Y[:4]), xpnet.XPNetValueError, r"y: expected shape \(6,\) .*received shape \(4,\)", id="y-length"),
    pytest.param(lambda: NET.loss_and_grads(X, -Y), xpnet.XPNetValueError, r"y: labels must lie in \[0, 3\); received min -2", id="y-negative"),
    pytest.param(lambda: NET.loss_and_grads(X, Y + 1), xpnet.XPNetValueError, r"y: labels must lie in \[0, 3\); received min 1, max 3", id="y-too-big"),
    pytest.param(lambda: NET.loss_and_grads(X, Y + 0.5), xpnet.XPNetTypeError, r"y: expected integer class labels; received dtype float64 with non-integer values such as 0\.5; to predict real values \(regression\), use loss='mse'", id="y-fractional"),
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
    pytest.param(lambda: STRICT_NET.loss_and_grads(X_DEVICE1, Y), xpnet.DeviceMismatchError, "x: " + MISMATCH, id="device-mismatch-x"),
    pytest.param(lambda: STRICT_NET.loss_and_grads(X, Y_DEVICE1), xpnet.DeviceMismatchError, "y: " + MISMATCH, id="device-mismatch-y"),
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
    pytest.param(lambda: xpnet.evaluate(QUAD, X, T[:, :2]), xpnet.XPNetValueError, r"y: expected shape \(6, 3\) .*received shape \(6, 2\)", id="quadratic-y-width"),
    pytest.param(lambda: xpnet.evaluate(QUAD, X, Y + 3), xpnet.XPNetValueError, r"y: labels must lie in \[0, 3\)", id="quadratic-y-labels-out-of-range"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, batch_size=0), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received 0", id="batch_size-0"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, batch_size=-4), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received -4", id="batch_size-negative"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, batch_size=True), xpnet.XPNetTypeError, r"batch_size: .*received True \(type bool\)", id="batch_size-bool"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, batch_size=2.5), xpnet.XPNetTypeError, r"batch_size: .*received 2\.5 \(type float\)", id="batch_size-float"),
    pytest.param(lambda: xpnet.evaluate(STRICT_NET, X_DEVICE1, Y), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch"),
    pytest.param(lambda: xpnet.evaluate(STRICT_QUAD, X, Y_DEVICE1), xpnet.DeviceMismatchError, "y: " + MISMATCH, id="quadratic-y-labels-device-mismatch"),
    pytest.param(lambda: xpnet.evaluate(STRICT_QUAD, X, strict.asarray(Y + 0.5)), xpnet.XPNetTypeError, r"y: expected integer class labels; received dtype .*float64", id="quadratic-y-device-float-labels"),
    pytest.param(lambda: xpnet.evaluate("net", X, Y), xpnet.XPNetTypeError, r"model: expected an xpnet\.MLP; received 'net'", id="model-str"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, x_scale="1/255"), xpnet.XPNetTypeError, r"x_scale: expected a real number; received '1/255'", id="x_scale-str"),
    pytest.param(lambda: xpnet.evaluate(NET, X, Y, x_scale=float("nan")), xpnet.XPNetValueError, r"x_scale: .*received nan", id="x_scale-nan"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), EVALUATE_CASES)
def test_evaluate(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)
