"""The training step captured as a CUDA graph and replayed (xpnet.training.captured), proven on the CuPy stand-in.

The stand-in's graphs replay what was captured on the same memory with the numbers of the capture, and run
nothing at capture, as CUDA graphs do: a captured run equals the run made operation by operation bit for bit only
if every replay reads the batch, the learning rate, the optimizer's step count and the dropout keys from the device.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import xpnet
from xpnet.testing import cupy_standin

pytestmark = pytest.mark.skipif(cupy_standin.real_cupy_present(), reason="a real CuPy is here: the gpu tests run")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 7)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] ** 2 > 1).astype(int)  # 300 rows in batches of 64: a short last batch of 44


@pytest.mark.parametrize(
    "settings",
    [
        dict(optimizer="momentum", lr_schedule="cosine"),
        dict(optimizer="adam", dropout=0.2, clip_norm=0.5, l2=1e-3),
        dict(optimizer="adamw", norm="batch", lr_schedule="step"),
        dict(optimizer="nesterov", norm="layer", dropout=[0.1, 0.3], hidden=(16, 8)),
        dict(optimizer="rmsprop", loss="mse", activation="tanh"),
    ],
    ids=["momentum-cosine", "adam-dropout-clip", "adamw-batchnorm", "nesterov-layernorm", "rmsprop-mse"],
)
def test_a_captured_run_equals_the_run_made_operation_by_operation(cupy, data, settings):
    x, y = data
    if settings.get("loss") == "mse":
        y = np.c_[x[:, :2].sum(axis=1), x[:, 2]].astype(np.float32)
    run = dict(hidden=(16,), epochs=3, batch_size=64, seed=5, device="cuda:1", progress=False, verbose=0) | settings
    captured, eager = xpnet.train((x, y), **run), xpnet.train((x, y), compile=False, **run)
    assert captured.history.meta["step"] == "cuda-graph" and eager.history.meta["step"] == "eager"
    assert captured.history["train_loss"] == eager.history["train_loss"]
    for a, b in zip([*captured.model.params, *captured.model.buffers], [*eager.model.params, *eager.model.buffers]):
        np.testing.assert_array_equal(a.get(), b.get())
    for name in eager.optimizer.state:
        for a, b in zip(captured.optimizer.state[name], eager.optimizer.state[name]):
            np.testing.assert_array_equal(a.get(), b.get())
    assert captured.optimizer.steps == eager.optimizer.steps == 15
    assert captured.history["lr"] == eager.history["lr"]


def test_each_batch_shape_runs_eagerly_once_is_captured_once_and_then_replays(cupy, data, monkeypatch):
    from xpnet.backend import graphs

    made, captures, warmed = [], [], []
    init, capture, warm = graphs.CupyCapturer.__init__, graphs.CupyCapturer.capture, graphs.CupyCapturer.warm
    monkeypatch.setattr(graphs.CupyCapturer, "__init__", lambda self, backend: made.append(self) or init(self, backend))
    monkeypatch.setattr(graphs.CupyCapturer, "capture", lambda self, fn: captures.append(1) or capture(self, fn))
    monkeypatch.setattr(graphs.CupyCapturer, "warm", lambda self, fn: warmed.append(1) or warm(self, fn))
    xpnet.train(data, hidden=(8,), epochs=3, batch_size=64, device="cuda:1", progress=False, verbose=0)
    assert len(made) == 1 and len(warmed) == 2 and len(captures) == 2  # full batches, and the short last one
    assert sum(graph.launches for graph in made[0]._graphs) == 15 - 2  # every step but the first of each shape


def test_restored_weights_are_captured_again(cupy, data):
    """Early stopping and the divergence guard put copies of the weights back: the graphs, which read the old
    arrays, are captured anew (a stale graph would train memory the model no longer holds)."""
    x, y = data
    run = dict(hidden=(8,), epochs=4, batch_size=64, seed=1, device="cuda:1", progress=False, verbose=0)
    stopper = xpnet.EarlyStopping(patience=1, restore_best=True)
    captured = xpnet.train((x, y), validation=0.3, early_stopping=stopper, **run)
    eager = xpnet.train((x, y), validation=0.3, early_stopping=xpnet.EarlyStopping(patience=1, restore_best=True),
                        compile=False, **run)  # fmt: skip
    assert captured.history["val_loss"] == eager.history["val_loss"]
    for a, b in zip(captured.model.params, eager.model.params):
        np.testing.assert_array_equal(a.get(), b.get())


def test_weights_a_callback_puts_back_between_epochs_are_captured_again(cupy, data):
    """A callback may replace the model's arrays between epochs (here: epoch 1's weights restored after epoch 2);
    the next epoch's steps must train those, not the memory the graphs were captured on."""
    x, y = data
    run = dict(hidden=(8,), epochs=4, batch_size=64, seed=1, device="cuda:1", progress=False, verbose=0)

    def rewind() -> object:
        kept = []

        def callback(record, model):
            if record["epoch"] == 1:
                kept.append(model.snapshot())
            if record["epoch"] == 2:
                model.restore(kept[0])

        return callback

    captured = xpnet.train((x, y), callbacks=[rewind()], **run)
    eager = xpnet.train((x, y), callbacks=[rewind()], compile=False, **run)
    assert captured.history["train_loss"] == eager.history["train_loss"]
    for a, b in zip(captured.model.params, eager.model.params):
        np.testing.assert_array_equal(a.get(), b.get())


