"""JAX's programs: how many a run compiles, that the step is one program with its gather and metrics, and that
nothing is read back to the host between steps (on a GPU, each compile costs ~0.3 s and each read a wait)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import xpnet

jax = pytest.importorskip("jax")


COUNT_COMPILES = """
import collections, sys, jax, jax.monitoring, numpy as np, xpnet
compiles = collections.Counter()
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kw: compiles.update([event]) if event.endswith("backend_compile_duration") else None)
n, epochs = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
x, y = rng.normal(size=(n, 20)).astype(np.float32), rng.integers(0, 3, n)
result = xpnet.train(((x, y), (x[:300], y[:300])), device="jax:cpu", epochs=epochs, hidden=(32,), batch_size=64,
                     validation=0.1, progress=False, verbose=0)
trained = sum(compiles.values())
xpnet.evaluate(result.model, x, y)
result.model.predict(x); result.model.predict_proba(x); result.model(x)
print(trained, sum(compiles.values()) - trained)
"""


def test_training_and_evaluation_compile_a_few_programs_whatever_the_epochs_and_data():
    """Every operation JAX runs outside a compiled program compiles on its own, per shape (~0.3 s each on a GPU:
    108 programs took 33 of a 35 s run on an H200). The step, evaluation, prediction, batch gathers and the metrics
    are one program each per shape: the count is a constant (each run in a fresh process: no cache shared)."""
    counts = []
    for n, epochs in ((800, 1), (4000, 4)):
        done = subprocess.run([sys.executable, "-c", COUNT_COMPILES, str(n), str(epochs)], capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        counts.append(tuple(int(v) for v in done.stdout.split()))
    assert counts[0] == counts[1], counts  # neither epochs nor data size adds programs
    trained, evaluated = counts[0]
    # 6aa1202: 102 and 57; f6e8ef7: 29 and 11; before JAX 0.6 a snapshot's copies compile (xpnet.backend.copies)
    most_trained, most_evaluated = (12, 9) if jax.__version_info__ >= (0, 6) else (16, 12)
    assert trained <= most_trained and evaluated <= most_evaluated, counts


STATE_OUTSIDE_THE_STEP = """
import collections, jax, jax.monitoring, numpy as np, xpnet
from xpnet.training.metrics import Metrics
compiles = collections.Counter()
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kw: compiles.update([event]) if event.endswith("backend_compile_duration") else None)
net = xpnet.MLP((5, 7, 3), device="jax:cpu", norm="batch")
xpnet.backend.array_namespace(net.params[0])  # array-api-compat's own probe (jnp.empty) compiles once per process
before = sum(compiles.values())
optimizer = xpnet.optim.Adam(lr=0.1)
optimizer.ensure_state(net.params)
params, buffers = net.snapshot()
net.params[0] = jax.device_put(np.ones(net.params[0].shape, np.float32))  # changed after the snapshot
net.restore((params, buffers))
metrics = Metrics(net.params[0], 3, confusion=True, classifies=True)
made = sum(compiles.values()) - before
state = [b for name in optimizer.state for b in optimizer.state[name]]
assert all(s.shape == p.shape and s.dtype == p.dtype and not np.asarray(s).any() for s, p in zip(state, net.params))
assert all(a is not b and np.array_equal(a, b) for a, b in zip(net.params, params)), "restored copies, equal"
assert all(a is not b for a, b in zip(net.buffers, buffers)) and len(buffers) == 2
assert metrics.read()["count"] == 0 and metrics.read()["loss"] == 0.0
jax.jit(lambda ps: [p * 2 for p in ps], donate_argnums=0)(list(net.params))  # as the compiled step donates them
assert not any(p.is_deleted() for p in params), "a snapshot outlives the parameters it was taken of"
print(made)
"""


@pytest.mark.skipif(jax.__version_info__ < (0, 6), reason="before JAX 0.6 copies compile (xpnet.backend.copies)")
def test_optimizer_state_snapshots_and_metrics_compile_no_program():
    """Zeros and copies made outside the compiled step come from the host or the runtime: ``jnp.zeros`` and
    ``asarray(copy=True)`` compile a program per shape (~0.3 s each on a GPU), 15 of a first run's 35 programs."""
    done = subprocess.run([sys.executable, "-c", STATE_OUTSIDE_THE_STEP], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "0", done.stdout


def test_a_jax_epoch_reads_nothing_back_between_steps(monkeypatch):
    """Each step is queued behind the last: a value read to the host (a float, a NumPy copy, a wait) would make the
    host wait for the device at every step, on a GPU the whole launch pipeline."""
    from jax._src.array import ArrayImpl

    from xpnet.training.loop import Loop

    reads, inside = [], [False]

    def watched(name, original):
        def call(self, *args, **kwargs):
            if inside[0]:
                reads.append(name)
            return original(self, *args, **kwargs)

        return call

    for name in ("__array__", "__float__", "__int__", "__bool__", "__index__", "item", "tolist", "block_until_ready"):
        monkeypatch.setattr(ArrayImpl, name, watched(name, getattr(ArrayImpl, name)))
    value = ArrayImpl._value
    monkeypatch.setattr(ArrayImpl, "_value", property(lambda self: (reads.append("_value") if inside[0] else None)
                                                      or value.fget(self)))  # fmt: skip
    steps = Loop._steps

    def stepping(self, *args):
        for i in steps(self, *args):
            inside[0] = False
            yield i
            inside[0] = True
        inside[0] = False

    def started(self, *args):
        inside[0] = True
        return stepping(self, *args)

    monkeypatch.setattr(Loop, "_steps", started)
    inside[0] = True
    float(jax.numpy.ones(2)[0])  # the watch itself sees a read
    assert "__float__" in reads
    reads.clear()
    inside[0] = False
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 6)).astype(np.float32), rng.integers(0, 3, 300)
    result = xpnet.train((x, y), device="jax:cpu", hidden=(8,), dropout=0.2, epochs=2, batch_size=64, verbose=0,
                         progress=False, validation=0.2)  # fmt: skip
    assert result.history.meta["step"] == "jit" and len(result.history) == 2
    assert reads == [], reads


