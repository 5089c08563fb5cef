"""What a whole step (a CUDA graph on the CuPy stand-in, a JAX program) takes from its optimizer
(xpnet.training.whole_step): numbers changed between epochs reach it, a user's optimizer class runs operation by
operation unless it says it may, and a step that cannot stay captured falls back instead of failing.

Each case compares the whole step with ``compile=False``, which reads every number afresh at every step.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.optim import SGD, Momentum, make_optimizer
from xpnet.testing import cupy_standin

DEVICES = [
    pytest.param("cuda:1", marks=pytest.mark.skipif(cupy_standin.real_cupy_present(), reason="a real CuPy is here")),
    "jax:cpu",
]
RUN = dict(hidden=(16,), epochs=3, batch_size=64, seed=5, progress=False, verbose=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 7)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] ** 2 > 1).astype(int)  # batches of 64 and a short last one of 44


def on(device, request):
    if device.startswith("jax"):
        pytest.importorskip("jax")
        return None
    return request.getfixturevalue("cupy")


def params(result):
    return [xpnet.to_numpy(p) for p in result.model.params]


def agree(whole, eager, device):
    """The same training: bit for bit on the stand-in; within float32 rounding on JAX (XLA fuses differently)."""
    tolerance = 0 if device.startswith("cuda") else 1e-6
    np.testing.assert_allclose(whole.history["train_loss"], eager.history["train_loss"], rtol=tolerance)
    for a, b in zip(params(whole), params(eager)):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("placement", ["auto", "stream"])
def test_a_setting_a_callback_changes_between_epochs_reaches_the_whole_step(device, placement, data, request):
    """A callback that turned momentum off after epoch 1 changed nothing: the graphs and programs kept 0.9."""
    if device.startswith("cuda") and placement == "stream":
        pytest.skip("streamed data are not captured")
    on(device, request)

    def run(compile):
        opt = make_optimizer("momentum", 0.05)
        drop = lambda record, model: setattr(opt, "momentum", 0.0) if record["epoch"] == 1 else None  # noqa: E731
        return xpnet.train(data, device=device, optimizer=opt, callbacks=[drop], placement=placement,
                           compile=compile, **RUN)  # fmt: skip

    whole, eager = run(True), run(False)
    assert whole.history.meta["step"] in ("cuda-graph", "jit")
    agree(whole, eager, device)
    unchanged = xpnet.train(data, device=device, optimizer=make_optimizer("momentum", 0.05), compile=False, **RUN)
    assert unchanged.history["train_loss"][-1] != pytest.approx(eager.history["train_loss"][-1], rel=1e-3)


class OwnSGD(SGD):
    """A user's optimizer that reads its learning rate from ``self.lr``, as eager code may."""

    def _update(self, params, i, g, now):
        params[i] -= self.lr * g


class DeclaredSGD(SGD):
    """A user's optimizer that reads its numbers from ``now`` and says so."""

    whole_step = True

    def _update(self, params, i, g, now):
        params[i] -= now["lr"] * g


@pytest.mark.parametrize("device", DEVICES)
def test_a_users_optimizer_runs_operation_by_operation_unless_it_says_it_may(device, data, request):
    """OwnSGD's rate was baked in at capture: its cosine schedule was ignored and the weights differed by 0.1."""
    on(device, request)
    run = dict(device=device, lr_schedule="cosine", **RUN)
    whole, eager = (xpnet.train(data, optimizer=OwnSGD(0.5), compile=c, **run) for c in (True, False))
    assert whole.history.meta["step"] == "eager"
    assert "the optimizer OwnSGD is not one of xpnet's" in whole.history.meta["step_note"]
    agree(whole, eager, device)
    declared = xpnet.train(data, optimizer=DeclaredSGD(0.5), **run)
    assert declared.history.meta["step"] in ("cuda-graph", "jit")
    agree(declared, eager, device)
    assert xpnet.train(data, optimizer=SGD(0.5), **run).history.meta["step"] in ("cuda-graph", "jit")  # xpnet's own
    on_cpu = xpnet.train(data, optimizer=OwnSGD(0.5), placement="stream", **(run | {"device": "cpu"})).history.meta
    assert on_cpu["step_note"] is None  # NumPy has no whole step: nothing given up, nothing to say


@pytest.mark.parametrize("device", DEVICES)
def test_an_optimizer_state_a_callback_empties_is_made_again_before_the_whole_step(device, data, request):
    """Emptied between epochs, Adam's moments were made inside the capture: the step was refused mid-run."""
    on(device, request)

    def run(compile):
        opt = make_optimizer("adam", 1e-2)
        reset = lambda record, model: opt.state.clear()  # noqa: E731
        return xpnet.train(data, device=device, optimizer=opt, callbacks=[reset], compile=compile, **RUN)

    whole, eager = run(True), run(False)
    assert whole.history.meta["step"] in ("cuda-graph", "jit")
    agree(whole, eager, device)


class Rebinding(Momentum):
    """Says it may run in a whole step, yet stores new arrays where the step must update its own in place."""

    whole_step = True

    def step_from_sinks(self, params, buffers, penalty=None):
        self.steps += 1
        self.state["velocity"] = list(buffers)
        for i, v in enumerate(buffers):
            params[i] = params[i] - self._now()["lr"] * v


def test_a_step_that_replaces_its_arrays_falls_back_to_operations_and_says_so(cupy, data):
    """Captured, it raised "the captured step replaced arrays" at its second step and left the model holding
    arrays made inside the capture (never computed: NaN on the stand-in, uninitialised memory on a GPU)."""
    run = dict(device="cuda:1", **RUN)
    with pytest.warns(RuntimeWarning, match="could not be captured as a CUDA graph: the step replaced arrays"):
        fallen = xpnet.train(data, optimizer=Rebinding(0.05), **run)
    eager = xpnet.train(data, optimizer=Rebinding(0.05), compile=False, **run)
    assert fallen.history.meta["step"] == "eager" and "replaced arrays" in fallen.history.meta["step_note"]
    assert all(np.isfinite(p).all() for p in params(fallen))
    agree(fallen, eager, "cuda:1")


def test_graphs_captured_again_let_the_old_ones_go(cupy, data, monkeypatch):
    """Weights put back after every epoch make every epoch capture anew: the old graphs stayed alive (58 after
    30 epochs), each holding what it captured."""
    from xpnet.backend import graphs

    made = []
    init = graphs.CupyCapturer.__init__
    monkeypatch.setattr(graphs.CupyCapturer, "__init__", lambda self, backend: made.append(self) or init(self, backend))
    kept = []

    def rewind(record, model):
        kept.append(kept[0] if kept else model.snapshot())
        model.restore(kept[0])

    xpnet.train(data, device="cuda:1", callbacks=[rewind], **(RUN | dict(epochs=6)))
    assert len(made) == 1 and len(made[0]._graphs) == 2  # this epoch's two shapes, no more
