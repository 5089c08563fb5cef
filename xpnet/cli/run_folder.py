"""The run folder of ``xpnet train``: by default a new one each run (``xpnet-run``, ``xpnet-run-2``, ...); a folder
named with ``--out`` that holds another run's files is refused unless ``--overwrite``; the run locks it while it
writes (see :mod:`xpnet.io.ownership`)."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from ..errors import XPNetValueError
from ..io.ownership import RUN_FILES, FolderLock, checkpoint_run_id, describe_run, run_id

DEFAULT = Path("xpnet-run")


def choose(args: argparse.Namespace) -> Path:
    """``--out``; without it, the folder of the run being resumed, else a new numbered folder (made now, so that
    two runs started together never pick the same one)."""
    if args.out is not None:
        return Path(args.out)
    if args.resume:
        try:
            recorded = json.loads((Path(args.resume) / "history.json").read_text())["meta"].get("run_folder")
        except (OSError, ValueError, KeyError, TypeError):
            recorded = None
        if recorded:
            return Path(recorded)
    for number in itertools.count(1):
        candidate = DEFAULT if number == 1 else DEFAULT.with_name(f"{DEFAULT.name}-{number}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def claim(out: Path, args: argparse.Namespace) -> FolderLock:
    """Lock ``out`` for this run; refuse it when it holds another run's files (the run resumed is this one), unless
    ``--overwrite``, which removes them now so that none is left beside the new run's."""
    if out.exists() and not out.is_dir():
        raise XPNetValueError(f"out: {out} is a file; expected a folder to write the model and history into")
    try:
        lock = FolderLock(out, "out").acquire()
    except OSError as exc:
        raise XPNetValueError(f"out: cannot create the folder {out} ({exc.strerror or exc})") from None
    found = describe_run(out)
    same_run = bool(args.resume) and run_id(out) is not None and run_id(out) == checkpoint_run_id(args.resume)
    if found is not None and not same_run:
        if not args.overwrite:
            lock.release()
            raise XPNetValueError(
                f"out: {out} holds another run's files ({found}); pass --overwrite to replace them, or choose "
                f"another folder (--out {_free_name(out)})"
            )
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    return lock


def _free_name(out: Path) -> Path:
    return next(
        out.with_name(f"{out.name}-{n}") for n in itertools.count(2) if not out.with_name(f"{out.name}-{n}").exists()
    )
