"""scikit-learn's stopping rules (``tol``, ``n_iter_no_change``, ``early_stopping``) as an xpnet training callback."""

from __future__ import annotations

import math
from typing import Any

from ..nn.network import MLP


class _Stopper:
    """scikit-learn's stopping rules as an xpnet callback: no improvement by ``tol`` for ``patience`` epochs of the
    training loss, or (early stopping) of the validation score; the best validation weights are restored."""

    def __init__(
        self, tol: float, patience: int, score: Any = None, best_loss: float = math.inf, loss_scale: float = 1.0
    ) -> None:
        self.tol, self.patience, self.score, self.loss_scale = tol, patience, score, loss_scale
        self.best_loss, self.best_score, self.waited = best_loss, -math.inf, 0
        self.scores: list[float] = []
        self._best: Any = None

    def __call__(self, record: dict[str, Any], model: MLP) -> bool:
        loss = self.loss_scale * record["train_loss"]  # tol applies on scikit-learn's scale of the loss
        if self.score is None:  # convergence of the training loss
            improved = loss < self.best_loss - self.tol
            self.best_loss = min(self.best_loss, loss)
        else:
            value = self.score(record)
            self.scores.append(value)
            improved = value > self.best_score + self.tol
            if value > self.best_score:
                self.best_score = value
                self._best = model.snapshot()
            self.best_loss = min(self.best_loss, loss)
        self.waited = 0 if improved else self.waited + 1
        return self.waited > self.patience

    def on_train_end(self, model: MLP) -> None:
        if self._best is not None:
            model.restore(self._best)
