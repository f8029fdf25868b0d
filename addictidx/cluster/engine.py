"""Where tasks run: serially here, on a Dask ``LocalCluster``, or on an existing Dask cluster.

:func:`open_task_map` turns the command-line choice (``--workers N`` / ``--scheduler ADDRESS`` /
neither) into a :class:`~addictidx._core.tasks.TaskMap`. The Dask map

* sends the ``shared`` inputs (arrays, model bytes) to every worker once (``scatter``,
  broadcast) and submits one task per item under an opaque key (``addictidx-<run>-<i>``: no
  file name or subject code reaches the scheduler's or workers' logs);
* returns the results in submission order (so a distributed run equals the serial one);
* relies on Dask for recovery: a worker that dies mid-run has its tasks re-run on the others
  (or on the worker the nanny restarts); task functions are pure, so a re-run gives the same
  result.

A ``LocalCluster`` uses processes with one thread each; workers never spill task data to disk
(``distributed.worker.memory.target/spill`` off: results carry codes and values, and the tool
writes no plaintext temporary files). Dask is imported only here, only when asked for.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from addictidx._core.errors import ClusterError
from addictidx._core.tasks import TaskMap, serial_map

__all__ = [
    "ClusterOptions",
    "DaskTaskMap",
    "open_task_map",
    "check_cluster_options",
    "DASK_WORKER_CONFIG",
]

#: Dask settings for workers this tool starts (and recommends for workers it joins).
DASK_WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.memory.target": False,  # never spill task data to disk
    "distributed.worker.memory.spill": False,
    "distributed.scheduler.allowed-failures": 3,  # a task may survive 3 worker deaths
    # the statistical profiler samples every worker thread every 10 ms: CPU and GIL for nothing
    "distributed.worker.profile.enabled": False,
}


@dataclass(frozen=True)
class ClusterOptions:
    """Where to run: ``workers`` (a new LocalCluster), ``scheduler`` (an existing cluster), or
    neither (serial, in this process).

    Attributes
    ----------
    workers : int | None
        Worker processes of a new ``LocalCluster`` (one thread each).
    scheduler : str | None
        Address of a running Dask scheduler (``tcp://host:8786``, ``tls://...``).
    """

    workers: int | None = None
    scheduler: str | None = None

    @property
    def serial(self) -> bool:
        """True when neither workers nor a scheduler is asked for."""
        return self.workers is None and self.scheduler is None


def check_cluster_options(workers: int | None, scheduler: str | None) -> ClusterOptions:
    """Validate ``--workers`` / ``--scheduler`` (one of them at most) into
    :class:`ClusterOptions`."""
    if workers is not None and scheduler is not None:
        raise ValueError("Give --workers N (a local cluster) or --scheduler ADDRESS, not both.")
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise ValueError(f"--workers must be an integer >= 1, but got {workers!r} instead.")
    if scheduler is not None:
        scheme = scheduler.split("://", 1)[0] if "://" in scheduler else ""
        if (
            scheme not in ("tcp", "tls", "inproc", "ucx", "ws", "wss")
            or not scheduler.split("://", 1)[1]
        ):
            raise ValueError(
                f"--scheduler must be a Dask scheduler address such as tcp://host:8786, "
                f"but got {scheduler!r} instead."
            )
    return ClusterOptions(None if workers is None else int(workers), scheduler)


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ValueError(
            "--workers/--scheduler need Dask: pip install 'addictidx[cluster]' "
            "(dask[distributed], pyarrow)."
        ) from None
    return distributed


class DaskTaskMap:
    """A :class:`~addictidx._core.tasks.TaskMap` running on a ``distributed.Client``.

    Parameters
    ----------
    client : distributed.Client
        Connected client.
    """

    def __init__(self, client) -> None:
        self.client = client
        self._run = uuid.uuid4().hex[:12]
        self._n = 0

    @property
    def n_workers(self) -> int:
        """Workers currently connected to the scheduler."""
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def __call__(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[Mapping[str, Any]],
        shared: Mapping[str, Any] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list:
        from distributed import KilledWorker, as_completed

        self._n += 1
        prefix = f"addictidx-{self._run}-{self._n}"
        client = self.client
        # scatter([v])[0]: one future per value (scatter would split a list, set or dict)
        shared_f = {
            k: client.scatter([v], broadcast=True, hash=False)[0]
            for k, v in (shared or {}).items()
        }
        futures = [
            client.submit(fn, **shared_f, **task, key=f"{prefix}-{i}", pure=False)
            for i, task in enumerate(tasks)
        ]
        try:
            for n, _ in enumerate(as_completed(futures), start=1):
                if on_done is not None:
                    on_done(n)
            return client.gather(futures)
        except KilledWorker:
            raise ClusterError(
                "A task was lost with every worker it ran on (distributed.scheduler."
                "allowed-failures); check the workers' memory and logs, then rerun (rescore: "
                "--resume)."
            ) from None
        finally:
            for f in futures:
                f.release()
            for f in shared_f.values():
                f.release()


@contextlib.contextmanager
def open_task_map(options: ClusterOptions) -> Iterator[TaskMap]:
    """The task map of ``options``: :func:`~addictidx._core.tasks.serial_map`, a new
    ``LocalCluster`` (closed on exit), or a client of an existing scheduler."""
    if options.serial:
        yield serial_map
        return
    _import_distributed()
    import logging

    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(DASK_WORKER_CONFIG):
        if options.workers is not None:
            cluster = LocalCluster(
                n_workers=options.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            with cluster, Client(cluster) as client:
                yield DaskTaskMap(client)
        else:
            try:
                client = Client(options.scheduler, timeout="10s")
            except OSError as exc:
                raise ClusterError(
                    f"Cannot reach the Dask scheduler at {options.scheduler}: {exc}"
                ) from None
            with client:
                yield DaskTaskMap(client)
