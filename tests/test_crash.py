"""Durability, tested the way databases test it: a run killed with SIGKILL at seeded random moments (most of them
inside checkpoint writes, which tests/crash_worker.py slows down) and resumed each time; every resume succeeds and
the final weights equal the uninterrupted run's bit for bit. Also under mpiexec -n 2 with one rank killed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi_jobs import HAVE_MPI

from xpnet.testing.rank_parity import launcher

WORKER = Path(__file__).with_name("crash_worker.py")


def finished(command: list[str], out: Path) -> list[np.ndarray]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "FINISHED" in done.stdout, done.stderr
    with np.load(out) as saved:
        return [saved[k] for k in saved.files]


def kill_and_resume(command: list[str], kills: int, seed: int, victim: int = 0) -> int:
    """Start ``command`` and SIGKILL it (rank ``victim``) after a random 0.5-2 s, ``kills`` times; returns how many
    runs ended by themselves before their kill came (they are resumed all the same)."""
    rng = np.random.default_rng(seed)
    ended = 0
    for _ in range(kills):
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # fmt: skip
        pids = {}
        while len(pids) <= victim:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            for rank, pid in re.findall(r"PID (\d+) (\d+)", line):  # two ranks' lines may arrive run together
                pids[int(rank)] = int(pid)
        try:
            proc.wait(timeout=rng.uniform(0.5, 2.0))
            ended += 1
            assert proc.returncode == 0, proc.stderr.read()  # a resume that failed by itself
        except subprocess.TimeoutExpired:
            os.kill(pids[victim], signal.SIGKILL)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:  # the other ranks of a job whose rank died: end them
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    return ended


def test_twenty_kills_and_resumes_end_where_the_uninterrupted_run_ends(tmp_path):
    reference = finished([sys.executable, str(WORKER), "-", str(tmp_path / "ref.npz")], tmp_path / "ref.npz")
    command = [sys.executable, str(WORKER), str(tmp_path / "ck"), str(tmp_path / "out.npz")]
    ended = kill_and_resume(command, kills=20, seed=20261204)
    assert ended <= 2, ended  # (nearly) every run was killed, not finished
    final = finished(command, tmp_path / "out.npz")
    for a, b in zip(final, reference):
        np.testing.assert_array_equal(a, b)
    assert not list((tmp_path / "ck").glob(".*.tmp"))  # the writes cut short left nothing behind


@pytest.mark.mpi
@pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpiexec")
def test_a_two_rank_job_with_one_rank_killed_resumes_to_the_same_weights(tmp_path):
    ref = tmp_path / "ref.npz"
    reference = finished([*launcher(2), sys.executable, str(WORKER), "-", str(ref)], ref)
    command = [*launcher(2), sys.executable, str(WORKER), str(tmp_path / "ck"), str(tmp_path / "out.npz")]
    kill_and_resume(command, kills=4, seed=7, victim=1)
    final = finished(command, tmp_path / "out.npz")
    for a, b in zip(final, reference):
        np.testing.assert_array_equal(a, b)
