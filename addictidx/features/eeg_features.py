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

Everything that does not depend on the samples (the Welch plan, the band weights with the
density scaling folded in, the feature names and window times) is cached by data shape and
parameters (:class:`~addictidx.features.welch_plan.PlanCache`, bounded and thread-safe), so a
live call on one window runs about a dozen numpy operations (the single-window kernel of
:mod:`~addictidx.features.eeg_window`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .._core.types import FeatureFrame
from .bands import EEG_BANDS, band_weights
from .eeg_window import OneWindowPlan, one_window_features, one_window_plan
from .welch_plan import (
    PlanCache,
    WelchPlan,
    as_channels,
    blank_gaps,
    segment_spectra,
    welch_plan,
    window_sums,
)

__all__ = ["compute_eeg_features"]

_ABS_BANDS = ("delta", "theta", "alpha", "beta", "gamma")
_REL_BANDS = ("delta", "theta", "alpha", "beta")


# Columns of the band map (one matmul per batch of segments), arranged so that every feature
# block is one contiguous slice: numerators and denominators of the six ratios side by side.
_NUM = ("delta", "theta", "alpha", "beta", "theta", "alpha")  # 4 relative powers, 2 ratios
_DEN = ("total", "total", "total", "total", "beta", "beta")


@dataclass(frozen=True, eq=False)
class _FeaturePlan:
    welch: WelchPlan
    names: tuple[str, ...]
    has_gamma: bool
    weights: np.ndarray  # (2 * (k1 - k0), 12 + has_gamma + n_iaf), scaling folded in
    bins: tuple[int, int]
    iaf_freqs: np.ndarray
    faa: slice | list | None  # selector of the (AF7, AF8) channel rows
    times: np.ndarray
    one: OneWindowPlan | None  # the single-window kernel, when there is one window


_FEATURE_PLANS = PlanCache(maxsize=32)
_FLOAT64 = np.dtype(np.float64)
_LAST = threading.local()  # per thread: the parameters of the last call and their plan


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
    if (  # the live case, as as_channels leaves it, checked for less than as_channels costs
        type(data) is np.ndarray
        and data.dtype is _FLOAT64
        and data.ndim == 2
        and len(data)
        and data.flags.c_contiguous
    ):
        x = data
    else:
        x = as_channels(data)
    names = tuple(ch_names)  # str() of each is taken when a plan is built
    # the key holds the types of the parameters validated as int (256 and 256.0 or True and
    # 1 must not share a plan); floats and names give the same plan whatever their type
    params = (x.shape, sfreq, window_s, step_s, n_fft, n_per_seg, n_overlap, taper, names)
    params += (*iaf_range, type(n_fft), type(n_per_seg), type(n_overlap))
    last = getattr(_LAST, "plan", None)  # a live session repeats its parameters
    if last is not None and last[0] == params:
        fp = last[1]
    else:
        fp = _FEATURE_PLANS.get(
            params,
            lambda: _build(
                x.shape,
                sfreq,
                tuple(map(str, names)),
                window_s,
                step_s,
                n_fft,
                n_per_seg,
                n_overlap,
                taper,
                iaf_range,
            ),
            typed=False,
        )
        _LAST.plan = (params, fp)
    if fp.one is not None:
        values = one_window_features(x, fp.one)
        if values is not None:
            return FeatureFrame(fp.names, values, fp.times.copy())  # positional: less overhead
    plan = fp.welch
    n_w = plan.n_windows
    values = np.empty((n_w, len(fp.names)))
    if n_w:
        x, bad = blank_gaps(x, plan)
        red = window_sums(segment_spectra(x, plan, fp.weights, fp.bins), plan)
        if bad is not None:
            red[bad] = np.nan
        _fill(values, red, fp, plan.n_channels, bad)
    return FeatureFrame(names=fp.names, values=values, times=fp.times.copy(), quality=None)


def _fill(values, red, fp: _FeaturePlan, n_ch: int, bad) -> None:
    """Write the features of the window band sums ``red`` (n_w, n_ch, cols) into ``values``."""
    n_w = values.shape[0]
    g = int(fp.has_gamma)
    # values without FAA, seen as (n_w, feature block, channel); red seen as (n_w, col, ch)
    v3 = values[:, : (11 + g) * n_ch].reshape(n_w, 11 + g, n_ch)
    r3 = red.transpose(0, 2, 1)
    np.copyto(v3[:, :4], r3[:, :4])  # absolute delta..beta
    if g:
        np.copyto(v3[:, 4], r3[:, 12])  # absolute gamma
    # relative delta..beta (over 1-25 Hz), theta/beta, alpha/beta
    np.divide(r3[:, :6], r3[:, 6:12], out=v3[:, 4 + g : 10 + g])
    sub = red[:, :, 12 + g :]
    iaf = v3[:, 10 + g]
    np.take(fp.iaf_freqs, np.argmax(sub, axis=2), out=iaf)
    if bad is not None or not np.isfinite(np.add.reduce(sub, axis=None)):
        iaf[np.isnan(sub).any(axis=2)] = np.nan
    if fp.faa is not None:
        lr = np.log(red[:, fp.faa, 2])  # ln alpha of (AF7, AF8)
        np.subtract(lr[:, 1], lr[:, 0], out=values[:, -1])


def _build(shape, sfreq, names, window_s, step_s, n_fft, n_per_seg, n_overlap, taper, iaf_range):
    n_ch, n_times = shape
    plan = welch_plan(
        n_ch,
        n_times,
        sfreq,
        window_s=window_s,
        step_s=step_s,
        n_fft=n_fft,
        n_per_seg=n_per_seg,
        n_overlap=n_overlap,
        taper=taper,
    )
    if len(names) != n_ch:
        raise ValueError(f"ch_names has {len(names)} names for {n_ch} channels.")
    freqs = plan.freqs
    nyq = freqs[-1]
    if EEG_BANDS["beta"][1] > nyq:
        raise ValueError(
            f"sfreq={sfreq} Hz is too low for the EEG bands: beta needs a Nyquist frequency "
            f">= {EEG_BANDS['beta'][1]} Hz."
        )
    has_gamma = EEG_BANDS["gamma"][1] <= nyq
    abs_bands = [b for b in _ABS_BANDS if EEG_BANDS[b][1] <= nyq]
    cols = [EEG_BANDS[b] for b in _NUM + _DEN + (("gamma",) if has_gamma else ())]
    W = band_weights(freqs, cols)
    iaf_mask = (freqs >= iaf_range[0]) & (freqs <= iaf_range[1])
    if not iaf_mask.any():
        raise ValueError(f"No PSD bin in iaf_range={iaf_range} Hz.")
    iaf_idx = np.flatnonzero(iaf_mask)
    W = np.concatenate([W, np.eye(freqs.size)[:, iaf_idx]], axis=1)
    used = np.flatnonzero(np.any(W != 0, axis=1))  # NaN columns (too-narrow bands) count
    k0, k1 = int(used[0]), int(used[-1]) + 1
    Wk = W[k0:k1] * plan.bin_factor[k0:k1, np.newaxis]  # density scaling and 1/n_seg
    weights = np.ascontiguousarray(np.repeat(Wk, 2, axis=0))  # rows for Re² and Im²
    weights.setflags(write=False)

    feat: list[str] = []
    for b in abs_bands:
        feat += [f"eeg_{b}_uv2_{c}" for c in names]
    for b in _REL_BANDS:
        feat += [f"eeg_{b}_rel_{c}" for c in names]
    feat += [f"eeg_theta_beta_ratio_{c}" for c in names]
    feat += [f"eeg_alpha_beta_ratio_{c}" for c in names]
    feat += [f"eeg_iaf_hz_{c}" for c in names]
    faa = None
    if "AF7" in names and "AF8" in names:
        left, right = names.index("AF7"), names.index("AF8")
        faa = slice(left, left + 2) if right == left + 1 else [left, right]
        feat.append("eeg_faa")
    times = (plan.starts + plan.n_window) / float(plan.sfreq)
    times.setflags(write=False)
    iaf_freqs = freqs[iaf_idx].copy()
    iaf_freqs.setflags(write=False)
    g = int(has_gamma)
    one = one_window_plan(
        plan,
        weights,
        (k0, k1),
        abs_cols=[0, 1, 2, 3] + ([12] if g else []),  # columns of _NUM + _DEN + (gamma,)
        num_cols=list(range(6)),
        den_cols=list(range(6, 12)),
        iaf_cols=list(range(12 + g, 12 + g + iaf_idx.size)),
        iaf_freqs=iaf_freqs,
        faa=(left, right) if faa is not None else None,
        alpha_row=2,
        n_features=len(feat),
    )
    return _FeaturePlan(
        welch=plan,
        names=tuple(feat),
        has_gamma=has_gamma,
        weights=weights,
        bins=(k0, k1),
        iaf_freqs=iaf_freqs,
        faa=faa,
        times=times,
        one=one,
    )
