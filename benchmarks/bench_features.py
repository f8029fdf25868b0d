"""Benchmark addictidx.features against MNE and NeuroKit2 in the same process.

* EEG: ``compute_psd`` + ``band_power`` for 1000 windows (4 channels x 4 s at 256 Hz, 0.25-s hop,
  MNE's default Welch parameters: 1-s Hamming segments, no overlap) against a Python loop of
  ``mne.time_frequency.psd_array_welch`` over the same windows (with and without the same
  band integration). Data: the bundled real Muse recording, tiled to 254 s.
* HRV: ``compute_hrv`` (time domain + Poincaré + SampEn + DFA a1) against ``nk.hrv_time`` and
  against ``nk.hrv_time`` + ``nk.hrv_nonlinear`` on the bundled 5-min real RR excerpt.

Prints medians and ratios (compare ratios within one run; the 2-vCPU VM is noisy) and writes
``benchmarks/results/features.json``. Run: ``python benchmarks/bench_features.py``.
"""

from __future__ import annotations

import gc
import gzip
import io
import json
import platform
import sys
import time
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np

from addictidx.features import EEG_BANDS, NEUROKIT_NAMES, band_power, compute_hrv, compute_psd

SFREQ = 256.0
N_WIN, WIN_S, HOP_S = 1000, 4.0, 0.25


def _median_time(fn, *, repeats: int, min_inner_s: float = 0.005) -> dict:
    fn()
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-9)
    inner = max(1, int(min_inner_s / one))
    samples = []
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples.append((time.perf_counter() - t0) / inner)
    finally:
        gc.enable()
    s = np.array(samples)
    return {"median_s": float(np.median(s)), "p10_s": float(np.percentile(s, 10)),
            "p90_s": float(np.percentile(s, 90)), "repeats": repeats, "inner": inner}


def _load_eeg() -> np.ndarray:
    raw = files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").read_bytes()
    x = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", skiprows=1)[:, 1:5].T
    n_need = int(round((N_WIN - 1) * HOP_S * SFREQ + WIN_S * SFREQ))
    reps = -(-n_need // x.shape[1])
    return np.ascontiguousarray(np.tile(x, reps)[:, :n_need])


def _load_rr() -> np.ndarray:
    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    rr = np.array([float(v) for v in lines if v.strip() and not v.startswith("#")])
    return rr[np.cumsum(rr) <= 300.0]


def bench_eeg() -> dict:
    import mne

    x = _load_eeg()
    bands = {k: v for k, v in EEG_BANDS.items()}
    n_win = int(round(WIN_S * SFREQ))
    starts = np.round(np.arange(N_WIN) * HOP_S * SFREQ).astype(int)

    def ours_psd():
        return compute_psd(x, SFREQ, window_s=WIN_S, step_s=HOP_S, n_fft=256)

    def ours_all():
        f, p = compute_psd(x, SFREQ, window_s=WIN_S, step_s=HOP_S, n_fft=256)
        return band_power(f, p, bands)

    def mne_loop():
        return [mne.time_frequency.psd_array_welch(x[:, s : s + n_win], SFREQ, n_fft=256,
                                                   verbose=False)[0] for s in starts]

    def mne_loop_bands():
        out = []
        for s in starts:
            p, f = mne.time_frequency.psd_array_welch(x[:, s : s + n_win], SFREQ, n_fft=256,
                                                      verbose=False)
            out.append([np.trapezoid(p[:, (f >= lo) & (f <= hi)], f[(f >= lo) & (f <= hi)])
                        for lo, hi in bands.values()])
        return out

    f, p = ours_psd()
    assert p.shape == (N_WIN, 4, 129)
    ref = np.stack(mne_loop())
    max_rel = float(np.max(np.abs(p - ref) / np.abs(ref)))

    res = {
        "ours_psd": _median_time(ours_psd, repeats=15),
        "ours_psd_bands": _median_time(ours_all, repeats=15),
        "mne_loop_psd": _median_time(mne_loop, repeats=3),
        "mne_loop_psd_bands": _median_time(mne_loop_bands, repeats=3),
    }
    out = {"n_windows": N_WIN, "window_s": WIN_S, "hop_s": HOP_S, "n_channels": 4,
           "max_rel_error_vs_mne": max_rel}
    for k, v in res.items():
        v["per_window_us"] = v["median_s"] / N_WIN * 1e6
        out[k] = v
    out["speedup_psd"] = res["mne_loop_psd"]["median_s"] / res["ours_psd"]["median_s"]
    out["speedup_psd_bands"] = (res["mne_loop_psd_bands"]["median_s"]
                                / res["ours_psd_bands"]["median_s"])
    return out


def bench_hrv() -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2 as nk
    rr = _load_rr()
    rri = {"RRI": rr * 1000.0}

    def nk_time():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nk.hrv_time(rri)

    def nk_time_nonlinear():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nk.hrv_time(rri), nk.hrv_nonlinear(rri)

    def ours():
        return compute_hrv(rr, convention="neurokit")

    t, n = nk_time_nonlinear()
    o = ours()
    ref = {**t.iloc[0].to_dict(), **n.iloc[0].to_dict()}
    max_rel = max(abs(o[k] - ref[c]) / abs(ref[c]) for k, c in NEUROKIT_NAMES.items())
    res = {
        "ours_compute_hrv": _median_time(ours, repeats=30),
        "nk_hrv_time": _median_time(nk_time, repeats=30),
        "nk_hrv_time_plus_nonlinear": _median_time(nk_time_nonlinear, repeats=5),
    }
    out = {"n_rr": int(rr.size), "max_rel_error_vs_nk": float(max_rel), **res}
    out["speedup_vs_nk_hrv_time"] = res["nk_hrv_time"]["median_s"] / res["ours_compute_hrv"]["median_s"]
    out["speedup_vs_nk_time_plus_nonlinear"] = (res["nk_hrv_time_plus_nonlinear"]["median_s"]
                                                / res["ours_compute_hrv"]["median_s"])
    return out


def main() -> dict:
    import mne
    import neurokit2
    import scipy

    result = {
        "python": sys.version.split()[0], "machine": platform.machine(),
        "numpy": np.__version__, "scipy": scipy.__version__, "mne": mne.__version__,
        "neurokit2": neurokit2.__version__,
        "eeg": bench_eeg(), "hrv": bench_hrv(),
    }
    e, h = result["eeg"], result["hrv"]
    print(f"EEG {N_WIN} windows (4 ch x {WIN_S} s, hop {HOP_S} s), max rel err vs MNE "
          f"{e['max_rel_error_vs_mne']:.1e}")
    for k in ("ours_psd", "ours_psd_bands", "mne_loop_psd", "mne_loop_psd_bands"):
        print(f"  {k:22s} {e[k]['per_window_us']:9.2f} us/window")
    print(f"  speed-up PSD {e['speedup_psd']:.1f}x, PSD+bands {e['speedup_psd_bands']:.1f}x")
    print(f"HRV 5-min ({h['n_rr']} RR), max rel err vs nk {h['max_rel_error_vs_nk']:.1e}")
    for k in ("ours_compute_hrv", "nk_hrv_time", "nk_hrv_time_plus_nonlinear"):
        print(f"  {k:28s} {h[k]['median_s'] * 1e3:9.3f} ms")
    print(f"  speed-up vs nk.hrv_time {h['speedup_vs_nk_hrv_time']:.1f}x, vs hrv_time+nonlinear "
          f"{h['speedup_vs_nk_time_plus_nonlinear']:.1f}x")
    out = Path(__file__).resolve().parent / "results" / "features.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
