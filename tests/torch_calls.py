"""What PyTorch's dispatcher runs in a block: ``with dispatched() as calls`` records ``(name, args, kwargs)`` for
every operator call (for the tests that count kernels or casts)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def dispatched() -> Iterator[list[tuple[str, tuple[Any, ...], dict[str, Any]]]]:
    from torch.utils._python_dispatch import TorchDispatchMode

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            calls.append((func.overloadpacket.__name__, args, kwargs or {}))
            return func(*args, **(kwargs or {}))

    with Record():
        yield calls
