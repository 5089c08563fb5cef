"""The errors of the CUDA runtime as the stand-in raises them (CuPy: ``cupy.cuda.runtime.CUDARuntimeError``)."""

from __future__ import annotations


class CUDARuntimeError(RuntimeError):
    """A CUDA runtime call failed."""


class CaptureError(CUDARuntimeError):
    """An operation that a stream capturing a graph cannot record (a host synchronisation, a pageable copy)."""
