"""``python -m xpnet``: the command line of :mod:`xpnet.cli`."""

from xpnet.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
