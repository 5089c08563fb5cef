"""Joining a training run to its data-parallel job: the gradient exchange, and one check that all ranks agree."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from ..backend import is_host_array
from ..checkpoint import Position
from ..history import History
from .exchange import GradientExchange
from .session import Session


def join_training(
    session: Session, loop: Any, start: Position | None, config: dict[str, Any], data: tuple[Any, Any], history: History
) -> Position | None:
    """Set ``loop`` up for this rank of a data-parallel run and check that every rank starts from the same state.

    Returns the position to resume from, with the running metric sums kept on rank 0 only (they are the job's).
    """
    model, opt = loop.model, loop.optimizer
    session.bind(model.backend)
    line = session.describe(model.backend)  # every rank takes part; rank 0 prints (a launcher names dead ranks by pid)
    if session.is_root:
        print(f"xpnet: {line}", file=sys.stderr, flush=True)
    loop.exchange, loop.gather, loop.show_progress = (
        GradientExchange(session.comm, model.params),
        session.gather,
        session.is_root,
    )
    where = None if start is None else [start.epoch, start.position, start.rng_state]
    data_id = [a if is_host_array(a) else [list(a.shape), str(a.dtype)] for a in data]
    session.verify(
        "before training",
        {"settings": [config, where, len(history)], "data": data_id, "weights": model.params,
         "optimizer state": [b for name in sorted(opt.state) for b in opt.state[name]]},
        hint="; a resumed run needs a checkpoint_dir that every rank reads",
    )  # fmt: skip
    if start is not None and not session.is_root:  # rank 0 restores the job's running metric sums, once
        start = dataclasses.replace(start, metrics=None)
    return start
