"""How the command line words an error: in the flags the user typed, not the API's argument names."""

from __future__ import annotations

import argparse
import re

NOT_OPTIONS = ("model", "input", "command", "run")  # positional arguments and the parser's own fields


def as_flag(message: str, args: argparse.Namespace) -> str:
    """``batch_size: ...`` (errors name the API's arguments) as ``--batch-size: ...`` when the command has that
    option, and in the advice of a "use ..." or "pass ..." clause ``precision='highest'`` or ``epochs=3`` as
    ``--precision highest``, ``--epochs 3``, so the message names what the user typed and what to type. Nothing
    else is rewritten: a path such as ``sweep/lr=0.05`` or a Python call in the message stays as it is."""

    def flag(name: str) -> str | None:
        return f"--{name.replace('_', '-')}" if name in vars(args) and name not in NOT_OPTIONS else None

    def suggestion(found: re.Match[str]) -> str:
        option = flag(found[1])
        return found[0] if option is None else f"{option} {found[2] if found[2] is not None else found[3]}"

    def advice(clause: re.Match[str]) -> str:
        return clause[1] + _SUGGESTED.sub(suggestion, clause[2])

    name, sep, rest = message.partition(": ")
    if sep and name.isidentifier() and flag(name) is not None:
        message = f"{flag(name)}: {rest}"
    return _ADVICE.sub(advice, message)


_ADVICE = re.compile(r"(\b[Uu]se |\bpass )([^;)]*)")  # a clause of advice, to its semicolon or closing parenthesis
# an option's value as Python writes it, a word or a number: name='value', name=0.1 (not name=False: a switch), on its
# own (not inside a path or a call's arguments)
_SUGGESTED = re.compile(r"(?<![\w/.=-])(?<!, )([a-z_][a-z0-9_]*)=(?:'([^'\s]*)'|([-+]?[0-9][0-9.e+-]*))(?![\w/])")
