"""The run folder of ``xpnet train``: by default a new one each run (``xpnet-run``, ``xpnet-run-2``, ...); a folder
named with ``--out`` that holds another run's files is refused unless ``--overwrite``; the run locks it while it
writes (see :mod:`xpnet.io.ownership`)."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from ..errors import XPNetValueError
from ..io.ownership import RUN_FILES, FolderLock, claim, describe_run, recorded, run_id
from ..training.checkpoint import checkpoint_run_id

DEFAULT = Path("xpnet-run")


def choose(args: argparse.Namespace) -> tuple[Path, bool]:
    """``--out``; without it, the folder of the run being resumed, else a new numbered folder (made now, so that
    two runs started together never pick the same one); and whether it was made here."""
    if args.out is not None:
        return Path(args.out), False
    recorded_folder = dict(recorded(args.resume).get("meta") or {}).get("run_folder") if args.resume else None
    if recorded_folder:
        return Path(recorded_folder), False
    for number in itertools.count(1):
        candidate = DEFAULT if number == 1 else DEFAULT.with_name(f"{DEFAULT.name}-{number}")
        try:
            candidate.mkdir(parents=True)
            return candidate, True
        except FileExistsError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def claim_run_folder(out: Path, args: argparse.Namespace, made: bool = False) -> FolderLock:
    """Lock ``out`` for this run; refuse it when it holds another run's files (the run resumed is this one), unless
    ``--overwrite``, which removes them now so that none is left beside the new run's. ``made``: :func:`choose`
    made it (released empty, it goes, as the folders the lock makes itself do)."""
    if out.exists() and not out.is_dir():
        raise XPNetValueError(f"out: {out} is a file; expected a folder to write the model and history into")
    resumed = checkpoint_run_id(args.resume) if args.resume else None

    def other_run(folder: Path) -> str | None:
        here = run_id(folder)
        return None if resumed is not None and here == resumed else describe_run(folder)

    try:
        return claim(out, "out", found=other_run, clear=RUN_FILES, overwrite=args.overwrite, made=made,
                     refusal=lambda found: f"{out} holds another run's files ({found}); pass --overwrite to replace "
                                           f"them, or choose another folder (--out {_free_name(out)})")  # fmt: skip
    except OSError as exc:
        raise XPNetValueError(f"out: cannot create the folder {out} ({exc.strerror or exc})") from None


def _free_name(out: Path) -> Path:
    return next(
        out.with_name(f"{out.name}-{n}") for n in itertools.count(2) if not out.with_name(f"{out.name}-{n}").exists()
    )
