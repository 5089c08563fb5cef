"""PyTorch's own operators where xpnet calls them directly: the kernels its autograd runs for the loss, the latch's
step of any type, and every operator named by its resolved overload (a packet call costs host time per step)."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.backend import kernels, step_ops


def test_torch_cross_entropy_runs_pytorchs_own_kernels(monkeypatch):
    """On PyTorch the loss and its gradient are four of the five kernels its autograd runs for F.cross_entropy (the
    fifth fills the upstream gradient with a one, made once here; int32 labels, which NLL does not take, take the
    portable formulas)."""
    torch = pytest.importorskip("torch")
    from torch_calls import dispatched

    from xpnet.nn.losses import cross_entropy

    z, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    narrow = labels.to(torch.int32)
    cross_entropy(z, labels)  # the first call makes the upstream gradient's one; later calls reuse it
    with dispatched() as calls:
        cross_entropy(z, labels)
    assert [name for name, _, _ in calls] == ["_log_softmax", "nll_loss_forward", "nll_loss_backward",
                                              "_log_softmax_backward_data"]  # fmt: skip
    with dispatched() as calls:
        loss, _ = cross_entropy(z, narrow)
    names = [name for name, _, _ in calls]
    assert "nll_loss_forward" not in names and "exp" in names
    monkeypatch.setattr(kernels, "FAST_PATHS", False)
    np.testing.assert_allclose(float(cross_entropy(z, labels)[0]), float(loss), rtol=1e-6)


def test_the_torch_latch_takes_a_step_of_any_type():
    """On PyTorch the latch writes in place with one operation whatever the step is: a Python or NumPy number (a step
    run operation by operation) or a 0-d tensor of any dtype (a captured step's), into a latch of either float dtype
    and shape; the latch keeps its dtype."""
    torch = pytest.importorskip("torch")
    steps = (3, 3.0, np.float32(3), np.int64(3), torch.tensor(3.0, dtype=torch.float64), torch.tensor(3.0),
             torch.tensor(3))  # fmt: skip
    for dtype in (torch.float32, torch.float64):
        for shape in ((1,), ()):
            for step in steps:
                first = torch.zeros(shape, dtype=dtype)
                got = step_ops.latch_first(first, torch.tensor(float("nan")), step)
                assert got is first and first.dtype == dtype and float(first) == 3.0, (dtype, shape, step)
                step_ops.latch_first(first, torch.tensor(float("inf")), torch.tensor(9.0))
                assert float(first) == 3.0  # latched: a later non-finite step leaves it


def test_the_torch_step_calls_pytorchs_operators_by_their_resolved_overloads(monkeypatch):
    """``torch.ops.aten.eq(t, 0)`` goes through the operator's packet, which tries ``eq.Tensor`` first, fails on the
    Python number and then takes ``eq.Scalar``: 13-21 µs of host time per call on every step run operation by
    operation (a CPU's step, a GPU's without CUDA graphs). xpnet names the overload (``aten.eq.Scalar``): a training
    step, its metrics (the step as a number and as a device value) and the loss call no packet."""
    torch = pytest.importorskip("torch")
    from torch._ops import OpOverloadPacket

    from xpnet.nn.backprop import TRAINING
    from xpnet.optim import make_optimizer
    from xpnet.training.metrics import Metrics, accumulate
    from xpnet.training.step import train_step

    model = xpnet.MLP((5, 7, 3), device="torch:cpu", seed=0)
    rng = np.random.default_rng(0)
    x, y = torch.as_tensor(rng.normal(size=(8, 5)).astype(np.float32)), torch.as_tensor(rng.integers(0, 3, 8))
    optimizer, metrics = make_optimizer("momentum", 0.05, momentum=0.9), Metrics(model.params[0], 3)
    packets: list[str] = []
    original = OpOverloadPacket.__call__

    def recording(self, *args, **kwargs):
        packets.append(self.__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(OpOverloadPacket, "__call__", recording)
    loss, z = train_step(model, optimizer, x, y, 1e-4, context=TRAINING)
    metrics.add(loss, z, y, 1)  # the step as a number
    sums, first_bad = metrics.buffers
    accumulate(3, True, sums, first_bad, None, loss, z, y, torch.tensor(2.0))  # as a captured step: a device value
    step_ops.take_rows(x, torch.tensor([1, 0]))
    assert metrics.read()["accuracy"] * 8 == float(z.argmax(1).eq(y).sum()) * 2  # the block ran the step, twice counted
    monkeypatch.setattr(OpOverloadPacket, "__call__", original)
    assert packets == []
