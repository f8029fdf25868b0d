"""Command-line interface: ``addictidx <command>``.

The Typer app lives in :mod:`addictidx.cli.app`; each further module here adds the commands of
one area (``decode``, ``train``, ...) to it. Modules must import heavy libraries inside their
commands only, so ``addictidx --help`` stays fast.
"""

import gc
import os
import sys

if sys.argv[1:2] == ["rescore"]:
    # rescore is single-threaded numpy work (FFT, element-wise): an OpenBLAS thread pool only
    # costs its start (~0.04 CPU-s) and idle spinning. Dask does the same for its workers
    # (distributed.nanny.pre-spawn-environ), which inherit this when --workers starts them.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # No cyclic garbage collection while the command's modules load (~0.03 CPU-s of passes
    # over import-time objects); a one-file rescore is short and ends the process, a batch
    # turns it back on (cli/rescore.py).
    gc.disable()

# Command modules register themselves on ``app`` when imported (keep this list light).
from addictidx.cli import commands  # noqa: F401,E402
from addictidx.cli.app import app, main

__all__ = ["app", "main"]
