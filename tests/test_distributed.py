"""Data-parallel training on real MPI processes (``mpiexec -n 2`` and ``-n 3``; no mocks).

Every job runs tests/mpi_worker.py (helpers in tests/mpi_jobs.py); the 1-process reference is trained in this
process on the same data. Ranks on GPUs: test_distributed_gpu.py; the launcher: test_mpi_launch.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mpi_jobs import BASE, MARKS, WORKER, assert_same_run, job, outputs, reference, relative

import xpnet
from xpnet.testing.rank_parity import compare_ranks, launcher

pytestmark = MARKS


@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_equal_one_process_float64(tmp_path, ranks):
    # 901 training rows after validation: batches of 64 split 32/32 or 22/21/21, and a last batch of 5 rows.
    spec = dict(n=1001, train={**BASE, "validation": 0.1})
    done, _ = job(ranks, spec, tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert_same_run(outputs(tmp_path / "run", ranks), reference(spec), 1e-12)


def test_every_step_equals_one_process_float64():
    report = compare_ranks((2, 3), steps=40, dtype="float64", batch_size=30)
    assert report.ok, report.table()
    for entry in report.devices[1:]:
        assert len(entry.loss_diff) == 40 and entry.max_diff <= 1e-12, report.table()


def test_dropout_and_layer_norm_equal_one_process():
    # Each rank hashes its rows' global positions: the masks are the whole batch's, so the runs stay equal.
    report = compare_ranks((3,), steps=30, dtype="float64", batch_size=30, dropout=0.3, norm="layer")
    assert report.ok and report.devices[1].max_diff <= 1e-12, report.table()


def test_batch_norm_is_refused_data_parallel(tmp_path):
    done, _ = job(2, dict(n=300, train={**BASE, "norm": "batch"}), tmp_path / "run", timeout=60)
    assert done.returncode != 0
    assert "norm: batch normalization is not supported in data-parallel training" in done.stderr


def test_float32_within_documented_tolerance(tmp_path):
    spec = dict(n=1001, train={**BASE, "dtype": "float32"})
    done, _ = job(2, spec, tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert_same_run(outputs(tmp_path / "run", 2), reference(spec), 1e-5)


def test_empty_share_of_the_last_batch(tmp_path):
    spec = dict(n=129, train={**BASE})  # batches of 64, 64 and 1 row: rank 1 has nothing in the last one
    done, _ = job(2, spec, tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert_same_run(outputs(tmp_path / "run", 2), reference(spec), 1e-12)


@pytest.mark.parametrize("device", ["strict:device1", "torch:cpu"])
def test_staged_devices(tmp_path, device):
    if device.startswith("torch"):
        pytest.importorskip("torch")
    spec = dict(n=400, train={**BASE, "device": device, "validation": 0.1, "placement": "device"})
    done, _ = job(2, spec, tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert "gradients summed by mpi-host" in done.stderr
    assert_same_run(
        outputs(tmp_path / "run", 2), reference({**spec, "train": {**spec["train"], "device": "cpu"}}), 1e-12
    )


@pytest.mark.parametrize(("n", "validation"), [(2, None), (4, 0.5)], ids=["data", "after-validation-split"])
def test_fewer_samples_than_ranks_is_a_clear_error(tmp_path, n, validation):
    done, _ = job(3, dict(n=n, train={**BASE, "validation": validation}), tmp_path / "run", timeout=60)
    assert done.returncode != 0
    assert "x: 2 training samples cannot be shared by 3 ranks" in done.stderr


def test_ranks_with_different_data_refuse_to_train(tmp_path):
    done, _ = job(3, dict(n=300, rank_data=True, train=BASE), tmp_path / "run", timeout=60)
    assert done.returncode != 0
    assert "RanksDisagreeError" in done.stderr and "data differ on rank(s) [1, 2]" in done.stderr


def test_ranks_with_different_initial_weights_refuse_to_train(tmp_path):
    done, _ = job(2, dict(n=300, rank_model=True, train=BASE), tmp_path / "run", timeout=60)
    assert done.returncode != 0
    assert "RanksDisagreeError" in done.stderr and "weights differ on rank(s) [1]" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        (dict(progress="rank0", verbose="rank0"), "collective schedule differ on rank(s) [1]"),
        (dict(checkpoint_every="rank0"), "collective schedule differ on rank(s) [1]"),
        (dict(early_stopping="rank0", validation=0.1), "collective schedule differ on rank(s) [1]"),
    ],
    ids=["progress", "checkpoints", "early-stopping"],
)
def test_settings_that_change_when_ranks_meet_must_agree(tmp_path, extra, what):
    # Each setting marked "rank0" is given on rank 0 only: unchecked, the ranks would wait in different collectives.
    spec = dict(n=300, train={**BASE, "checkpoint_dir": str(tmp_path / "ck")}, rank0=extra)
    done, _ = job(2, spec, tmp_path / "run", timeout=60)
    assert done.returncode != 0
    assert "RanksDisagreeError" in done.stderr and what in done.stderr, done.stderr


def test_ranks_given_different_precisions_refuse_to_train(tmp_path):
    """Rank 0 at bf16, rank 1 at full float32: they trained, and rank 0's history said bf16 for the job."""
    pytest.importorskip("torch")
    spec = dict(n=300, train={**BASE, "device": "torch:cpu", "dtype": "float32"}, rank0={"precision": "bf16"})
    done, _ = job(2, spec, tmp_path / "run", timeout=60)
    assert done.returncode != 0
    assert "RanksDisagreeError" in done.stderr and "settings differ on rank(s) [1]" in done.stderr, done.stderr


