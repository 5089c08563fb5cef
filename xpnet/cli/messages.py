"""How the command line words an error: in the flags the user typed, not the API's argument names."""

from __future__ import annotations

import argparse
import re

NOT_OPTIONS = ("model", "input", "command", "run")  # positional arguments and the parser's own fields


def as_flag(message: str, args: argparse.Namespace) -> str:
    """``batch_size: ...`` (errors name the API's arguments) as ``--batch-size: ...`` when the command has that
    option, and ``precision='highest'`` or ``lr=0.05`` in its text as ``--precision highest``, ``--lr 0.05``, so the
    message names what the user typed and what to type."""

    def flag(name: str) -> str | None:
        return f"--{name.replace('_', '-')}" if name in vars(args) and name not in NOT_OPTIONS else None

    def suggestion(found: re.Match[str]) -> str:
        option = flag(found[1])
        return found[0] if option is None else f"{option} {found[2] if found[2] is not None else found[3]}"

    name, sep, rest = message.partition(": ")
    if sep and name.isidentifier() and flag(name) is not None:
        return f"{flag(name)}: {_SUGGESTED.sub(suggestion, rest)}"
    return _SUGGESTED.sub(suggestion, message)


# an option's value as Python writes it, a word or a number: name='value', name=0.1 (not name=False: a switch)
_SUGGESTED = re.compile(r"\b([a-z_][a-z0-9_]*)=(?:'([^'\s]*)'|([-+]?[0-9][0-9.e+-]*\b))")
