"""The single-process half of data-parallel training: shards, shares, metric combination, launch detection."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xpnet
from xpnet.backend import host_view, resolve, resolve_local
from xpnet.backend.comm import collective_timeout, launched_size
from xpnet.data import Batches, shard_bounds
from xpnet.distributed import start
from xpnet.training.metrics import _combine


@given(st.integers(0, 500), st.integers(0, 300), st.integers(1, 9))
def test_shards_partition_the_rows_as_evenly_as_possible(start_row, count, size):
    parts = [shard_bounds(start_row, start_row + count, r, size) for r in range(size)]
    assert parts[0][0] == start_row and parts[-1][1] == start_row + count
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))  # contiguous, in rank order
    sizes = [e - s for s, e in parts]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("spec", ["cpu", "strict:device1"])
@pytest.mark.parametrize("placement", ["device", "stream"])
@pytest.mark.parametrize("on_device", [False, True])
def test_rank_batches_put_together_are_the_global_batches(spec, placement, on_device):
    target = resolve(spec)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, size=(103, 4), dtype=np.uint8), rng.integers(0, 5, size=103)
    if on_device:
        x, y = target.asarray(x), target.asarray(y)

    def batches(shard):
        made = Batches(x, y, target, target.xp.float32, batch_size=16, rng=np.random.default_rng(7),
                       placement=placement, scale=1 / 255, shard=shard)  # fmt: skip
        return made, [(xpnet.to_numpy(a), xpnet.to_numpy(b)) for a, b in made]

    whole, expected = batches(None)
    ranks = [batches((r, 3)) for r in range(3)]
    for i, (xb, yb) in enumerate(expected):
        np.testing.assert_array_equal(np.concatenate([got[i][0] for _, got in ranks]), xb)
        np.testing.assert_array_equal(np.concatenate([got[i][1] for _, got in ranks]), yb)
        assert sum(made.share(i) for made, _ in ranks) == pytest.approx(1.0)
        assert whole.share(i) == 1.0
    if placement == "device" and not on_device:
        assert all(made._device is None for made, _ in ranks)  # a rank never holds the whole data set


def test_last_batch_shorter_than_the_ranks_gives_empty_shares():
    target = resolve("cpu")
    x, y = np.zeros((33, 2)), np.zeros(33, dtype=np.int64)
    shares = [Batches(x, y, target, target.xp.float64, batch_size=16, shard=(r, 2)) for r in range(2)]
    last = [list(made)[-1][0].shape[0] for made in shares]
    assert last == [1, 0] and [made.share(2) for made in shares] == [1.0, 0.0]


def test_metrics_of_ranks_combine_into_the_jobs_totals():
    rows = np.asarray([[3.0, 2.0, 0.0, 5.0], [1.5, 1.0, 7.0, 3.0], [0.5, 0.0, 4.0, 1.0]])
    np.testing.assert_array_equal(_combine(rows), [5.0, 3.0, 4.0, 9.0])  # sums; earliest non-finite step
    assert _combine(rows[:1])[2] == 0.0


def test_launch_detection_reads_the_launchers_variables(monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(name, raising=False)
    assert launched_size() == 1 and start("auto") is None and start(False) is None
    monkeypatch.setenv("PMI_SIZE", "4")
    assert launched_size() == 4


def test_collective_timeout_setting(monkeypatch):
    monkeypatch.setenv("XPNET_COLLECTIVE_TIMEOUT", "0")
    assert collective_timeout() is None
    monkeypatch.setenv("XPNET_COLLECTIVE_TIMEOUT", "2.5")
    assert collective_timeout() == 2.5
    monkeypatch.setenv("XPNET_COLLECTIVE_TIMEOUT", "soon")
    with pytest.raises(xpnet.XPNetValueError, match="XPNET_COLLECTIVE_TIMEOUT: expected a number of seconds"):
        collective_timeout()


@pytest.mark.parametrize("bad", ["yes", 1, None, "on"])
def test_distributed_argument_is_checked(bad):
    with pytest.raises(xpnet.XPNetValueError, match="distributed: expected True, False or 'auto'"):
        xpnet.train((np.zeros((4, 2)), np.zeros(4, dtype=int)), distributed=bad, epochs=1, progress=False)


def test_rank_devices():
    assert resolve_local("cpu", 3).spec == "cpu"
    assert resolve_local("strict:device1", 1).spec == "strict:device1"
    gpus = [spec for spec in xpnet.devices() if spec.startswith("cuda:")]
    if gpus:
        assert resolve_local("cuda", 1).spec == f"cuda:{1 % len(gpus)}"
        assert resolve_local("cuda:0", 1).spec == "cuda:0"  # an explicit index is kept
    else:
        with pytest.raises(xpnet.BackendUnavailableError):
            resolve_local("cuda", 1)  # no CuPy or no GPU here: the usual message


def test_host_views_share_memory():
    a = np.zeros(3)
    assert host_view(a) is a
    assert host_view(resolve("strict").asarray(a)) is None
    torch = pytest.importorskip("torch")
    t = torch.zeros(3, dtype=torch.float64)
    host_view(t)[1] = 5.0
    assert float(t[1]) == 5.0
