"""Joining a training run to its data-parallel job: the gradient exchange, and one check that all ranks agree."""

from __future__ import annotations

import sys
from typing import Any

from ..backend import is_host_array
from ..training.checkpoint import Position
from ..training.history import History
from .exchange import GradientExchange
from .session import Session


def join_training(
    session: Session,
    loop: Any,
    start: Position | None,
    config: dict[str, Any],
    data: dict[str, Any],
    history: History,
    hooks: list[Any],
) -> None:
    """Set ``loop`` up for this rank of a data-parallel run and check that every rank starts from the same state.

    ``data`` names the training, validation and test arrays; ``hooks`` are the callbacks. Everything that decides
    when the ranks meet in a collective (progress reads, checkpoints, validation, callbacks) must agree too.
    """
    model, opt = loop.model, loop.optimizer
    session.bind(model.backend)
    line = session.describe(model.backend)  # every rank takes part; rank 0 prints (a launcher names dead ranks by pid)
    if session.is_root:
        print(f"xpnet: {line}", file=sys.stderr, flush=True)
    loop.exchange, loop.session, loop.show_progress = (
        GradientExchange(session.comm, model.params),
        session,
        session.is_root,
    )
    where = None if start is None else [start.epoch, start.position, start.rng_state]
    schedule = [loop.progress, loop.checkpoint_every, loop.checkpoint is not None, [type(h).__name__ for h in hooks]]
    session.verify(
        "before training",
        {"settings": [config, where, len(history)], "collective schedule": schedule,
         "data": {name: _identity(arrays) for name, arrays in data.items()}, "weights": model.params,
         "optimizer state": [b for name in sorted(opt.state) for b in opt.state[name]]},
        hint="; a resumed run needs a checkpoint_dir that every rank reads",
    )  # fmt: skip


def _identity(arrays: Any) -> Any:
    """What :meth:`Session.verify` compares of a data set: host arrays by value, device arrays by shape and dtype."""
    if arrays is None:
        return None
    return [a if is_host_array(a) else [list(a.shape), str(a.dtype)] for a in arrays]
