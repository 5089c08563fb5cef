"""Atomic file writes: a temporary file in the target's folder, flushed and fsynced, then renamed over the target.

At no instant is a half-written file visible under the target's name; a failure leaves the old file untouched and
is raised as :class:`xpnet.errors.WriteFailedError`, naming the file and saying so.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..errors import WriteFailedError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_failed(path: Path, exc: OSError) -> WriteFailedError:
    kept = f"the previous {path.name} is unchanged" if path.exists() else f"no {path.name} was written"
    error = WriteFailedError(f"{path}: could not be written ({exc.strerror or exc}); {kept}")
    error.errno, error.filename = exc.errno, str(path)
    return error


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale(folder: str | os.PathLike, names: tuple[str, ...]) -> None:
    """Remove the temporaries of writes of ``names`` in ``folder`` that a crash cut short (never visible under the
    target's name). Only for a folder this process holds: another writer's temporary would go too."""
    for name in names:
        for stale in Path(folder).glob(f"{_temporary_prefix(Path(name))}*.tmp"):
            stale.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path`` atomically."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
    except OSError as exc:  # a folder that cannot be made or written to: named as the target, not the temporary
        raise _write_failed(path, exc) from exc
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except OSError as exc:  # no space left, a file-size limit, a vanished folder, ...
        Path(tmp).unlink(missing_ok=True)
        raise _write_failed(path, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
