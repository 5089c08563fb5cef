"""How one flat device buffer is summed over the ranks: the route depends on the device.

=========================  ==========================================================  =====================
device                     route                                                       name
=========================  ==========================================================  =====================
CuPy, one GPU per rank     NCCL allreduce on the current stream (id sent over MPI)     ``nccl``
CuPy, CUDA-aware MPI       MPI_Allreduce on the device buffer itself                   ``cuda-aware-mpi``
CuPy otherwise             device -> pinned host buffer -> MPI_Allreduce -> device     ``mpi-pinned-host``
NumPy, ``torch:cpu``       MPI_Allreduce in place on the array's own memory            ``mpi-host``
``torch:cuda``, strict     a host copy -> MPI_Allreduce -> a new device array          ``mpi-host``
=========================  ==========================================================  =====================

Every rank must take the same route, so :func:`make_reducer` lets the ranks agree on the best one they all
have. ``method`` (or ``XPNET_ALLREDUCE``) forces ``"nccl"``, ``"cuda-aware-mpi"`` or ``"host"``.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.util
import os
from typing import Any

import numpy as np

from ..errors import XPNetValueError
from .arrays import dtype_name
from .specs import Backend
from .transfer import host_view, to_numpy

METHODS = ("auto", "nccl", "cuda-aware-mpi", "host")
_PREFERENCE = ("nccl", "cuda-aware-mpi", "host")  # best first
_FAMILIES = ("numpy", "cupy", "torch", "strict")


class HostReducer:
    """MPI on host memory: in place where the array's memory is host memory, else through a host copy."""

    name = "mpi-host"

    def __init__(self, comm: Any, backend: Backend) -> None:
        self.comm, self.backend = comm, backend

    def synchronize(self) -> None:
        """Wait for queued device work (nothing is queued on host routes)."""

    def allreduce_sum(self, flat: Any) -> Any:
        mpi = self.comm.mpi
        view = host_view(flat)
        if view is not None:  # NumPy, torch:cpu: the sum lands in flat itself
            self.comm.world.Allreduce(mpi.IN_PLACE, view, op=mpi.SUM)
            return flat
        host = np.array(to_numpy(flat), copy=True)  # never write into memory a simulated device still owns
        self.comm.world.Allreduce(mpi.IN_PLACE, host, op=mpi.SUM)
        return self.backend.asarray(host)


class PinnedHostReducer(HostReducer):
    """CuPy without NCCL or a CUDA-aware MPI: one page-locked host buffer, reused every step.

    The buffer is written by the device-to-host copy of step t+1 only after the host-to-device copy of step t
    has read it: both copies are queued on the current stream, and the first one blocks until it is done.
    """

    name = "mpi-pinned-host"

    def __init__(self, comm: Any, backend: Backend) -> None:
        super().__init__(comm, backend)
        self._cupy = importlib.import_module("cupy")
        self._pinned: np.ndarray | None = None

    def synchronize(self) -> None:
        self._cupy.cuda.get_current_stream().synchronize()

    def allreduce_sum(self, flat: Any) -> Any:
        mpi = self.comm.mpi
        if self._pinned is None or self._pinned.shape != flat.shape or self._pinned.dtype != flat.dtype:
            self._pinned = importlib.import_module("cupyx").empty_pinned(flat.shape, dtype=flat.dtype)
        flat.get(out=self._pinned)  # blocks until the copy is done
        self.comm.world.Allreduce(mpi.IN_PLACE, self._pinned, op=mpi.SUM)
        flat.set(self._pinned)
        return flat


class CudaAwareReducer(PinnedHostReducer):
    """An MPI built with CUDA support reads and writes the device buffer itself."""

    name = "cuda-aware-mpi"

    def allreduce_sum(self, flat: Any) -> Any:
        mpi = self.comm.mpi
        self.synchronize()  # MPI does not know CuPy's stream: the gradient must be complete
        self.comm.world.Allreduce(mpi.IN_PLACE, flat, op=mpi.SUM)
        return flat


class NcclReducer(PinnedHostReducer):
    """NCCL between the ranks' GPUs, queued on the current stream (no host synchronisation)."""

    name = "nccl"

    def __init__(self, comm: Any, backend: Backend) -> None:
        super().__init__(comm, backend)
        nccl = importlib.import_module("cupy.cuda.nccl")
        uid = encode_unique_id(nccl.get_unique_id()) if comm.rank == 0 else np.zeros(2 + _ID_VALUES, np.int64)
        uid = comm.broadcast(uid, what="the NCCL unique id broadcast")
        with backend.device:
            self._nccl = nccl.NcclCommunicator(comm.size, decode_unique_id(uid), comm.rank)
        self._sum = nccl.NCCL_SUM
        self._types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}

    def allreduce_sum(self, flat: Any) -> Any:
        stream = self._cupy.cuda.get_current_stream()
        self._nccl.allReduce(
            flat.data.ptr, flat.data.ptr, flat.size, self._types[dtype_name(flat.dtype)], self._sum, stream.ptr
        )
        return flat


