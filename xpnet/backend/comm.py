"""The communicator of data-parallel training: one process per device, started by ``mpiexec`` or ``srun``.

One small object gives the training loop everything it needs from the other ranks:

- :meth:`Communicator.allreduce_sum`: the sum over ranks of one flat device buffer, by the route this device
  has (:mod:`xpnet.backend.reducers`: NCCL on CuPy, a CUDA-aware MPI, or MPI on host memory);
- :meth:`Communicator.allgather` and :meth:`Communicator.broadcast`: small host arrays (metrics, digests, seeds);
- :meth:`Communicator.abort`: end every rank of the job now, with a message naming this rank;
- a watchdog that aborts the job when one collective waits longer than ``timeout`` seconds (a rank died
  without the launcher noticing, or hangs).

mpi4py is imported only when :func:`connect` runs: ``import xpnet`` never imports it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from ..errors import BackendUnavailableError, MPILaunchError, XPNetValueError
from .arrays import dtype_name
from .launcher import INSTALL_MPI, library_name
from .specs import Backend

# Launchers announce the job's size in the environment of every process they start.
WORLD_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")
DEFAULT_TIMEOUT = 300.0
ABORT_GRACE = 0.5  # seconds between printing why a rank aborts and MPI_Abort


def launched_by() -> tuple[str, int] | None:
    """``(variable, processes)``: the environment variable by which a launcher (mpiexec, mpirun, srun) announced
    the number of processes it started; None when none did."""
    for name in WORLD_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return name, int(value)
    return None


def launched_size() -> int:
    """The number of processes a launcher started this job with; 1 when none did."""
    found = launched_by()
    return 1 if found is None else found[1]


def check_launch(comm: Communicator) -> None:
    """Refuse a world of one rank where the launcher started several processes: its mpiexec belongs to another MPI
    than the one mpi4py loaded (an MPICH mpiexec with mpi4py on Open MPI, say), and each process would be a
    job of its own, training on the whole data set and writing the same files as the others."""
    found = launched_by()
    if found is None or found[1] <= 1 or comm.size > 1:
        return
    variable, processes = found
    library = library_name(str(comm.mpi.Get_library_version()))
    raise MPILaunchError(
        f"distributed: the launcher started {processes} processes ({variable}={processes}) but MPI made this one a "
        f"job of 1 rank: the launcher belongs to another MPI than the one mpi4py uses ({library}), so each process "
        "would train alone on the whole data set and write the same files. Start the job with the mpiexec of "
        'that MPI (to see which: python -c "from mpi4py import MPI; print(MPI.Get_library_version())" and '
        'python -c "import mpi4py; print(mpi4py.get_config())"; see docs/distributed.md), or train each process '
        "alone on purpose with distributed=False (xpnet train --no-distributed)"
    )


def collective_timeout() -> float | None:
    """Seconds one collective may wait before the job is aborted (``XPNET_COLLECTIVE_TIMEOUT``; 0 disables)."""
    text = os.environ.get("XPNET_COLLECTIVE_TIMEOUT", "")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        raise XPNetValueError(
            f"XPNET_COLLECTIVE_TIMEOUT: expected a number of seconds (0 disables the watchdog); received {text!r}"
        ) from None
    return seconds if seconds > 0 else None


@dataclass
class CommStats:
    """Time spent in gradient allreduces (host clock). On GPU routes the time is the exchange's alone only with
    :attr:`Communicator.timed` (``XPNET_TIME_ALLREDUCE=1``), which synchronises the device around each allreduce."""

    calls: int = 0
    seconds: float = 0.0
    bytes: int = 0


@dataclass
class Communicator:
    """The ranks of one job: this process is ``rank`` of ``size``, ``local_rank`` of ``local_size`` on its node.

    Create it with :func:`connect`; :meth:`bind` chooses how device buffers are summed once the device is known.
    """

    mpi: Any
    world: Any
    local_rank: int
    local_size: int
    timeout: float | None = DEFAULT_TIMEOUT
    stats: CommStats = field(default_factory=CommStats)
    reducer: Any = None
    _pending: tuple[str, float] | None = None
    _watching: bool = False
    announced: bool = False  # rank 0 has said that the run is data-parallel
    threads: int | None = None  # CPU threads per rank, when xpnet capped them (xpnet.backend.threads)
    release: Any = None  # undoes the thread cap (called when training ends)
    timed: bool = False  # synchronise the device around each allreduce so stats time it alone (XPNET_TIME_ALLREDUCE=1)

    @property
    def rank(self) -> int:
        return int(self.world.Get_rank())

    @property
    def size(self) -> int:
        return int(self.world.Get_size())

    @property
    def host(self) -> str:
        return str(self.mpi.Get_processor_name())

    @property
    def method(self) -> str:
        """How device buffers are summed: ``"nccl"``, ``"cuda-aware-mpi"``, ``"mpi-pinned-host"``, ``"mpi-host"``."""
        return "unbound" if self.reducer is None else self.reducer.name

    def where(self) -> str:
        """``"rank 2 of 4 (node7, pid 1234)"``: how messages name this process."""
        return f"rank {self.rank} of {self.size} ({self.host}, pid {os.getpid()})"

    def bind(self, backend: Backend, method: str | None = None) -> Communicator:
        """Choose the route for :meth:`allreduce_sum` on ``backend`` (``method`` or ``XPNET_ALLREDUCE`` forces one)."""
        from .reducers import make_reducer

        self.reducer = make_reducer(self, backend, method or os.environ.get("XPNET_ALLREDUCE") or "auto")
        return self

    # ----------------------------------------------------------- collectives
    def allreduce_sum(self, flat: Any) -> Any:
        """Sum the 1-D device buffer ``flat`` over every rank; returns the sum (``flat`` itself where in place)."""
        if self.reducer is None:
            raise XPNetValueError("communicator: call bind(backend) before allreduce_sum")
        if self.timed:  # measure the exchange alone: no queued backprop before, the transfer done after
            self.reducer.synchronize()
        began = time.perf_counter()
        with self.collective("the gradient allreduce"):
            out = self.reducer.allreduce_sum(flat)
            if self.timed:
                self.reducer.synchronize()
        self.stats.calls += 1
        self.stats.seconds += time.perf_counter() - began
        self.stats.bytes += int(flat.shape[0]) * np.dtype(dtype_name(flat.dtype)).itemsize
        return out

    def allgather(self, values: np.ndarray, what: str = "an allgather") -> np.ndarray:
        """Every rank's copy of the 1-D host array ``values`` (same length and dtype on every rank): ``(size, n)``."""
        send = np.ascontiguousarray(values)
        out = np.empty((self.size, send.shape[0]), dtype=send.dtype)
        with self.collective(what):
            self.world.Allgather(send, out)
        return out

    def broadcast(self, values: np.ndarray, root: int = 0, what: str = "a broadcast") -> np.ndarray:
        """Rank ``root``'s copy of the 1-D host array ``values`` (same length and dtype on every rank)."""
        buffer = np.array(values, copy=True, order="C")
        with self.collective(what):
            self.world.Bcast(buffer, root=root)
        return buffer

    def barrier(self, what: str = "a barrier") -> None:
        with self.collective(what):
            self.world.Barrier()

    def abort(self, message: str, code: int = 1, plain: bool = False) -> NoReturn:
        """Print ``xpnet: <this rank>: message`` (``plain``: the message alone) to stderr and end every process of
        the job (MPI_Abort) with exit status ``code``."""
        print(message if plain else f"xpnet: {self.where()}: {message}", file=sys.stderr, flush=True)
        time.sleep(ABORT_GRACE)  # let the launcher forward the line before it tears the job down
        self.world.Abort(code)
        os._exit(code)  # pragma: no cover - Abort does not return

    # -------------------------------------------------------------- watchdog
    @contextlib.contextmanager
    def collective(self, what: str) -> Iterator[None]:
        """Mark a collective (or a wait for the device) in progress, so the watchdog can abort the job if it never
        completes; nested marks restore the outer one."""
        outer, self._pending = self._pending, (what, time.monotonic())
        try:
            yield
        finally:
            self._pending = outer

    def start_watchdog(self) -> None:
        """Abort the whole job when one collective waits longer than :attr:`timeout` (``None``: never)."""
        if self.timeout is None or self._watching:
            return
        self._watching = True
        thread = threading.Thread(target=self._watch, name="xpnet-watchdog", daemon=True)
        thread.start()

    def _watch(self) -> None:
        assert self.timeout is not None
        while True:
            time.sleep(min(1.0, self.timeout / 4))
            pending = self._pending
            if pending is not None and time.monotonic() - pending[1] > self.timeout:
                self.abort(
                    f"waited more than {self.timeout:g} s in {pending[0]}: another rank has died or hangs; "
                    "aborting the job (set XPNET_COLLECTIVE_TIMEOUT to change the limit)"
                )


@functools.cache
def connect() -> Communicator:
    """Join the job's MPI world (``MPI_COMM_WORLD``), importing mpi4py; the same object on every call.

    Raises
    ------
    BackendUnavailableError
        mpi4py (or an MPI library) is not installed; the message says how to install it.
    """
    try:
        mpi = importlib.import_module("mpi4py.MPI")
    except ImportError as exc:  # no mpi4py, or no libmpi for it to load
        raise BackendUnavailableError(
            f"distributed training needs mpi4py and an MPI library ({exc}). Install them with: {INSTALL_MPI}"
        ) from exc
    world = mpi.COMM_WORLD
    node = world.Split_type(mpi.COMM_TYPE_SHARED, key=world.Get_rank())
    try:
        local_rank, local_size = int(node.Get_rank()), int(node.Get_size())
    finally:
        node.Free()
    comm = Communicator(mpi, world, local_rank, local_size, collective_timeout())
    comm.timed = os.environ.get("XPNET_TIME_ALLREDUCE") == "1"
    return comm
