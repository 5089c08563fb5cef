"""Checkpoints, exact resume after SIGKILL, and the divergence guard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import xpnet
from xpnet.io import read_tensors, write_tensors
from xpnet.training.checkpoint import FILE_NAME, KIND

SETTINGS = dict(
    device="cpu",
    hidden=(32,),
    epochs=4,
    batch_size=32,
    optimizer="momentum",
    lr=0.05,
    progress=False,
    verbose=0,
    seed=11,
)

CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import xpnet

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2000, 20)), rng.integers(0, 4, size=2000)
    train_module = sys.modules["xpnet.training.loop"]
    original = train_module.save_checkpoint

    def save_then_hang(*args, **kwargs):
        path = original(*args, **kwargs)
        where = kwargs["where"]
        if where.epoch == 2 and where.position > 0:  # mid-epoch 2: tell the parent, then wait to be killed
            print("READY", where.epoch, where.position, flush=True)
            time.sleep(600)
        return path

    train_module.save_checkpoint = save_then_hang
    xpnet.train((x, y), checkpoint_dir=sys.argv[1], checkpoint_every=13, **SETTINGS)
    print("FINISHED", flush=True)
    """
)


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(2000, 20)), rng.integers(0, 4, size=2000)


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD.replace("**SETTINGS", "**" + repr(SETTINGS)))
    ckpt = tmp_path / "ckpt"
    child = subprocess.Popen([sys.executable, str(script), str(ckpt)], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.startswith("READY"), line
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    _, meta = read_tensors(ckpt / FILE_NAME, kind=KIND)
    assert meta["epoch"] == 2 and 0 < meta["position"] < 63  # killed in the middle of epoch 2
    assert not [p for p in os.listdir(ckpt) if p.endswith(".tmp")]  # no half-written file visible

    x, y = data()
    resumed = xpnet.train((x, y), checkpoint_dir=ckpt, checkpoint_every=13, resume=True, **SETTINGS)
    straight = xpnet.train((x, y), **SETTINGS)
    for a, b in zip(resumed.model.params, straight.model.params):
        assert np.array_equal(a, b)  # bit for bit
    assert resumed.history["train_loss"] == straight.history["train_loss"]
    assert resumed.history["lr"] == straight.history["lr"]


def test_resume_refuses_a_checkpoint_from_other_settings(tmp_path):
    x, y = data()
    xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, **(SETTINGS | {"epochs": 1}))
    with pytest.raises(xpnet.XPNetValueError, match=r"resume: .*lr: checkpoint 0.05, now 0.1"):
        xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, resume=True, **(SETTINGS | {"lr": 0.1}))
    with pytest.raises(xpnet.XPNetValueError, match=r"validation: checkpoint None, now 0.25"):
        xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, resume=True, **(SETTINGS | {"validation": 0.25}))
    xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path / "ln", **(SETTINGS | {"epochs": 1, "norm": "layer"}))
    with pytest.raises(xpnet.XPNetValueError, match=r"norm_eps: checkpoint 1e-05, now 0.001"):
        xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path / "ln", resume=True,
                    **(SETTINGS | {"epochs": 1, "norm": "layer", "norm_eps": 1e-3}))  # fmt: skip


def test_a_checkpoint_from_before_newer_settings_existed_resumes(tmp_path):
    """Settings added after format version 1 (standardize, shuffle, ranks, the toolbox's) default on resume."""
    x, y = data()
    xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, **(SETTINGS | {"epochs": 1}))
    tensors, meta = read_tensors(tmp_path / FILE_NAME, kind=KIND)
    for key in ("standardize", "shuffle", "ranks", "dropout", "norm", "norm_momentum", "norm_eps", "clip_norm",
                "weight_decay", "validation"):  # fmt: skip
        del meta["config"][key]
    write_tensors(tmp_path / FILE_NAME, tensors, meta, kind=KIND)
    with pytest.warns(UserWarning, match=r"set for 1 epochs and this one for 2: the cosine learning-rate schedule"):
        more = xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, resume=True, **(SETTINGS | {"epochs": 2}))
    assert [r["epoch"] for r in more.history] == [1, 2]
    with pytest.raises(xpnet.XPNetValueError, match=r"dropout: checkpoint 0.0, now \[0.5\]"):
        xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, resume=True, **(SETTINGS | {"dropout": 0.5}))