@pytest.mark.parametrize("how", ["raise", "kill", "hang"])
def test_a_failing_rank_ends_the_job(tmp_path, how):
    # 50 epochs would take minutes: a job still running after 30 s (TimeoutExpired) has not been ended by the failure.
    spec = dict(n=2000, fail=dict(rank=1, epoch=2, how=how), train={**BASE, "epochs": 50})
    done, seconds = job(3, spec, tmp_path / "run", timeout=30, env={"XPNET_COLLECTIVE_TIMEOUT": "2"})
    assert done.returncode != 0
    said = done.stdout + done.stderr
    expected = {
        "raise": "rank 1 of 3",  # and the error itself
        "kill": "BAD TERMINATION",  # the launcher's report names the pid; rank 0 listed every rank's at the start
        "hang": "another rank has died or hangs",
    }[how]
    assert expected in said, done.stderr
    if how == "kill":  # the launcher names a pid of the job: the dead rank's, or (seen under load) a rank it killed
        pids = dict(re.findall(r"(\d)=cpu on \S+ pid (\d+)", said))
        named = re.search(r"PID (\d+) RUNNING", said)
        assert len(pids) == 3 and named and named[1] in pids.values(), said
    if how == "raise":
        assert "RuntimeError: disk on fire" in done.stderr
    print(f"{how}: job ended with exit {done.returncode} after {seconds:.1f} s")


def test_an_interrupt_that_rank_0_cannot_see_is_reported_by_the_interrupted_rank(tmp_path):
    # Rank 1 is interrupted after epoch 2 while rank 0 goes on into the next step's allreduce and waits there for
    # rank 1: rank 0 never sees the interrupt, so rank 1, after giving rank 0 its grace, says where the checkpoint is.
    ck = tmp_path / "ck"
    spec = dict(
        n=2000, fail=dict(rank=1, epoch=2, how="interrupt"), train={**BASE, "epochs": 50, "checkpoint_dir": str(ck)}
    )
    done, seconds = job(2, spec, tmp_path / "run", timeout=30)
    assert done.returncode == 130, done.stderr
    assert re.search(
        rf"xpnet: interrupted; the last checkpoint is in {re.escape(str(ck))} \(epoch 2, step 0\)", done.stderr
    )
    assert done.stderr.count("xpnet: interrupted; the last checkpoint") == 1
    assert "rank 1 of 2" in done.stderr and "interrupted; aborting the MPI job" in done.stderr
    print(f"interrupt on rank 1 alone: job ended with exit 130 after {seconds:.1f} s")


def _interrupted_checkpoint(tmp_path: Path, spec: dict) -> Path:
    """Run 2 ranks until rank 0 has written a mid-epoch checkpoint in epoch 2, then SIGKILL the whole job."""
    command = [*launcher(2), sys.executable, str(WORKER), json.dumps({**spec, "stop_after_checkpoint": True}),
               str(tmp_path / "killed")]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY 2"), line
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return Path(spec["train"]["checkpoint_dir"])


