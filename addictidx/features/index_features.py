"""The four core features of the physiological deviation index (EVIDENCE §7(i)).

=================================  ==========================================================
name                               definition
=================================  ==========================================================
``hrv_ln_rmssd``                   ln(RMSSD in ms) of the artefact-screened RR series
                                   (:func:`~addictidx.features.rr_quality`; rejected intervals
                                   are dropped and no difference spans them)
``hr_mean_bpm``                    60 / mean(RR in s) over accepted intervals: the heart rate
                                   of the mean interval (the mean heart rate of
                                   :mod:`addictidx.features.heart_rate`; hrv-analysis'
                                   mean(60/RR) is not used)
``eeg_beta_rel_frontal``           beta 13-25 Hz power / 1-25 Hz power, per channel, then the
                                   mean of AF7 and AF8
``eeg_alpha_beta_ratio_temporal``  alpha 8-12 Hz power / beta 13-25 Hz power, per channel,
                                   then the mean of TP9 and TP10
=================================  ==========================================================

EEG spectra: the recording is cut into consecutive non-overlapping **2-s epochs**; each
epoch's periodogram (Hamming taper, 0.5 Hz bins; :func:`compute_psd` with ``window_s=step_s=2``)
is kept when the epoch passes the gap, flatline and amplitude checks
(:func:`~addictidx.features.eeg_epoch_checks`), and the kept periodograms are averaged per
channel (a Welch estimate over the clean epochs). Band powers use the closed-band trapezoid
rule of :mod:`addictidx.features.bands`.

A feature is ``NaN`` when its input is missing or fails its gate: an EEG feature needs **both**
channels of its pair with >= 60 % passing epochs (a one-channel mean would change the
feature's meaning between sessions); the HRV features need the RR gate (< 5 % artefacts, >= 2
min of clean intervals).

The session-level EMG indicator of the personal EMG gate (EVIDENCE §7(i); Gasser 2005) comes
from the same epoch checks: :func:`index_features_with_emg` returns it beside the features and
the quality report (:func:`~addictidx.features.session_emg_indicator` over
:data:`INDEX_EEG_CHANNELS`). Comparing it with the person's own 90th percentile needs the
session history, so the sessions layer applies that gate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .._core.types import QualityReport
from ..devices import stream_profile
from .bands import EEG_BANDS, band_weights
from .eeg_quality import (
    EEGEpochChecks,
    eeg_epoch_checks,
    quality_report_from_checks,
    session_emg_indicator,
)
from .heart_rate import mean_heart_rate_bpm
from .rr_quality import rr_quality

__all__ = [
    "INDEX_FEATURE_NAMES",
    "INDEX_EEG_CHANNELS",
    "EMGIndicator",
    "IndexFeatureSet",
    "INDEX_EEG_BANDS",
    "compute_index_features",
    "index_features_with_emg",
    "rr_index_features",
    "eeg_index_features",
    "epoch_band_powers",
    "merge_index_parts",
]

#: The core feature names, in the order the index model expects them.
INDEX_FEATURE_NAMES: tuple[str, ...] = (
    "hrv_ln_rmssd",
    "hr_mean_bpm",
    "eeg_beta_rel_frontal",
    "eeg_alpha_beta_ratio_temporal",
)

#: EEG channels the index features need: the electrodes of a Muse headband (from its profile).
INDEX_EEG_CHANNELS: tuple[str, ...] = stream_profile("muse-2", "eeg").channels


@dataclass(frozen=True, slots=True)
class EMGIndicator:
    """Session-level EMG indicator (see :func:`~addictidx.features.session_emg_indicator`).

    Parameters
    ----------
    value : float
        Mean over :data:`INDEX_EEG_CHANNELS` of each channel's median per-epoch EMG share
        (0-1); ``NaN`` when there is no EEG or a channel has no passing epoch.
    per_channel : Mapping[str, float]
        The per-channel medians.
    band_hz : tuple of float
        The EMG band used (Hz), after capping at Nyquist - 2 Hz.
    """

    value: float
    per_channel: Mapping[str, float] = field(default_factory=dict)
    band_hz: tuple[float, float] = (30.0, 100.0)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (``NaN`` -> ``None``)."""

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {
            "value": num(self.value),
            "per_channel": {k: num(v) for k, v in self.per_channel.items()},
            "band_hz": [float(b) for b in self.band_hz],
        }


