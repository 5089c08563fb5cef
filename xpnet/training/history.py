"""Per-epoch training history: a list of records with JSON round-trip and column access."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_open

COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_rmse",
    "val_r2",
    "seconds",
    "samples_per_second",
    "lr",
)


class History(list):
    """A list of per-epoch dicts with keys :data:`COLUMNS` (``val_*`` are ``None`` without validation).

    ``history["train_loss"]`` gives one column as a list; ``history[0]`` the first epoch's record.
    """

    meta: dict[str, Any]

    def __init__(self, records: list[dict[str, Any]] | None = None, meta: dict[str, Any] | None = None) -> None:
        super().__init__(records or [])
        self.meta = dict(meta or {})

    def __getitem__(self, key):
        if isinstance(key, str):
            return [record.get(key) for record in self]
        return super().__getitem__(key)

    def best(self, key: str = "val_loss", mode: str = "min") -> dict[str, Any] | None:
        """The record with the lowest (``mode="min"``) or highest value of ``key``; None if none has it."""
        scored = [r for r in self if r.get(key) is not None and math.isfinite(r[key])]
        if not scored:
            return None
        pick = min if mode == "min" else max
        return pick(scored, key=lambda r: r[key])

    def to_dict(self) -> dict[str, Any]:
        """``{"meta": ..., "epochs": [...]}``: what :meth:`save` writes as JSON."""
        return {"meta": self.meta, "epochs": list(self)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write JSON atomically (see :mod:`xpnet.io.atomic`); returns the path."""
        with atomic_open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=2)
        return Path(path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        return cls(data["epochs"], data.get("meta"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        with open(path) as f:
            return cls.from_dict(json.load(f))
