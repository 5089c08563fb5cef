"""A data-parallel run as one rank sees it: the job, this rank's device, and the checks that keep ranks in step.

:func:`start` decides whether a run is distributed (``distributed=True``, or ``"auto"`` under a launcher that
started more than one process) and joins the MPI job. The :class:`Session` then maps the device spec to this
rank's device, draws one seed for every rank, verifies that every rank holds the same settings, data and
weights, combines metrics, and turns a failure on one rank into the end of the whole job
(:meth:`Session.guard`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from ..backend import Backend, resolve_local, to_numpy
from ..backend.comm import Communicator, check_launch, connect, launched_size
from ..backend.threads import affinity_mask, share_cores
from ..errors import RanksDisagreeError, TrainingDivergedError, XPNetError, XPNetValueError, describe
from ..nn.init import Seed

REFUSE_GRACE = 2.0  # seconds a rank other than 0 waits for rank 0 to report and end the job (see Session.after_root)


@dataclass
class Session:
    """This process's place in a data-parallel job (see the module docstring)."""

    comm: Communicator
    # Set by a front end (the xpnet command) to word bad input its way and to add to the report of a Ctrl-C.
    error_text: Callable[[BaseException], str] | None = None
    on_interrupt: Callable[[], None] | None = None
    _interrupted: bool = field(default=False, init=False, repr=False)

    @property
    def rank(self) -> int:
        """This process's rank in the job (0 to size - 1)."""
        return self.comm.rank

    @property
    def size(self) -> int:
        """The number of ranks of the job."""
        return self.comm.size

    @property
    def is_root(self) -> bool:
        """Rank 0: the one that prints, writes files and checkpoints."""
        return self.comm.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        """``(rank, size)``: which share of every global batch this rank trains on."""
        return self.comm.rank, self.comm.size

    def device(self, spec: str | Backend | None) -> Backend:
        """This rank's device for ``spec``: ``"cuda"`` means the GPU of its node-local rank (see
        :func:`xpnet.backend.resolve_local`)."""
        return resolve_local(spec, self.comm.local_rank)

    def bind(self, backend: Backend) -> None:
        """Sum gradients on ``backend`` by the best route every rank has (NCCL, CUDA-aware MPI, host), and give
        a host device's thread pools this rank's share of the node's cores."""
        self.comm.bind(backend)
        mine = np.concatenate([[_host_number(self.comm.host)], affinity_mask()])
        every = self.comm.allgather(mine, what="comparing the ranks' cores")
        sharing = sum(1 for row in every if row[0] == mine[0] and np.any(row[1:] & mine[1:]))
        self.comm.threads, self.comm.release = share_cores(backend, sharing)

    def release(self) -> None:
        """Undo what :meth:`bind` changed in this process (the thread cap); training has ended."""
        if self.comm.release is not None:
            self.comm.release()
            self.comm.threads = self.comm.release = None

    def describe(self, backend: Backend) -> str:
        """One line: ranks, route of the gradient sums, and where each rank runs (to read launcher messages)."""
        mine = _fixed(f"{backend.spec} on {self.comm.host} pid {os.getpid()}")
        where = self.comm.allgather(np.frombuffer(mine, np.uint8), what="describing the ranks")
        places = ", ".join(f"{r}={bytes(row).rstrip(b' ').decode()}" for r, row in enumerate(where))
        threads = "" if self.comm.threads is None else f", {self.comm.threads} CPU thread(s) per rank"
        return f"distributed: {self.size} ranks, gradients summed by {self.comm.method}{threads}; ranks {places}"

    def shared_seed(self, seed: Seed) -> Seed:
        """``seed`` when it is an int (the same on every rank); otherwise an int drawn on rank 0 and broadcast."""
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return seed
        drawn = np.random.default_rng(seed).integers(2**62) if self.is_root else 0
        return int(self.comm.broadcast(np.asarray([drawn], dtype=np.int64), what="the seed broadcast")[0])

    def gather(self, values: np.ndarray) -> np.ndarray:
        """Every rank's copy of a host vector, ``(size, n)`` (:class:`xpnet.training.metrics.Metrics` combines them)."""
        return self.comm.allgather(values, what="combining metrics")

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on at least one (a stop decision all ranks follow)."""
        return bool(self.comm.allgather(np.asarray([int(bool(flag))], dtype=np.int64), what="a stop decision").any())

    def slowest(self, seconds: float) -> float:
        """The largest of every rank's ``seconds``: an epoch of the job lasts as long as its slowest rank's."""
        every = self.comm.allgather(np.asarray([seconds], dtype=np.float64), what="timing the epoch")
        return float(every.max())

    def verify(self, when: str, parts: dict[str, Any], hint: str = "") -> None:
        """Raise :class:`xpnet.RanksDisagreeError` on every rank unless every rank holds the same ``parts``.

        ``parts`` maps a name (``"settings"``, ``"data"``, ``"weights"``, ...) to what is compared: host or
        device arrays, lists of them, or JSON-serialisable values; ranks exchange only SHA-256 digests.
        """
        names = list(parts)
        with self.comm.collective(f"reading the weights for the check of {when} (queued device work finishes first)"):
            mine = np.frombuffer(b"".join(_digest(parts[name]) for name in names), dtype=np.uint8)
        every = self.comm.allgather(mine, what=f"the check of {when}").reshape(self.size, len(names), 32)
        differing = {
            name: [r for r in range(self.size) if not np.array_equal(every[r, i], every[0, i])]
            for i, name in enumerate(names)
        }
        differing = {name: ranks for name, ranks in differing.items() if ranks}
        if differing:
            detail = "; ".join(f"{name} differ on rank(s) {ranks}" for name, ranks in differing.items())
            raise RanksDisagreeError(
                f"ranks disagree {when}: compared with rank 0, {detail}. Every rank must run the same xpnet with the "
                f"same arguments and data (the same files, an integer seed){hint}"
            )

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """End the whole job when this rank fails, so no other rank waits forever in a collective.

        Errors every rank raises together (:class:`xpnet.TrainingDivergedError`, :class:`xpnet.RanksDisagreeError`)
        propagate as usual; anything else prints the rank and the error and calls MPI_Abort (exit status 130 when
        interrupted). A job of one rank has no one to wait for: everything propagates.
        """
        if self.size == 1:
            yield
            return
        try:
            yield
        except (TrainingDivergedError, RanksDisagreeError):
            raise
        except KeyboardInterrupt:
            self.interrupted()
            if self.on_interrupt is not None:  # rank 0, or another rank that rank 0 left to report (see interrupted)
                self.on_interrupt()
            self.comm.abort("interrupted; aborting the MPI job", code=130)
        except (XPNetError, OSError) as exc:  # bad input, usually met by every rank: said once when worded
            if self.error_text is not None:
                self.refuse(self.error_text(exc))
            self.comm.abort(f"{type(exc).__name__}: {exc}; aborting the MPI job")
        except BaseException as exc:
            if type(exc).__module__.startswith("mpi4py"):  # a collective failed here because a peer is gone
                self.comm.abort(f"an MPI call failed ({exc}): another rank has most likely died; aborting the MPI job")
            self.comm.abort(f"{type(exc).__name__}: {exc}; aborting the MPI job")

    def interrupted(self) -> None:
        """This rank was interrupted (Ctrl-C) and the job ends. Further Ctrl-C are ignored, and a rank other than 0
        first gives rank 0 :data:`REFUSE_GRACE` seconds to report and end the job: the report appears once. Rank 0
        may instead be waiting in a collective for this rank (the interrupt reaches it only when that returns);
        then this rank, still alive after the wait, reports in its place."""
        if self._interrupted:
            return
        self._interrupted = True
        with contextlib.suppress(ValueError):  # only the main thread may set handlers
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's SIGINT and the launcher's copy both arrive
        self.after_root()

    def after_root(self) -> None:
        """On a rank other than 0, wait :data:`REFUSE_GRACE` seconds: whatever every rank is about to report and end
        the job over, rank 0 says it first, once (its abort ends this rank during the wait)."""
        if not self.is_root:
            time.sleep(REFUSE_GRACE)

    def refuse(self, message: str) -> NoReturn:
        """End the job over bad input with exit status 2, printing ``message`` as it is. Every rank usually meets
        the same input: rank 0 prints and aborts at once, any other rank gives it :data:`REFUSE_GRACE` seconds
        first, so the message appears once (and still appears when only that rank was refused)."""
        self.after_root()
        self.comm.abort(message, code=2, plain=True)


def _host_number(host: str) -> int:
    return int.from_bytes(hashlib.sha256(host.encode()).digest()[:7], "little")


def _fixed(text: str, width: int = 96) -> bytes:
    return text.encode()[:width].ljust(width)


def _digest(value: Any) -> bytes:
    """SHA-256 over ``value``: arrays by shape, dtype and bytes (device arrays copied to the host), lists, tuples
    and dicts item by item, anything else as JSON."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.digest()


