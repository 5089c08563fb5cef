"""Device-aware minibatching: placements agree, order follows the seed, the last batch is kept."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.backend import resolve
from xpnet.data import Batches, choose_placement
from xpnet.data import batches as data_module


def host_batches(batches):
    return [(xpnet.to_numpy(xb), xpnet.to_numpy(yb)) for xb, yb in batches]


def make(n=103, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, d), dtype=np.uint8), rng.integers(0, 10, size=n)


@pytest.mark.parametrize("spec", ["cpu", "strict:device1", "torch:cpu"])
def test_device_and_stream_placements_give_identical_batches(spec):
    pytest.importorskip("torch") if spec.startswith("torch") else None
    target = resolve(spec)
    x, y = make()
    kinds = {}
    for placement in ("device", "stream"):
        batches = Batches(
            x,
            y,
            target,
            target.xp.float32,
            batch_size=16,
            rng=np.random.default_rng(5),
            placement=placement,
            scale=1 / 255,
        )
        assert batches.placement == placement
        kinds[placement] = [host_batches(batches) for _ in range(2)]  # two epochs, two permutations
    flat = {k: [batch for epoch in epochs for batch in epoch] for k, epochs in kinds.items()}
    assert len(flat["device"]) == len(flat["stream"]) == 14
    for (xd, yd), (xs, ys) in zip(flat["device"], flat["stream"]):
        assert xd.dtype == np.float32 and np.array_equal(xd, xs) and np.array_equal(yd, ys)
    first, second = kinds["device"]
    assert not np.array_equal(first[0][1], second[0][1])  # a new order each epoch


def test_batches_cover_every_sample_once_and_keep_the_last_partial_batch():
    x, y = make(n=103)
    target = resolve("strict:device1")
    batches = Batches(x, np.arange(103), target, target.xp.float32, batch_size=16, rng=np.random.default_rng(0))
    got = host_batches(batches)
    assert len(batches) == len(got) == 7
    assert [len(b[1]) for b in got] == [16] * 6 + [7]
    seen = np.concatenate([b[1] for b in got])
    assert sorted(seen.tolist()) == list(range(103))
    for xb, yb in got:  # rows travel with their labels, scaled only when asked
        np.testing.assert_array_equal(xb, x[yb].astype(np.float32))
    dropped = Batches(x, y, target, target.xp.float32, batch_size=16, drop_last=True)
    assert len(dropped) == 6 and len(host_batches(dropped)) == 6


def test_same_seed_same_order_on_every_backend():
    x, _ = make()
    orders = []
    for spec in ("cpu", "strict:device1", "strict"):
        target = resolve(spec)
        b = Batches(x, np.arange(103), target, target.xp.float64, batch_size=10, rng=np.random.default_rng(42))
        orders.append(np.concatenate([yb for _, yb in host_batches(b)]))
    assert all(np.array_equal(orders[0], o) for o in orders[1:])


def test_batches_stay_on_the_device():
    strict = pytest.importorskip("array_api_strict")
    x, y = make()
    target = resolve("strict:device1")
    for placement in ("device", "stream"):
        for xb, yb in Batches(x, y, target, strict.float32, batch_size=32, placement=placement):
            assert xb.device == yb.device == strict.Device("device1")
            assert xb.dtype == strict.float32 and yb.dtype == strict.int64


def test_auto_placement_uses_the_memory_budget(monkeypatch):
    target = resolve("cpu")
    assert choose_placement("auto", 10**9, target) == "device"  # host memory: no budget known
    monkeypatch.setattr(data_module, "free_memory", lambda t: 1000)
    assert choose_placement("auto", 400, target) == "device"
    assert choose_placement("auto", 600, target) == "stream"
    x, y = make(n=200, d=10)
    assert Batches(x, y, target, np.float32, batch_size=8).placement == "stream"


def test_device_arrays_are_used_where_they_are():
    strict = pytest.importorskip("array_api_strict")
    target = resolve("strict:device1")
    x = strict.ones((20, 3), device=target.device)
    y = strict.zeros((20,), dtype=strict.int64, device=target.device)
    batches = Batches(x, y, target, strict.float32, batch_size=8, placement="stream")
    assert batches.placement == "device"
    assert sum(xb.shape[0] for xb, _ in batches) == 20
    with pytest.raises(xpnet.DeviceMismatchError):
        Batches(x, y, resolve("strict"), strict.float32, batch_size=8)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, xpnet.XPNetValueError),
        (-3, xpnet.XPNetValueError),
        (2.5, xpnet.XPNetTypeError),
        (True, xpnet.XPNetTypeError),
    ],
)
def test_bad_batch_size(value, error):
    x, y = make()
    with pytest.raises(error, match="batch_size"):
        Batches(x, y, resolve("cpu"), np.float32, batch_size=value)


def test_bad_placement_lists_the_valid_ones():
    x, y = make()
    with pytest.raises(xpnet.XPNetValueError, match=r"placement: expected one of \['auto', 'device', 'stream'\]"):
        Batches(x, y, resolve("cpu"), np.float32, batch_size=4, placement="gpu")
