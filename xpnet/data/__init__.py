"""Data on its way to the device: what ``train(data=...)`` accepts (:mod:`.sources`) and device-aware minibatches
(:mod:`.batches`). The data sets themselves live in :mod:`xpnet.datasets`."""

from __future__ import annotations

from .batches import PLACEMENTS, Batches, check_batch_size, choose_placement, shard_bounds

__all__ = ["PLACEMENTS", "Batches", "check_batch_size", "choose_placement", "shard_bounds"]
