"""Data-parallel training on real MPI processes (``mpiexec -n 2`` and ``-n 3``; no mocks).

Every job runs tests/mpi_worker.py; the 1-process reference is trained in this process on the same data.
``XPNET_REQUIRE_MPI=1`` (set by .ci/run) turns a missing mpiexec or mpi4py into a failure instead of a skip.
"""

from __future__ import annotations

import importlib.util
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
from mpi_worker import make_data

import xpnet
from xpnet.testing import cupy_standin
from xpnet.testing.rank_parity import compare_ranks, launcher

WORKER = Path(__file__).with_name("mpi_worker.py")
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and (
    (Path(sys.executable).parent / "mpiexec").exists() or shutil.which("mpiexec") is not None
)
if not HAVE_MPI and os.environ.get("XPNET_REQUIRE_MPI") == "1":
    raise RuntimeError('XPNET_REQUIRE_MPI=1 but mpi4py or mpiexec is missing: pip install -e ".[test]"')
pytestmark = [
    pytest.mark.mpi,
    pytest.mark.skipif(not HAVE_MPI, reason='needs mpi4py and mpiexec: pip install "xpnet[mpi]" mpich'),
]

BASE = dict(device="cpu", hidden=(16,), epochs=3, batch_size=64, dtype="float64", seed=3, lr=0.05)


def job(ranks: int, spec: dict, prefix: Path, timeout: float = 120, env: dict | None = None):
    """Run the worker on ``ranks`` processes; returns the finished process and its wall time."""
    command = [*launcher(ranks), sys.executable, str(WORKER), json.dumps(spec), str(prefix)]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    return done, time.perf_counter() - began


def outputs(prefix: Path, ranks: int) -> list[dict]:
    found = []
    for r in range(ranks):
        with np.load(f"{prefix}.rank{r}.npz") as saved:
            found.append({k: saved[k] for k in saved.files})
    return found


def reference(spec: dict) -> dict:
    """The same run in this process, as one process (distributed=False)."""
    result = xpnet.train(make_data(spec["n"]), progress=False, **{**spec["train"], "distributed": False})
    params = {f"arr_{i}": xpnet.to_numpy(p) for i, p in enumerate(result.model.params)}
    val = np.asarray([np.nan if v is None else v for v in result.history["val_loss"]])
    return params | {"train_loss": np.asarray(result.history["train_loss"]), "val_loss": val,
                     "test": np.asarray([result.test.loss, result.test.accuracy, result.test.n])}  # fmt: skip


