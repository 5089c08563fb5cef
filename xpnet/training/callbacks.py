"""Training callbacks: ``callback(record, model) -> bool | None`` after each epoch; ``True`` stops training.

A callback may also define ``on_train_begin(meta)``, called once before the first epoch with the run's settings
(``meta["device"]``, ``meta["placement"]``, ...), and ``on_train_end(model)``, called once after the last epoch.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import XPNetValueError, describe
from ..nn.network import MLP

MODES = {"min": lambda new, best: new < best, "max": lambda new, best: new > best}


class EarlyStopping:
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights at the end.

    Parameters
    ----------
    patience : int
        Epochs without improvement tolerated before stopping.
    monitor : str
        History key to watch (``"val_loss"`` by default, ``"val_accuracy"`` with ``mode="max"``).
    mode : {"min", "max"}
    restore_best : bool
        Copy the best epoch's parameters back into the model when training ends.
    """

    def __init__(self, patience: int = 5, monitor: str = "val_loss", mode: str = "min", restore_best: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise XPNetValueError(
                f"early_stopping: expected patience as an integer >= 0; received {describe(patience)}"
            )
        if mode not in MODES:
            raise XPNetValueError(f"mode: expected one of {sorted(MODES)}; received {describe(mode)}")
        self.patience, self.monitor, self.mode, self.restore_best = patience, monitor, mode, restore_best
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self._best: Any = None
        self._waited = 0

    def __call__(self, record: dict[str, Any], model: MLP) -> bool:
        value = record.get(self.monitor)
        if value is None:
            raise XPNetValueError(
                f"early_stopping monitors {self.monitor!r}, which the history lacks; pass validation="
            )
        if math.isfinite(value) and (self.best_value is None or MODES[self.mode](value, self.best_value)):
            self.best_value, self.best_epoch, self._waited = value, record["epoch"], 0
            if self.restore_best:
                self._best = model.snapshot()  # parameters and buffers, on the device
            return False
        self._waited += 1
        return self._waited > self.patience

    def on_train_end(self, model: MLP) -> None:
        """Put the best epoch's weights back into ``model`` (when ``restore_best`` and an epoch improved)."""
        if self.restore_best and self._best is not None:
            model.restore(self._best)
