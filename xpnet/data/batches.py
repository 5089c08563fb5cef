"""Device-aware minibatching: batches of ``(x, y)`` on the model's device, shuffled by a host generator.

Two placements give bit-identical batches:

``"device"``
    The whole data set is moved once (kept in its stored dtype, e.g. uint8 pixels); each epoch a
    permutation drawn on the host is moved as one index array and batches are gathered on the
    device with ``xp.take``, then cast and scaled there.
``"stream"``
    Each batch is gathered on the host and transferred on its own; the next batch is gathered in a
    background thread while the current one trains. The transfer itself is issued from the training
    thread, so it is ordered with the compute on the device's stream (CuPy stages host-to-device copies
    through pinned memory and queues them asynchronously).

``"auto"`` picks ``"device"`` when the data fit within a budget of the device's free memory, else ``"stream"``.

Data-parallel training (``shard=(rank, size)``): every rank draws the same permutation and takes its slice of
each global batch (:func:`shard_bounds`); with ``"device"`` placement a rank moves only the rows it trains on
in an epoch, once per epoch, so its device holds ``1/size`` of the data set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..backend import Backend, dtype_name, float_dtype, free_memory, to_device
from ..backend.memo import by_spec
from ..backend.step_ops import take_rows
from ..errors import XPNetTypeError, XPNetValueError, describe
from ..validation import check_batch_data

Array = Any
PLACEMENTS = ("auto", "device", "stream")


def check_batch_size(batch_size: Any) -> int:
    """A positive integer batch size (bools refused)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise XPNetTypeError(f"batch_size: expected a positive integer; received {describe(batch_size)}")
    if batch_size <= 0:
        raise XPNetValueError(f"batch_size: expected a positive integer; received {batch_size}")
    return int(batch_size)


def check_placement(placement: Any) -> str:
    if not isinstance(placement, str) or placement not in PLACEMENTS:
        raise XPNetValueError(f"placement: expected one of {list(PLACEMENTS)}; received {describe(placement)}")
    return placement


def choose_placement(placement: str, nbytes: int, target: Backend, budget_fraction: float = 0.5) -> str:
    """Resolve ``"auto"``: keep the data on the device when it takes at most ``budget_fraction`` of free memory."""
    if check_placement(placement) != "auto":
        return placement
    free = free_memory(target)
    return "device" if free is None or nbytes <= budget_fraction * free else "stream"