def relative(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.nan_to_num(a.astype(np.float64)), np.nan_to_num(b.astype(np.float64))
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def assert_same_run(runs: list[dict], ref: dict, tolerance: float) -> None:
    """Every rank holds bit-identical weights, and they equal the 1-process run's within ``tolerance``."""
    names = [k for k in ref if k.startswith("arr_")]
    for other in runs[1:]:
        for k in names:
            assert np.array_equal(other[k], runs[0][k]), f"rank weights differ in {k}"
        for k in ("train_loss", "val_loss", "seconds", "samples_per_second"):  # one history for the job
            assert np.array_equal(other[k], runs[0][k], equal_nan=True), f"rank histories differ in {k}"
    for k in [*names, "train_loss", "val_loss", "test"]:
        assert relative(runs[0][k], ref[k]) <= tolerance, (k, relative(runs[0][k], ref[k]))
    assert int(runs[0]["ranks"]) == len(runs)


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


# ------------------------------------------------- CuPy ranks: on the stand-in here, on real GPUs with pytest -m gpu
def _gpus() -> int:
    return sum(spec.startswith("cuda:") for spec in xpnet.devices())


@pytest.fixture(
    params=[pytest.param("standin", id="cupy-standin"), pytest.param("real", id="cupy", marks=pytest.mark.gpu)]
)
def cupy_ranks(request):
    """``(environment, GPUs)`` for jobs whose ranks use CuPy: the stand-in's two simulated GPUs, or this machine's."""
    if request.param == "standin":
        if cupy_standin.real_cupy_present():
            pytest.skip("a real CuPy is here: the cupy cell tests it")
        return cupy_standin.child_env(), 2
    if not _gpus():
        pytest.skip("needs CuPy and a CUDA GPU")
    return {}, _gpus()


def _gpu_job(tmp_path, ranks, device, route, env=None, train=None):
    spec = dict(n=1001, train={**BASE, "device": device, "distributed": True, **(train or {})})
    done, _ = job(ranks, spec, tmp_path / "run", env={**(env or {}), **({"XPNET_ALLREDUCE": route} if route else {})})
    assert done.returncode == 0, done.stderr
    ref = reference({**spec, "train": {**spec["train"], "device": "cpu"}})
    assert_same_run(outputs(tmp_path / "run", ranks), ref, 1e-12)
    return done


def test_nccl_one_rank_per_gpu(tmp_path, cupy_ranks):
    env, gpus = cupy_ranks
    ranks = max(min(gpus, 4), 1)
    done = _gpu_job(tmp_path, ranks, "cuda", "nccl", env)
    assert "gradients summed by nccl" in done.stderr
    for r in range(ranks):  # rank r on GPU r of this node
        assert f"{r}=cuda:{r} on" in done.stderr


def test_nccl_takes_the_unique_id_of_cupy_13_too(tmp_path, cupy_ranks):
    env, _ = cupy_ranks
    if not env:
        pytest.skip("the form of the id is the installed CuPy's own: the test above covers it")
    done = _gpu_job(tmp_path, 2, "cuda", "nccl", {**env, "XPNET_STANDIN_NCCL_ID": "tuple"})
    assert "gradients summed by nccl" in done.stderr


def test_pinned_host_route_with_two_ranks_on_one_gpu(tmp_path, cupy_ranks):
    done = _gpu_job(tmp_path, 2, "cuda:0", "host", cupy_ranks[0])
    assert "gradients summed by mpi-pinned-host" in done.stderr


@pytest.mark.gpu
def test_cuda_aware_mpi_when_the_library_has_it(tmp_path):
    from xpnet.backend.reducers import cuda_aware_mpi

    pytest.importorskip("mpi4py.MPI")
    if not cuda_aware_mpi():
        pytest.skip("this MPI library is not CUDA-aware (MPIX_Query_cuda_support returns 0)")
    if not _gpus():
        pytest.skip("needs CuPy and a CUDA GPU")
    done = _gpu_job(tmp_path, 1, "cuda", "cuda-aware-mpi")
    assert "gradients summed by cuda-aware-mpi" in done.stderr


@pytest.mark.gpu
def test_torch_cuda_ranks_staged_through_the_host(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA build of PyTorch and a GPU")
    spec = dict(n=1001, train={**BASE, "device": "torch:cuda", "distributed": True})
    done, _ = job(2, spec, tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert_same_run(
        outputs(tmp_path / "run", 2), reference({**spec, "train": {**spec["train"], "device": "cpu"}}), 1e-12
    )


# ------------------------------------------------------------------ a launcher of another MPI than mpi4py's
def test_a_launcher_of_another_mpi_is_refused_before_anything_is_written(tmp_path):
    """What an MPICH mpiexec does to mpi4py built on Open MPI (and the other way round): every process is a job of
    one rank. The launcher's variable is set by hand here, as a foreign launcher sets it."""
    from xpnet.distributed.launcher import family, mpi_library

    variable = "PMI_SIZE" if family(mpi_library()) == "Open MPI" else "OMPI_COMM_WORLD_SIZE"  # the other MPI's
    (x, y), _ = make_data(200)
    np.savetxt(tmp_path / "d.csv", np.c_[x, y], delimiter=",", fmt="%.6g")
    done = subprocess.run([sys.executable, "-m", "xpnet", "train", "--data", str(tmp_path / "d.csv"), "--epochs", "1",
                           "--out", str(tmp_path / "out"), "--no-progress"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, variable: "2"})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"the launcher started 2 processes ({variable}=2) but MPI made this one a job of 1 rank" in done.stderr
    assert "Start the job with the mpiexec of that MPI" in done.stderr and "MPI.Get_library_version()" in done.stderr
    assert not (tmp_path / "out").exists()
    alone = subprocess.run([sys.executable, "-m", "xpnet", "train", "--data", str(tmp_path / "d.csv"), "--epochs", "1",
                            "--out", str(tmp_path / "out"), "--no-progress", "--no-distributed"], capture_output=True,
                           text=True, timeout=120, env={**os.environ, variable: "2"})  # fmt: skip
    assert alone.returncode == 0, alone.stderr  # each process alone, on purpose


def test_the_launcher_is_the_mpiexec_of_mpi4pys_mpi(tmp_path, monkeypatch):
    from xpnet.distributed import launcher as module

    for name, banner in (("mpich", "HYDRA build details:\n    Version: 4.2.0"), ("ompi", "mpiexec (Open MPI) 4.1.6")):
        folder = tmp_path / name
        folder.mkdir()
        script = folder / "mpiexec"
        script.write_text(f"#!/bin/sh\nprintf '%s\\n' '{banner}'\n")
        script.chmod(0o755)
    monkeypatch.delenv("XPNET_MPIEXEC", raising=False)
    monkeypatch.setattr(module.sys, "executable", str(tmp_path / "python"))  # nothing beside this "Python"
    monkeypatch.setenv("PATH", f"{tmp_path / 'mpich'}{os.pathsep}{tmp_path / 'ompi'}")
    monkeypatch.setattr(module, "mpi_library", lambda: "Open MPI v4.1.6, package: Open MPI Distribution")
    command = module.launcher(3)
    assert command[0] == str(tmp_path / "ompi" / "mpiexec") and command[-2:] == ["-n", "3"]
    assert "--oversubscribe" in command
    monkeypatch.setattr(module, "mpi_library", lambda: "MPICH Version: 4.2.0")
    assert module.launcher(2) == [str(tmp_path / "mpich" / "mpiexec"), "-n", "2"]
    monkeypatch.setenv("XPNET_MPIEXEC", "srun --mpi=pmix")
    assert module.launcher(2) == ["srun", "--mpi=pmix", "-n", "2"]
