"""Folders that belong to one run: a run's output folder and its checkpoint folder.

A run holds an operating-system lock on each folder it writes (``filelock``: ``flock`` on POSIX, released by the
kernel when the process ends, so a killed run never leaves a stale lock behind), with a note of who holds it
(pid, host, since when) beside the lock for the message a second run gets. Another run's files in a folder are
refused unless the caller asks to overwrite them (:func:`claim`, for the run folder and the checkpoint folder
alike); :func:`describe_run` says what a run left, for those messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..errors import XPNetValueError
from .atomic import atomic_open, remove_stale

LOCK_NAME = ".xpnet.lock"
HOLDER_NAME = ".xpnet.lock.json"
RUN_FILES = ("model.safetensors", "history.json", "predictions.npz")


class FolderLock:
    """The lock of one run on ``folder`` (created if missing), taken at once or refused with who holds it. Taken
    twice by one run (its output folder is its checkpoint folder too), it is the same lock, held until both release."""

    def __init__(self, folder: str | os.PathLike, what: str, made: bool = False) -> None:
        self.folder, self.what, self._made_by_caller = Path(folder), what, made  # folder: as given, for messages
        self._path = self.folder.absolute()  # where it is, whatever the working directory becomes
        self._lock: FileLock | None = None
        self._made: list[Path] = []  # the folders this lock made, innermost first: released empty, they go too

    def acquire(self) -> FolderLock:
        for attempt in range(3):
            try:
                return self._acquire()
            except (FileNotFoundError, FileExistsError):  # another run's release removed the folder meanwhile
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _acquire(self) -> FolderLock:
        path = self._path
        self._made = [p for p in (path, *path.parents) if not p.exists()]
        self._made = self._made or ([path] if self._made_by_caller else [])
        path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path / LOCK_NAME), timeout=0, is_singleton=True)  # one per folder and process
        try:
            lock.acquire()
        except Timeout:
            raise XPNetValueError(
                f"{self.what}: {self.folder} is in use by another run ({_holder(path)}); wait for it to end, or "
                "use another folder"
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        try:
            with atomic_open(path / HOLDER_NAME, "w") as f:
                json.dump(holder, f)
        except BaseException:  # the folder went with a run that released it as this one took it: again
            lock.release()
            raise
        self._lock = lock
        return self

    def release(self) -> None:
        """Let the folder go; a folder this lock made that holds nothing but the lock (a run refused or stopped
        before it wrote anything) is removed, so that a refused run leaves nothing behind."""
        if self._lock is None:
            return
        last, empty = self._lock.lock_counter == 1, False  # the last holder in this process
        if last:
            (self._path / HOLDER_NAME).unlink(missing_ok=True)
            empty = bool(self._made) and {p.name for p in self._path.iterdir()} <= {LOCK_NAME}
            if empty:  # unlinked while held: a run that opens the name now makes a lock of its own
                with contextlib.suppress(OSError):
                    (self._path / LOCK_NAME).unlink()
        self._lock.release()
        self._lock = None
        for folder in self._made if empty else ():
            try:
                folder.rmdir()
            except OSError:  # another run may have made its lock there since, or a file beside it
                break

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim(
    folder: str | os.PathLike,
    what: str,
    *,
    found: Callable[[Path], str | None],
    refusal: Callable[[str], str],
    clear: tuple[str, ...],
    overwrite: bool,
    made: bool = False,
) -> FolderLock:
    """Lock ``folder`` for this run. What another run left there (``found``: its description, or None) is refused
    with ``refusal(description)`` unless ``overwrite``, which removes the files ``clear`` now, so that none is left
    beside this run's; temporaries of writes a crash cut short are removed too. Returns the lock, held until
    released. ``made``: the caller made ``folder`` for this run (see :class:`FolderLock`)."""
    lock = FolderLock(folder, what, made).acquire()
    folder = Path(folder)
    try:
        other = found(folder)
        if other is not None and not overwrite:
            raise XPNetValueError(f"{what}: {refusal(other)}")
    except BaseException:
        lock.release()
        raise
    for name in clear if other is not None else ():
        (folder / name).unlink(missing_ok=True)
    remove_stale(folder, clear)  # no other run holds the folder now
    return lock


def _holder(folder: Path) -> str:
    try:
        holder = json.loads((folder / HOLDER_NAME).read_text())
        return f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
    except (OSError, ValueError, KeyError):
        return "its pid and host were not recorded yet"


def recorded(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``history.json`` a run wrote in ``folder`` as a dict (empty when there is none or it cannot be read)."""
    try:
        data = json.loads((Path(folder) / "history.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def when(path: Path) -> str:
    """``path``'s modification time, to the minute."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))


def network(meta: dict[str, Any]) -> str:
    """``"MLP 784-32-10 on mnist"`` from a history's meta."""
    sizes = meta.get("sizes")
    net = f"MLP {'-'.join(str(s) for s in sizes)}" if sizes else "a network"
    data = f" on {meta['data']}" if meta.get("data") else ""
    return net + data


def run_id(folder: str | os.PathLike) -> str | None:
    """The id of the run whose files are in ``folder`` (its ``history.json``), or None."""
    value = dict(recorded(folder).get("meta") or {}).get("run_id")
    return str(value) if value else None


def describe_run(folder: str | os.PathLike) -> str | None:
    """What a run left in ``folder`` (``"model.safetensors, history.json: MLP 784-32-10 on mnist, written
    2026-12-04 17:03"``), or None when there is nothing of a run's."""
    folder = Path(folder)
    found = [name for name in RUN_FILES if (folder / name).exists()]
    if not found:
        return None
    newest = max((folder / name for name in found), key=lambda p: p.stat().st_mtime)
    return f"{', '.join(found)}: {network(dict(recorded(folder).get('meta') or {}))}, written {when(newest)}"
