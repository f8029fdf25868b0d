"""Command-line interface: ``addictidx <command>``.

The Typer app lives in :mod:`addictidx.cli.app`; each further module here adds the commands of
one area (``decode``, ``train``, ...) to it. Modules must import heavy libraries inside their
commands only, so ``addictidx --help`` stays fast.
"""

# Command modules register themselves on ``app`` when imported (keep this list light).
from addictidx.cli import commands  # noqa: F401,E402
from addictidx.cli.app import app, main

__all__ = ["app", "main"]