def test_a_given_models_checkpoint_from_before_norm_settings_were_recorded_resumes(tmp_path):
    """A model given with model= could carry other norm settings than train's defaults before train took them."""
    x, y = data()

    def model():
        return xpnet.MLP((20, 32, 4), norm="layer", norm_eps=1e-3, device="cpu", seed=3)

    settings = SETTINGS | {"epochs": 1, "lr_schedule": "constant"}
    xpnet.train((x[:200], y[:200]), model=model(), checkpoint_dir=tmp_path, **settings)
    tensors, meta = read_tensors(tmp_path / FILE_NAME, kind=KIND)
    assert meta["config"]["norm_eps"] == 1e-3 and meta["config"]["norm_momentum"] is None  # layer norm: no momentum
    del meta["config"]["norm_momentum"], meta["config"]["norm_eps"]
    write_tensors(tmp_path / FILE_NAME, tensors, meta, kind=KIND)
    more = xpnet.train(
        (x[:200], y[:200]), model=model(), checkpoint_dir=tmp_path, resume=True, **(settings | {"epochs": 2})
    )
    assert [r["epoch"] for r in more.history] == [1, 2]


def test_norm_settings_without_a_norm_do_not_stop_a_resume(tmp_path):
    x, y = data()
    xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, **(SETTINGS | {"epochs": 1, "lr_schedule": "constant"}))
    more = xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, resume=True,
                       **(SETTINGS | {"epochs": 2, "lr_schedule": "constant", "norm_eps": 1e-3}))  # fmt: skip
    assert [r["epoch"] for r in more.history] == [1, 2] and more.history.meta["norm_eps"] is None


def test_resume_without_a_checkpoint_starts_afresh_and_more_epochs_continue(tmp_path):
    x, y = data()
    first = xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, resume=True, **(SETTINGS | {"epochs": 2}))
    assert len(first.history) == 2 and (tmp_path / FILE_NAME).exists() and (tmp_path / "history.json").exists()
    with pytest.warns(UserWarning, match=r"set for 2 epochs and this one for 3"):
        more = xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, resume=True, **(SETTINGS | {"epochs": 3}))
    assert [r["epoch"] for r in more.history] == [1, 2, 3]
    assert more.history[:2] == first.history[:2]


def test_checkpoint_options_need_a_folder():
    x, y = data()
    for bad in ({"resume": True}, {"checkpoint_every": 5}):
        with pytest.raises(xpnet.XPNetValueError, match="checkpoint_dir"):
            xpnet.train((x[:64], y[:64]), **(SETTINGS | bad))
    with pytest.raises(xpnet.XPNetValueError, match="checkpoint_every"):
        xpnet.train((x[:64], y[:64]), checkpoint_dir="unused", checkpoint_every=0, **SETTINGS)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")  # the data are odd on purpose
def test_divergence_names_the_step_and_keeps_the_last_good_weights(tmp_path):
    x, y = data()
    x = x.copy()
    x[1000:] *= 1e30  # the second half of each epoch's batches blows the loss up
    settings = SETTINGS | {"lr": 1.0, "optimizer": "sgd", "lr_schedule": "constant", "epochs": 3}
    with pytest.raises(
        xpnet.TrainingDivergedError, match=r"non-finite by step \d+ \(epoch 1\).*smaller learning rate"
    ) as info:
        xpnet.train((x, y), checkpoint_dir=tmp_path, checkpoint_every=1, **settings)
    error = info.value
    assert error.epoch == 1 and 1 <= error.step <= 63
    assert all(np.isfinite(p).all() for p in error.model.params)
    tensors, meta = read_tensors(tmp_path / FILE_NAME, kind=KIND)
    assert meta["position"] < error.step  # the checkpoint on disk predates the first bad step
    assert all(np.isfinite(t).all() for t in tensors.values())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")  # the data are odd on purpose
