"""The ``mpiexec`` that belongs to the MPI library mpi4py loads.

A machine can hold several MPIs (a system Open MPI at /usr/bin/mpiexec, an MPICH from pip beside Python). A
launcher of another MPI than mpi4py's starts N processes that each form a job of one rank (xpnet refuses such
a job: :class:`xpnet.MPILaunchError`). :func:`launcher` asks mpi4py's library for its name (in a child process:
this one initialises nothing) and picks the first ``mpiexec`` or ``mpirun`` whose ``--version`` names the same MPI.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import BackendUnavailableError

INSTALL_MPI = 'pip install "xpnet[mpi]" mpich  (or build mpi4py against your system MPI, see docs/distributed.md)'

# MPI family -> words its library version and its launcher's --version print
FAMILIES = {
    "Open MPI": ("open mpi", "openrte", "open-mpi"),
    "Intel MPI": ("intel(r) mpi", "intel mpi"),
    "MVAPICH": ("mvapich",),
    "MPICH": ("mpich", "hydra"),
}
_PROBE = "import mpi4py; mpi4py.rc.initialize = False; from mpi4py import MPI; print(MPI.Get_library_version())"


def family(text: str) -> str | None:
    """The MPI family a version text names (Intel MPI and MVAPICH before MPICH, which they build on)."""
    lowered = text.lower()
    return next((name for name, words in FAMILIES.items() if any(word in lowered for word in words)), None)


@functools.cache
def mpi_library() -> str:
    """The first line of ``MPI_Get_library_version`` of the MPI that mpi4py loads ("" when none can be loaded)."""
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return library_name(done.stdout) if done.returncode == 0 else ""


def library_name(version: str) -> str:
    """The first line of an ``MPI_Get_library_version`` text, its spaces collapsed ("" for none)."""
    lines = version.strip().splitlines()
    return " ".join(lines[0].split()) if lines else ""


@functools.cache
def _version(path: str) -> str:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def candidates() -> list[str]:
    """Every ``mpiexec`` and ``mpirun`` here: beside this Python first, then along ``PATH``."""
    found: list[str] = []
    folders = [str(Path(sys.executable).parent), *os.environ.get("PATH", "").split(os.pathsep)]
    for folder in folders:
        for name in ("mpiexec", "mpirun"):
            path = shutil.which(name, path=folder) if folder else None
            if path and os.path.realpath(path) not in {os.path.realpath(p) for p in found}:
                found.append(path)
    return found


def launcher(ranks: int) -> list[str]:
    """The command that starts ``ranks`` processes of an mpi4py program: ``XPNET_MPIEXEC`` (e.g. ``"srun"``) when
    set, else the ``mpiexec`` of mpi4py's own MPI (Open MPI's with ``--oversubscribe``, and ``--allow-run-as-root``
    when run as root, so that tests run as they do under MPICH)."""
    configured = os.environ.get("XPNET_MPIEXEC")
    if configured:
        return [*shlex.split(configured), "-n", str(ranks)]
    found = candidates()
    if not found:
        raise BackendUnavailableError(f'an MPI launcher is needed: {INSTALL_MPI}; or set XPNET_MPIEXEC (e.g. "srun")')
    wanted = family(mpi_library())
    chosen = next((path for path in found if wanted is not None and family(_version(path)) == wanted), found[0])
    extra = []
    if family(_version(chosen)) == "Open MPI":
        extra = ["--oversubscribe", *(["--allow-run-as-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])]
    return [chosen, *extra, "-n", str(ranks)]