@dataclass(frozen=True)
class IndexFeatureSet:
    """The index features of some data, with what scoring needs beside them.

    Parameters
    ----------
    features : Mapping[str, float]
        Exactly the keys of :data:`INDEX_FEATURE_NAMES`; ``NaN`` when unavailable.
    quality : QualityReport
        As returned by :func:`compute_index_features`.
    emg : EMGIndicator
        The session-level EMG indicator (``value`` NaN when there is no EEG).
    """

    features: Mapping[str, float]
    quality: QualityReport
    emg: EMGIndicator = field(default_factory=lambda: EMGIndicator(math.nan))


def compute_index_features(
    eeg_data,
    eeg_sfreq: float | None,
    ch_names,
    rr_s,
    *,
    eeg_thresholds=None,
) -> tuple[dict[str, float], QualityReport]:
    """Compute the four core index features and the quality report they depend on.

    Parameters
    ----------
    eeg_data : array, shape (n_channels, n_times) | None
        Resting EEG in µV (``NaN`` = missing samples); ``None`` when no EEG was recorded.
    eeg_sfreq : float | None
        EEG sampling frequency in Hz (must exceed 50 Hz so that 25 Hz is below Nyquist).
    ch_names : sequence of str | None
        EEG channel names in row order; must include AF7/AF8 and TP9/TP10 for the EEG features.
    rr_s : array, shape (n_rr,) | None
        RR intervals in seconds (``NaN`` = missing); ``None`` when no RR was recorded.
    eeg_thresholds : dict | None
        EEG quality thresholds (device profile), see
        :data:`~addictidx.features.DEFAULT_EEG_THRESHOLDS`.

    Returns
    -------
    features : dict of str -> float
        Exactly the keys of :data:`INDEX_FEATURE_NAMES`; ``NaN`` when unavailable.
    quality : QualityReport
        EEG report (``per_channel`` = passing-epoch share per channel) merged with the RR report
        (``per_channel["rr"]`` = accepted-interval share). ``usable`` is True only when all four
        EEG channels pass the 60 % epoch gate **and** the RR gate passes (EVIDENCE §7(i));
        the EMG gate against the person's own 90th percentile needs the session history and
        is left to the caller (:func:`index_features_with_emg` gives its indicator).
    """
    feats, quality, _emg = index_features_with_emg(
        eeg_data, eeg_sfreq, ch_names, rr_s, eeg_thresholds=eeg_thresholds
    )
    return feats, quality


def index_features_with_emg(
    eeg_data,
    eeg_sfreq: float | None,
    ch_names,
    rr_s,
    *,
    eeg_thresholds=None,
) -> tuple[dict[str, float], QualityReport, EMGIndicator]:
    """:func:`compute_index_features` plus the session-level EMG indicator.

    Parameters are those of :func:`compute_index_features`; the features and the quality
    report are identical to its outputs (computed from the same epoch checks).

    Returns
    -------
    features : dict of str -> float
    quality : QualityReport
    emg : EMGIndicator
        The EMG indicator of the EEG (``value`` NaN when there is no EEG).
    """
    rr_part = rr_index_features(rr_s)
    if eeg_data is None:
        eeg_report = QualityReport(
            per_channel={},
            flags=("eeg_missing",),
            usable=False,
            reasons=("No EEG was recorded.",),
        )
        fs = merge_index_parts(({}, eeg_report, EMGIndicator(math.nan)), rr_part)
        return dict(fs.features), fs.quality, fs.emg
    if eeg_sfreq is None or ch_names is None:
        raise ValueError("eeg_sfreq and ch_names are required when eeg_data is given.")
    if not float(eeg_sfreq) > 2 * EEG_BANDS["total"][1]:
        raise ValueError(
            f"eeg_sfreq={eeg_sfreq} Hz is too low: the 1-25 Hz band needs sfreq > 50 Hz."
        )
    checks = eeg_epoch_checks(eeg_data, eeg_sfreq, ch_names, thresholds=eeg_thresholds)
    fs = merge_index_parts(eeg_index_features(checks), rr_part)
    return dict(fs.features), fs.quality, fs.emg