def _feed(digest: Any, value: Any) -> None:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        host = np.ascontiguousarray(to_numpy(value))
        digest.update(json.dumps(["array", host.dtype.str, list(host.shape)]).encode())
        digest.update(host.data)
    elif isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            digest.update(json.dumps(str(key)).encode())
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(f"[{len(value)}".encode())
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    else:
        digest.update(json.dumps(value, sort_keys=True, default=str).encode())


def start(distributed: Any = "auto") -> Session | None:
    """The session of a data-parallel run, or None for a single-process run.

    ``True`` joins the MPI job (a job of one rank included); ``"auto"`` does when a launcher started more than
    one process, and says so on rank 0; ``False`` never does; a :class:`Session` is used as it is (a front end's
    own, with its hooks).
    """
    if isinstance(distributed, Session):
        return distributed
    if not (distributed is True or distributed is False or distributed == "auto"):
        raise XPNetValueError(f"distributed: expected True, False or 'auto'; received {describe(distributed)}")
    if distributed is False or (distributed == "auto" and launched_size() <= 1):
        return None
    comm = connect()
    check_launch(comm)  # N processes launched, each a world of 1: refused before anything is read or written
    if distributed == "auto" and comm.size == 1:
        return None
    comm.start_watchdog()
    session = Session(comm)
    if distributed == "auto" and session.is_root and not comm.announced:
        comm.announced = True
        print(
            f"xpnet: launched with {comm.size} processes: training data-parallel (distributed=False trains each alone)",
            file=sys.stderr,
            flush=True,
        )
    return session
