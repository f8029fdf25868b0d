"""Cost against amount of work: EEG windows per call, RR length, with references alongside.

Usage: ``python benchmarks/bench_scaling.py [--json FILE] [--quick]`` (default
``benchmarks/results/scaling.json``); ``benchmarks/make_readme.py`` plots it.

* EEG: :func:`~addictidx.features.compute_eeg_features` on 1 ... 4096 windows of the bundled
  Muse recording (4 channels, 4-s windows at a 0.25-s hop) in one call, against a Python loop
  of ``mne.time_frequency.psd_array_welch`` + trapezoid bands (timed up to 64 windows; its
  cost per window is constant).
* HRV: :func:`~addictidx.features.compute_hrv` (both conventions) on 5 min ... 24 h of RR
  (the bundled 15-min PhysioNet excerpt tiled), against ``nk.hrv_time`` (timed on every
  length) and ``nk.hrv`` (up to 30 min: its nonlinear part is quadratic).

CPU seconds (``time.process_time``) per call, median of repeats after a warm-up: on a shared
machine the CPU clock is less disturbed by other processes than the wall clock.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import time
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np

from addictidx.features import EEG_BANDS, compute_eeg_features, compute_hrv

SFREQ = 256.0
CH = ["TP9", "AF7", "AF8", "TP10"]


def _cpu_time(fn, *, min_s: float = 0.05, repeats: int = 5) -> float:
    fn()
    t0 = time.process_time()
    fn()
    one = max(time.process_time() - t0, 1e-6)
    inner = max(1, int(min_s / one))
    samples = []
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(inner):
            fn()
        samples.append((time.process_time() - t0) / inner)
    return float(np.median(samples))


def _muse(n_times: int) -> np.ndarray:
    raw = files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").read_bytes()
    x = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", skiprows=1)[:, 1:5].T
    reps = -(-n_times // x.shape[1])
    return np.ascontiguousarray(np.tile(x, reps)[:, :n_times])


def _rr(seconds: float) -> np.ndarray:
    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    one = np.array([float(v) for v in lines if v.strip() and not v.startswith("#")])
    rr = np.tile(one, int(np.ceil(seconds / one.sum())))
    return rr[np.cumsum(rr) <= seconds]


def eeg_scaling(quick: bool) -> list[dict]:
    import mne

    counts = [1, 4, 16, 64, 256, 1024] + ([] if quick else [4096])
    x_all = _muse(int((max(counts) - 1) * 64 + 1024))
    rows = []
    for n_w in counts:
        x = np.ascontiguousarray(x_all[:, : (n_w - 1) * 64 + 1024])
        ours = _cpu_time(lambda x=x: compute_eeg_features(x, SFREQ, CH))
        row = {"n_windows": n_w, "ours_s": ours, "ours_us_per_window": ours / n_w * 1e6}
        if n_w <= 64:

            def ref(x=x, n_w=n_w):
                for k in range(n_w):
                    p, f = mne.time_frequency.psd_array_welch(
                        x[:, 64 * k : 64 * k + 1024], SFREQ, n_fft=256, verbose=False
                    )
                    for lo, hi in EEG_BANDS.values():
                        m = (f >= lo) & (f <= hi)
                        np.trapezoid(p[:, m], f[m])

            row["mne_loop_s"] = _cpu_time(ref, repeats=3)
        rows.append(row)
    return rows


def hrv_scaling(quick: bool) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2 as nk
    hours = [300, 1800, 3600, 6 * 3600] + ([] if quick else [24 * 3600])
    rows = []
    for sec in hours:
        rr = _rr(sec)
        rri = {"RRI": rr * 1000.0, "RRI_Time": np.cumsum(rr)}
        reps = 5 if sec <= 3600 else 1
        row = {"seconds": sec, "n_rr": int(rr.size)}
        row["ours_kubios_s"] = _cpu_time(lambda rr=rr: compute_hrv(rr), repeats=reps)
        if sec <= 3600:  # the NeuroKit2-convention spectrum (100 Hz) needs GBs beyond hours
            row["ours_neurokit_s"] = _cpu_time(
                lambda rr=rr: compute_hrv(rr, convention="neurokit"), repeats=reps
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row["nk_hrv_time_s"] = _cpu_time(lambda rri=rri: nk.hrv_time(rri), repeats=reps)
            if sec <= 1800:
                row["nk_hrv_s"] = _cpu_time(lambda rri=rri: nk.hrv(rri), repeats=3)
        rows.append(row)
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--json",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "scaling.json",
        help="where to write the JSON results",
    )
    ap.add_argument("--quick", action="store_true", help="skip the largest sizes")
    args = ap.parse_args(argv)
    load = os.getloadavg()
    out = {
        "clock": "process CPU time (s) per call",
        "eeg": eeg_scaling(args.quick),
        "hrv": hrv_scaling(args.quick),
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
    }
    for r in out["eeg"]:
        ref = (
            f", MNE loop {r['mne_loop_s'] / r['n_windows'] * 1e6:8.1f} us"
            if "mne_loop_s" in r
            else ""
        )
        print(f"EEG {r['n_windows']:5d} windows: {r['ours_us_per_window']:8.2f} us/window{ref}")
    for r in out["hrv"]:
        parts = [f"{k} {v:.4f}" for k, v in r.items() if k.endswith("_s")]
        print(f"HRV {r['seconds'] / 3600:5.2f} h ({r['n_rr']} RR): " + ", ".join(parts))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
