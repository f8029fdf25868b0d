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
assess_eeg_quality
    Per-channel 2-s-epoch checks and the 60 % gate.
compute_hrv, NEUROKIT_NAMES, KUBIOS_DEVIATIONS
    HRV with NeuroKit2-exact or Kubios-style definitions.
rr_quality
    RR artefact/ectopy screening and the < 5 % gate.
compute_index_features
    The four core features of the physiological deviation index.
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
from .eeg_quality import (
    DEFAULT_EEG_THRESHOLDS,
    EEGEpochChecks,
    assess_eeg_quality,
    eeg_epoch_checks,
    quality_report_from_checks,
)
from .hrv import HRV_NAMES, KUBIOS_DEVIATIONS, NEUROKIT_NAMES, compute_hrv, dfa_alpha, sample_entropy
from .index_features import INDEX_EEG_CHANNELS, INDEX_FEATURE_NAMES, compute_index_features
from .psd import compute_psd, get_taper, window_starts
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
    "HRV_NAMES",
    "KUBIOS_DEVIATIONS",
    "NEUROKIT_NAMES",
    "compute_hrv",
    "dfa_alpha",
    "sample_entropy",
    "INDEX_EEG_CHANNELS",
    "INDEX_FEATURE_NAMES",
    "compute_index_features",
    "compute_psd",
    "get_taper",
    "window_starts",
    "RR_ARTIFACT_MAX_FRACTION",
    "rr_quality",
]
