"""The reference pipeline: the same windows computed the way a user would with the libraries.

Per index update, ``mne.time_frequency.psd_array_welch`` over the EEG window (2-s Hamming
segments, no overlap = the 2-s epochs) with trapezoid band powers, ``neurokit2.hrv`` over the
RR window (peaks at 1 kHz; ``neurokit2.hrv_time`` in the lean variant) and a scikit-learn
``Pipeline`` doing the index arithmetic, plus the same prescription. The ingest (decode,
assembly, buffers) is the same as ours and is added from our own measurement.
"""

from __future__ import annotations

import math
import time

import numpy as np

from addictidx.bench.config import BenchConfig
from addictidx.bench.server import SCREENING
from addictidx.bench.sources import BenchSources, make_sources

__all__ = ["pool_references", "run_reference", "sklearn_index_pipeline"]


def sklearn_index_pipeline(baseline):
    """The index arithmetic as a scikit-learn Pipeline (robust z -> signed clip -> mean -> Phi)."""
    from scipy.special import ndtr
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from addictidx.models import FEATURE_SIGNS, MAD_SCALE, MIN_FEATURES, Z_CLIP

    med, mad = baseline.arrays()
    scaler = StandardScaler().fit(np.zeros((2, med.size)))
    scaler.mean_ = np.asarray(med, dtype=np.float64)
    scaler.scale_ = MAD_SCALE * np.asarray(mad, dtype=np.float64)
    scaler.var_ = scaler.scale_**2
    signs = np.asarray(FEATURE_SIGNS)

    def index(z):
        zc = np.clip(np.asarray(z) * signs, -Z_CLIP, Z_CLIP)
        n = np.isfinite(zc).sum(axis=1)
        with np.errstate(invalid="ignore"):
            Z = np.where(n >= MIN_FEATURES, np.nansum(zc, axis=1) / np.maximum(n, 1), np.nan)
        return 100.0 * ndtr(Z)

    return make_pipeline(scaler, FunctionTransformer(index))


#: Untimed updates before the timed ones (imports, MNE/NeuroKit2/pandas caches, allocator).
WARMUP_UPDATES = 3


def run_reference(
    n_updates: int = 5,
    cfg: BenchConfig = BenchConfig(),
    *,
    lean: bool = False,
    sources: BenchSources | None = None,
    warmup: int = WARMUP_UPDATES,
) -> dict:
    """Time the reference pipeline (MNE + NeuroKit2 + scikit-learn) on the same windows.

    Quality checks are not run (in the reference's favour). ``warmup`` updates run untimed
    first; the figure is the **median** CPU time of the ``n_updates`` timed ones (robust to
    the odd update another process slowed down, in either direction), with their spread.

    Returns
    -------
    dict
        ``cpu_s_per_update`` (median), ``wall_s_per_update`` (median),
        ``cpu_s_per_update_p10`` / ``_p90`` / ``_min`` / ``_max`` (spread of the timed
        updates), ``n_updates``, ``n_warmup``, ``hrv`` (function used) and ``index`` of the
        last update; ``cpu_s_samples`` / ``wall_s_samples`` hold the timed updates (s).
    """
    import warnings

    import mne
    import neurokit2 as nk

    from addictidx.acquire import load_profile
    from addictidx.features import DEFAULT_EEG_THRESHOLDS, EEG_BANDS
    from addictidx.models import population_baseline
    from addictidx.prescribe import prescribe
    from addictidx.readers import bundled_muse_eeg

    if sources is None:
        sources = make_sources(max(cfg.eeg_window_s, 10.0), cfg, n_variants=1)
    rr = sources.variants[0].rr_prefill
    rec = bundled_muse_eeg()
    eeg = np.asarray(rec.data, dtype=np.float64)
    names, sfreq = list(rec.ch_names), float(rec.sfreq)
    n_win = int(cfg.eeg_window_s * sfreq)
    quality = load_profile(cfg.headband).stream("eeg").quality or {}
    n_seg = int(round(float({**DEFAULT_EEG_THRESHOLDS, **quality}["epoch_s"]) * sfreq))
    pipe = sklearn_index_pipeline(population_baseline())
    i_af = [names.index("AF7"), names.index("AF8")]
    i_tp = [names.index("TP9"), names.index("TP10")]
    hrv_fn = nk.hrv_time if lean else nk.hrv

    def one(u: int) -> float:
        a = (u * int(cfg.hop_s * sfreq)) % (eeg.shape[1] - n_win)
        x = eeg[:, a : a + n_win]
        psd, freqs = mne.time_frequency.psd_array_welch(
            x, sfreq, n_fft=n_seg, n_per_seg=n_seg, n_overlap=0, window="hamming", verbose=False
        )
        bp = {}
        for b in ("alpha", "beta", "total"):
            lo, hi = EEG_BANDS[b]
            msk = (freqs >= lo) & (freqs <= hi)
            bp[b] = np.trapezoid(psd[:, msk], freqs[msk], axis=-1)
        fr = float(np.mean(bp["beta"][i_af] / bp["total"][i_af]))
        tp = float(np.mean(bp["alpha"][i_tp] / bp["beta"][i_tp]))
        r = np.roll(rr, u)
        peaks = np.rint(np.concatenate(([0.0], np.cumsum(r))) * 1000.0).astype(np.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = hrv_fn(peaks, sampling_rate=1000, show=False)
        rmssd = float(h["HRV_RMSSD"].iloc[0])
        hr = 60000.0 / float(h["HRV_MeanNN"].iloc[0])
        xrow = np.array([[math.log(rmssd), hr, fr, tp]])
        idx = float(pipe.transform(xrow)[0])
        prescribe(idx, age=cfg.age, resting_hr=hr, screening=SCREENING)
        return idx

    for u in range(max(int(warmup), 1)):  # untimed: imports, caches
        one(-1 - u)
    cpu, wall = [], []
    idx = math.nan
    for u in range(1, n_updates + 1):
        w0, c0 = time.perf_counter(), time.thread_time()
        idx = one(u)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {
        **_spread(cpu, wall),
        "n_warmup": max(int(warmup), 1),
        "hrv": "neurokit2.hrv_time" if lean else "neurokit2.hrv",
        "psd": "mne.time_frequency.psd_array_welch",
        "model": "sklearn Pipeline",
        "index": idx,
        "cpu_s_samples": cpu,
        "wall_s_samples": wall,
    }


def _spread(cpu, wall) -> dict:
    """Median CPU and wall time per update and the spread of the CPU times."""
    p10, p90 = np.percentile(cpu, [10, 90])
    return {
        "cpu_s_per_update": float(np.median(cpu)),
        "wall_s_per_update": float(np.median(wall)),
        "cpu_s_per_update_p10": float(p10),
        "cpu_s_per_update_p90": float(p90),
        "cpu_s_per_update_min": float(np.min(cpu)),
        "cpu_s_per_update_max": float(np.max(cpu)),
        "n_updates": len(cpu),
    }


def pool_references(parts: list[dict]) -> dict:
    """One reference result from timed blocks of :func:`run_reference` (e.g. one before and
    one after the run it is compared with, so both sides see the same machine load): the
    median and spread over all their timed updates; ``n_blocks`` says how many."""
    cpu = [c for p in parts for c in p["cpu_s_samples"]]
    wall = [w for p in parts for w in p["wall_s_samples"]]
    out = {**parts[-1], **_spread(cpu, wall), "n_blocks": len(parts)}
    out["n_warmup"] = sum(p["n_warmup"] for p in parts)
    out["cpu_s_samples"], out["wall_s_samples"] = cpu, wall
    return out