def test_resume_after_sigkill_of_the_whole_job(tmp_path):
    ckpt = tmp_path / "ckpt"  # float32: the resumed epoch's running sums must add up exactly as before, too
    train = {
        **BASE,
        "dtype": "float32",
        "epochs": 4,
        "batch_size": 32,
        "checkpoint_dir": str(ckpt),
        "checkpoint_every": 13,
    }
    spec = dict(n=1000, train=train)
    _interrupted_checkpoint(tmp_path, spec)
    copy = tmp_path / "ckpt3"
    shutil.copytree(ckpt, copy)
    resumed, _ = job(2, {**spec, "train": {**train, "resume": True}}, tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.stderr
    whole, _ = job(2, {**spec, "train": {**train, "checkpoint_dir": str(tmp_path / "fresh")}}, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    a, b = outputs(tmp_path / "resumed", 2), outputs(tmp_path / "whole", 2)
    assert int(b[0]["files_written"]) > 4 and int(b[1]["files_written"]) == 0  # checkpoints: rank 0's alone
    for k in [k for k in a[0] if k.startswith("arr_")]:
        assert np.array_equal(a[0][k], b[0][k]) and np.array_equal(a[1][k], b[1][k]), k  # bit for bit
    assert np.array_equal(a[0]["train_loss"], b[0]["train_loss"])  # the interrupted epoch's loss too
    # The same checkpoint on 3 ranks: same global batches, other sums: a warning, and equal up to rounding.
    other, _ = job(3, {**spec, "train": {**train, "checkpoint_dir": str(copy), "resume": True}}, tmp_path / "three")
    assert other.returncode == 0, other.stderr
    assert "written by 2 rank(s) and this run has 3" in other.stderr
    c = outputs(tmp_path / "three", 3)
    for k in [k for k in a[0] if k.startswith("arr_")]:
        assert relative(c[0][k], b[0][k]) <= 1e-5, k  # float32: rounding apart
    assert other.stderr.count("written by 2 rank(s)") == 1  # rank 0 speaks for the job


def test_cli_trains_on_two_ranks_and_rank_0_writes(tmp_path):
    out = tmp_path / "run"
    command = [*launcher(2), sys.executable, "-m", "xpnet", "train", "--limit", "600", "--epochs", "1", "--hidden",
               "16", "--device", "cpu", "--no-progress", "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("wrote ") == 1 and done.stdout.count("epoch  train loss") == 1
    assert "launched with 2 processes" in done.stderr and "distributed: 2 ranks" in done.stderr
    assert json.loads((out / "history.json").read_text())["meta"]["ranks"] == 2


@pytest.mark.parametrize(
    ("option", "message"),
    [(("--lr", "-1"), "--lr: expected a finite number > 0.0; received -1.0"),
     (("--validation", "1.5"), "--validation: expected a fraction between 0 and 1, such as 0.1; received 1.5"),
     (("--norm", "batch"), "--norm: batch normalization is not supported in data-parallel training")],
    ids=["lr", "validation", "batch-norm"],
)  # fmt: skip
def test_cli_bad_input_on_two_ranks_is_one_error_line_before_the_data(tmp_path, option, message):
    command = [*launcher(2), sys.executable, "-m", "xpnet", "train", "--limit", "600", "--epochs", "1", *option,
               "--device", "cpu", "--no-progress", "--out", str(tmp_path / "run")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count(f"xpnet: error: {message}") == 1, done.stderr
    assert "Traceback" not in done.stderr and "aborting the MPI job" not in done.stderr
    assert "data: " not in done.stdout, done.stdout


def test_batch_norm_is_refused_in_data_parallel_training():
    with pytest.raises(xpnet.XPNetValueError, match=r"norm: batch normalization is not supported in data-parallel"):
        compare_ranks((1, 2), norm="batch")


def test_ctrl_c_of_a_job_says_how_to_resume_it(tmp_path):
    ck = tmp_path / "ck"
    command = [*launcher(2), sys.executable, "-m", "xpnet", "train", "--limit", "20000", "--epochs", "100", "--hidden",
               "64", "--device", "cpu", "--no-progress", "--checkpoint-dir", str(ck), "--checkpoint-every", "5",
               "--out", str(tmp_path / "run")]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (ck / "checkpoint.safetensors").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: every process of the job gets it
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"xpnet: interrupted; the last checkpoint is in {ck}" in err
    assert "xpnet: continue with: mpiexec -n 2 xpnet train --limit 20000" in err and f"--resume {ck}" in err


def test_cli_parity_ranks():
    done = subprocess.run(
        [sys.executable, "-m", "xpnet", "parity", "--ranks", "2,3", "--steps", "20", "--dtype", "float64"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "cpu, 2 ranks" in done.stdout and "cpu, 3 ranks" in done.stdout and "all runs agree" in done.stdout
