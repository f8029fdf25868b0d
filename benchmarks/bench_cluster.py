"""Batch rescoring on Dask: recordings per second serial vs a LocalCluster of 1..N workers.

Usage: ``python benchmarks/bench_cluster.py [--json FILE] [--workers 1,2,3,4] [--repeat N]``
(default ``benchmarks/results/cluster.json``).

Input: a folder of real recordings built like ``tests/test_cluster.py``'s: the Muse sessions of
the shared data (``ADDICTIDX_SHARED`` or ``../shared``) plus two windows of each (first and
second half of the file's own rows), a third of the first windows paired with real PhysioNet
NSR RR windows (so the index is computed), 60 recordings in all. Without the shared data, the
Muse excerpts bundled with the package, windowed the same way (fewer recordings). ``--copies K``
repeats the batch K times under other names (more work per run, same recordings).

What is timed (wall clock, ``time.perf_counter``), each configuration in the same run:

* ``serial``: :func:`addictidx.cluster.rescore.rescore_batch` with the serial task map, in
  this process (the reference);
* ``workers=N``: the same call with a Dask ``LocalCluster(N processes, 1 thread each)``.
  The cluster's start-up is timed apart (``startup_s``); ``cold`` is the first batch on fresh
  workers (imports, ONNX session build), ``warm`` the median of the next ``--repeat`` batches.
  Recordings go to the workers in chunks (:func:`addictidx.cluster.rescore.chunk_size_for`).

CPU seconds per recording are reported too (serial: this process; Dask: every worker process
plus this one, which hosts the client and the scheduler): on a machine whose cores are busy with
other work, the wall-clock speed-up says little, the CPU overhead of distribution still holds.

Every distributed table is checked equal to the serial one (the benchmark fails otherwise).
The machine these figures come from is a shared 2-vCPU VM: more than 2 workers can only
oversubscribe it, and absolute figures are noisy; read the ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _shared_data() -> Path | None:
    root = os.environ.get("ADDICTIDX_SHARED")
    base = Path(root) if root else Path(__file__).resolve().parents[1].parent / "shared"
    data = base / "data"
    return data if (data / "muse-eeg-notebooks-v0.1-subset").is_dir() else None


def build_batch(folder: Path, copies: int = 1) -> tuple[Path, Path, str]:
    """Write the batch into ``folder`` (``copies`` times, under other names); returns
    (recordings dir, RR dir, what it holds)."""
    rec, rr_dir = folder / "recordings", folder / "rr"
    rec.mkdir(parents=True)
    rr_dir.mkdir()
    data = _shared_data()
    if data is not None:
        sessions = sorted((data / "muse-eeg-notebooks-v0.1-subset").glob("*.csv.gz"))
        nsr = sorted(
            (data / "physionet-rr-24h-nsr2db-chf2db-healthy" / "nsr2db_normal").glob("*.txt.gz")
        )
        what = f"{len(sessions)} shared Muse sessions + 2 windows each"
    else:
        from importlib.resources import files

        pkg = files("addictidx.data")
        sessions = [pkg / n for n in sorted(x.name for x in pkg.iterdir()) if "muse_eeg" in n]
        nsr = [pkg / "nsr2db_nsr004_rr_15min.txt.gz"]
        what = f"{len(sessions)} bundled Muse excerpts + 2 windows each (no shared data)"
    for c in range(int(copies)):
        for i, src in enumerate(sessions):
            stem = f"c{c:02d}s{i:02d}"
            raw = src.read_bytes()
            (rec / f"{stem}.csv.gz").write_bytes(raw)
            lines = gzip.decompress(raw).decode().splitlines(keepends=True)
            head, body = lines[0], lines[1:]
            half = len(body) // 2
            for part, rows in (("a", body[:half]), ("b", body[half:])):
                (rec / f"{stem}{part}.csv").write_text(head + "".join(rows))
            if i % 3 == 0:
                values = gzip.decompress(nsr[i % len(nsr)].read_bytes()).decode().split()
                start = 1 + (1000 * (i + 1)) % max(1, len(values) - 400)
                rr = [float(v) for v in values[start : start + 300]]
                (rr_dir / f"{stem}a_rr.txt").write_text("\n".join(repr(v) for v in rr) + "\n")
    if copies > 1:
        what += f", x{copies} copies under other names"
    return rec, rr_dir, what


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _cpu_self() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _cpu_cluster(client) -> float:
    """CPU seconds of every worker process plus this process (client and scheduler)."""
    return sum(client.run(_cpu_self).values()) + _cpu_self()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "cluster.json"))
    ap.add_argument("--workers", default="1,2,3,4", help="Worker counts of the curve.")
    ap.add_argument("--repeat", type=int, default=2, help="Warm batches per configuration.")
    ap.add_argument("--copies", type=int, default=1, help="Copies of the batch (more work).")
    args = ap.parse_args()

    import dask
    from distributed import Client, LocalCluster

    from addictidx.cluster.discover import find_recordings
    from addictidx.cluster.engine import DASK_WORKER_CONFIG, DaskTaskMap
    from addictidx.cluster.rescore import rescore_batch
    from addictidx.models.index_graph import model_bytes

    with tempfile.TemporaryDirectory() as tmp:
        rec, rr_dir, what = build_batch(Path(tmp), args.copies)
        tasks = find_recordings([rec], rr_dir=rr_dir)
        n = len(tasks)
        model = model_bytes()
        print(f"{n} recordings ({what})", file=sys.stderr)

        load_before = os.getloadavg()
        cold_s, ref = _timed(lambda: rescore_batch(tasks, model=model).rows)
        c0 = _cpu_self()
        warm = [
            _timed(lambda: rescore_batch(tasks, model=model).rows)[0] for _ in range(args.repeat)
        ]
        serial_cpu = (_cpu_self() - c0) / args.repeat
        serial = {
            "cold_s": round(cold_s, 3),
            "warm_s": round(statistics.median(warm), 3),
            "recordings_per_s": round(n / statistics.median(warm), 2),
            "cpu_s_per_recording": round(serial_cpu / n, 4),
        }
        print(f"serial: {serial}", file=sys.stderr)
        curve = []
        for k in [int(x) for x in args.workers.split(",") if x.strip()]:
            with dask.config.set(DASK_WORKER_CONFIG):
                t0 = time.perf_counter()
                with (
                    LocalCluster(
                        n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None
                    ) as cluster,
                    Client(cluster) as client,
                ):
                    startup = time.perf_counter() - t0
                    tm = DaskTaskMap(client)
                    cold, rows = _timed(
                        lambda tm=tm: rescore_batch(tasks, model=model, task_map=tm).rows
                    )
                    if list(rows) != list(ref):
                        raise SystemExit(f"workers={k}: table differs from the serial one")
                    times = []
                    c0 = _cpu_cluster(client)
                    for _ in range(args.repeat):
                        t, rows = _timed(
                            lambda tm=tm: rescore_batch(tasks, model=model, task_map=tm).rows
                        )
                        if list(rows) != list(ref):
                            raise SystemExit(f"workers={k}: table differs from the serial one")
                        times.append(t)
                    cpu = (_cpu_cluster(client) - c0) / args.repeat
            w = statistics.median(times)
            point = {
                "workers": k,
                "startup_s": round(startup, 3),
                "cold_s": round(cold, 3),
                "warm_s": round(w, 3),
                "recordings_per_s": round(n / w, 2),
                "speedup_vs_serial": round(serial["warm_s"] / w, 3),
                "cpu_s_per_recording": round(cpu / n, 4),
                "cpu_overhead_vs_serial": round(cpu / serial_cpu, 3),
                "equal_to_serial": True,
            }
            curve.append(point)
            print(f"workers={k}: {point}", file=sys.stderr)

    out = {
        "benchmark": "rescore batch, serial vs Dask LocalCluster (processes, 1 thread each)",
        "n_recordings": n,
        "input": what,
        "serial": serial,
        "curve": curve,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1_5_15_before": [round(x, 2) for x in load_before],
            "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
            "note": "shared, loaded VM: compare ratios, not absolute figures",
        },
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    two = next((p for p in curve if p["workers"] == 2), None)
    print(
        f"serial {serial['recordings_per_s']} rec/s"
        + (
            f"; 2 workers {two['recordings_per_s']} rec/s (x{two['speedup_vs_serial']})"
            if two
            else ""
        )
        + f"; written {path}"
    )


if __name__ == "__main__":
    main()