def test_a_run_stopped_mid_epoch_resumes_captured_as_the_straight_run(cupy, data, tmp_path, monkeypatch):
    """Resuming in the middle of an epoch starts the graphs' counter at that batch: the resumed run's batches, and so
    its weights and losses, are the uninterrupted captured run's bit for bit."""
    from xpnet.training import loop

    x, y = data
    run = dict(hidden=(8,), epochs=3, batch_size=64, seed=2, device="cuda:1", progress=False, verbose=0)
    original = loop.save_checkpoint

    def save_then_stop(*args, **kwargs):
        path = original(*args, **kwargs)
        if kwargs["where"].epoch == 1 and kwargs["where"].position == 2:
            raise RuntimeError("stopped")  # mid-epoch 1, after batch 2 of 5 was saved
        return path

    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    with pytest.raises(RuntimeError, match="stopped"):
        xpnet.train((x, y), checkpoint_dir=tmp_path, checkpoint_every=2, **run)
    monkeypatch.setattr(loop, "save_checkpoint", original)
    resumed = xpnet.train((x, y), checkpoint_dir=tmp_path, checkpoint_every=2, resume=True, **run)
    straight = xpnet.train((x, y), **run)
    assert resumed.history.meta["step"] == straight.history.meta["step"] == "cuda-graph"
    assert resumed.history["train_loss"] == straight.history["train_loss"]
    for a, b in zip(resumed.model.params, straight.model.params):
        np.testing.assert_array_equal(a.get(), b.get())


def test_where_a_step_cannot_be_captured_it_says_why(cupy, data, capsys, monkeypatch):
    run = dict(hidden=(8,), epochs=1, batch_size=64, device="cuda:1", progress=False, verbose=0)
    streamed = xpnet.train(data, placement="stream", **(run | {"verbose": 1}))
    assert streamed.history.meta["step"] == "eager"
    assert "streamed from the host" in streamed.history.meta["step_note"]
    shown = "placement: stream; steps one operation at a time: the data are streamed from the host"
    assert shown in capsys.readouterr().out  # printed with the placement, not only recorded
    monkeypatch.setenv("XPNET_DEVICE_BLAS", "0")
    from xpnet.backend import device_blas

    device_blas.device_blas.cache_clear()
    try:
        note = xpnet.train(data, **run).history.meta["step_note"]
    finally:
        device_blas.device_blas.cache_clear()
    assert note == "CuPy refuses matrix products inside a capture, and XPNET_DEVICE_BLAS=0 turned off xpnet's direct " \
                   "route to cuBLAS"  # fmt: skip
    assert xpnet.train(data, compile=False, **run).history.meta["step_note"] == "compile=False"
    on_cpu = xpnet.train(data, **{**run, "device": "cpu"}).history.meta
    assert on_cpu["step"] == "eager" and on_cpu["step_note"] is None  # nothing to capture, nothing given up
    with pytest.raises(xpnet.XPNetTypeError, match="compile: expected True or False"):
        xpnet.train(data, compile="yes", **run)


