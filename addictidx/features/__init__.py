"""Feature extraction: EEG spectra and band powers, EEG quality, HRV and RR quality.

Importing this package loads numpy only; scipy (``scipy.fft``, and ``scipy.signal`` only for
uncommon tapers) is imported inside the functions that need it. MNE and NeuroKit2 are reference
oracles in the tests, never runtime dependencies of this package.

Main entry points
-----------------
compute_psd
    Sliding-window Welch PSD, equal to ``mne.time_frequency.psd_array_welch`` per window.
band_power, EEG_BANDS
    Closed-band trapezoid band powers (absolute or relative); beta capped at 25 Hz.
compute_eeg_features
    Every per-window EEG feature (band powers, ratios, FAA, IAF) in one fused pass.
assess_eeg_quality
    Per-channel 2-s-epoch checks and the 60 % gate.
compute_hrv, NEUROKIT_NAMES, KUBIOS_DEVIATIONS, HRV_MIN_WINDOW_S
    HRV (time, frequency, nonlinear) with NeuroKit2-exact or Kubios-style definitions.
hrv_frequency, hrv_psd
    Frequency-domain HRV alone (Kubios ms² or NeuroKit2's normalized spectrum).
correct_rr, RRCorrection
    RR artefact correction (Lipponen & Tarvainen 2019, Kubios threshold levels).
detect_rpeaks, ecg_to_rr, ecg_beats, ECGBeats
    R peaks in single-lead ECG (40-220 bpm, 130-360 Hz), the RR series, quality per beat.
rr_quality
    RR artefact/ectopy screening and the < 5 % gate.
HeartRateTracker, current_heart_rate_bpm, mean_heart_rate_bpm
    The one heart-rate definition (RR-derived; display, closed loop, index feature).
BandPowerTransformer, HrvTransformer
    scikit-learn transformers (``get_feature_names_out``); imported lazily with scikit-learn.
compute_index_features
    The four core features of the physiological deviation index.
index_features_with_emg, session_emg_indicator
    The same plus the session-level EMG indicator of the personal EMG gate.
rr_index_features, eeg_index_features, RollingEpochs
    Its RR and EEG parts, and their incremental form over a sliding window of 2-s epochs.
"""

from .bands import (
    EEG_BANDS,
    EMG_DOMINATED_BANDS,
    band_power,
    band_ratio,
    band_weights,
    frontal_alpha_asymmetry,
    individual_alpha_frequency,
)
from .ecg_peaks import TRUSTED_MIN_CORR, ECGBeats, detect_rpeaks, ecg_beats, ecg_to_rr
from .eeg_features import compute_eeg_features
from .eeg_quality import (
    DEFAULT_EEG_THRESHOLDS,
    EEGEpochChecks,
    assess_eeg_quality,
    eeg_epoch_checks,
    nanmedian_axis0,
    quality_report_from_checks,
    quality_report_from_summary,
    session_emg_indicator,
)
from .heart_rate import (
    HR_MEDIAN_BEATS,
    HR_MIN_BEATS,
    RR_MAX_S,
    RR_MIN_S,
    HeartRateTracker,
    current_heart_rate_bpm,
    mean_heart_rate_bpm,
    valid_rr_mask,
)
from .hrv import (
    HRV_MIN_WINDOW_S,
    HRV_NAMES,
    KUBIOS_DEVIATIONS,
    NEUROKIT_FREQUENCY_NAMES,
    NEUROKIT_NAMES,
    compute_hrv,
    dfa_alpha,
    sample_entropy,
)
from .hrv_frequency import HRV_FREQUENCY_NAMES, hrv_frequency, hrv_psd
from .index_features import (
    INDEX_EEG_CHANNELS,
    INDEX_FEATURE_NAMES,
    EMGIndicator,
    IndexFeatureSet,
    compute_index_features,
    eeg_index_features,
    epoch_band_powers,
    index_features_with_emg,
    merge_index_parts,
    rr_index_features,
)
from .psd import compute_psd, get_taper, window_starts
from .rolling import RollingEpochs
from .rr_correction import THRESHOLD_LEVELS_S, RRCorrection, correct_rr
from .rr_quality import RR_ARTIFACT_MAX_FRACTION, rr_quality

__all__ = [
    "EEG_BANDS",
    "EMG_DOMINATED_BANDS",
    "band_power",
    "band_ratio",
    "band_weights",
    "frontal_alpha_asymmetry",
    "individual_alpha_frequency",
    "DEFAULT_EEG_THRESHOLDS",
    "EEGEpochChecks",
    "assess_eeg_quality",
    "eeg_epoch_checks",
    "quality_report_from_checks",
    "quality_report_from_summary",
    "nanmedian_axis0",
    "HRV_NAMES",
    "HRV_MIN_WINDOW_S",
    "HRV_FREQUENCY_NAMES",
    "KUBIOS_DEVIATIONS",
    "NEUROKIT_NAMES",
    "NEUROKIT_FREQUENCY_NAMES",
    "compute_hrv",
    "hrv_frequency",
    "hrv_psd",
    "dfa_alpha",
    "sample_entropy",
    "detect_rpeaks",
    "ecg_to_rr",
    "ecg_beats",
    "ECGBeats",
    "TRUSTED_MIN_CORR",
    "compute_eeg_features",
    "THRESHOLD_LEVELS_S",
    "RRCorrection",
    "correct_rr",
    "BandPowerTransformer",
    "HrvTransformer",
    "INDEX_EEG_CHANNELS",
    "INDEX_FEATURE_NAMES",
    "compute_index_features",
    "compute_psd",
    "get_taper",
    "window_starts",
    "RR_ARTIFACT_MAX_FRACTION",
    "rr_quality",
    "session_emg_indicator",
    "EMGIndicator",
    "IndexFeatureSet",
    "index_features_with_emg",
    "rr_index_features",
    "eeg_index_features",
    "epoch_band_powers",
    "merge_index_parts",
    "RollingEpochs",
    "HR_MEDIAN_BEATS",
    "HR_MIN_BEATS",
    "RR_MIN_S",
    "RR_MAX_S",
    "HeartRateTracker",
    "current_heart_rate_bpm",
    "mean_heart_rate_bpm",
    "valid_rr_mask",
]


def __getattr__(name: str):
    # The scikit-learn transformers import sklearn (~1 s); load them on first access only.
    if name in ("BandPowerTransformer", "HrvTransformer"):
        from . import transformers

        return getattr(transformers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
