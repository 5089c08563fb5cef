"""Random numbers drawn on the device from a counter: the same key gives the same numbers on every backend.

A dropout mask needs fresh numbers every step, on the device (drawing them on the host and copying would move as
much data as the batch itself). Device generators differ between NumPy, CuPy and PyTorch, so instead every
element's number is a hash of its (hashed) position and a 32-bit key: integer multiplies, shifts and xors that every Array
API library computes identically (int64 arithmetic, values kept below 2^32, products below 2^63). The key is drawn
on the host from the run's seed, the step and the layer, so a resumed run, another backend or another number of
ranks (each hashing its rows' global positions) draws exactly the same mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = Any
MASK32 = 0xFFFFFFFF
_MULTIPLIER = 0x45D9F3B  # an odd constant below 2^27 (a well-mixing 32-bit integer hash's)


def step_key(seed: int, step: int, stream: int) -> int:
    """The 32-bit key of ``stream`` (a layer) at global ``step`` of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed & MASK32, seed >> 32, step, stream]).generate_state(1)[0])


def _mix(h: Array, xp: Any, wide: bool) -> Array:
    """A bijection of 32-bit integers that scatters neighbouring inputs. ``wide``: held in int64 and reduced mod
    2^32 by masking; otherwise held in uint32, whose arithmetic wraps mod 2^32 by itself: the same numbers."""
    for _ in range(2):
        h = xp.bitwise_xor(h, xp.bitwise_right_shift(h, 16))
        h = h * _MULTIPLIER
        if wide:
            h = xp.bitwise_and(h, MASK32)
    return xp.bitwise_xor(h, xp.bitwise_right_shift(h, 16))


def _wide(xp: Any, device: Any) -> bool:
    """int64 arithmetic on this device (JAX without x64 has only 32-bit integers: uint32 is used there)."""
    try:
        available = xp.__array_namespace_info__().dtypes(device=device)
    except (AttributeError, TypeError):
        return True
    return any(xp.int64 == d for d in available.values())


def keep_mask(
    xp: Any, device: Any, shape: tuple[int, int], key: Any, first_row: int, keep: float, columns: bool = False
) -> Array:
    """A boolean ``(rows, units)`` array, True with probability ``keep``, for rows ``first_row, first_row + 1, ...``
    of the stream ``key`` (a 32-bit int, or a 0-d device array holding one); positions are global: a shard of a
    batch draws what the whole batch would there. With ``columns``, the same mask laid out column-major (the
    transpose of a ``(units, rows)`` array), as the layer output it multiplies is on the host (:mod:`xpnet.backend.
    layout`): a product of two layouts would walk one of them across its rows."""
    rows, units = shape
    start, wide = first_row * units, _wide(xp, device)
    dtype = xp.int64 if wide else xp.uint32
    if columns:  # position (i, j) is start + i·units + j either way: made as a (units, rows) array
        down = xp.reshape(xp.arange(start, start + units, dtype=dtype, device=device), (units, 1))
        counter = down + xp.reshape(xp.arange(0, rows * units, units, dtype=dtype, device=device), (1, rows))
    else:
        counter = xp.arange(start, start + rows * units, dtype=dtype, device=device)
    if wide:
        counter = xp.bitwise_and(counter, MASK32)
    # the position is mixed before the key joins: xor-ing a key into raw positions would only permute aligned
    # blocks of them, so every step's mask would reuse the same hash values in another order
    # Python ints join int64 arrays as operands, not arrays made from host values (on torch:cuda each would be a
    # blocking host-to-device copy per layer and step). In uint32 arithmetic (JAX without x64) a Python int above
    # 2^31 would not fit the weak 32-bit type JAX gives it: there the numbers become uint32 arrays.
    threshold: Any = min(int(keep * 2.0**32), MASK32)
    if not wide:
        threshold = xp.asarray(threshold, dtype=dtype, device=device)
    if not isinstance(key, (int, np.integer)):  # a 0-d device key (the compiled JAX step's): cast on the device
        key = xp.astype(key, dtype)
    else:
        key = int(key) if wide else xp.asarray(int(key), dtype=dtype, device=device)
    h = _mix(_mix(counter, xp, wide) ^ key, xp, wide)
    return (h < threshold).T if columns else xp.reshape(h < threshold, shape)
