"""Property: every public entry point either succeeds with outputs of the documented shapes or raises an
:class:`xpnet.XPNetError`; any other exception (a raw NumPy/array-api-strict/torch error) fails the test.

Inputs are drawn over shapes (empty, 0-D, 1-D, 3-D), dtypes (bool, int8, uint8, int64, float16, float32,
float64, complex64, str, object), values (NaN, ±inf, huge, negative or too large labels) and device specs
(valid ones and nonsense). Arrays are placed on the host, on the model's device or on another device.
Strategies lean towards valid input (``mostly``) so that the success paths, and the shapes they return,
are exercised too; ``pytest --hypothesis-show-statistics`` shows how often each outcome occurred.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xpnet
from xpnet.backend import Backend, resolve, to_numpy
from xpnet.data import Batches

pytest.importorskip("array_api_strict")
pytest.importorskip("torch")

pytestmark = [  # drawn data: overflow/NaN inputs and odd data sets on purpose
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning"),
]


def budget(examples: int, *, shrink: bool = True) -> settings:
    """``examples`` draws and no per-example deadline (the first torch call is slow); ``shrink=False`` for known
    failures, whose shrinking would take minutes."""
    phases = list(Phase) if shrink else [Phase.explicit, Phase.reuse, Phase.generate]
    return settings(
        max_examples=examples,
        deadline=None,
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any], odds: int = 3) -> st.SearchStrategy[Any]:
    """``valid`` ``odds`` times for each ``invalid`` (``one_of`` would flatten nested choices and lose the weights)."""
    return st.sampled_from([True] * odds + [False]).flatmap(lambda ok: valid if ok else invalid)


GOOD_DEVICES = ["cpu", "strict", "strict:device1", "strict:no_float64", "torch:cpu"]
BAD_DEVICES = ["nosuch", "cuda:x", "strict:gpu7", "torch:tpu", "", "cpu:0", "cuda"]
DEVICES = mostly(st.sampled_from(GOOD_DEVICES), st.sampled_from(BAD_DEVICES), odds=4)
KINDS = ["bool", "int8", "uint8", "int64", "float16", "float32", "float64", "complex64", "str", "object"]
FLOAT_KINDS = ("float32", "float64", "uint8")  # what inputs x usually are
LABEL_KINDS = ("int64", "uint8", "int8")
NASTY = st.sampled_from([math.nan, math.inf, -math.inf, 0.5, -0.0, 65504.0])  # representable in every float width
WHERE = st.sampled_from(["host"] * 4 + ["model"] * 3 + ["other"])


def _elements(dtype: np.dtype, labels: tuple[int, int], style: str) -> st.SearchStrategy[Any] | None:
    """``tame``: labels in range, floats in [-10, 10]; ``edge``: one off the range, NaN, ±inf; ``wild``: anything."""
    if style == "wild" or dtype.kind not in "iuf":
        return None
    if dtype.kind == "f":
        tame = st.floats(-10, 10, width=16)
        return tame if style == "tame" else st.one_of(tame, NASTY)
    low, high = labels if style == "tame" else (labels[0] - 1, labels[1] + 1)
    info = np.iinfo(dtype)
    return st.integers(max(low, int(info.min)), min(high, int(info.max)))


@st.composite
def arrays(
    draw: st.DrawFn, shape: tuple[int, ...], good: tuple[str, ...] = FLOAT_KINDS, labels: tuple[int, int] = (0, 2)
) -> np.ndarray:
    """An array of ``shape``: mostly of a ``good`` dtype with tame values, else any dtype (strings, objects too)."""
    kind = draw(mostly(st.sampled_from(good), st.sampled_from(KINDS), odds=5))
    if kind == "str":
        return draw(hnp.arrays(hnp.unicode_string_dtypes(max_len=3), shape))
    if kind == "object":  # Python lists of strings
        words = draw(st.lists(st.text(max_size=3), min_size=math.prod(shape), max_size=math.prod(shape)))
        return np.array(words, dtype=object).reshape(shape)
    dtype = np.dtype(kind)
    style = draw(st.sampled_from(["tame"] * 6 + ["edge", "wild"]))
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype, labels, style)))


def shapes(first: int | None, second: int | None) -> st.SearchStrategy[tuple[int, ...]]:
    """Mostly ``(first, second)`` (``second=None``: ``(first,)``; ``first=None``: 0 to 6); else 0 to 3 dims."""
    n = mostly(st.integers(1, 6), st.just(0), odds=6) if first is None else st.just(first)
    good = st.tuples(n) if second is None else st.tuples(n, st.just(second))
    return mostly(good, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), odds=6)


def place(a: np.ndarray, where: str, model: Backend) -> Any:
    """``a`` on the host, on ``model``'s device or on another device (kept on the host where the backend lacks the dtype)."""
    if where == "host" or a.dtype.kind not in "biufc":
        return a
    target = model if where == "model" else resolve("strict" if model.spec == "strict:device1" else "strict:device1")
    if target.name == "numpy":
        return a
    try:
        return target.xp.asarray(a, device=target.device)
    except (TypeError, ValueError):  # float16 on array-api-strict, float64 on strict:no_float64, ...
        return a


