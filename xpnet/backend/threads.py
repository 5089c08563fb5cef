"""The CPU cores of a node shared by the ranks on it: each rank's thread pools get its share.

Two ranks on two cores that each start a two-thread BLAS pool (and spin while they wait in MPI) run forty
times slower than with one thread each, so data-parallel runs on host devices cap every pool at
``cores // ranks on the node``, unless the user chose a thread count (``OMP_NUM_THREADS`` and friends).
"""

from __future__ import annotations

import importlib
import os
import warnings

from .devices import Backend

USER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def node_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def share_cores(backend: Backend, ranks_on_node: int) -> int | None:
    """Cap this rank's BLAS/OpenMP (and PyTorch) thread pools at its share of the node's cores.

    Returns the thread count set, or None when nothing was changed (a GPU device, or the user set
    ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS``).
    """
    on_host = backend.name in ("numpy", "strict") or (backend.name == "torch" and backend.device.type == "cpu")
    if not on_host or any(os.environ.get(name) for name in USER_THREAD_VARIABLES):
        return None
    threads = max(1, node_cores() // max(ranks_on_node, 1))
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        warnings.warn(
            f"threadpoolctl is not installed, so each of the {ranks_on_node} ranks on this node keeps a full BLAS "
            'thread pool (slow); pip install "xpnet[mpi]" or set OMP_NUM_THREADS',
            stacklevel=2,
        )
    else:
        threadpoolctl.threadpool_limits(limits=threads)
    if backend.name == "torch":
        importlib.import_module("torch").set_num_threads(threads)
    return threads