def shard_bounds(start: int, stop: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s part of rows ``[start, stop)`` split ``size`` ways: the first ``(stop - start) % size``
    ranks take one row more than the others (``[0, 10)`` in 3: 4, 3 and 3 rows)."""
    count, extra = divmod(stop - start, size)
    first = start + rank * count + min(rank, extra)
    return first, first + count + (1 if rank < extra else 0)


class Batches:
    """Minibatches of host data ``(x, y)`` delivered on ``target`` as ``dtype`` (``x * scale`` when given).

    Parameters
    ----------
    x : array, shape (n, d)
        Inputs on the host (any numeric dtype; uint8 pixels stay uint8 until the device casts them) or
        already on ``target`` (then the placement is ``"device"`` whatever was asked).
    y : array, shape (n,) or (n, k)
        Integer labels or real targets; real targets are cast to ``dtype``.
    target : Backend
        Where batches are delivered.
    dtype : namespace dtype
        Floating dtype of the delivered ``x`` (and of real-valued ``y``).
    batch_size : int
    rng : numpy.random.Generator or None
        Draws the permutation of each epoch on the host; ``None`` keeps the data order.
    placement : {"auto", "device", "stream"}
    scale : float or None
        Multiplies ``x`` after the cast (e.g. ``1/255`` for raw pixels).
    drop_last : bool
        Drop the last partial batch instead of delivering it.
    shard : (rank, size), optional
        Deliver only rank ``rank``'s slice of each global batch of ``batch_size`` rows (see :func:`shard_bounds`).
    """

    def __init__(
        self,
        x: Array,
        y: Array,
        target: Backend,
        dtype: Any,
        *,
        batch_size: int,
        rng: np.random.Generator | None = None,
        placement: str = "auto",
        scale: float | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.batch_size = check_batch_size(batch_size)
        self.shard = shard
        x, y, target, dtype = check_batch_data(x, y, target, dtype)
        self.n = x.shape[0]
        self.target, self.dtype, self.rng, self.scale, self.drop_last = target, dtype, rng, scale, drop_last
        self.epoch_rng_state: Mapping[str, Any] | None = None
        on_host = isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
        # Data already on the device stay there whatever was asked: nothing moves back to the host.
        nbytes = (x.nbytes + y.nbytes) // (1 if shard is None else shard[1]) if on_host else 0
        self.placement = choose_placement(placement, nbytes, target) if on_host else "device"
        self._integer_y = target.xp.isdtype(y.dtype, "integral") if not on_host else y.dtype.kind in "iu"
        # the batches' cast and scaling: one program per shape where the backend compiles, chosen once
        self._finisher = _finisher(target, dtype_name(dtype), scale, bool(self._integer_y))
        self.gather = gather_function(target, dtype_name(dtype), scale, bool(self._integer_y))  # for compiled steps
        if on_host:  # floating data are cast on the host, once; integer pixels stay small until the device
            x, y = (a.astype(dtype_name(dtype), copy=False) if a.dtype.kind == "f" else a for a in (x, y))
        self._host = (x, y)
        self._device = None  # a sharded host data set moves one epoch's rows of this rank at a time
        if self.placement == "device" and not (on_host and shard is not None):
            self._device = (to_device(x, target), to_device(y, target))

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def _order(self) -> np.ndarray:
        return self.rng.permutation(self.n) if self.rng is not None else np.arange(self.n)

    def _global_bounds(self) -> list[tuple[int, int]]:
        return [(s, min(s + self.batch_size, self.n)) for s in range(0, len(self) * self.batch_size, self.batch_size)]

    def _bounds(self) -> list[tuple[int, int]]:
        """Rows of each batch this process trains on: the whole batch, or its shard."""
        if self.shard is None:
            return self._global_bounds()
        return [shard_bounds(s, e, *self.shard) for s, e in self._global_bounds()]

    def first_row(self, i: int) -> int:
        """Where this process's rows start within global batch ``i`` (0 without a shard): dropout masks are drawn
        for the global batch's positions, so a shard draws what the whole batch would there."""
        if self.shard is None:
            return 0
        s, e = min(i * self.batch_size, self.n), min((i + 1) * self.batch_size, self.n)
        return shard_bounds(s, e, *self.shard)[0] - s

    def share(self, i: int) -> float:
        """The fraction of global batch ``i``'s rows that this process trains on (1.0 without a shard)."""
        if self.shard is None:
            return 1.0
        s, e = min(i * self.batch_size, self.n), min((i + 1) * self.batch_size, self.n)
        first, last = shard_bounds(s, e, *self.shard)
        return (last - first) / (e - s) if e > s else 0.0

    def _finish(self, xb: Array, yb: Array) -> tuple[Array, Array]:
        """Cast (and scale) a batch on the device: the same code for both placements."""
        return self._finisher(xb, yb, None)

    def take(self, x: Array, y: Array, rows: Array) -> tuple[Array, Array]:
        """Rows ``rows`` of device data, cast and scaled: one compiled program where the backend compiles."""
        return self._finisher(x, y, rows)

    def __iter__(self) -> Iterator[tuple[Array, Array]]:
        """One epoch of batches; each call draws a new permutation from ``rng``."""
        return self.epoch()

    def epoch(self, start: int = 0, rng_state: Mapping[str, Any] | None = None) -> Iterator[tuple[Array, Array]]:
        """One epoch of batches from batch ``start`` on, exactly as an uninterrupted epoch would deliver them.

        ``rng_state`` (a ``bit_generator.state``) is restored before the permutation is drawn, so a resumed
        run replays the interrupted epoch's order. :attr:`epoch_rng_state` keeps the state the permutation was
        drawn from.
        """
        order = self.epoch_order(rng_state)
        bounds = self._bounds()[start:]
        if self.placement == "device":
            return self._from_device(order, bounds)
        return self._streamed(order, bounds)

    def epoch_order(self, rng_state: Mapping[str, Any] | None = None) -> np.ndarray:
        """The order of the samples in the next epoch (drawn from ``rng``, whose state before the draw is kept in
        :attr:`epoch_rng_state`; ``rng_state`` restores it first, as a resumed epoch does)."""
        if self.rng is not None:
            if rng_state is not None:
                self.rng.bit_generator.state = rng_state
            self.epoch_rng_state = self.rng.bit_generator.state
        return self._order()

    @property
    def device_data(self) -> tuple[Array, Array] | None:
        """``(x, y)`` as they live on the device for ``"device"`` placement (stored dtype), else None."""
        return self._device

    def bounds(self) -> list[tuple[int, int]]:
        """``(first, last)`` rows of every batch of an epoch, in the epoch's order."""
        return self._bounds()

    def _from_device(self, order: np.ndarray, bounds: list[tuple[int, int]]) -> Iterator[tuple[Array, Array]]:
        if self._device is None:  # sharded: this epoch's rows of this rank, in training order, in one transfer
            mine = np.concatenate([order[s:e] for s, e in bounds]) if bounds else order[:0]
            x, y = (to_device(a, self.target) for a in self._gather(mine))
            ends = np.cumsum([e - s for s, e in bounds]).tolist()
            for first, last in zip([0, *ends[:-1]], ends):
                yield self._finish(x[first:last, ...], y[first:last, ...])
            return
        x, y = self._device
        # One transfer per epoch; where the batches are cut by a compiled program (JAX) each batch's rows go in with
        # its call instead, as a compiled program's host inputs do (a device slice compiles a program per size).
        index = order if self.target.compiles else to_device(order, self.target)
        for s, e in bounds:
            yield self.take(x, y, index[s:e])

    def _gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Host rows of one batch (runs in the prefetch thread; NumPy releases the GIL while copying)."""
        x, y = self._host
        return np.take(x, rows, axis=0), np.take(y, rows, axis=0)

    def _streamed(self, order: np.ndarray, bounds: list[tuple[int, int]]) -> Iterator[tuple[Array, Array]]:
        """Gather batch i+1 on the host while batch i trains; transfers are issued from the training thread,
        so they are ordered with the compute on its stream (CuPy stages them through pinned memory itself)."""
        if not bounds:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xpnet-prefetch") as pool:
            pending = pool.submit(self._gather, order[bounds[0][0] : bounds[0][1]])
            for i in range(len(bounds)):
                xb, yb = pending.result()
                if i + 1 < len(bounds):
                    s, e = bounds[i + 1]
                    pending = pool.submit(self._gather, order[s:e])
                yield self._finish(to_device(xb, self.target), to_device(yb, self.target))


@by_spec(maxsize=64)
def _finisher(target: Backend, dtype: str, scale: float | None, integer_y: bool) -> Any:
    """:func:`gather_function`, compiled as one program where the backend compiles."""
    finish = gather_function(target, dtype, scale, integer_y)
    return target.compile(finish) or finish


def gather_function(target: Backend, dtype: str, scale: float | None, integer_y: bool) -> Any:
    """``(x, y, rows) -> (x', y')``: rows ``rows`` of ``x`` and ``y`` (all of them when ``rows`` is None) cast to
    ``dtype`` (``y`` only when real-valued) and ``x`` scaled."""
    xp, cast = target.xp, float_dtype(target, dtype)

    def finish(x: Array, y: Array, rows: Array | None) -> tuple[Array, Array]:
        if rows is not None:
            x, y = take_rows(x, rows), take_rows(y, rows)
        x = xp.astype(x, cast, copy=False)  # a fresh gather already: no second copy
        if scale is not None:
            x = x * scale
        return x, (y if integer_y else xp.astype(y, cast, copy=False))

    return finish
