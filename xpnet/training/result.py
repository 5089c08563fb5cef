"""What :func:`xpnet.train` returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..nn.network import MLP
from ..optim import Optimizer
from .evaluate import Evaluation
from .history import History


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : MLP
        The trained network (with the best weights restored when early stopping is on).
    history : History
        One record per epoch: train/validation loss and accuracy, seconds, samples/s, learning rate.
    device : str
        Canonical spec of the device used.
    placement : str
        ``"device"`` or ``"stream"`` (see :mod:`xpnet.data`).
    optimizer : Optimizer
    test : Evaluation or None
        Evaluation on the test split when the data came with one.
    stopped_early : bool
        Early stopping ended the run.
    ranks : int
        Processes that trained the model together (1 unless data-parallel).
    """

    model: MLP
    history: History
    device: str
    placement: str
    optimizer: Optimizer
    test: Evaluation | None = None
    stopped_early: bool = field(default=False)
    ranks: int = 1
