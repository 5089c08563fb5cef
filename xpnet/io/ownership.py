"""Folders that belong to one run: a run's output folder and its checkpoint folder.

A run holds an operating-system lock on each folder it writes (``filelock``: ``flock`` on POSIX, released by the
kernel when the process ends, so a killed run never leaves a stale lock behind), with a note of who holds it
(pid, host, since when) beside the lock for the message a second run gets. Another run's files in a folder are
refused unless the caller asks to overwrite them; :func:`describe_run` and :func:`describe_checkpoint` say what
is there, for those messages.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..errors import XPNetValueError
from .atomic import atomic_open

LOCK_NAME = ".xpnet.lock"
HOLDER_NAME = ".xpnet.lock.json"
RUN_FILES = ("model.safetensors", "history.json", "predictions.npz")
CHECKPOINT_FILE = "checkpoint.safetensors"


class FolderLock:
    """The lock of one run on ``folder`` (created if missing), taken at once or refused with who holds it."""

    def __init__(self, folder: str | os.PathLike, what: str) -> None:
        self.folder, self.what = Path(folder), what
        self._lock: FileLock | None = None

    def acquire(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.folder / LOCK_NAME), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise XPNetValueError(
                f"{self.what}: {self.folder} is in use by another run ({_holder(self.folder)}); wait for it to end, or "
                "use another folder"
            ) from None
        self._lock = lock
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        with atomic_open(self.folder / HOLDER_NAME, "w") as f:
            json.dump(holder, f)
        return self

    def release(self) -> None:
        if self._lock is not None:
            (self.folder / HOLDER_NAME).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(folder: Path) -> str:
    try:
        holder = json.loads((folder / HOLDER_NAME).read_text())
        return f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
    except (OSError, ValueError, KeyError):
        return "its pid and host were not recorded yet"


def _meta(path: Path) -> dict[str, Any]:
    """The ``meta`` of a ``history.json`` (empty when there is none or it cannot be read)."""
    try:
        data = json.loads(path.read_text())
        return dict(data.get("meta", {})) if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _when(path: Path) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))


def _network(meta: dict[str, Any]) -> str:
    sizes = meta.get("sizes")
    net = f"MLP {'-'.join(str(s) for s in sizes)}" if sizes else "a network"
    data = f" on {meta['data']}" if meta.get("data") else ""
    return net + data


def run_id(folder: str | os.PathLike) -> str | None:
    """The id of the run whose files are in ``folder`` (its ``history.json``), or None."""
    value = _meta(Path(folder) / "history.json").get("run_id")
    return str(value) if value else None


def describe_run(folder: str | os.PathLike) -> str | None:
    """What a run left in ``folder`` (``"model.safetensors, history.json: MLP 784-32-10 on mnist, written
    2026-12-04 17:03"``), or None when there is nothing of a run's."""
    folder = Path(folder)
    found = [name for name in RUN_FILES if (folder / name).exists()]
    if not found:
        return None
    newest = max((folder / name for name in found), key=lambda p: p.stat().st_mtime)
    return f"{', '.join(found)}: {_network(_meta(folder / 'history.json'))}, written {_when(newest)}"


def describe_checkpoint(folder: str | os.PathLike) -> str | None:
    """The run a checkpoint in ``folder`` belongs to (``"MLP 5-32-2 on data.csv, 3 of 3 epochs done, written
    ..."``), or None when there is no checkpoint there."""
    folder = Path(folder)
    path = folder / CHECKPOINT_FILE
    if not path.exists():
        return None
    history = folder / "history.json"
    meta = _meta(history)
    done = ""
    try:
        done = f", {len(json.loads(history.read_text()).get('epochs', []))} of {meta['epochs']} epochs done"
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    return f"{_network(meta)}{done}, written {_when(path)}"


def checkpoint_run_id(folder: str | os.PathLike) -> str | None:
    """The id of the run whose checkpoint is in ``folder`` (from the ``history.json`` written with it), or None."""
    return run_id(folder) if (Path(folder) / CHECKPOINT_FILE).exists() else None


def clear_checkpoint(folder: str | os.PathLike) -> None:
    """Remove another run's checkpoint from ``folder`` (``overwrite``): a run that dies before its own first
    checkpoint must not leave that one behind to be resumed as if it were this run's."""
    for name in (CHECKPOINT_FILE, "history.json"):
        (Path(folder) / name).unlink(missing_ok=True)
