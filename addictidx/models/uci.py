"""The UCI "EEG Database" alcoholism set (Begleiter; SMNI_CMI_TRAIN) as a labelled feature table.

The set holds 20 subjects (10 alcoholic, 10 control) x 30 one-second trials of a visual ERP task,
64 channels at 256 Hz in µV (``shared/data/uci-eeg-alcoholism-smni-train``, CC BY 4.0, UCI ML
Repository #121; acknowledge Henri Begleiter and cite L. Ingber, "EEG Database", UCI 1997).

Only the Muse-like proxies are used: AF7 and AF8 exist in the montage; TP9/TP10 do not, and the
nearest sites TP7/TP8 stand in for them (an approximation: a different electrode position, a lab
cap with gel, and task rather than resting EEG). A model trained here is a *pipeline
demonstration* (EVIDENCE.md §7(ii) step 6), not a deployable screen.

Features (16, one row per trial), computed with the package's own feature code
(:func:`addictidx.features.compute_psd`, :func:`addictidx.features.band_power`):
per channel AF7, AF8, TP7, TP8 and per band delta 1-4, theta 4-8, alpha 8-12 and beta 13-25 Hz
(:data:`addictidx.features.EEG_BANDS`, closed bands, trapezoid rule), the base-10 log of the
absolute band power in µV². Spectra: Welch over each 1-s trial, 0.5-s Hamming segments with 50 %
overlap, zero-padded to 1-Hz bins (``n_fft = sfreq``). Gamma and beta above 25 Hz are left out
on purpose (EMG on these sites, EVIDENCE.md §1.4, §7(v) 4).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from addictidx._core.errors import DataFormatError

__all__ = [
    "UCI_DATASET",
    "UCI_FILENAME",
    "UCI_CHANNELS",
    "UCI_MUSE_PROXY",
    "UCI_BANDS",
    "UCI_FEATURE_DESCRIPTION",
    "UCIData",
    "load_uci_alcoholism",
    "uci_feature_names",
    "uci_trial_features",
    "muse_research_features",
    "sha256_file",
]

UCI_DATASET = "uci-alcoholism"
UCI_FILENAME = "smni_cmi_train.npz"
#: Channels used, in feature order.
UCI_CHANNELS: tuple[str, ...] = ("AF7", "AF8", "TP7", "TP8")
#: Which Muse electrode each UCI channel stands in for.
UCI_MUSE_PROXY = {"AF7": "AF7", "AF8": "AF8", "TP7": "TP9", "TP8": "TP10"}
#: Bands used (names of :data:`addictidx.features.EEG_BANDS`), in feature order.
UCI_BANDS: tuple[str, ...] = ("delta", "theta", "alpha", "beta")
_KEYS = ("X", "y", "subject", "channels", "fs")
#: One-paragraph description of the features, for model cards.
UCI_FEATURE_DESCRIPTION = (
    "Per channel AF7, AF8, TP7 (proxy for Muse TP9) and TP8 (proxy for TP10) and per band delta "
    "1-4, theta 4-8, alpha 8-12 and beta 13-25 Hz (closed bands, trapezoid rule), the base-10 "
    "log of the absolute band power in uV^2, from a Welch spectrum of each 1-s trial (0.5-s "
    "Hamming segments, 50 % overlap, 1-Hz bins), computed with addictidx.features.compute_psd "
    "and band_power. Gamma and beta above 25 Hz are left out (EMG on these sites)."
)


@dataclass(frozen=True, slots=True)
class UCIData:
    """Trials of the UCI alcoholism set (only the channels in :data:`UCI_CHANNELS`).

    Parameters
    ----------
    data : ndarray, shape (n_trials, 4, n_times)
        EEG in µV, channels in :data:`UCI_CHANNELS` order.
    sfreq : float
        Sampling frequency in Hz.
    y : ndarray of int64, shape (n_trials,)
        1 = alcoholic, 0 = control.
    subject : ndarray of str, shape (n_trials,)
        Subject code per trial (the grouping for cross-validation).
    condition : ndarray of str, shape (n_trials,)
        Stimulus condition per trial (``"S1 obj"``, ``"S2 match"``, ``"S2 nomatch"``).
    path : Path
        The ``.npz`` file read.
    sha256 : str
        SHA-256 of that file's bytes.
    """

    data: np.ndarray
    sfreq: float
    y: np.ndarray
    subject: np.ndarray
    condition: np.ndarray
    path: Path
    sha256: str


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_uci_alcoholism(data: str | Path) -> UCIData:
    """Read ``smni_cmi_train.npz`` (the shared-data layout) and keep the four proxy channels.

    Parameters
    ----------
    data : str | Path
        The folder holding ``smni_cmi_train.npz`` or the ``.npz`` file itself. It needs arrays
        ``X`` (n_trials, n_channels, n_times) in µV, ``y`` (1 = alcoholic), ``subject``,
        ``channels`` and ``fs``; ``condition`` is optional.

    Raises
    ------
    DataFormatError
        Naming the file and key when the file is missing, a key is absent, shapes disagree,
        labels are not 0/1, a proxy channel is missing or the data hold non-finite values.
    """
    path = Path(data)
    if path.is_dir():
        path = path / UCI_FILENAME
    if not path.is_file():
        raise DataFormatError(f"{path}: UCI alcoholism file not found (expected {UCI_FILENAME}).")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataFormatError(f"{path}: not a readable .npz file ({err}).") from None
    with npz:
        for key in _KEYS:
            if key not in npz.files:
                raise DataFormatError(f"{path}: missing array {key!r} (has {sorted(npz.files)}).")
        X = npz["X"]
        y = npz["y"].astype(np.int64)
        subject = npz["subject"].astype(str)
        channels = [str(c) for c in npz["channels"]]
        sfreq = float(npz["fs"])
        condition = npz["condition"].astype(str) if "condition" in npz.files else None
    if X.ndim != 3:
        raise DataFormatError(
            f"{path}: 'X' must be (n_trials, n_channels, n_times), got {X.shape}."
        )
    n = X.shape[0]
    for key, arr in (("y", y), ("subject", subject)):
        if arr.shape != (n,):
            raise DataFormatError(f"{path}: {key!r} must have shape ({n},), got {arr.shape}.")
    if X.shape[1] != len(channels):
        raise DataFormatError(
            f"{path}: 'channels' names {len(channels)} channels but 'X' has {X.shape[1]}."
        )
    bad = sorted(set(np.unique(y).tolist()) - {0, 1})
    if bad:
        raise DataFormatError(f"{path}: 'y' must hold 0/1 labels, found {bad}.")
    missing = [c for c in UCI_CHANNELS if c not in channels]
    if missing:
        raise DataFormatError(f"{path}: channel(s) {missing} not in 'channels'.")
    x = X[:, [channels.index(c) for c in UCI_CHANNELS], :].astype(np.float64)
    if not np.all(np.isfinite(x)):
        t, c, s = np.argwhere(~np.isfinite(x))[0]
        raise DataFormatError(
            f"{path}: non-finite value in trial {t}, channel {UCI_CHANNELS[c]}, sample {s}."
        )
    if condition is None:
        condition = np.full(n, "", dtype=str)
    return UCIData(
        data=x,
        sfreq=sfreq,
        y=y,
        subject=subject,
        condition=condition,
        path=path,
        sha256=sha256_file(path),
    )


def uci_feature_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return ``(names, units)`` of the UCI features, e.g. ``eeg_AF7_alpha_log10_uv2``."""
    names = tuple(f"eeg_{ch}_{band}_log10_uv2" for ch in UCI_CHANNELS for band in UCI_BANDS)
    return names, tuple("log10(uV^2)" for _ in names)