def test_a_jax_step_gathers_its_batch_and_adds_its_metrics_in_the_same_program(monkeypatch):
    """With the data on the device, one program a step: the batch's gather, the step and the running metrics (three
    dispatched a step otherwise, as the streamed placement still does); both give the same training."""
    from xpnet.data.batches import Batches
    from xpnet.training.loop import Loop
    from xpnet.training.metrics import Metrics

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 6)).astype(np.float32), rng.integers(0, 3, 300)
    settings = dict(device="jax:cpu", hidden=(8,), dropout=0.2, epochs=2, batch_size=64, verbose=0, progress=False,
                    optimizer="adam", lr=0.01, validation=0.2)  # fmt: skip
    streamed = xpnet.train((x, y), placement="stream", **settings)
    inside = [False]

    def refused_in_steps(original):
        def call(*args, **kwargs):
            assert not inside[0], "dispatched apart from the step"
            return original(*args, **kwargs)

        return call

    monkeypatch.setattr(Batches, "take", refused_in_steps(Batches.take))
    monkeypatch.setattr(Metrics, "add", refused_in_steps(Metrics.add))
    steps = Loop._steps

    def watched(self, *args):
        trained = steps(self, *args)
        while True:
            inside[0] = True
            try:
                i = next(trained)
            except StopIteration:
                return
            finally:
                inside[0] = False
            yield i

    monkeypatch.setattr(Loop, "_steps", watched)
    whole = xpnet.train((x, y), placement="device", **settings)
    assert whole.placement == "device" and streamed.placement == "stream"
    for key in ("train_loss", "train_accuracy", "val_loss"):
        np.testing.assert_allclose(whole.history[key], streamed.history[key], rtol=1e-6)
    for a, b in zip(whole.model.params, streamed.model.params):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_a_jax_step_takes_every_input_from_the_device(monkeypatch):
    """The rows, the optimizer's numbers, the step number and the dropout keys are in tables written once per epoch
    (a host value given to a call is a transfer per input per step: on a GPU each waits on the host); both batch
    sizes of an epoch, two epochs, dropout and Adam's numbers included."""
    from xpnet.training.compiled import CompiledStep

    calls, host_inputs = [], []
    program = CompiledStep.program

    def watched(self, size):
        run = program(self, size)

        def call(*args):
            calls.append(size)
            host_inputs.extend(
                type(a).__name__ for a in jax.tree_util.tree_leaves(args) if not isinstance(a, jax.Array)
            )
            return run(*args)

        return call

    monkeypatch.setattr(CompiledStep, "program", watched)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 6)).astype(np.float32), rng.integers(0, 3, 300)
    result = xpnet.train((x, y), device="jax:cpu", hidden=(8,), dropout=0.2, epochs=2, batch_size=64, verbose=0,
                         progress=False, optimizer="adam", lr=0.01, lr_schedule="cosine")  # fmt: skip
    assert result.history.meta["step"] == "jit"
    assert calls == [64, 64, 64, 64, 44] * 2, calls  # every step went through the whole-step program
    assert host_inputs == [], host_inputs
    assert result.history["lr"][0] != result.history["lr"][1]  # the schedule's rates reached the steps


def test_the_epoch_tables_take_rates_as_the_step_by_step_loop_does():
    """A schedule's NumPy float32 rate gives the numbers its Python float gives (Adam's are computed on the host in
    double precision); a rate the optimizer refuses is refused before the epoch trains at all; a batch larger than
    the data makes a table as wide as the data, not as the batch."""
    from xpnet.errors import XPNetValueError
    from xpnet.training.compiled import CompiledStep

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(150, 5)).astype(np.float32), rng.integers(0, 3, 150)
    settings = dict(device="jax:cpu", hidden=(8,), epochs=2, batch_size=32, verbose=0, progress=False, seed=3,
                    optimizer="adam", lr=0.01)  # fmt: skip
    rates = dict(lr=1.0)  # the schedule's rate is the step's: the same number as a float32 and a float
    runs = [xpnet.train((x, y), lr_schedule=lambda p, cast=cast: cast(0.01 - 0.007 * p), **(settings | rates))
            for cast in (np.float32, lambda v: float(np.float32(v)))]  # fmt: skip
    for a, b in zip(runs[0].model.params, runs[1].model.params):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    net = xpnet.MLP((5, 8, 3), device="jax:cpu", seed=1)
    before = [np.asarray(p).copy() for p in net.params]
    with pytest.raises(XPNetValueError, match="lr"):
        xpnet.train((x, y), model=net, lr_schedule=lambda p: 1.0 if p < 0.2 else -1.0, **settings)
    for a, b in zip(before, net.params):  # the bad rate is in the first epoch: no step of it ran
        np.testing.assert_array_equal(a, np.asarray(b))

    built = []
    build = CompiledStep.build
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CompiledStep, "build", lambda *a, **k: built.append(build(*a, **k)) or built[-1])
        xpnet.train((x, y), **(settings | {"batch_size": 10_000, "epochs": 1}))
    assert tuple(built[0].inputs.index.shape) == (1, 150)
    # rows in JAX's default integer, as a host row vector given to a program became: uint32 rows changed XLA's
    # gather and the sums after it by an ulp
    assert built[0].inputs.index.dtype == (np.int64 if jax.config.jax_enable_x64 else np.int32)
