"""What a whole step (compiled by JAX, captured as a CUDA graph) may take from its optimizer.

Such a step is traced or captured once and replayed: the optimizer's numbers that change from step to step reach it
as device values (:meth:`xpnet.optim.Optimizer.scalars`, read through ``now``), its state is updated in place, and
every other number it reads is baked in as it was when the step was built. So a step is built again when one of
those numbers changes (a callback that sets ``momentum`` between epochs: :func:`settings`), and an optimizer class
that is not xpnet's runs operation by operation unless it says it keeps to those rules (:func:`refusal`).
"""

from __future__ import annotations

from typing import Any

from ..optim import OPTIMIZERS, Optimizer

# what a step reads from the device or from the optimizer's state, not from these numbers
_NOT_SETTINGS = frozenset({"_lr", "steps", "state", "given"})
_PLAIN = (bool, int, float, str, type(None))


def refusal(optimizer: Optimizer) -> str:
    """Why a whole step may not run ``optimizer`` (a class of the user's that has not said it may), or ``""``."""
    cls = type(optimizer)
    if cls in OPTIMIZERS.values() or vars(cls).get("whole_step") is True:
        return ""
    return (
        f"the optimizer {cls.__name__} is not one of xpnet's: a compiled or captured step would keep every number "
        "it reads outside scalars() (its learning rate, say) as it was when the step was built; set "
        f"{cls.__name__}.whole_step = True in its class where its updates read them from `now`"
    )


def settings(optimizer: Optimizer) -> tuple[tuple[str, Any], ...]:
    """The numbers a whole step bakes in: the optimizer's plain attributes (and tuples of them) but its learning
    rate, step count, state and given values; a step built with others is built again."""
    kept = []
    for name, value in sorted(vars(optimizer).items()):
        if name in _NOT_SETTINGS:
            continue
        plain = isinstance(value, _PLAIN) or (isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value))
        kept.append((name, value if plain else id(value)))  # another object: the same only if the same object
    return tuple(kept)


class BakedIn:
    """The settings a whole step of ``optimizer`` was built with, checked before each epoch (:meth:`changed`)."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer, self.settings = optimizer, settings(optimizer)

    def changed(self, params: list[Any]) -> bool:
        """Before an epoch (on the device, outside any capture): the optimizer's state made again if a callback
        emptied it, and whether a setting the step baked in changed since it was built (then build it again)."""
        self.optimizer.ensure_state(params)
        now = settings(self.optimizer)
        changed, self.settings = now != self.settings, now
        return changed
