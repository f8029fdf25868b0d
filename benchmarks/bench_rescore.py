"""Batch rescoring of 1 h of 4-channel Muse EEG + RR: ``addictidx rescore`` against the
``pandas.read_csv`` + MNE + NeuroKit2 reference doing the same windows, in one run.

Usage: ``python benchmarks/bench_rescore.py [--json FILE] [--repeat N]`` (default
``benchmarks/results/rescore.json``).

Input (built in a temporary folder from the real recordings bundled with the package): the
Muse excerpt ``muse_eeg_notebooks_n170_subject2`` (4 channels, 256 Hz, muse-lsl CSV with
3-decimal values) tiled to 1 h (921,600 rows, ~48 MB) with continuous timestamps, and the
PhysioNet nsr2db nsr004 RR excerpt tiled to 1 h (one RR in seconds per line).

Both sides run as whole processes (interpreter start and imports included), measured by the
operating system (``os.wait4``: user + system CPU of the process and its threads, peak RSS):

* ours: ``python -m addictidx rescore EEG.csv --rr RR.txt --json`` (read, 2-s epoch checks,
  per-epoch periodograms, band powers, HRV, index);
* reference: ``pandas.read_csv`` (C engine), the same 2-s epochs with ``scipy.signal.detrend``
  and the same amplitude/flat checks, ``mne.time_frequency.psd_array_welch`` per epoch (one
  Hamming segment of 2 s, as ours), the same band powers, and ``neurokit2.hrv_time`` on the RR.

Both run with compiled bytecode, as an installed package does (``pip install`` compiles it):
the child processes get ``PYTHONPYCACHEPREFIX`` set to the temporary folder (nothing is written
into the checkout or the environment) and ``PYTHONDONTWRITEBYTECODE`` unset, and the warm-up
run of each side fills that cache. Without this, an environment with
``PYTHONDONTWRITEBYTECODE=1`` would time compiling the sources on every run.

Median of ``--repeat`` runs of each, alternated so that both see the same machine load; the
2-vCPU VM is shared and noisy, so compare the ratio, not the absolute figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

import numpy as np

from addictidx.devices import stream_profile
from addictidx.readers import bundled_muse_eeg

TARGET_CPU_S, TARGET_RSS_MB, TARGET_SPEEDUP = 0.5, 250.0, 3.0

REFERENCE = r"""
import sys
import numpy as np
import pandas as pd
import mne
import neurokit2 as nk
from scipy.signal import detrend

eeg_path, rr_path, chans, sf = sys.argv[1], sys.argv[2], sys.argv[3].split(","), float(sys.argv[4])
df = pd.read_csv(eeg_path, usecols=["timestamps", *chans])
x = df[chans].to_numpy().T
n = int(2 * sf)
n_ep = x.shape[1] // n
ep = x[:, : n_ep * n].reshape(4, n_ep, n).transpose(1, 0, 2)
det = detrend(ep, axis=-1)
ok = (np.ptp(det, axis=-1) < 150.0) & (det.std(axis=-1) > 0.5)
psd, freqs = mne.time_frequency.psd_array_welch(
    ep, sf, fmin=0.0, fmax=sf / 2, n_fft=n, n_per_seg=n, n_overlap=0, window="hamming",
    average="mean", verbose="error",
)
def band(lo, hi, p):
    m = (freqs >= lo) & (freqs < hi)
    return p[..., m].sum(axis=-1)
out = {}
for i, ch in enumerate(chans):
    m = psd[ok[:, i], i].mean(axis=0)
    out[ch] = (band(8, 13, m), band(13, 25, m), band(1, 25, m))
