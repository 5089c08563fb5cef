"""Device discipline: same seed => same bits everywhere; nothing leaks to the default device; no host syncs."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.backend import resolve
from xpnet.nn.init import generators, init_params


def test_same_seed_gives_identical_initial_parameters(backend):
    backend.require_values()
    net = backend.mlp((7, 9, 4), seed=42)
    host = init_params((7, 9, 4), "relu", generators(42, 1)[0], backend.dtype_name)
    for p, h in zip(net.params, host):
        got = xpnet.to_numpy(p)
        assert got.dtype == h.dtype
        assert np.array_equal(got, h)  # bit for bit after the transfer
    other = backend.mlp((7, 9, 4), seed=43)
    assert not np.array_equal(xpnet.to_numpy(other.params[0]), host[0])


def test_strict_device1_never_touches_the_default_device(monkeypatch):
    """Record the device of every array created during a full forward/backward/update on device1."""
    strict = pytest.importorskip("array_api_strict")
    from array_api_strict._array_object import Array

    net = xpnet.MLP((5, 7, 6, 3), device="strict:device1", seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    opts = [xpnet.optim.make_optimizer(name, 0.01) for name in ("sgd", "momentum", "nesterov", "adam")]
    seen = []
    original = Array._new.__func__

    def recording_new(cls, value, /, device):
        seen.append(device)
        return original(cls, value, device=device)

    monkeypatch.setattr(Array, "_new", classmethod(recording_new))
    for opt in opts:
        _loss, grads = net.loss_and_grads(x, y, l2=0.1)
        opt.step(net.params, grads)
    net.predict(x)
    net.predict_proba(x)
    assert len(seen) > 100
    assert set(seen) == {strict.Device("device1")}


def test_recorder_sees_a_default_device_leak(monkeypatch):
    """The recorder above can fail: an array made without device= shows up."""
    strict = pytest.importorskip("array_api_strict")
    from array_api_strict._array_object import Array

    seen = []
    original = Array._new.__func__
    monkeypatch.setattr(
        Array, "_new", classmethod(lambda cls, v, /, device: seen.append(device) or original(cls, v, device=device))
    )
    strict.zeros(3)
    assert seen and set(seen) != {strict.Device("device1")}  # device=None means the default device


def test_torch_meta_runs_the_whole_step_without_touching_values():
    """torch:meta has no data: any host sync or NumPy conversion inside the step would raise."""
    pytest.importorskip("torch")
    net = xpnet.MLP((5, 7, 3), device="torch:meta", seed=0)
    meta = resolve("torch:meta")
    x = meta.xp.empty((8, 5), device=meta.device)
    y = meta.xp.zeros((8,), dtype=meta.xp.int64, device=meta.device)
    for name in ("sgd", "momentum", "nesterov", "adam"):
        opt = xpnet.optim.make_optimizer(name, 0.01)
        loss, grads = net.loss_and_grads(x, y, l2=0.1)
        opt.step(net.params, grads)
    assert loss.device.type == "meta"
    assert all(p.device.type == "meta" for p in net.params)
    with pytest.raises(xpnet.XPNetValueError, match="meta"):
        xpnet.to_numpy(loss)


class RecordingGPU:
    """Stands in for a cupy.cuda.Device: counts how often code runs with it current."""

    def __init__(self):
        self.depth, self.entered = 0, 0

    def __enter__(self):
        self.depth += 1
        self.entered += 1
        return self

    def __exit__(self, *exc):
        self.depth -= 1


def test_cupy_style_devices_are_made_current_around_device_work(monkeypatch):
    """CuPy allocates on the *current* GPU: model calls, training epochs and evaluation must activate cuda:N."""
    import array_api_compat.numpy as xp_numpy

    from xpnet import backend as backend_module
    from xpnet.backend import Backend

    gpu = RecordingGPU()
    fake = Backend("cuda:1", "cupy", xp_numpy, gpu)
    seen_current = []
    real_backprop = xpnet.MLP._backprop

    def spy(self, *args, **kwargs):
        seen_current.append(gpu.depth > 0)
        return real_backprop(self, *args, **kwargs)

    monkeypatch.setattr(xpnet.MLP, "_backprop", spy)
    monkeypatch.setattr(backend_module.arrays, "backend_of", lambda a: fake)  # arrays "live" on the fake GPU
    monkeypatch.setattr(Backend, "supports_dtype", lambda self, dtype: True)
    monkeypatch.setattr(xpnet.data.batches, "free_memory", lambda target: None)  # no real GPU to ask
    net = xpnet.MLP((3, 4, 2), device=fake, seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20)
    before = gpu.entered
    net(x)
    net.loss_and_grads(x, y)
    xpnet.train((x, y), model=net, epochs=1, batch_size=5, progress=False, validation=0.2)
    assert gpu.entered > before + 3 and gpu.depth == 0
    assert seen_current and all(seen_current)  # every training step ran with the GPU current
    assert resolve("cpu").activate().__class__.__name__ == "nullcontext"


def test_the_cuda_probe_runs_on_the_ranks_own_gpu(monkeypatch):
    """A stand-in CuPy records which GPU the probe's kernel runs on: GPU ``index`` modulo the count, not GPU 0."""
    import contextlib
    import importlib.machinery
    import sys
    import types

    from xpnet.backend import inventory

    current: list[int] = []

    @contextlib.contextmanager
    def device(index):
        current.append(index)
        yield

    fake = types.ModuleType("cupy")
    fake.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 4), Device=device)
    fake.arange = lambda n: types.SimpleNamespace(sum=lambda: 3 if current else -1)  # wrong outside a device scope
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert inventory.cuda_usable(5) and current == [1]
    assert inventory.cuda_usable() and current == [1, 0]


def test_training_creates_device_arrays_inside_the_devices_scope(monkeypatch):
    """CuPy allocates on the *current* GPU whatever ``device=`` says, so everything ``train`` does once the backend
    is known (data preparation, batches, the gradient buffer, the loop) must run inside ``backend.activate()``."""
    import contextlib
    import sys

    from xpnet.backend import Backend

    train_module = sys.modules["xpnet.training.train"]  # the module; xpnet.training.train is the function
    depth, seen = [0], []
    activate = Backend.activate

    @contextlib.contextmanager
    def counted(self):
        depth[0] += 1
        try:
            with activate(self):
                yield
        finally:
            depth[0] -= 1

    def spy(name, real):
        def call(*args, **kwargs):
            seen.append((name, depth[0]))
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(Backend, "activate", counted)
    for name in ("prepare", "Batches", "build_model"):
        monkeypatch.setattr(train_module, name, spy(name, getattr(train_module, name)))
    rng = np.random.default_rng(0)
    xpnet.train((rng.normal(size=(40, 3)), rng.integers(0, 2, 40)), hidden=(4,), epochs=1, device="strict:device1",
                validation=0.25, progress=False, verbose=0)  # fmt: skip
    assert sorted(name for name, _ in seen) == ["Batches", "build_model", "prepare"]
    assert all(d > 0 for _, d in seen), seen