_ID_VALUES = 128  # NCCL_UNIQUE_ID_BYTES


def encode_unique_id(uid: Any) -> np.ndarray:
    """NCCL's unique id as ``int64`` values to broadcast: its form (1: ``bytes``, as CuPy 14 returns it; 0: a
    tuple of ints, as CuPy 13 does, signed or not by the platform's ``char``), its length, then its values."""
    if isinstance(uid, (bytes, bytearray)):
        values, form = np.frombuffer(bytes(uid), dtype=np.uint8), 1
    else:
        values, form = np.asarray(uid, dtype=np.int64), 0
    if values.ndim != 1 or values.shape[0] > _ID_VALUES:
        raise XPNetValueError(f"NCCL unique id: expected at most {_ID_VALUES} values; received shape {values.shape}")
    out = np.zeros(2 + _ID_VALUES, dtype=np.int64)  # the form, the count, the values
    out[0], out[1], out[2 : 2 + values.shape[0]] = form, values.shape[0], values
    return out


def decode_unique_id(encoded: np.ndarray) -> Any:
    """The id :func:`encode_unique_id` encoded, in the form the CuPy that drew it takes back."""
    form, count = int(encoded[0]), int(encoded[1])
    values = encoded[2 : 2 + count]
    return bytes(values.astype(np.uint8)) if form == 1 else tuple(int(v) for v in values)


_ROUTES: dict[str, type[HostReducer]] = {"nccl": NcclReducer, "cuda-aware-mpi": CudaAwareReducer}


def cuda_aware_mpi() -> bool:
    """Whether the loaded MPI library reads device memory (``XPNET_CUDA_AWARE_MPI=0/1`` overrides the probe).

    Asks ``MPIX_Query_cuda_support`` (Open MPI, MPICH) of the libmpi this process has loaded.
    """
    forced = os.environ.get("XPNET_CUDA_AWARE_MPI")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "libmpi" in line and line.split()[-1].startswith("/")})
    except OSError:
        return False
    for path in paths:
        query = getattr(ctypes.CDLL(path), "MPIX_Query_cuda_support", None)
        if query is not None:
            query.restype = ctypes.c_int
            return bool(query())
    return False


def _routes_here(backend: Backend) -> list[str]:
    """The routes this rank could take, best first (NCCL also needs a GPU of its own: see :func:`make_reducer`)."""
    if backend.name != "cupy":
        return ["host"]
    routes = []
    if importlib.util.find_spec("cupy.cuda.nccl") is not None and getattr(
        importlib.import_module("cupy.cuda.nccl"), "available", True
    ):
        routes.append("nccl")
    if cuda_aware_mpi():
        routes.append("cuda-aware-mpi")
    return [*routes, "host"]


def _gpu_identity(comm: Any, backend: Backend) -> int:
    """A number naming this rank's GPU across the job (host and PCI bus id), to find ranks that share one."""
    if backend.name != "cupy":
        return 0
    bus = str(backend.device.pci_bus_id)
    return int.from_bytes(hashlib.sha256(f"{comm.host}/{bus}".encode()).digest()[:7], "little")


def make_reducer(comm: Any, backend: Backend, method: str = "auto") -> HostReducer:
    """The route every rank can take for ``backend`` (the best by :data:`_PREFERENCE`, or ``method``)."""
    if method not in METHODS:
        raise XPNetValueError(f"allreduce method: expected one of {list(METHODS)}; received {method!r}")
    here = _routes_here(backend)
    if method != "auto" and method not in here:
        raise XPNetValueError(
            f"allreduce method {method!r} is not available on {backend.spec} here; this rank can use {here}"
        )
    wanted = here if method == "auto" else [method]
    family = _FAMILIES.index(backend.name) if backend.name in _FAMILIES else len(_FAMILIES)
    flags = [int(route in wanted) for route in _PREFERENCE] + [family, _gpu_identity(comm, backend)]
    every = comm.allgather(np.asarray(flags, dtype=np.int64), what="choosing the allreduce route")
    if len(set(every[:, -2].tolist())) > 1:
        families = sorted({_FAMILIES[f] if f < len(_FAMILIES) else "other" for f in every[:, -2].tolist()})
        raise XPNetValueError(f"device: the ranks use different backends {families}; give every rank the same kind")
    if backend.name == "cupy" and len(set(every[:, -1].tolist())) < comm.size:
        every[:, _PREFERENCE.index("nccl")] = 0  # NCCL refuses two ranks on one GPU: share it through MPI
    common = [route for i, route in enumerate(_PREFERENCE) if every[:, i].all()]
    if not common:  # only when a method was forced that some rank lacks
        raise XPNetValueError(f"allreduce method {method!r}: not every rank can use it; leave the method on 'auto'")
    route = common[0]
    if route == "host":
        return PinnedHostReducer(comm, backend) if backend.name == "cupy" else HostReducer(comm, backend)
    return _ROUTES[route](comm, backend)