def uci_trial_features(data, sfreq: float) -> np.ndarray:
    """Log band powers of every trial (see the module docstring).

    Parameters
    ----------
    data : array, shape (n_trials, 4, n_times)
        Trials in µV, channels in :data:`UCI_CHANNELS` order.
    sfreq : float
        Sampling frequency in Hz.

    Returns
    -------
    features : ndarray, shape (n_trials, 16)
        Columns in :func:`uci_feature_names` order (channel-major, then band).
    """
    from addictidx.features import EEG_BANDS, band_power, compute_psd

    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != len(UCI_CHANNELS):
        raise ValueError(
            f"data must be shaped (n_trials, {len(UCI_CHANNELS)}, n_times), got {x.shape}."
        )
    n_trials, n_ch, n_times = x.shape
    n_fft = int(round(sfreq))  # 1-Hz bins
    n_seg = n_fft // 2  # 0.5-s Welch segments
    if n_times < n_seg:
        raise ValueError(f"Trials of {n_times} samples are shorter than one 0.5-s segment.")
    # Trials laid end to end: windows of exactly one trial each, so no segment spans two trials.
    flat = x.transpose(1, 0, 2).reshape(n_ch, n_trials * n_times)
    freqs, psd = compute_psd(
        flat,
        sfreq,
        window_s=n_times / sfreq,
        step_s=n_times / sfreq,
        n_fft=max(n_fft, n_seg),
        n_per_seg=n_seg,
        n_overlap=n_seg // 2,
    )
    if psd.shape[0] != n_trials:
        raise ValueError(f"Expected {n_trials} spectra, got {psd.shape[0]}.")
    powers = band_power(freqs, psd, {b: EEG_BANDS[b] for b in UCI_BANDS})
    stacked = np.stack([powers[b] for b in UCI_BANDS], axis=-1)  # (n_trials, n_ch, n_bands)
    with np.errstate(divide="ignore"):
        out = np.log10(stacked).reshape(n_trials, n_ch * len(UCI_BANDS))
    return out


def muse_research_features(data, sfreq: float, ch_names) -> np.ndarray:
    """The UCI model's 16 features from a Muse recording, one row per clean 1-s epoch.

    TP9 and TP10 take the places of TP7 and TP8 (:data:`UCI_MUSE_PROXY`), so a model trained by
    ``addictidx train --dataset uci-alcoholism`` can score Muse data. The recording is cut into
    consecutive non-overlapping 1-s epochs; epochs holding a gap (``NaN``) in any of the four
    channels are dropped. This is for the research output shown *beside* the index only.

    Parameters
    ----------
    data : array, shape (n_channels, n_times)
        EEG in µV.
    sfreq : float
        Sampling frequency in Hz (Muse: 256).
    ch_names : sequence of str
        Channel names in row order; must include AF7, AF8, TP9 and TP10.

    Returns
    -------
    ndarray, shape (n_epochs, 16)
        Columns in :func:`uci_feature_names` order (may have 0 rows).
    """
    names = list(ch_names)
    muse = [UCI_MUSE_PROXY[c] for c in UCI_CHANNELS]
    missing = [c for c in muse if c not in names]
    if missing:
        raise ValueError(f"ch_names {names} lacks {missing} (needed: {muse}).")
    x = np.asarray(data, dtype=np.float64)[[names.index(c) for c in muse]]
    n = int(round(sfreq))
    n_ep = x.shape[1] // n
    ep = x[:, : n_ep * n].reshape(4, n_ep, n).transpose(1, 0, 2)
    ep = ep[np.all(np.isfinite(ep), axis=(1, 2))]
    if ep.shape[0] == 0:
        return np.empty((0, len(UCI_CHANNELS) * len(UCI_BANDS)))
    return uci_trial_features(ep, sfreq)
