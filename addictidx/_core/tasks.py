"""How a computation hands independent tasks to whoever runs them (serial here, Dask above).

A *task map* is any callable ``task_map(fn, tasks, shared, on_done=None) -> list`` that returns
``[fn(**shared, **task) for task in tasks]`` -- the results in the order of ``tasks``, whatever
order they finished in. ``shared`` holds the large inputs every task reads (arrays, model bytes):
a distributed map sends them to each worker once instead of once per task. ``on_done(n)`` is
called with the number of finished tasks as results arrive (progress bars).

Lower layers (model training, evaluation) accept a task map and default to :func:`serial_map`;
:mod:`addictidx.cluster` supplies one that runs on a Dask cluster. Task functions must be pure
and module-level (picklable by reference), so a distributed run equals the serial run bit for
bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

__all__ = ["TaskMap", "serial_map"]


class TaskMap(Protocol):
    """``(fn, tasks, shared, on_done) -> [fn(**shared, **task) for task in tasks]``."""

    def __call__(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[Mapping[str, Any]],
        shared: Mapping[str, Any] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list: ...


def serial_map(
    fn: Callable[..., Any],
    tasks: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any] | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list:
    """Run the tasks one after the other in this process (the reference every map must equal).

    Parameters
    ----------
    fn : callable
        Called as ``fn(**shared, **task)``.
    tasks : sequence of mapping
        Keyword arguments of each task.
    shared : mapping | None
        Keyword arguments common to every task.
    on_done : callable(int) | None
        Called with the number of finished tasks after each one.

    Returns
    -------
    list
        The results, in the order of ``tasks``.
    """
    common = dict(shared or {})
    out = []
    for i, task in enumerate(tasks):
        out.append(fn(**common, **task))
        if on_done is not None:
            on_done(i + 1)
    return out
