"""Learning-rate schedules: ``schedule(progress) -> factor`` with ``progress`` in [0, 1) over the run.

The trainer sets ``optimizer.lr = lr * factor`` before every step; factors are Python floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import XPNetValueError, describe

Schedule = Callable[[float], float]


def constant(progress: float) -> float:
    return 1.0


def step(progress: float, *, drops: int = 3, factor: float = 0.1) -> float:
    """Multiply by ``factor`` at each of ``drops`` evenly spaced points (after 1/4, 2/4, 3/4 of the run by default)."""
    return factor ** math.floor(progress * (drops + 1))


def cosine(progress: float) -> float:
    """Half a cosine from 1 down to 0 over the run (Loshchilov & Hutter, 2017, without restarts)."""
    return 0.5 * (1.0 + math.cos(math.pi * progress))


SCHEDULES: dict[str, Schedule] = {"constant": constant, "step": step, "cosine": cosine}


def get_schedule(name: str | Schedule) -> Schedule:
    """A schedule by name, or a user's callable ``progress -> factor`` passed through."""
    if callable(name):
        return name
    if not isinstance(name, str) or name not in SCHEDULES:
        raise XPNetValueError(
            f"lr_schedule: expected one of {sorted(SCHEDULES)} or a callable; received {describe(name)}"
        )
    return SCHEDULES[name]
