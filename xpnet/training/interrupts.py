"""Ctrl-C held back while a checkpoint is written and recorded, so that "the last checkpoint is ..." is true."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Run the block with SIGINT recorded instead of acted on, then act on it as the handler before would have.

    A Ctrl-C between a checkpoint's rename into place and the loop's note of it would report an older checkpoint
    (or none) while the new one is on disk. Outside the main thread, or when Python did not install the SIGINT
    handler, the block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and callable(previous):
        previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt here
    elif caught and previous == signal.SIG_DFL:
        signal.raise_signal(signal.SIGINT)
