"""All per-window EEG features in one pass: band powers, ratios, FAA and IAF.

:func:`compute_eeg_features` gives, for every sliding window, exactly what
``compute_psd`` + :func:`band_power` / :func:`band_ratio` / :func:`frontal_alpha_asymmetry` /
:func:`individual_alpha_frequency` give on the window's PSD, but faster: band integration is
linear, so it is applied to each distinct Welch segment's periodogram (one small matrix product)
**before** averaging over a window's segments. Only the band columns and the 7-13 Hz bins
needed for the IAF are averaged, instead of the whole spectrum.

Features per channel ``<ch>`` (names carry units):

* ``eeg_<band>_uv2_<ch>``: absolute power (µV²) in delta, theta, alpha, beta (13-25 Hz) and
  gamma (30-45 Hz, only when below Nyquist; EMG-dominated, never used by the index);
* ``eeg_<band>_rel_<ch>``: power of delta/theta/alpha/beta over 1-25 Hz;
* ``eeg_theta_beta_ratio_<ch>``, ``eeg_alpha_beta_ratio_<ch>``;
* ``eeg_iaf_hz_<ch>``: frequency of the largest PSD bin in 7-13 Hz;

plus ``eeg_faa`` = ln alpha(AF8) - ln alpha(AF7) when both channels are present.
"""

from __future__ import annotations

import numpy as np

from .._core.types import FeatureFrame
from .bands import EEG_BANDS, _apply_band_weights, band_weights
from .psd import _segment_periodograms, _window_mean, window_starts

__all__ = ["compute_eeg_features"]

_ABS_BANDS = ("delta", "theta", "alpha", "beta", "gamma")
_REL_BANDS = ("delta", "theta", "alpha", "beta")


def compute_eeg_features(
    data,
    sfreq: float,
    ch_names,
    *,
    window_s: float = 4.0,
    step_s: float = 0.25,
    n_fft: int = 256,
    n_per_seg: int | None = None,
    n_overlap: int = 0,
    taper: str = "hamming",
    iaf_range: tuple[float, float] = (7.0, 13.0),
) -> FeatureFrame:
    """Every EEG feature of every sliding window (see the module docstring).

    Parameters
    ----------
    data : array, shape (n_channels, n_times)
        EEG in µV (``NaN`` = missing; windows touching a gap give NaN for that channel).
    sfreq : float
        Sampling frequency in Hz.
    ch_names : sequence of str
        Channel names in row order.
    window_s, step_s, n_fft, n_per_seg, n_overlap, taper
        As :func:`~addictidx.features.compute_psd` (MNE ``psd_array_welch`` parameters).
    iaf_range : (float, float)
        IAF search range in Hz (closed).

    Returns
    -------
    frame : FeatureFrame
        ``names``, ``values`` (n_windows, n_features) and ``times`` = window end (s from the
        first sample); ``quality`` is ``None`` (use :func:`assess_eeg_quality`).
    """
    names = [str(c) for c in ch_names]
    freqs, periodo, plan = _segment_periodograms(
        data,
        sfreq,
        window_s=window_s,
        step_s=step_s,
        n_fft=n_fft,
        n_per_seg=n_per_seg,
        n_overlap=n_overlap,
        taper=taper,
    )
    n_ch = periodo.shape[0] if plan is not None else periodo.shape[1]
    if len(names) != n_ch:
        raise ValueError(f"ch_names has {len(names)} names for {n_ch} channels.")
    nyq = freqs[-1]
    abs_bands = [b for b in _ABS_BANDS if EEG_BANDS[b][1] <= nyq]
    cols = [EEG_BANDS[b] for b in abs_bands] + [EEG_BANDS["total"]]
    W = band_weights(freqs, cols)
    iaf_mask = (freqs >= iaf_range[0]) & (freqs <= iaf_range[1])
    if not iaf_mask.any():
        raise ValueError(f"No PSD bin in iaf_range={iaf_range} Hz.")
    n_b = len(cols)
    if plan is None:
        red = np.zeros((0, n_ch, n_b + int(iaf_mask.sum())))
    else:
        # Band integration per segment (elementwise weighted sums, see _apply_band_weights),
        # followed by the 7-13 Hz bins themselves for the IAF; then the window means.
        red_seg = np.empty(periodo.shape[:2] + (n_b + int(iaf_mask.sum()),))
        red_seg[..., :n_b] = _apply_band_weights(periodo, W)
        red_seg[..., n_b:] = periodo[..., iaf_mask]
        red = _window_mean(red_seg, plan)  # (n_w, n_ch, n_b + n_iaf)
    P = {b: red[..., i] for i, b in enumerate(abs_bands)}
    total = red[..., len(abs_bands)]
    sub = red[..., n_b:]
    nan_rows = np.isnan(sub).any(axis=-1)
    iaf = freqs[iaf_mask][np.argmax(np.where(np.isnan(sub), -np.inf, sub), axis=-1)]
    iaf = np.where(nan_rows, np.nan, iaf)

    feat_names: list[str] = []
    blocks: list[np.ndarray] = []
    for b in abs_bands:
        feat_names += [f"eeg_{b}_uv2_{c}" for c in names]
        blocks.append(P[b])
    for b in _REL_BANDS:
        feat_names += [f"eeg_{b}_rel_{c}" for c in names]
        blocks.append(P[b] / total)
    feat_names += [f"eeg_theta_beta_ratio_{c}" for c in names]
    blocks.append(P["theta"] / P["beta"])
    feat_names += [f"eeg_alpha_beta_ratio_{c}" for c in names]
    blocks.append(P["alpha"] / P["beta"])
    feat_names += [f"eeg_iaf_hz_{c}" for c in names]
    blocks.append(iaf)
    values = np.concatenate(blocks, axis=1)
    if "AF7" in names and "AF8" in names:
        a = P["alpha"]
        faa = np.log(a[:, names.index("AF8")]) - np.log(a[:, names.index("AF7")])
        values = np.concatenate([values, faa[:, np.newaxis]], axis=1)
        feat_names.append("eeg_faa")
    starts, n_win = window_starts(np.shape(data)[-1], float(sfreq), window_s, step_s)
    times = (starts + n_win) / float(sfreq)
    return FeatureFrame(names=tuple(feat_names), values=values, times=times, quality=None)
