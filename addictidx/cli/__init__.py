"""Command-line interface: ``addictidx <command>``.

The Typer app lives in :mod:`addictidx.cli.app`; each further module here adds the commands of
one area (``decode``, ``train``, ...) to it. Modules must import heavy libraries inside their
commands only, so ``addictidx --help`` stays fast.
"""

import gc
import os
import sys

#: ``rescore FILE [--rr FILE] [--rr-unit s|ms] [--json]``: run without Typer (issue 16.4).
_DIRECT = False
if sys.argv[1:2] == ["rescore"]:
    # rescore is single-threaded numpy work (FFT, element-wise): an OpenBLAS thread pool only
    # costs its start (~0.04 CPU-s) and idle spinning. Dask does the same for its workers
    # (distributed.nanny.pre-spawn-environ), which inherit this when --workers starts them.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # No cyclic garbage collection while the command's modules load (~0.03 CPU-s of passes
    # over import-time objects); a one-file rescore is short and ends the process, a batch
    # turns it back on (cli/rescore.py).
    gc.disable()
    from addictidx.cli.rescore_one import parse_direct

    _DIRECT = parse_direct(sys.argv[2:]) is not None

if not _DIRECT:
    # Command modules register themselves on ``app`` when imported (keep this list light).
    from addictidx.cli import commands  # noqa: F401
    from addictidx.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point (``addictidx``, ``python -m addictidx``).

    A one-recording ``rescore`` command line runs without Typer
    (:func:`addictidx.cli.rescore_one.run_direct`: Typer's import and set-up cost ~0.06 CPU-s,
    more than a tenth of rescoring one hour); every other command line goes to the Typer app.
    """
    if _DIRECT:
        from addictidx.cli.rescore_one import exit_now, run_direct

        code = run_direct(sys.argv[2:])
        if code is not None:
            exit_now(code)
    from addictidx.cli.app import main as typer_main

    typer_main()


def __getattr__(name: str):
    """``app`` in a process started as a Typer-free ``rescore`` (imported on first use)."""
    if name == "app":
        from addictidx.cli.app import app, register_commands

        register_commands()
        globals()["app"] = app  # the Typer app, not the submodule the import bound here
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
