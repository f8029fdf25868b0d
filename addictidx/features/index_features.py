"""The four core features of the physiological deviation index (EVIDENCE §7(i)).

=================================  ==========================================================
name                               definition
=================================  ==========================================================
``hrv_ln_rmssd``                   ln(RMSSD in ms) of the artefact-screened RR series
                                   (:func:`~addictidx.features.rr_quality`; rejected intervals
                                   are dropped and no difference spans them)
``hr_mean_bpm``                    60 / mean(RR in s) over accepted intervals: the heart rate
                                   of the mean interval (hrv-analysis' mean(60/RR) is not used)
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
"""

from __future__ import annotations

import math

import numpy as np

from .._core.types import QualityReport
from .bands import EEG_BANDS, band_power
from .eeg_quality import eeg_epoch_checks, quality_report_from_checks
from .hrv import compute_hrv
from .rr_quality import rr_quality

__all__ = ["INDEX_FEATURE_NAMES", "INDEX_EEG_CHANNELS", "compute_index_features"]

#: The core feature names, in the order the index model expects them.
INDEX_FEATURE_NAMES: tuple[str, ...] = (
    "hrv_ln_rmssd",
    "hr_mean_bpm",
    "eeg_beta_rel_frontal",
    "eeg_alpha_beta_ratio_temporal",
)

#: EEG channels the index features need (Muse layout).
INDEX_EEG_CHANNELS: tuple[str, ...] = ("TP9", "AF7", "AF8", "TP10")


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
        is left to the caller.
    """
    feats = dict.fromkeys(INDEX_FEATURE_NAMES, math.nan)

    # --- RR / HRV --------------------------------------------------------------------------
    if rr_s is None:
        rr_report = QualityReport(
            per_channel={"rr": 0.0}, flags=("rr_missing",), usable=False,
            reasons=("No RR intervals were recorded.",),
        )
    else:
        rr = np.asarray(rr_s, dtype=np.float64)
        mask_ok, rr_report = rr_quality(rr)
        if rr_report.usable:
            hrv = compute_hrv(np.where(mask_ok, rr, np.nan), convention="kubios", frequency=False,
                              nonlinear=False, geometric=False)
            feats["hrv_ln_rmssd"] = hrv["hrv_ln_rmssd"]
            feats["hr_mean_bpm"] = hrv["hr_mean_bpm"]

    # --- EEG ---------------------------------------------------------------------------------
    if eeg_data is None:
        eeg_report = QualityReport(
            per_channel={}, flags=("eeg_missing",), usable=False,
            reasons=("No EEG was recorded.",),
        )
    else:
        if eeg_sfreq is None or ch_names is None:
            raise ValueError("eeg_sfreq and ch_names are required when eeg_data is given.")
        if not float(eeg_sfreq) > 2 * EEG_BANDS["total"][1]:
            raise ValueError(
                f"eeg_sfreq={eeg_sfreq} Hz is too low: the 1-25 Hz band needs sfreq > 50 Hz."
            )
        checks = eeg_epoch_checks(eeg_data, eeg_sfreq, ch_names, thresholds=eeg_thresholds)
        eeg_report = quality_report_from_checks(checks, required=INDEX_EEG_CHANNELS)
        min_pass = float(checks.thresholds["min_pass_fraction"])
        names = list(checks.ch_names)
        frac = checks.pass_fraction

        def channel_powers(ch: str) -> dict[str, float] | None:
            if ch not in names:
                return None
            i = names.index(ch)
            if not frac[i] >= min_pass:
                return None
            mean_psd = checks.psd[checks.ok[:, i], i, :].mean(axis=0)
            p = band_power(checks.freqs, mean_psd, ("alpha", "beta", "total"))
            return {k: float(v) for k, v in p.items()}

        af = [channel_powers(c) for c in ("AF7", "AF8")]
        if all(p is not None for p in af):
            feats["eeg_beta_rel_frontal"] = float(np.mean([p["beta"] / p["total"] for p in af]))
        tp = [channel_powers(c) for c in ("TP9", "TP10")]
        if all(p is not None for p in tp):
            feats["eeg_alpha_beta_ratio_temporal"] = float(
                np.mean([p["alpha"] / p["beta"] for p in tp])
            )

    return feats, eeg_report.merge(rr_report)