def merge_index_parts(eeg_part, rr_part) -> IndexFeatureSet:
    """Join the outputs of :func:`eeg_index_features` and :func:`rr_index_features`.

    The features in :data:`INDEX_FEATURE_NAMES` order (``NaN`` where a part has none); the
    quality is the EEG report merged with the RR report.
    """
    eeg_feats, eeg_report, emg = eeg_part
    rr_feats, rr_report = rr_part
    feats = dict.fromkeys(INDEX_FEATURE_NAMES, math.nan)
    feats.update(rr_feats)
    feats.update(eeg_feats)
    return IndexFeatureSet(feats, eeg_report.merge(rr_report), emg)


def rr_index_features(rr_s) -> tuple[dict[str, float], QualityReport]:
    """The RR part of the index features: ``hrv_ln_rmssd`` and ``hr_mean_bpm``.

    :func:`~addictidx.features.rr_quality` screens the intervals; when its gate passes,
    ``hrv_ln_rmssd`` = ln of the RMSSD (ms) over the successive differences of adjacent
    accepted intervals (no difference spans a rejected one; Kubios convention, equal to
    :func:`~addictidx.features.compute_hrv` on the accepted intervals) and ``hr_mean_bpm`` =
    :func:`~addictidx.features.mean_heart_rate_bpm` of the accepted intervals.

    Parameters
    ----------
    rr_s : array, shape (n_rr,) | None
        RR intervals in seconds (``NaN`` = missing); ``None`` when no RR was recorded.

    Returns
    -------
    features : dict
        The two features (``NaN`` when the gate fails).
    report : QualityReport
        The RR report (``per_channel["rr"]`` = accepted share).
    """
    out = {"hrv_ln_rmssd": math.nan, "hr_mean_bpm": math.nan}
    if rr_s is None:
        return out, QualityReport(
            per_channel={"rr": 0.0},
            flags=("rr_missing",),
            usable=False,
            reasons=("No RR intervals were recorded.",),
        )
    rr = np.asarray(rr_s, dtype=np.float64)
    ok, report = rr_quality(rr)
    if not report.usable:
        return out, report
    d = np.diff(rr * 1000.0)[ok[:-1] & ok[1:]]
    if d.size:
        rmssd = math.sqrt(float(np.mean(d * d)))
        out["hrv_ln_rmssd"] = math.log(rmssd) if rmssd > 0 else math.nan
    out["hr_mean_bpm"] = mean_heart_rate_bpm(rr, ok)
    return out, report


#: Bands of the per-epoch powers the EEG index features are built from.
INDEX_EEG_BANDS: tuple[str, ...] = ("alpha", "beta", "total")


def epoch_band_powers(checks: EEGEpochChecks) -> np.ndarray:
    """Alpha, beta and total (1-25 Hz) power of every epoch's periodogram.

    Returns
    -------
    ndarray, shape (n_epochs, 3, n_channels)
        µV², in the order of :data:`INDEX_EEG_BANDS`.
    """
    f = checks.freqs
    key = (f.size, float(f[1] - f[0]) if f.size > 1 else 0.0)
    plan = _INDEX_BAND_PLANS.get(key)
    if plan is None:  # band_power's weights for these bands, kept per frequency grid
        edges = [tuple(float(v) for v in EEG_BANDS[b]) for b in INDEX_EEG_BANDS]
        plan = _INDEX_BAND_PLANS[key] = _band_plan(band_weights(f, edges))
    psd = np.asarray(checks.psd, dtype=np.float64)
    out = np.empty(psd.shape[:-1] + (len(plan),), dtype=np.float64)
    for b, band in enumerate(plan):
        if isinstance(band, float):  # NaN or 0.0 for every spectrum
            out[..., b] = band
        else:
            i0, i1, w = band
            out[..., b] = np.add.reduce(psd[..., i0:i1] * w, axis=-1)  # np.sum's reduction
    return out.transpose(0, 2, 1)