def outcome(call: Any) -> Any:
    """The result, or None for an XPNetError; any other exception propagates and fails the test."""
    try:
        result = call()
    except xpnet.XPNetError as exc:
        event(f"raised {type(exc).__name__}: {str(exc).split(':')[0]}")
        return None
    event("succeeded")
    return result


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(a.shape)


def _clearly_bad_host_x(x: Any, d: int) -> bool:
    """Host inputs every entry point must refuse: wrong shape, empty, not real numbers, NaN or ±inf."""
    if not isinstance(x, np.ndarray):
        return False
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != d or x.dtype.kind not in "biuf":
        return True
    return x.dtype.kind == "f" and not np.isfinite(x).all()


NETS = st.tuples(
    st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple),
    st.sampled_from(GOOD_DEVICES),
    st.sampled_from(["cross_entropy", "quadratic"]),
)


def build(sizes: tuple[int, ...], device: str, loss: str) -> xpnet.MLP:
    return xpnet.MLP(sizes, loss=loss, device=device, seed=0)


def draw_data(data: st.DataObject, d: int, k: int, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """Host ``x`` (mostly ``(n, d)``) and ``y`` (mostly labels ``(n,)`` in ``[0, k)``, or targets ``(n, k)``)."""
    x = data.draw(arrays(data.draw(shapes(None, d), label="x shape")), label="x")
    n = x.shape[0] if x.ndim else 1
    if loss == "cross_entropy":
        y = data.draw(arrays(data.draw(shapes(n, None)), good=LABEL_KINDS, labels=(0, k - 1)), label="y")
    else:
        y = data.draw(arrays(data.draw(shapes(n, k)), good=("float32", "float64"), labels=(0, 1)), label="y")
    return x, y


# ------------------------------------------------------------------------------------------------------ MLP
@budget(200)
@given(
    sizes=mostly(
        st.lists(st.integers(1, 5), min_size=2, max_size=4).map(tuple),
        st.one_of(
            st.lists(st.integers(-2, 5), max_size=4).map(tuple),
            st.lists(st.one_of(st.integers(1, 3), st.floats(0, 3), st.booleans(), st.text(max_size=1)), max_size=3),
            st.text(max_size=3),
            st.integers(),
            st.none(),
        ),
    ),
    activation=mostly(st.sampled_from(["relu", "sigmoid", "tanh", "identity"]), st.sampled_from(["swish", "", None])),
    loss=mostly(st.sampled_from(["cross_entropy", "quadratic"]), st.sampled_from(["hinge", None])),
    device=DEVICES,
    dtype=mostly(
        st.sampled_from(["float32", "float64", np.float32, np.float64]), st.sampled_from(["float16", "int32", 3, "x"])
    ),
)
def test_mlp_builds_or_raises_xpnet_error(sizes: Any, activation: Any, loss: Any, device: str, dtype: Any) -> None:
    net = outcome(lambda: xpnet.MLP(sizes, activation=activation, loss=loss, device=device, dtype=dtype, seed=0))
    if net is not None:
        assert net.sizes == tuple(sizes)
        assert [_shape(W) for W in net.params[::2]] == list(itertools.pairwise(sizes))
        assert [_shape(b) for b in net.params[1::2]] == [(width,) for width in sizes[1:]]


# ------------------------------------------------------------------------------ net(x), predict, predict_proba
@budget(250)
@given(net_args=NETS, where=WHERE, method=st.sampled_from(["__call__", "predict", "predict_proba"]), data=st.data())
def test_forward_succeeds_with_shapes_or_raises_xpnet_error(
    net_args: Any, where: str, method: str, data: st.DataObject
) -> None:
    net = build(*net_args)
    d, k = net.sizes[0], net.sizes[-1]
    host = data.draw(arrays(data.draw(shapes(None, d))), label="x")
    x = place(host, where, net.backend)
    out = outcome(lambda: getattr(net, method)(x))
    if _clearly_bad_host_x(x, d):
        assert out is None, f"{method} accepted x of shape {host.shape}, dtype {host.dtype}"
    if out is not None:
        n = host.shape[0]
        assert _shape(out) == ((n,) if method == "predict" else (n, k))


# ---------------------------------------------------------------------------------------------- loss_and_grads
@budget(250)
@given(
    net_args=NETS,
    where_x=WHERE,
    where_y=WHERE,
    l2=mostly(st.floats(0, 1), st.one_of(st.floats(), st.integers(-2, 2), st.booleans(), st.text(max_size=2)), odds=6),
    data=st.data(),
)
def test_loss_and_grads_succeeds_with_shapes_or_raises_xpnet_error(
    net_args: Any, where_x: str, where_y: str, l2: Any, data: st.DataObject
) -> None:
    net = build(*net_args)
    d, k = net.sizes[0], net.sizes[-1]
    host_x, host_y = draw_data(data, d, k, net.loss)
    x, y = place(host_x, where_x, net.backend), place(host_y, where_y, net.backend)
    result = outcome(lambda: net.loss_and_grads(x, y, l2=l2))
    if _clearly_bad_host_x(x, d):
        assert result is None
    if result is not None:
        loss, grads = result
        assert _shape(loss) == ()
        assert [_shape(g) for g in grads] == [_shape(p) for p in net.params]


# ---------------------------------------------------------------------------------------------------- evaluate
@budget(200, shrink=False)
@given(
    net_args=NETS,
    where=WHERE,
    batch_size=mostly(
        st.integers(1, 7), st.one_of(st.integers(-1, 0), st.booleans(), st.floats(0, 4), st.none()), odds=6
    ),
    data=st.data(),
)
def test_evaluate_succeeds_with_shapes_or_raises_xpnet_error(
    net_args: Any, where: str, batch_size: Any, data: st.DataObject
) -> None:
    net = build(*net_args)
    d, k = net.sizes[0], net.sizes[-1]
    host_x, host_y = draw_data(data, d, k, net.loss)
    x, y = place(host_x, where, net.backend), place(host_y, where, net.backend)
    result = outcome(lambda: xpnet.evaluate(net, x, y, batch_size=batch_size))
    if _clearly_bad_host_x(x, d):
        assert result is None
    if result is not None:
        assert result.n == host_x.shape[0]
        assert result.confusion.shape == (k, k)
        if isinstance(y, np.ndarray):  # device labels are not range-checked (that would need a host read)
            assert result.confusion.sum() == result.n
        assert 0.0 <= result.accuracy <= 1.0


# ----------------------------------------------------------------------------------------------------- Batches
@budget(200, shrink=False)
@given(
    device=DEVICES,
    dtype=mostly(st.sampled_from(["float32", "float64"]), st.sampled_from(["int8", None, "nonsense"]), odds=6),
    batch_size=mostly(st.integers(1, 7), st.one_of(st.integers(-1, 0), st.booleans(), st.floats(0, 4)), odds=6),
    placement=mostly(st.sampled_from(["auto", "device", "stream"]), st.just("gpu"), odds=6),
    where=WHERE,
    loss=st.sampled_from(["cross_entropy", "quadratic"]),
    data=st.data(),
)
def test_batches_deliver_every_row_or_raise_xpnet_error(
    device: str, dtype: Any, batch_size: Any, placement: str, where: str, loss: str, data: st.DataObject
) -> None:
    host_x, host_y = draw_data(data, 3, 2, loss)
    n = host_x.shape[0] if host_x.ndim else 0

    def run() -> list[Any]:
        target = resolve(device)
        x, y = place(host_x, where, target), place(host_y, where, target)
        return list(Batches(x, y, target, dtype, batch_size=batch_size, placement=placement))

    delivered = outcome(run)
    if delivered is not None:
        assert len(delivered) == math.ceil(n / batch_size)
        assert sum(_shape(xb)[0] for xb, _ in delivered) == n
        for xb, yb in delivered:
            assert _shape(xb)[1:] == host_x.shape[1:] and _shape(yb)[1:] == host_y.shape[1:]
            assert _shape(xb)[0] == _shape(yb)[0] <= batch_size
            assert to_numpy(xb).dtype.kind == "f"


# ------------------------------------------------------------------------------------------------------- train
@budget(150, shrink=False)
@given(
    epochs=mostly(st.integers(0, 2), st.sampled_from([-1, 1.5, True]), odds=8),
    batch_size=mostly(st.integers(1, 8), st.sampled_from([0, -1, True, 2.0]), odds=8),
    lr=mostly(st.floats(1e-3, 1.0), st.sampled_from([0.0, -0.1, math.nan, math.inf, 1e30]), odds=8),
    l2=mostly(st.floats(0, 0.1), st.sampled_from([-0.1, math.inf]), odds=8),
    validation=mostly(
        st.one_of(st.none(), st.floats(0.1, 0.6)), st.sampled_from([0.0, 1.0, -0.5, 1.5, math.nan]), odds=8
    ),
    loss=st.sampled_from(["cross_entropy", "quadratic"]),
    data=st.data(),
)
def test_train_returns_a_model_or_raises_xpnet_error(
    epochs: Any, batch_size: Any, lr: Any, l2: Any, validation: Any, loss: str, data: st.DataObject
) -> None:
    d = data.draw(st.integers(1, 3), label="d")
    host_x, host_y = draw_data(data, d, 3, loss)
    result = outcome(
        lambda: xpnet.train(
            (host_x, host_y),
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            l2=l2,
            validation=validation,
            loss=loss,
            progress=False,
            device="cpu",
            hidden=(4,),
            seed=0,
        )
    )
    width = host_x.shape[1] if host_x.ndim == 2 else -1  # train takes the input width from x
    if _clearly_bad_host_x(host_x, width):
        assert result is None
    if result is not None:
        named = host_y.ndim == 1 and host_y.dtype.kind in "OUS" and not all(isinstance(v, (int, float)) for v in host_y)
        if named:  # class names: one output per distinct name
            k = len({str(v) for v in host_y})
        else:
            k = host_y.shape[1] if host_y.ndim == 2 else int(np.max(host_y.astype(np.float64))) + 1
        assert result.model.sizes == (width, 4, k)
        assert len(result.history) == epochs
        assert _shape(result.model.predict(host_x)) == (host_x.shape[0],)