rr = np.loadtxt(rr_path)
peaks = nk.intervals_to_peaks(rr * 1000.0, sampling_rate=1000)
h = nk.hrv_time(peaks, sampling_rate=1000)
print(float(h["HRV_RMSSD"].iloc[0]), out[chans[1]][1] / out[chans[1]][2])
"""


def make_inputs(folder: Path, hours: float = 1.0) -> tuple[Path, Path]:
    """Write the 1-h muse-lsl CSV and RR text built from the bundled real recordings."""
    data = files("addictidx.data")
    with data.joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").open("rb") as f:
        lines = gzip.decompress(f.read()).decode().splitlines()
    header, body = lines[0], [ln.split(",", 1)[1] for ln in lines[1:]]
    sf = bundled_muse_eeg().sfreq  # the recording's own rate
    n = int(hours * 3600 * sf)
    t0 = 1_600_000_000.0
    eeg = folder / "muse_1h.csv"
    with open(eeg, "w") as f:
        f.write(header + "\n")
        for i in range(n):
            f.write(f"{t0 + i / sf:.3f},{body[i % len(body)]}\n")
    with data.joinpath("nsr2db_nsr004_rr_15min.txt.gz").open("rb") as f:
        rr = np.loadtxt(gzip.open(f, "rt"), comments="#")
    rr = np.tile(rr, int(np.ceil(hours * 3600 / rr.sum())))
    rr = rr[np.cumsum(rr) <= hours * 3600]
    rr_path = folder / "rr_1h.txt"
    np.savetxt(rr_path, rr, fmt="%.6f")
    return eeg, rr_path


def run_process(cmd: list[str], env: dict) -> dict:
    """Run ``cmd``; CPU (user + sys) and peak RSS of that process from ``os.wait4``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}): {err.decode()[-500:]}")
    return {
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "peak_rss_mb": ru.ru_maxrss / 1024.0,
        "wall_s": wall,
        "stdout": out.decode(),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/rescore.json"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    env = dict(os.environ)
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="bench_rescore_") as d:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(d) / "pycache")  # bytecode as installed
        eeg, rr = make_inputs(Path(d))
        ours_cmd = [
            sys.executable,
            "-m",
            "addictidx",
            "rescore",
            str(eeg),
            "--rr",
            str(rr),
            "--json",
        ]
        ref_script = Path(d) / "reference.py"
        ref_script.write_text(REFERENCE)
        eeg_stream = stream_profile("muse-2", "eeg")  # channel names and rate from the profile
        ref_cmd = [
            sys.executable,
            str(ref_script),
            str(eeg),
            str(rr),
            ",".join(eeg_stream.channels),
            str(float(eeg_stream.sfreq)),
        ]
        run_process(ours_cmd, env)  # warm the page cache and the bytecode cache of both
        run_process(ref_cmd, env)
        ours, ref = [], []
        for _ in range(max(1, args.repeat)):
            ours.append(run_process(ours_cmd, env))
            ref.append(run_process(ref_cmd, env))
        feats = json.loads(ours[0]["stdout"])["features"]

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    result = {
        "rescore_1h_cpu_s": med(ours, "cpu_s"),
        "rescore_1h_peak_rss_mb": med(ours, "peak_rss_mb"),
        "rescore_speedup_vs_pandas_mne": med(ref, "cpu_s") / med(ours, "cpu_s"),
        "rescore_1h_wall_s": med(ours, "wall_s"),
        "reference_1h_cpu_s": med(ref, "cpu_s"),
        "reference_1h_peak_rss_mb": med(ref, "peak_rss_mb"),
        "reference_1h_wall_s": med(ref, "wall_s"),
        "runs": {
            "ours": [{k: v for k, v in r.items() if k != "stdout"} for r in ours],
            "reference": [{k: v for k, v in r.items() if k != "stdout"} for r in ref],
        },
        "input": {
            "eeg_rows": int(3600 * eeg_stream.sfreq),
            "channels": len(eeg_stream.channels),
            "sfreq_hz": float(eeg_stream.sfreq),
            "rr_hours": 1.0,
        },
        "features": feats,
        "targets": {
            "rescore_1h_cpu_s": TARGET_CPU_S,
            "rescore_1h_peak_rss_mb": TARGET_RSS_MB,
            "rescore_speedup_vs_pandas_mne": TARGET_SPEEDUP,
        },
        "bytecode": "compiled once in a temporary PYTHONPYCACHEPREFIX (as installed)",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_1m": os.getloadavg()[0],
        },
    }
    rows = [
        ("rescore 1 h CPU (s)", result["rescore_1h_cpu_s"], "<=", TARGET_CPU_S),
        ("rescore 1 h peak RSS (MB)", result["rescore_1h_peak_rss_mb"], "<=", TARGET_RSS_MB),
        (
            "speedup vs pandas+MNE+NK2",
            result["rescore_speedup_vs_pandas_mne"],
            ">=",
            TARGET_SPEEDUP,
        ),
    ]
    print(
        f"reference (pandas.read_csv + MNE + NeuroKit2), same run: "
        f"{result['reference_1h_cpu_s']:.2f} CPU-s, {result['reference_1h_peak_rss_mb']:.0f} MB"
    )
    for label, v, op, target in rows:
        ok = v <= target if op == "<=" else v >= target
        print(f"{label:<28} {v:9.2f}   target {op} {target:g}   {'PASS' if ok else 'MISS'}")
    print(
        f"(median of {len(ours)} runs each; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs: compare the ratio, not absolute figures)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