def test_weights_that_overflow_while_the_loss_is_finite_are_caught(tmp_path):
    """One huge step can leave a finite loss but infinite weights: neither the model nor the checkpoint keeps them."""
    x, y = data()
    settings = SETTINGS | {"lr": 1e37, "optimizer": "sgd", "lr_schedule": "constant", "batch_size": 2000, "epochs": 2}
    with pytest.raises(xpnet.TrainingDivergedError) as info:
        xpnet.train((x * 1e3, y), checkpoint_dir=tmp_path, **settings)
    assert all(np.isfinite(p).all() for p in info.value.model.params)
    if (tmp_path / FILE_NAME).exists():
        tensors, _ = read_tensors(tmp_path / FILE_NAME, kind=KIND)
        assert all(np.isfinite(t).all() for t in tensors.values())


def test_a_run_that_stopped_early_stays_stopped_on_resume(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 10)), rng.integers(0, 3, size=200)  # noise: validation loss soon rises
    settings = dict(device="cpu", hidden=(64,), epochs=100, lr=0.5, optimizer="sgd", lr_schedule="constant",
                    validation=0.3, early_stopping=2, progress=False, checkpoint_dir=tmp_path)  # fmt: skip
    first = xpnet.train((x, y), **settings)
    assert first.stopped_early and len(first.history) < 100
    capsys.readouterr()
    again = xpnet.train((x, y), resume=True, **(settings | {"epochs": 400}))
    assert again.stopped_early and len(again.history) == len(first.history)  # no further epochs, even asked for
    assert "(the run stopped early: nothing to train; it stays as it stopped)" in capsys.readouterr().out
    for a, b in zip(again.model.params, first.model.params):
        assert np.array_equal(a, b)  # the best weights, as restored at the end of the first run


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")
def test_running_statistics_that_overflow_are_caught():
    """Batch norm keeps the loss finite on huge inputs while its running variance overflows: still divergence."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(256, 4)) * 1e25, rng.integers(0, 2, size=256)  # x² overflows float32
    with pytest.raises(xpnet.TrainingDivergedError) as info:
        xpnet.train((x, y), **(SETTINGS | {"hidden": (8,), "norm": "batch", "epochs": 2}))
    assert all(np.isfinite(xpnet.to_numpy(b)).all() for b in info.value.model.buffers)


@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")  # the data are odd on purpose
def test_a_snapshot_can_be_restored_twice():
    model = xpnet.MLP((3, 4, 2), norm="batch", device="cpu", seed=0)
    snap = model.snapshot()
    expected = [p.copy() for p in snap[0]]
    for _ in range(2):
        model.restore(snap)
        x, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
        xpnet.train((x, y), model=model, epochs=1, progress=False, verbose=0, lr=0.5)  # updates in place
        for p, e in zip(snap[0], expected):
            np.testing.assert_array_equal(p, e)


def test_a_ctrl_c_while_a_checkpoint_is_written_reports_that_checkpoint(tmp_path, monkeypatch, capsys):
    """The Ctrl-C arrives just after the checkpoint is renamed into place: it is acted on once the loop has noted
    the checkpoint, so the report names the one on disk (it said "no checkpoint was written yet")."""
    loop_module = sys.modules["xpnet.training.loop"]
    original = loop_module.save_checkpoint

    def save_then_ctrl_c(*args, **kwargs):
        path = original(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)
        return path

    monkeypatch.setattr(loop_module, "save_checkpoint", save_then_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # also where the tests run with it ignored
    try:
        x, y = data()
        with pytest.raises(KeyboardInterrupt):
            xpnet.train((x[:200], y[:200]), checkpoint_dir=tmp_path, checkpoint_every=3, **SETTINGS)
    finally:
        signal.signal(signal.SIGINT, previous)
    said = capsys.readouterr().err
    assert f"xpnet: interrupted; the last checkpoint is in {tmp_path} (epoch 1, step 3)" in said, said
    assert read_tensors(tmp_path / FILE_NAME, kind=KIND)[1]["position"] == 3
