"""A rich progress bar on stderr, shared by the long-running commands (train, rescore)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

__all__ = ["count_progress"]


def count_progress(enabled: bool):
    """(context manager, callback(stage, done, total)) for a rich progress bar on stderr.

    With ``enabled`` False: a null context and ``None`` (no callback).
    """
    if not enabled:
        return contextlib.nullcontext(), None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    tasks: dict[str, int] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    cb: Callable[[str, int, int], None] = on_progress
    return progress, cb
