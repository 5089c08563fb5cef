"""Caches of per-device things (compiled programs, ...), keyed on the canonical device spec.

Never key a cache, dict or set on a device or namespace object: CuPy's ``Device`` defines ``__eq__`` without
``__hash__`` (unhashable), and two objects can name one device. A :class:`~xpnet.backend.specs.Backend` hashes by
its spec alone, so one reaching a key by accident is safe, but caches say what they mean with :func:`by_spec`.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .specs import Backend

T = TypeVar("T")
_CACHES: list[Any] = []  # every by_spec cache, and what registered with per_library


def clear_caches() -> None:
    """Empty every :func:`by_spec` and :func:`per_library` cache (a backend replaced under its name, as the CuPy
    stand-in replaces CuPy)."""
    for cache in _CACHES:
        cache.clear()


def registered(cache: dict[Any, Any]) -> dict[Any, Any]:
    """``cache`` (a plain dict keyed on spec strings), emptied by :func:`clear_caches` with the rest."""
    _CACHES.append(cache)
    return cache


def per_library(build: Callable[[], T]) -> Callable[[], T]:
    """``functools.cache`` for what is built once per loaded library (a handle on cuBLAS, say), emptied by
    :func:`clear_caches` with the rest."""
    cached = functools.cache(build)
    _CACHES.append(type("Clear", (), {"clear": staticmethod(cached.cache_clear)})())
    return cached


def by_spec(maxsize: int | None = 32) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate ``build(backend, *settings)`` so it runs once per ``(backend.spec, *settings)`` (the last
    ``maxsize`` kept; all with None); ``settings`` must be hashable."""

    def decorate(build: Callable[..., T]) -> Callable[..., T]:
        cache: OrderedDict[tuple[Hashable, ...], T] = OrderedDict()
        _CACHES.append(cache)

        @functools.wraps(build)
        def cached(backend: Backend, *settings: Any) -> T:
            key = (backend.spec, *settings)
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
            value = cache[key] = build(backend, *settings)
            if maxsize is not None and len(cache) > maxsize:
                cache.popitem(last=False)
            return value

        cached.cache_clear = cache.clear  # type: ignore[attr-defined]
        return cached

    return decorate
