"""Beyond one machine: batch rescoring and model evaluation on a Dask cluster (issue 18).

The same pure task functions run serially here, on a Dask ``LocalCluster`` (``--workers N``) or
on an existing cluster (``--scheduler tcp://host:8786``, e.g. started by ``dask-jobqueue`` on
SLURM); results come back in submission order, so a distributed run equals the serial one bit
for bit. See ``docs/cluster.md``.

Modules: :mod:`~addictidx.cluster.engine` (where tasks run: serial, LocalCluster, scheduler),
:mod:`~addictidx.cluster.discover` (files, folders, BIDS -> ordered recordings),
:mod:`~addictidx.cluster.rescore` (one recording -> one row, on the worker),
:mod:`~addictidx.cluster.table` (the Parquet/CSV table). Importing this package is light: Dask
and pyarrow are imported only when a cluster or a Parquet file is used.
"""

__all__: list[str] = []
