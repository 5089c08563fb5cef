"""The CPU cores of a node shared by the ranks on it: each rank's thread pools get its share.

Two ranks on two cores that each start a two-thread BLAS pool (and spin while they wait in MPI) run forty
times slower than with one thread each, so data-parallel runs on host devices cap every pool at this rank's cores
divided by the ranks whose cores overlap them (a launcher that binds each rank to its own cores leaves them all),
unless the user chose a thread count (``OMP_NUM_THREADS`` and friends). The cap is undone when training ends.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable

import numpy as np

from .specs import Backend

USER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def node_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def affinity_mask(words: int = 16) -> np.ndarray:
    """The cores this process may run on, as a bit mask of ``64 * words`` bits (int64 words)."""
    mask = np.zeros(words, dtype=np.uint64)
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    for core in cores:
        if core < 64 * words:
            mask[core // 64] |= np.uint64(1) << np.uint64(core % 64)
    return mask.view(np.int64)


def share_cores(backend: Backend, sharing: int) -> tuple[int | None, Callable[[], None]]:
    """Cap this rank's BLAS/OpenMP (and PyTorch) thread pools at its cores divided by ``sharing``, the number of
    ranks (itself included) whose cores overlap its own.

    Returns the thread count set (None when nothing was changed: a GPU device, or the user set
    ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS``) and a function that undoes the cap.
    """
    on_host = backend.name in ("numpy", "strict") or (backend.name == "torch" and backend.device.type == "cpu")
    if not on_host or any(os.environ.get(name) for name in USER_THREAD_VARIABLES):
        return None, lambda: None
    threads = max(1, node_cores() // max(sharing, 1))
    undo: list[Callable[[], None]] = []
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        warnings.warn(
            f"threadpoolctl is not installed, so each of the {sharing} ranks sharing these cores keeps a full BLAS "
            'thread pool (slow); pip install "xpnet[mpi]" or set OMP_NUM_THREADS',
            stacklevel=2,
        )
    else:
        undo.append(threadpoolctl.threadpool_limits(limits=threads).restore_original_limits)
    if backend.name == "torch":
        torch = importlib.import_module("torch")
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        undo.append(lambda: torch.set_num_threads(before))

    def release() -> None:
        for step in undo:
            step()

    return threads, release
