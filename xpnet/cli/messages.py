"""How the command line words an error: in the flags the user typed, not the API's argument names."""

from __future__ import annotations

import argparse

NOT_OPTIONS = ("model", "input", "command", "run")  # positional arguments and the parser's own fields


def as_flag(message: str, args: argparse.Namespace) -> str:
    """``batch_size: ...`` (errors name the API's arguments) as ``--batch-size: ...`` when the command has that
    option, so the message names what the user typed."""
    name, sep, rest = message.partition(": ")
    if sep and name.isidentifier() and name in vars(args) and name not in NOT_OPTIONS:
        return f"--{name.replace('_', '-')}: {rest}"
    return message