def test_a_host_read_inside_the_captured_step_is_refused(cupy, data, monkeypatch):
    """What a real capture refuses, the stand-in's refuses: a step that synchronised would not be captured."""
    from xpnet.training import step as step_module

    real = step_module.clip_by_global_norm

    def reads_the_norm(grads, max_norm):
        float(grads[0].sum())  # a host read, as `if norm > max_norm:` would be
        return real(grads, max_norm)

    monkeypatch.setattr(step_module, "clip_by_global_norm", reads_the_norm)
    with pytest.raises(RuntimeError, match="capturing"):
        xpnet.train(data, hidden=(8,), epochs=1, batch_size=64, clip_norm=1.0, device="cuda:1", progress=False,
                    verbose=0)  # fmt: skip


@pytest.mark.parametrize(
    "settings",
    [
        dict(activation="relu", optimizer="momentum", clip_norm=1.0),
        dict(activation="elu", optimizer="adam", dropout=0.2, norm="batch"),
        dict(activation="softplus", optimizer="adamw", loss="binary_cross_entropy", norm="layer"),
        dict(activation="gelu", optimizer="rmsprop", loss="mse"),
        dict(activation="leaky_relu", optimizer="nesterov", loss="quadratic"),
    ],
    ids=["relu", "elu-dropout-batchnorm", "softplus-bce", "gelu-mse", "leaky-quadratic"],
)
def test_a_torch_step_makes_no_tensor_of_host_values(data, settings):
    """What a PyTorch CUDA graph refuses: a tensor made from host values inside the step (array-api-compat turns
    the 0.0 of maximum(z, 0.0) into one: an H2D copy each call, 'Cannot copy between CPU and CUDA tensors during
    CUDA graph capture' on the first GPU). The captured body runs on torch:cpu with every torch call watched."""
    torch = pytest.importorskip("torch")
    from torch.overrides import TorchFunctionMode

    from xpnet.backend.graphs import Capturer
    from xpnet.data.batches import Batches
    from xpnet.optim import make_optimizer
    from xpnet.training.captured import CapturedSteps

    class Eager(Capturer):  # "captures" by running the function at every launch
        def scope(self):
            return contextlib.nullcontext()

        def capture(self, fn):
            return fn

    made = []

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func in (torch.asarray, torch.tensor, torch.as_tensor, torch.from_numpy):
                made.append(func.__name__)
            return func(*args, **(kwargs or {}))

    x, y = data
    loss = settings.pop("loss", "cross_entropy")
    if loss != "cross_entropy":
        y = np.eye(2)[y].astype(np.float32)
    optimizer, clip = settings.pop("optimizer"), settings.pop("clip_norm", None)
    model = xpnet.MLP((7, 16, 2), device="torch:cpu", loss=loss, seed=0, **settings)
    opt = make_optimizer(optimizer, 0.01)
    batches = Batches(x, y, model.backend, model.dtype, batch_size=64, rng=np.random.default_rng(0), placement="device")
    steps = CapturedSteps(model, opt, batches, 1e-3, clip, 0, Eager())
    steps.start_epoch(batches.epoch_order(), 0, 0, lambda step: 0.01)
    with Watch():
        for i in range(len(batches)):
            steps.step(i)
    assert made == []
    assert steps.metrics.read()["count"] == 300
