"""The index features of many windows at once (a server scoring many sessions per tick).

:func:`rr_index_features_batch` is :func:`~addictidx.features.rr_index_features` for many RR
windows: the local medians of :func:`~addictidx.features.rr_quality` for every beat of every
window in one sort, the rest per window. :func:`eeg_window_summaries` reduces the kept epochs of
many windows of a :class:`~addictidx.features.RollingEpochs` to what
:func:`~addictidx.features.eeg_index_features` derives from them, in array operations over all
windows. Both give the same features and reports as the single-window functions (tests hold
them equal; medians are bit for bit NumPy's).
"""

from __future__ import annotations

import math

import numpy as np

from .._core.types import QualityReport
from .eeg_quality import quality_report_from_summary
from .heart_rate import RR_MAX_S, RR_MIN_S
from .index_features import INDEX_EEG_CHANNELS, INDEX_FEATURE_NAMES, EMGIndicator, IndexFeatureSet
from .rr_quality import RR_ARTIFACT_MAX_FRACTION, rr_gate_report

__all__ = [
    "rr_index_features_batch",
    "eeg_window_features_batch",
    "merge_index_parts_batch",
]


def _median_last(a: np.ndarray) -> np.ndarray:
    """NaN-ignoring median over the last axis, as NumPy computes it ((low + high) / 2)."""
    n = a.shape[-1]
    srt = np.array(a, order="C")  # a C-ordered copy: sorting a strided view costs more
    srt.sort(axis=-1)  # NaN last
    isn = np.isnan(srt)
    # the values before the first NaN (none: all n)
    n_valid = np.where(isn[..., -1], isn.argmax(axis=-1), n)
    flat = srt.reshape(-1)
    # each row's flat start; the middle two of its n_valid values (a row without values
    # reads an element of another, then NaN replaces it)
    start = np.arange(0, flat.size, n).reshape(n_valid.shape)
    lo = flat[start + (n_valid - 1) // 2]
    hi = flat[start + n_valid // 2]
    return np.where(n_valid > 0, (lo + hi) / 2.0, np.nan), n_valid


def rr_index_features_batch(
    rr_list,
    *,
    rel_threshold: float = 0.20,
    half_window: int = 5,
    max_artifact_fraction: float = RR_ARTIFACT_MAX_FRACTION,
    min_duration_s: float = 120.0,
) -> list[tuple[dict[str, float], QualityReport]]:
    """:func:`~addictidx.features.rr_index_features` of every RR window of ``rr_list``.

    Parameters
    ----------
    rr_list : sequence of array | None
        RR windows in seconds (``None``: no RR recorded).
    rel_threshold, half_window, max_artifact_fraction, min_duration_s
        As :func:`~addictidx.features.rr_quality` (its defaults).

    Returns
    -------
    list of (features, report)
        As :func:`~addictidx.features.rr_index_features`, in order.
    """
    from .index_features import rr_index_features

    out: list = [None] * len(rr_list)
    rows, arrs = [], []
    for d, r in enumerate(rr_list):
        a = None if r is None else np.asarray(r, dtype=np.float64)
        if a is None or a.size == 0 or a.ndim != 1:
            out[d] = rr_index_features(a)  # the edge cases: the single-window function
        else:
            rows.append(d)
            arrs.append(a)
    if not rows:
        return out
    h = int(half_window)
    D = len(rows)
    lens_l = [a.size for a in arrs]
    L = max(lens_l)
    X = np.full((D, L), np.nan)
    for j, a in enumerate(arrs):
        X[j, : a.size] = a
    with np.errstate(invalid="ignore"):
        in_range = np.isfinite(X)
        in_range &= X >= RR_MIN_S
        in_range &= X <= RR_MAX_S
    padded = np.full((D, L + 2 * h), np.nan)
    np.copyto(padded[:, h : h + L], X, where=in_range)
    # a beat's verdict: in range and not more than rel_threshold from the median of its
    # in-range neighbours (none: kept); the median is needed only for beats not surely near
    # it (see _surely_near)
    ok_all = in_range.copy()
    need = in_range & ~_surely_near(padded, X, h, rel_threshold)
    jj, pos = np.nonzero(need)
    if jj.size:
        local, n_valid = _median_last(padded[jj[:, None], pos[:, None] + _offsets(h)])
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = np.abs(X[jj, pos] - local) / local
        ok_all[jj, pos] = ~((n_valid > 0) & (dev > rel_threshold))
    # per-window sums as array reductions (the single-window function sums the selected
    # values; the order of additions differs, so sums agree to about 1e-15 relative)
    # np.count_nonzero(., axis=1) of a bool array is its intp sum: the reduction itself
    n_ok = np.add.reduce(ok_all, axis=1, dtype=np.intp).tolist()
    ok_time = np.add.reduce(np.where(ok_all, X, 0.0), axis=1).tolist()  # np.sum's reduction
    pair = ok_all[:, :-1] & ok_all[:, 1:]
    ms = X * 1000.0
    dd = ms[:, 1:] - ms[:, :-1]  # np.diff(X * 1000.0, axis=1)
    n_pair = np.add.reduce(pair, axis=1, dtype=np.intp).tolist()
    sq = np.multiply(dd, dd, out=dd)
    sq[~pair] = 0.0
    sq_sum = np.add.reduce(sq, axis=1).tolist()
    gate = (float(max_artifact_fraction), float(min_duration_s))
    for j, d in enumerate(rows):
        report = _rr_report(n_ok[j], lens_l[j], ok_time[j], gate)
        feats = {"hrv_ln_rmssd": math.nan, "hr_mean_bpm": math.nan}
        if report.usable:
            if n_pair[j]:
                rmssd = math.sqrt(sq_sum[j] / n_pair[j])
                feats["hrv_ln_rmssd"] = math.log(rmssd) if rmssd > 0 else math.nan
            if n_ok[j]:
                feats["hr_mean_bpm"] = 60.0 / (ok_time[j] / n_ok[j])
        out[d] = (feats, report)
    return out


def _surely_near(padded: np.ndarray, X: np.ndarray, h: int, rel_threshold) -> np.ndarray:
    """Beats whose deviation from their neighbours' median cannot exceed ``rel_threshold``.

    The median of a beat's ``2 h`` neighbours (all in range: no NaN among them) lies between
    their minimum ``m`` and maximum ``M`` (both > 0), so a beat ``x`` with
    ``(1 - 3r/4) M <= x <= (1 + 3r/4) m`` deviates by at most ``3r/4`` of it, and the float
    operations of the check add errors of order 1e-16, far below the ``r/4`` left: the
    check keeps such a beat. ``padded`` holds the in-range values with ``h`` NaN each side.
    Every beat is unsure when ``rel_threshold`` is not a plain positive number.
    """
    r = float(rel_threshold)
    D, L = X.shape
    if not (1e-6 <= r <= 1.0) or h < 1:
        return np.zeros((D, L), dtype=bool)
    # the maximum (minimum) of the h values from each position, by doubling; NaN spreads
    hi, lo, w = padded, padded, 1
    while 2 * w <= h:
        hi = np.maximum(hi[:, :-w], hi[:, w:])
        lo = np.minimum(lo[:, :-w], lo[:, w:])
        w *= 2
    if w < h:
        hi = np.maximum(hi[:, : -(h - w)], hi[:, h - w :])
        lo = np.minimum(lo[:, : -(h - w)], lo[:, h - w :])
    # neighbours of beat p: padded[p : p + h] and padded[p + h + 1 : p + 2h + 1]
    big = np.maximum(hi[:, :L], hi[:, h + 1 : h + 1 + L])
    small = np.minimum(lo[:, :L], lo[:, h + 1 : h + 1 + L])
    with np.errstate(invalid="ignore"):
        return (X >= (1.0 - 0.75 * r) * big) & (X <= (1.0 + 0.75 * r) * small)


#: Neighbour offsets of the local median, by half window (the beat itself left out).
_OFFSETS: dict[int, np.ndarray] = {}


def _offsets(h: int) -> np.ndarray:
    offs = _OFFSETS.get(h)
    if offs is None:
        offs = _OFFSETS[h] = np.r_[0:h, h + 1 : 2 * h + 1]
    return offs


#: RR gate reports already built: (accepted, beats, enough clean time, gate) -> report.
_RR_REPORTS: dict[tuple, QualityReport] = {}


def _rr_report(n_ok: int, n: int, ok_time_s: float, gate: tuple) -> QualityReport:
    """:func:`~addictidx.features.rr_gate_report` of a window, remembered: the report depends
    on the accepted share ``n_ok / n`` and, of the accepted time, only on whether it reaches
    the gate's minimum (unless the gate fails, when its reason quotes the time)."""
    frac_bad = 1.0 - float(n_ok) / float(n)
    if ok_time_s < gate[1]:  # the reason names the clean time: not shared
        return rr_gate_report(
            frac_bad, ok_time_s, max_artifact_fraction=gate[0], min_duration_s=gate[1]
        )
    key = (n_ok, n, gate)
    rep = _RR_REPORTS.get(key)
    if rep is None:
        rep = rr_gate_report(
            frac_bad, ok_time_s, max_artifact_fraction=gate[0], min_duration_s=gate[1]
        )
        if len(_RR_REPORTS) >= 4096:
            _RR_REPORTS.clear()
        _RR_REPORTS[key] = rep
    return rep


#: Quality reports already built, by everything a report depends on (see _eeg_report).
_REPORTS: dict[tuple, QualityReport] = {}


#: Thresholds a window's report depends on (with the channel names: the start of its key).
_REPORT_THRESHOLDS = (
    "min_pass_fraction",
    "epoch_s",
    "gap_max_fraction",
    "emg_share_max",
    "line_ratio_max",
)


def _eeg_report(key, names, th, n_ep, frac, verdicts, summaries) -> QualityReport:
    """:func:`~addictidx.features.quality_report_from_summary` of one window, built on a
    miss of :data:`_REPORTS` and remembered under ``key``.

    A report depends on the epoch count, the pass fractions and, of the other summaries, only
    on which of them exceed their thresholds, so windows alike in these share one report
    object: ``key`` = (names and thresholds used, epoch count, pass fractions, bytes of
    ``verdicts``). ``verdicts`` is the window's ``(7, n_channels)`` bool array: the gap,
    flatline, amplitude and rail checks that failed on any epoch, then the gap, EMG and
    line-noise comparisons; ``summaries`` = ``(gap fractions, EMG medians, line medians)``.
    """
    gap_l, emg_l, line_l = summaries
    failed = tuple(tuple(v) for v in verdicts[:4].tolist())
    rep = quality_report_from_summary(
        names, th, n_ep, frac, failed, gap_l, emg_l, line_l, required=INDEX_EEG_CHANNELS
    )
    if len(_REPORTS) >= 4096:
        _REPORTS.clear()
    _REPORTS[key] = rep
    return rep


def eeg_window_features_batch(rolling, streams, t_ends) -> list:
    """:func:`~addictidx.features.eeg_index_features` of many windows of a
    :class:`~addictidx.features.RollingEpochs`, as ``(features, report, emg)`` per window."""
    S = np.asarray(streams, dtype=np.int64)
    T = np.asarray(t_ends, dtype=np.float64)
    es, names = rolling.epoch_s, rolling.ch_names
    th = rolling.merged_thresholds()
    E = rolling.epoch[S]  # (D, K)
    inw = (E * es >= (T - rolling.window_s)[:, None] - 1e-9) & ((E + 1) * es <= T[:, None] + 1e-9)
    # the sums and any() below are the reductions themselves (no Python-level wrapper)
    k = np.add.reduce(inw, axis=1)  # (D,)
    w3 = inw[:, :, None]
    flags = rolling.flag_array[S] & inw[:, :, None, None]  # (D, K, 5, C): ok gap flat amp rail
    ok = flags[:, :, 0]  # (D, K, C)
    n_ok = np.add.reduce(ok, axis=1)  # (D, C)
    vals = rolling.value_array[S]  # (D, K, 3, C): ptp, emg share, line ratio
    emg = vals[:, :, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = n_ok / k[:, None]
        failed = np.logical_or.reduce(flags[:, :, 1:], axis=1)  # (D, 4, C)
        if failed[:, 0].any():  # missing samples are counted only in gap epochs
            nonfinite = np.add.reduce(np.where(w3, rolling.n_nonfinite[S], 0), axis=1)
        else:
            nonfinite = np.zeros(n_ok.shape, dtype=np.int64)
        gap_fraction = nonfinite / (k[:, None] * float(rolling.n_per_epoch))
        # the three medians over the window's epochs in one call: the EMG share and line
        # ratio of the window's epochs and (in the place of the peak-to-peak amplitude) the
        # EMG share of its passing epochs, (D, K, 3, C) -> (D, 3, C)
        m = np.where(inw[:, :, None, None], vals, np.nan)
        m[:, :, 0] = np.where(ok & np.isfinite(emg), emg, np.nan)
        meds, _ = _median_last(m.transpose(0, 2, 3, 1))
        emg_ok, emg_med, line_med = meds[:, 0], meds[:, 1], meds[:, 2]
        sums = np.add.reduce(np.where(ok[:, :, None, :], rolling.powers[S], 0.0), axis=1)
        mean_pw = sums / n_ok[:, None, :]
        # (D, 7, C): the gap, flatline, amplitude and rail checks failed on any epoch, then
        # the comparisons quality_report_from_summary makes (gap share, EMG, line noise)
        verdicts = np.empty((failed.shape[0], 7, failed.shape[2]), dtype=bool)
        verdicts[:, :4] = failed
        np.greater(gap_fraction, float(th["gap_max_fraction"]), out=verdicts[:, 4])
        np.greater(emg_med, float(th["emg_share_max"]), out=verdicts[:, 5])
        np.greater(line_med, float(th["line_ratio_max"]), out=verdicts[:, 6])
    lo_e, hi_e = (float(v) for v in th["emg_band_hz"])
    band = (lo_e, min(hi_e, rolling.sfreq / 2.0 - 2.0))
    min_pass = float(th["min_pass_fraction"])
    idx = {c: i for i, c in enumerate(names)}
    emg_idx = [idx.get(c) for c in INDEX_EEG_CHANNELS]
    i_af7, i_af8, i_tp9, i_tp10 = (idx.get(c) for c in ("AF7", "AF8", "TP9", "TP10"))
    all_emg = None not in emg_idx
    # each window's EMG medians of the index channels, in their order
    emg_ok_l = (emg_ok[:, emg_idx] if all_emg else emg_ok).tolist()
    mean_l = mean_pw.transpose(0, 2, 1).tolist()  # (D, C, 3): alpha, beta, total per channel
    out = []
    nan_row = [math.nan] * len(names)
    frac_l, gap_l = frac.tolist(), gap_fraction.tolist()
    emg_l, line_l = emg_med.tolist(), line_med.tolist()
    blob, w = verdicts.tobytes(), verdicts[0].nbytes if S.size else 0  # each window's w bytes
    k_l = k.tolist()
    prefix = (names, tuple(th[u] for u in _REPORT_THRESHOLDS))
    frontal = i_af7 is not None and i_af8 is not None
    temporal = i_tp9 is not None and i_tp10 is not None
    reports = _REPORTS
    nan = math.nan
    for d in range(S.size):
        n_ep = k_l[d]
        fr = frac_l[d]
        fr_rep = fr if n_ep else nan_row
        key = (prefix, n_ep, tuple(fr_rep), blob[d * w : (d + 1) * w])
        report = reports.get(key)
        if report is None:
            summaries = (gap_l[d] if n_ep else nan_row, emg_l[d], line_l[d])
            report = _eeg_report(key, names, th, n_ep, fr_rep, verdicts[d], summaries)
        row = emg_ok_l[d]
        if all_emg:
            vals_ = row
        else:
            vals_ = [nan if i is None else row[i] for i in emg_idx]
        per = dict(zip(INDEX_EEG_CHANNELS, vals_))
        # np.mean of 4 values adds them in order, as sum() does
        value = sum(vals_) / len(vals_) if all(map(math.isfinite, vals_)) else nan
        pw = mean_l[d]
        beta = ratio = nan
        if frontal and fr[i_af7] >= min_pass and fr[i_af8] >= min_pass:
            a, b = pw[i_af7], pw[i_af8]
            # np.mean of two ratios is (x + y) / 2
            beta = (a[1] / a[2] + b[1] / b[2]) / 2.0
        if temporal and fr[i_tp9] >= min_pass and fr[i_tp10] >= min_pass:
            a, b = pw[i_tp9], pw[i_tp10]
            ratio = (a[0] / a[1] + b[0] / b[1]) / 2.0
        feats = {"eeg_beta_rel_frontal": beta, "eeg_alpha_beta_ratio_temporal": ratio}
        out.append((feats, report, EMGIndicator(value, per, band)))
    return out


#: Merged reports already built: (id(eeg report), id(RR report)) -> (eeg, RR, merged); the
#: parts are kept, so their ids are not reused while an entry exists.
_MERGED: dict[tuple[int, int], tuple] = {}


def merge_index_parts_batch(eeg_parts, rr_parts) -> list:
    """:func:`~addictidx.features.index_features.merge_index_parts` of many windows.

    The batch functions hand out remembered reports, so the merged report of a pair of them
    is remembered too (one object shared by the windows with that pair, equal to what
    :meth:`~addictidx._core.types.QualityReport.merge` builds).
    """
    nan_feats = dict.fromkeys(INDEX_FEATURE_NAMES, math.nan)
    out = []
    for (eeg_feats, eeg_report, emg), (rr_feats, rr_report) in zip(eeg_parts, rr_parts):
        feats = nan_feats.copy()
        feats.update(rr_feats)
        feats.update(eeg_feats)
        key = (id(eeg_report), id(rr_report))
        hit = _MERGED.get(key)
        if hit is None or hit[0] is not eeg_report or hit[1] is not rr_report:
            if len(_MERGED) >= 4096:
                _MERGED.clear()
            hit = _MERGED[key] = (eeg_report, rr_report, eeg_report.merge(rr_report))
        out.append(IndexFeatureSet(feats, hit[2], emg))
    return out