def _band_plan(W: np.ndarray) -> list:
    """Per band (column of ``W``), what :func:`~addictidx.features.bands.apply_band_weights`
    computes with it: ``(first bin, stop bin, weights)`` of its non-zero weights, or the float
    it fills the band with (NaN weights: NaN; no weight: 0.0). The same operations, found once
    per frequency grid."""
    plan: list = []
    for b in range(W.shape[1]):
        if np.isnan(W[0, b]):
            plan.append(math.nan)
            continue
        nz = np.flatnonzero(W[:, b])
        if nz.size == 0:
            plan.append(0.0)
            continue
        i0, i1 = int(nz[0]), int(nz[-1]) + 1
        plan.append((i0, i1, W[i0:i1, b]))
    return plan


#: :func:`_band_plan` of the trapezoid weights of INDEX_EEG_BANDS by frequency grid (size,
#: spacing from 0 Hz).
_INDEX_BAND_PLANS: dict[tuple[int, float], list] = {}


def eeg_index_features(
    checks: EEGEpochChecks, powers: np.ndarray | None = None
) -> tuple[dict[str, float], QualityReport, EMGIndicator]:
    """The EEG part of the index features from the 2-s epoch checks.

    A channel's band power is the mean over its passing epochs of the epochs' band powers,
    which equals the band power of their mean periodogram (band integration is linear), so
    the features can be kept per epoch and summed over a sliding window
    (:class:`~addictidx.features.RollingEpochs`).

    Parameters
    ----------
    checks : EEGEpochChecks
        Epoch checks of the EEG (:func:`~addictidx.features.eeg_epoch_checks`). Only the
        per-epoch arrays are read when ``powers`` is given (``psd`` may then be empty).
    powers : ndarray, shape (n_epochs, 3, n_channels) | None
        The epochs' :func:`epoch_band_powers` (computed from ``checks.psd`` when None).

    Returns
    -------
    features : dict
        ``eeg_beta_rel_frontal`` and ``eeg_alpha_beta_ratio_temporal`` (``NaN`` unless both
        channels of the pair pass the 60 % epoch gate).
    report : QualityReport
        :func:`~addictidx.features.quality_report_from_checks` (required: the four channels).
    emg : EMGIndicator
        :func:`~addictidx.features.session_emg_indicator` over the four channels.
    """
    pw = epoch_band_powers(checks) if powers is None else powers
    report = quality_report_from_checks(checks, required=INDEX_EEG_CHANNELS)
    lo_e, hi_e = (float(v) for v in checks.thresholds["emg_band_hz"])  # type: ignore[union-attr]
    emg_value, emg_per = session_emg_indicator(checks, INDEX_EEG_CHANNELS)
    emg = EMGIndicator(emg_value, emg_per, (lo_e, min(hi_e, checks.sfreq / 2.0 - 2.0)))
    min_pass = float(checks.thresholds["min_pass_fraction"])
    names = list(checks.ch_names)
    frac = checks.pass_fraction
    ok = checks.ok

    def channel_powers(ch: str) -> np.ndarray | None:
        if ch not in names:
            return None
        i = names.index(ch)
        if not frac[i] >= min_pass:
            return None
        return pw[ok[:, i], :, i].mean(axis=0)  # alpha, beta, total

    feats = {"eeg_beta_rel_frontal": math.nan, "eeg_alpha_beta_ratio_temporal": math.nan}
    af = [channel_powers(c) for c in ("AF7", "AF8")]
    if all(p is not None for p in af):
        feats["eeg_beta_rel_frontal"] = float(np.mean([p[1] / p[2] for p in af]))
    tp = [channel_powers(c) for c in ("TP9", "TP10")]
    if all(p is not None for p in tp):
        feats["eeg_alpha_beta_ratio_temporal"] = float(np.mean([p[0] / p[1] for p in tp]))
    return feats, report, emg
