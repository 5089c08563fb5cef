"""The launcher: ``mpiexec`` of the MPI that mpi4py was built on, and a foreign launcher refused before any write."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from mpi_jobs import MARKS
from mpi_worker import make_data

pytestmark = MARKS


# ------------------------------------------------------------------ a launcher of another MPI than mpi4py's
def test_a_launcher_of_another_mpi_is_refused_before_anything_is_written(tmp_path):
    """What an MPICH mpiexec does to mpi4py built on Open MPI (and the other way round): every process is a job of
    one rank. The launcher's variable is set by hand here, as a foreign launcher sets it."""
    from xpnet.backend.launcher import family, mpi_library

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
    from xpnet.backend import launcher as module

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
