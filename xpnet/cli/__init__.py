"""The ``xpnet`` command (also ``python -m xpnet``): ``train``, ``eval``, ``predict``, ``export``, ``devices``, ``parity``,
``plot``.

- :mod:`.parser`: the arguments of every subcommand;
- :mod:`.train`: ``xpnet train`` (named data sets and your own files; rank 0 writes under ``mpiexec``);
- :mod:`.models`: ``xpnet eval``, ``xpnet predict`` and ``xpnet export`` on a saved model;
- :mod:`.tools`: ``xpnet devices``, ``xpnet parity`` and ``xpnet plot``.

Errors raised on purpose (:class:`xpnet.XPNetError`) and unwritable paths print ``xpnet: error: ...`` and exit 2.
"""

from __future__ import annotations

import sys
import warnings

from ..errors import XPNetError
from .messages import as_flag
from .parser import build_parser
from .train import resume_command

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``xpnet`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    0 on success, 2 for bad input or unwritable paths (``xpnet: error: ...`` on stderr), 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has already printed
        return int(exc.code or 0)
    shown = warnings.formatwarning
    warnings.formatwarning = _one_line
    try:
        status = args.run(args)
    except (XPNetError, OSError) as exc:
        print(f"xpnet: error: {as_flag(str(exc), args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xpnet: interrupted", file=sys.stderr)
        folder = getattr(args, "resume", None) or getattr(args, "checkpoint_dir", None)
        if args.command == "train" and folder:
            print(f"xpnet: continue with: {resume_command(argv, folder)}", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = shown
    return int(status or 0)


def _one_line(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    """Warnings on the command line read ``xpnet: warning: ...``, without the source line."""
    return f"xpnet: warning: {message}\n"
