"""``cupy.cuda.nccl``: NCCL's allreduce between ranks' simulated GPUs, carried over the job's MPI world (xpnet.backend.comm).

The unique id comes in the form of the CuPy version simulated: ``bytes`` as in CuPy 14 (the default), or a tuple
of 128 signed integers as in CuPy 13 (``XPNET_STANDIN_NCCL_ID=tuple``). A communicator accepts the form its
version does and checks that every rank joined with the id rank 0 drew (real NCCL would hang otherwise).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import _dispatch
from .._array import MemoryPointer

available = True
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN, NCCL_AVG = 0, 1, 2, 3, 4
NCCL_INT32, NCCL_INT64, NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 2, 4, 6, 7, 8
_DTYPES = {NCCL_INT32: np.int32, NCCL_INT64: np.int64, NCCL_FLOAT16: np.float16, NCCL_FLOAT32: np.float32,
           NCCL_FLOAT64: np.float64}  # fmt: skip
_MAGIC = b"xpnet-standin-nccl"
UNIQUE_ID_BYTES = 128


class NcclError(RuntimeError):
    pass


def _form() -> str:
    return os.environ.get("XPNET_STANDIN_NCCL_ID", "bytes")


def get_unique_id() -> Any:
    raw = _MAGIC + os.urandom(UNIQUE_ID_BYTES - len(_MAGIC))
    if _form() == "tuple":  # CuPy 13: the id's chars, signed
        return tuple(int(v) for v in np.frombuffer(raw, dtype=np.int8))
    return raw


def _raw(comm_id: Any) -> bytes:
    """The id's bytes, refused as the simulated CuPy refuses what it does not take (typed Cython arguments)."""
    if _form() == "tuple":  # CuPy 13: `tuple commId`, each value a C char (signed on x86-64)
        if not isinstance(comm_id, tuple):
            raise TypeError(f"Argument 'commId' has incorrect type (expected tuple, got {type(comm_id).__name__})")
        if any(not -128 <= int(v) <= 127 for v in comm_id):
            raise OverflowError("value too large to convert to char")
        return np.asarray(comm_id, dtype=np.int64).astype(np.int8).tobytes()
    if not isinstance(comm_id, bytes):  # CuPy 14: `bytes commId`
        raise TypeError(f"Argument 'commId' has incorrect type (expected bytes, got {type(comm_id).__name__})")
    if len(comm_id) != UNIQUE_ID_BYTES:
        raise ValueError(f"commId length {len(comm_id)} != {UNIQUE_ID_BYTES}.")
    return comm_id


class NcclCommunicator:
    """Rank ``rank`` of ``ndev`` joined under ``commId`` (see the module docstring)."""

    def __init__(self, ndev: int, commId: Any, rank: int) -> None:
        raw = _raw(commId)
        if not raw.startswith(_MAGIC):
            raise NcclError("NCCL_ERROR_INVALID_ARGUMENT: not an id from get_unique_id (garbled on the way?)")
        self._ndev, self._rank, self._device = ndev, rank, _dispatch.current_device()
        self._comm: Any = None
        if ndev > 1:  # the ranks meet over the job's MPI world, as xpnet's own processes do
            from xpnet.backend.comm import connect

            self._comm = connect()
            every = self._comm.world.allgather(raw)
            if self._comm.world.Get_size() != ndev or any(other != every[0] for other in every):
                raise NcclError("NCCL_ERROR_INVALID_USAGE: the ranks joined with different ids or counts")

    def allReduce(self, sendbuf: int, recvbuf: int, count: int, datatype: int, op: int, stream: int) -> None:
        if op != NCCL_SUM:
            raise NcclError("the stand-in sums only (NCCL_SUM)")
        send, receive = MemoryPointer.find(sendbuf), MemoryPointer.find(recvbuf)
        for a in (send, receive):
            if a.dtype != _DTYPES[datatype] or a.size < count or a._device != self._device:
                raise NcclError("NCCL_ERROR_INVALID_ARGUMENT: buffer, count, dtype or device does not match")
        graph = _dispatch.capture()
        if graph is not None:
            graph.record(self._sum, (send._a.reshape(-1)[:count], receive._a.reshape(-1)[:count]), {"out": None})
        else:
            self._sum(send._a.reshape(-1)[:count], receive._a.reshape(-1)[:count])

    def _sum(self, send: np.ndarray, receive: np.ndarray, out: Any = None) -> None:
        if self._comm is None:
            np.copyto(receive, send)
        else:
            total = np.empty_like(send)
            self._comm.world.Allreduce(np.ascontiguousarray(send), total, op=self._comm.mpi.SUM)
            np.copyto(receive, total)

    def rank_id(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._ndev

    def device_id(self) -> int:
        return self._device

    def destroy(self) -> None:
        pass
