"""Data-parallel training over MPI: each rank trains on its shard of every global batch on its own device.

- :mod:`.session`: joining the job, this rank's device, the checks that keep ranks in step, failure handling;
- :mod:`.exchange`: the flat gradient buffer summed over the ranks once per step;
- :mod:`.join`: a training run joined to its job, and the check that every rank starts from the same state.

Library specifics (mpi4py, NCCL, pinned memory, the ``mpiexec`` that fits mpi4py's MPI) live in
:mod:`xpnet.backend.comm`, :mod:`xpnet.backend.reducers` and :mod:`xpnet.backend.launcher` (:func:`launcher`); the model, losses and optimizers know nothing of any of this.
"""

from __future__ import annotations

from ..backend.launcher import launcher
from .exchange import GradientExchange
from .join import join_training
from .session import Session, start

__all__ = ["GradientExchange", "Session", "join_training", "launcher", "start"]
