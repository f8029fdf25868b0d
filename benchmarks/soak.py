"""Accelerated soak: hours of session time through the recording path, with faults, at full
speed; reports the RSS slope.

Path under test (what a live session runs): simulated Muse + Heart Rate strap (byte-exact
notifications of the bundled real recordings, looped) -> :class:`FaultInjector` (100 disconnects
per hour, 2 % loss, duplicates, reordering, corrupt bytes) -> :class:`StreamHub` (decoders,
assemblers, ring buffers, gap records) -> :class:`RawWriter` (encrypted append, fsync <= 1 s) and
every 10 s of session time the index features over the last 30 s EEG / 60 s RR, as the live
trend table. Resident memory (RSS, ``/proc/self/statm``) is sampled every 5 minutes of session
time; the slope is a least-squares line over the samples after the first 10 minutes (buffers
and caches warm).

Usage::

    python benchmarks/soak.py --hours 2            # writes benchmarks/results/soak.json

``tests/test_fault_matrix.py`` runs the same :func:`run_pipeline` for a few minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    """Current resident set size in MiB (Linux ``/proc``; else the peak from ``getrusage``)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` observed."""

    session_s: float
    wall_s: float
    hub: object
    raw_dir: Path
    n_eeg_rows: int
    n_rr_rows: int
    n_windows: int
    n_usable_windows: int
    gaps: list
    rss: list = field(default_factory=list)  # (session_s, MiB)
    injectors: tuple = ()


def disconnect_schedule(
    duration_s: float, per_hour: float, seed: int, dur_range=(0.5, 3.0)
) -> list[tuple[float, float]]:
    """``per_hour`` non-overlapping disconnects spread over ``duration_s`` (jittered)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s / 3600.0 * per_hour))
    if n == 0:
        return []
    step = duration_s / n
    out = []
    for k in range(n):
        d = float(rng.uniform(*dur_range))
        t0 = k * step + float(rng.uniform(1.0, max(1.5, step - d - 1.0)))
        out.append((t0, d))
    return out


def run_pipeline(
    duration_s: float,
    out_dir: str | Path,
    *,
    seed: int = 0,
    eeg_faults: dict | None = None,
    strap_faults: dict | None = None,
    drop_bursts: list[tuple[float, float]] | None = None,
    rss_every_s: float | None = None,
    windows: bool = True,
    measure=None,
) -> PipelineResult:
    """Run ``duration_s`` of session time through faults -> hub -> encrypted raw files.

    ``eeg_faults``/``strap_faults`` are :class:`FaultInjector` keyword arguments;
    ``drop_bursts`` removes every headband notification in each ``(t0, duration)`` window
    (bursts of missing samples, NaN in the buffers). Every ``rss_every_s`` of session time
    ``measure()`` (default: :func:`rss_mb`) is appended to ``result.rss``.
    """
    measure = measure or rss_mb
    from addictidx.acquire import SimulatedHeadband, SimulatedStrap
    from addictidx.acquire.events import LinkEvent
    from addictidx.acquire.faults import FaultInjector
    from addictidx.acquire.hub import StreamHub
    from addictidx.acquire.replay import iter_notifications
    from addictidx.features import compute_index_features
    from addictidx.store.keyring import init_keys
    from addictidx.store.raw import RawWriter

    head = SimulatedHeadband(duration_s=duration_s, seed=seed)
    strap = SimulatedStrap(duration_s=duration_s + 2.0, seed=seed)
    src_head = head
    if drop_bursts:
        bursts = list(drop_bursts)

        class _Bursty:
            name, profile = head.name, head.profile

            def notifications(self, until_s=None):
                for n in head.notifications(until_s):
                    if not any(a <= n.t < a + d for a, d in bursts):
                        yield n

        src_head = _Bursty()
    ih = FaultInjector(src_head, seed=seed, **(eeg_faults or {}))
    is_ = FaultInjector(strap, seed=seed + 1, **(strap_faults or {}))
    hub = StreamHub(
        {head.name: head.profile, strap.name: strap.profile}, capacity_s=600.0, silence_s=None
    )
    q = hub.subscribe(maxsize=0)
    raw_dir = Path(out_dir) / "raw" / "session-000001"
    init_keys(out_dir)  # out_dir acts as the store root of the raw folder (keys beside it)
    eeg_spec = hub.buffer(head.name, "eeg").spec
    writer = RawWriter(
        raw_dir, {"eeg_channels": list(eeg_spec.channels), "eeg_sfreq": eeg_spec.sfreq}
    )
    res = PipelineResult(duration_s, 0.0, hub, raw_dir, 0, 0, 0, 0, [], injectors=(ih, is_))
    next_win, next_rss = 10.0, 0.0
    wall0 = time.perf_counter()

    def drain():
        while not q.empty():
            item = q.get_nowait()
            if not hasattr(item, "data"):
                res.gaps.append(item)
            elif item.spec.name == "eeg":
                writer.append_eeg(item)
            elif item.spec.name == "rr":
                writer.append_rr(item)

    for name, n in iter_notifications([ih, is_]):
        if isinstance(n, LinkEvent):
            hub.on_link_event(dataclasses.replace(n, device=name))
        else:
            hub.on_notification(
                name, n.characteristic, n.payload, n.t + getattr(n, "clock_offset", 0.0)
            )
        drain()
        t = n.t
        if windows and t >= next_win:
            eeg = hub.get_window(30.0, "eeg")
            rr = hub.get_window(60.0, "rr")
            _feats, qual = compute_index_features(
                eeg.data if eeg.data.shape[1] else None,
                eeg_spec.sfreq,
                eeg_spec.channels,
                rr.data[0] if rr.data.shape[1] else None,
            )
            res.n_windows += 1
            res.n_usable_windows += bool(qual.usable)
            next_win += 10.0
        if rss_every_s and t >= next_rss:
            res.rss.append((t, measure()))
            next_rss += rss_every_s
    hub.close()
    drain()
    writer.close()
    res.n_eeg_rows, res.n_rr_rows = writer.n_eeg_rows, writer.n_rr_rows
    res.wall_s = time.perf_counter() - wall0
    return res


def rss_slope(samples: list[tuple[float, float]], skip_s: float = 600.0) -> float:
    """Least-squares RSS slope in MiB per hour of session time, after ``skip_s``."""
    pts = np.array([(t, m) for t, m in samples if t >= skip_s])
    if len(pts) < 3:
        return float("nan")
    return float(np.polyfit(pts[:, 0] / 3600.0, pts[:, 1], 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "soak.json")
    args = ap.parse_args()
    dur = args.hours * 3600.0
    faults = dict(
        drop=0.02,
        duplicate=0.02,
        reorder=0.02,
        reorder_max_s=0.1,
        corrupt=0.01,
        disconnects=disconnect_schedule(dur, 100, 1),
    )
    with tempfile.TemporaryDirectory() as d:
        res = run_pipeline(
            dur,
            d,
            seed=3,
            eeg_faults=faults,
            strap_faults={**faults, "disconnects": disconnect_schedule(dur, 100, 2)},
            rss_every_s=300.0,
        )
        raw_bytes = sum(p.stat().st_size for p in res.raw_dir.iterdir())
    slope = rss_slope(res.rss)
    out = {
        "session_hours": args.hours,
        "wall_s": round(res.wall_s, 1),
        "speedup_x_real_time": round(dur / res.wall_s, 1),
        "rss_mib": [(round(t), round(m, 1)) for t, m in res.rss],
        "rss_slope_mib_per_hour_after_10_min": round(slope, 3),
        "rss_start_end_mib": [round(res.rss[0][1], 1), round(res.rss[-1][1], 1)],
        "eeg_rows": res.n_eeg_rows,
        "rr_rows": res.n_rr_rows,
        "feature_windows": res.n_windows,
        "usable_windows": res.n_usable_windows,
        "gaps": len(res.gaps),
        "raw_bytes_encrypted": raw_bytes,
        "hub_stats": res.hub.stats(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(
        f"{args.hours:g} h of session time in {res.wall_s:.0f} s; RSS "
        f"{out['rss_start_end_mib'][0]} -> {out['rss_start_end_mib'][1]} MiB; slope after "
        f"10 min {slope:+.2f} MiB/h; {res.n_eeg_rows} EEG rows, {len(res.gaps)} gaps -> "
        f"{args.out}"
    )


if __name__ == "__main__":
    main()
