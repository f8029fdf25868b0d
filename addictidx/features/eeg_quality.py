"""EEG signal-quality checks per channel and per 2-s epoch (EVIDENCE §7(i) quality gates).

Checks on consecutive, non-overlapping epochs of ``epoch_s`` seconds (2 s by default):

* **gap**: the epoch holds a non-finite sample (``NaN`` = dropped packet) -> epoch fails.
* **flatline**: standard deviation of the linearly detrended epoch below ``flat_std_min_uv``
  (disconnected or saturated electrode) -> epoch fails.
* **amplitude**: peak-to-peak of the linearly detrended epoch above ``ptp_max_uv``
  (``ptp_max_uv_blink`` on the blink-prone frontal channels AF7/AF8) -> epoch fails.
  Linear detrending first keeps slow electrode drift from failing otherwise clean epochs.
* **rail**: any ``|value| >= rail_abs_max_uv`` (amplifier at its rail) -> epoch fails (counted
  with the amplitude check for the gate; off by default, set by the device profile).
* **EMG proxy** (flag only): share of ``emg_band_hz`` power (line-frequency bins +-2 Hz
  excluded) in the power from 1 Hz to the top of that band. EVIDENCE gates it against the
  person's own 90th percentile, which needs the session history: the per-epoch values are
  returned (:class:`EEGEpochChecks`) for the layer that holds the baseline.
  :func:`session_emg_indicator` reduces them to the one session-level number that gate uses.
* **line noise** (flag only): mean PSD within +-1 Hz of each line frequency over the median PSD
  of the flanks 2-5 Hz away.

The gate: a channel is usable when at least ``min_pass_fraction`` (60 %) of its epochs pass the
gap, flatline and amplitude checks; the recording is usable when every channel is.

Thresholds come from the device profile as a plain dict (see :data:`DEFAULT_EEG_THRESHOLDS`
for the keys and the defaults, in µV for Muse data). Per-channel overrides go under the key
``"channels"`` as ``{channel: {key: value}}``, so a profile stream can be passed as
``{**stream.quality, "channels": stream.quality_channels}``; a per-channel ``ptp_max_uv`` takes
precedence over the ``ptp_max_uv_blink`` / ``blink_channels`` defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._core.types import QualityReport
from .._core.validate import check_data_2d, check_sfreq
from .epoch_stats import epoch_stats
from .psd import compute_psd, window_starts

__all__ = [
    "DEFAULT_EEG_THRESHOLDS",
    "EEGEpochChecks",
    "eeg_epoch_checks",
    "assess_eeg_quality",
    "quality_report_from_checks",
    "quality_report_from_summary",
    "nanmedian_axis0",
    "session_emg_indicator",
]

#: Default thresholds (Muse, µV). Keys a device profile may override.
DEFAULT_EEG_THRESHOLDS: dict[str, object] = {
    "epoch_s": 2.0,  # epoch length (s)
    "ptp_max_uv": 150.0,  # peak-to-peak limit, detrended epoch (µV)
    "ptp_max_uv_blink": 250.0,  # looser limit on blink-prone channels (µV)
    "blink_channels": ("AF7", "AF8"),  # channels that get the looser limit
    "flat_std_min_uv": 0.5,  # below this SD (µV) an epoch is a flatline
    "rail_abs_max_uv": float("inf"),  # |value| at or above this -> amplifier at its rail
    "emg_band_hz": (30.0, 100.0),  # EMG proxy band (capped below Nyquist)
    "emg_share_max": 0.5,  # flag a channel when its median EMG share exceeds this
    "line_freqs_hz": (50.0, 60.0),  # mains frequencies to check
    "line_ratio_max": 10.0,  # flag a channel when line peak / flank median exceeds this
    "gap_max_fraction": 0.1,  # flag a channel with more NaN samples than this
    "min_pass_fraction": 0.6,  # EVIDENCE gate: share of epochs passing amp + flatline + gap
    "channels": {},  # per-channel overrides {channel: {"ptp_max_uv": ..., ...}}
}

_PER_CHANNEL_KEYS = ("ptp_max_uv", "flat_std_min_uv", "rail_abs_max_uv")


@dataclass(frozen=True, slots=True)
class EEGEpochChecks:
    """Per-epoch, per-channel results of the EEG checks.

    Parameters
    ----------
    ch_names : tuple of str
        Channel names (columns of the arrays below).
    sfreq : float
        Sampling frequency in Hz.
    starts : ndarray, shape (n_epochs,)
        First sample of each epoch.
    ok : ndarray of bool, shape (n_epochs, n_channels)
        Epoch passed the gap, flatline and amplitude checks.
    gap, flat, amp, rail : ndarray of bool, shape (n_epochs, n_channels)
        Which check failed.
    ptp_uv : ndarray, shape (n_epochs, n_channels)
        Peak-to-peak of the detrended epoch (µV); NaN for gap epochs.
    emg_share : ndarray, shape (n_epochs, n_channels)
        EMG proxy per epoch (0-1); NaN for gap epochs.
    line_ratio : ndarray, shape (n_epochs, n_channels)
        Largest line-noise ratio over ``line_freqs_hz`` per epoch.
    gap_fraction : ndarray, shape (n_channels,)
        Share of non-finite samples over the whole recording.
    freqs : ndarray, shape (n_freqs,)
        Frequencies of ``psd`` (Hz).
    psd : ndarray, shape (n_epochs, n_channels, n_freqs)
        Periodogram of each epoch (one Hamming-tapered segment of ``epoch_s``), reused by the
        index features.
    thresholds : Mapping
        The thresholds used (defaults merged with overrides).
    """

    ch_names: tuple[str, ...]
    sfreq: float
    starts: np.ndarray
    ok: np.ndarray
    gap: np.ndarray
    flat: np.ndarray
    amp: np.ndarray
    rail: np.ndarray
    ptp_uv: np.ndarray
    emg_share: np.ndarray
    line_ratio: np.ndarray
    gap_fraction: np.ndarray
    freqs: np.ndarray
    psd: np.ndarray
    thresholds: Mapping[str, object]

    @property
    def pass_fraction(self) -> np.ndarray:
        """Share of epochs passing per channel, shape (n_channels,); NaN with no epochs."""
        if self.ok.shape[0] == 0:
            return np.full(self.ok.shape[1], np.nan)
        return self.ok.mean(axis=0)


def _merge_thresholds(thresholds: Mapping[str, object] | None) -> dict[str, object]:
    merged = dict(DEFAULT_EEG_THRESHOLDS)
    if thresholds:
        unknown = sorted(set(thresholds) - set(DEFAULT_EEG_THRESHOLDS))
        if unknown:
            raise KeyError(
                f"Unknown EEG quality threshold key(s) {unknown}; allowed keys are "
                f"{sorted(DEFAULT_EEG_THRESHOLDS)}."
            )
        merged.update(thresholds)
    chans = merged.get("channels") or {}
    for ch, over in chans.items():
        bad = sorted(set(over) - set(_PER_CHANNEL_KEYS))
        if bad:
            raise KeyError(
                f"Unknown per-channel EEG quality key(s) {bad} for channel {ch!r}; allowed keys "
                f"are {list(_PER_CHANNEL_KEYS)}."
            )
    return merged


#: :func:`_limits` by channel names and thresholds (keys, value types and values).
_LIMITS: dict[tuple, tuple] = {}


def _limits(thresholds, names: tuple[str, ...]) -> tuple:
    """The merged thresholds (a fresh dict) and the per-channel peak-to-peak, rail and
    flatline limits, remembered for thresholds of hashable values (a profile's)."""
    try:
        items = () if not thresholds else sorted(thresholds.items())
        key = (names, tuple((k, type(v), v) for k, v in items))
        hit = _LIMITS.get(key)
    except TypeError:  # unhashable values (per-channel overrides): not remembered
        key = hit = None
    if hit is None:
        th = _merge_thresholds(thresholds)
        keys = ("ptp_max_uv", "rail_abs_max_uv", "flat_std_min_uv")
        hit = (th, *(_per_channel(th, names, k) for k in keys))
        for a in hit[1:]:
            a.setflags(write=False)
        if key is not None:
            if len(_LIMITS) >= 64:
                _LIMITS.clear()
            _LIMITS[key] = hit
    return dict(hit[0]), hit[1], hit[2], hit[3]


def _per_channel(th: Mapping[str, object], names: tuple[str, ...], key: str) -> np.ndarray:
    chans = th.get("channels") or {}
    vals = []
    for ch in names:
        over = chans.get(ch, {})
        if key in over:
            vals.append(float(over[key]))
        elif key == "ptp_max_uv" and ch in tuple(th["blink_channels"]):
            vals.append(float(th["ptp_max_uv_blink"]))
        else:
            vals.append(float(th[key]))
    return np.asarray(vals)


def _band_sum(psd_t: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Sum of the bins ``idx`` (ascending) of spectra given frequency-first, ``(n_freqs, ...)``.

    Bin by bin in frequency order, as NumPy sums ``psd[..., mask]`` (whose gathered copy has
    the bins outermost in memory): the same additions in the same order, the same sums. Many
    spectra (a recording's epochs) are summed in place, bin after bin, instead of gathering
    the bins first: the gathered copy (tens of MB for an hour) cost 4-7x the additions.
    """
    if idx.size < 2 or psd_t[0].size < _GATHER_MAX:
        return np.add.reduce(psd_t.take(idx, axis=0), axis=0)
    out = psd_t[idx[0]].copy()
    for i in idx[1:].tolist():
        np.add(out, psd_t[i], out=out)
    return out


#: Spectra per bin from which :func:`_band_sum` adds bin by bin (fewer: one gather, one sum;
#: the loop's ~1 us per bin outweighs the copy below a few hundred spectra).
_GATHER_MAX = 512


#: Spectral masks of :func:`eeg_epoch_checks` by frequency grid and thresholds.
_MASKS: dict[tuple, tuple] = {}


def _spectral_masks(freqs: np.ndarray, sfreq: float, n_fft: int, emg_band, line_freqs_hz):
    """EMG and reference band bins (mains harmonics +-2 Hz removed) and, per line frequency
    below Nyquist - 5 Hz, its peak (+-1 Hz) and flank (2-5 Hz away) bins, as ascending index
    arrays (the lines' stacked ``(n_lines, n_bins)`` when they hold as many bins each, else
    None); built once per frequency grid and thresholds."""
    key = (n_fft, sfreq, emg_band, line_freqs_hz)
    hit = _MASKS.get(key)
    if hit is not None:
        return hit
    nyq = sfreq / 2.0
    lo_e, hi_e = (float(v) for v in emg_band)
    hi_e = min(hi_e, nyq - 2.0)
    line_freqs = [float(v) for v in line_freqs_hz]
    not_line = np.ones(freqs.size, dtype=bool)
    for lf in line_freqs:
        for h in range(1, int(nyq // lf) + 1):
            not_line &= np.abs(freqs - h * lf) > 2.0
    emg_mask = (freqs >= lo_e) & (freqs <= hi_e) & not_line
    ref_mask = (freqs >= 1.0) & (freqs <= hi_e) & not_line
    lines = []
    for lf in line_freqs:
        if lf + 5.0 >= nyq:
            continue
        peak = (freqs >= lf - 1.0) & (freqs <= lf + 1.0)
        flank = (np.abs(freqs - lf) >= 2.0) & (np.abs(freqs - lf) <= 5.0)
        lines.append((np.flatnonzero(peak), np.flatnonzero(flank)))
    stacked = None
    if lines and len({(p.size, f.size) for p, f in lines}) == 1:
        stacked = (np.stack([p for p, _ in lines]), np.stack([f for _, f in lines]))
    if len(_MASKS) >= 64:
        _MASKS.clear()
    hit = (np.flatnonzero(emg_mask), np.flatnonzero(ref_mask), tuple(lines), stacked)
    _MASKS[key] = hit
    return hit


#: Epoch starts by (n_times, sfreq, epoch_s): a live server checks epochs of the same few
#: lengths over and over.
_STARTS: dict[tuple, tuple[np.ndarray, int, bool]] = {}


def _epoch_starts(n_times: int, sfreq: float, epoch_s: float) -> tuple[np.ndarray, int, bool]:
    """:func:`~addictidx.features.psd.window_starts` of consecutive ``epoch_s`` epochs and
    whether epoch ``j`` starts at sample ``j n`` (remembered; a fresh copy of the starts each
    call)."""
    key = (n_times, sfreq, epoch_s)
    hit = _STARTS.get(key)
    if hit is None:
        if len(_STARTS) >= 256:
            _STARTS.clear()
        starts, n = window_starts(n_times, sfreq, epoch_s, epoch_s)
        hit = _STARTS[key] = (starts, n, bool(np.array_equal(starts, np.arange(starts.size) * n)))
    return hit[0].copy(), hit[1], hit[2]


def _median_last(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1)`` (NaN where a row holds a NaN), bit for bit, by one sort."""
    n = a.shape[-1]
    if n == 0:
        return np.full(a.shape[:-1], np.nan)
    srt = np.sort(a, axis=-1)  # NaNs sort last
    mid = srt[..., n // 2] if n % 2 else (srt[..., n // 2 - 1] + srt[..., n // 2]) / 2.0
    return np.where(np.isnan(srt[..., -1]), np.nan, mid)


def eeg_epoch_checks(data, sfreq: float, ch_names, *, thresholds=None) -> EEGEpochChecks:
    """Run the EEG checks on every ``epoch_s`` epoch of every channel.

    Parameters
    ----------
    data : array, shape (n_channels, n_times)
        EEG in µV; ``NaN`` marks missing samples.
    sfreq : float
        Sampling frequency in Hz.
    ch_names : sequence of str
        Channel names in row order.
    thresholds : dict | None
        Overrides of :data:`DEFAULT_EEG_THRESHOLDS` (e.g. from the device profile).

    Returns
    -------
    checks : EEGEpochChecks
        Per-epoch results; see :func:`quality_report_from_checks` for the summary.
    """
    x = check_data_2d(data)
    sfreq = check_sfreq(sfreq)
    names = tuple(str(c) for c in ch_names)
    if len(names) != x.shape[0]:
        raise ValueError(f"ch_names has {len(names)} names but data has {x.shape[0]} rows.")
    th, limit, rail_lim, flat_min = _limits(thresholds, names)
    epoch_s = float(th["epoch_s"])
    starts, n_ep_len, contiguous = _epoch_starts(x.shape[1], sfreq, epoch_s)
    ptp, sd, peak_abs, gap = epoch_stats(x, starts, n_ep_len, contiguous)
    ptp = np.where(gap, np.nan, ptp)
    amp = ~gap & (ptp > limit)
    rail = ~gap & (peak_abs >= rail_lim)
    flat = ~gap & (sd < flat_min)
    ok = ~(gap | amp | rail | flat)

    # Spectra of the epochs: one Hamming-tapered periodogram per epoch (0.5 Hz bins at 2 s).
    freqs, psd = compute_psd(x, sfreq, window_s=epoch_s, step_s=epoch_s, n_fft=n_ep_len)
    emg_idx, ref_idx, lines, stacked = _spectral_masks(
        freqs,
        sfreq,
        n_ep_len,
        tuple(th["emg_band_hz"]),
        tuple(th["line_freqs_hz"]),  # type: ignore[arg-type]
    )
    psd_t = psd.transpose(2, 0, 1)  # frequency first (a view): bins gathered as rows
    with np.errstate(invalid="ignore", divide="ignore"):
        emg_share = _band_sum(psd_t, emg_idx) / _band_sum(psd_t, ref_idx)
        if stacked is not None:  # every line at once: (n_lines, n_bins, n_ep, n_ch)
            pk, fl = stacked
            if psd_t[0].size < _GATHER_MAX:
                # .mean(axis=1) as NumPy computes it: the sum divided by the count
                peak = np.add.reduce(psd_t.take(pk, axis=0), axis=1) / pk.shape[1]
                # (n_lines, n_bins, n_ep, n_ch) -> bins last (np.moveaxis(., 1, -1))
                flank = _median_last(psd_t.take(fl, axis=0).transpose(0, 2, 3, 1))
            else:  # many spectra: no bins-first copies (the same sums; the same medians)
                peak = np.stack([_band_sum(psd_t, p) for p in pk]) / pk.shape[1]
                flank = np.moveaxis(_median_last(psd.take(fl, axis=-1)), -1, 0)
            line_ratio = (peak / flank).max(axis=0)
        elif lines:
            ratios = [
                psd_t.take(pk, axis=0).mean(axis=0)
                / _median_last(np.moveaxis(psd_t.take(fl, axis=0), 0, -1))
                for pk, fl in lines
            ]
            line_ratio = np.max(np.stack(ratios), axis=0)
        else:
            line_ratio = np.full(psd.shape[:2], np.nan)
    if x.shape[1] and starts.size * n_ep_len == x.shape[1] and not gap.any():
        # whole epochs cover the data and none holds a missing sample: no share to count
        gap_fraction = np.zeros(x.shape[0])
    elif x.shape[1]:  # the count over the length: the mean of the flags, exactly
        gap_fraction = np.count_nonzero(~np.isfinite(x), axis=1) / x.shape[1]
    else:
        gap_fraction = (~np.isfinite(x)).mean(axis=1)  # no samples: NaN, as always

    return EEGEpochChecks(
        ch_names=names,
        sfreq=sfreq,
        starts=starts,
        ok=ok,
        gap=gap,
        flat=flat,
        amp=amp,
        rail=rail,
        ptp_uv=ptp,
        emg_share=emg_share,
        line_ratio=line_ratio,
        gap_fraction=gap_fraction,
        freqs=freqs,
        psd=psd,
        thresholds=th,
    )


def quality_report_from_checks(checks: EEGEpochChecks, *, required=None) -> QualityReport:
    """Summarise :class:`EEGEpochChecks` as a :class:`~addictidx._core.QualityReport`.

    Parameters
    ----------
    checks : EEGEpochChecks
        Output of :func:`eeg_epoch_checks`.
    required : sequence of str | None
        Channels that must pass the gate for ``usable=True`` (default: all channels).

    Returns
    -------
    report : QualityReport
        ``per_channel`` = share of epochs passing gap + flatline + amplitude; flags ``"gap:<ch>"``,
        ``"flatline:<ch>"``, ``"amplitude:<ch>"``, ``"rail:<ch>"`` when any epoch failed that
        check, ``"emg:<ch>"``, ``"line_noise:<ch>"``, ``"gaps>10%:<ch>"`` from the median per-epoch
        values, and ``"epochs<60%:<ch>"`` for channels failing the gate.
    """
    n_ep = checks.ok.shape[0]
    with np.errstate(all="ignore"):
        emg_med = (
            nanmedian_axis0(checks.emg_share) if n_ep else np.full(len(checks.ch_names), np.nan)
        )
        line_med = (
            nanmedian_axis0(checks.line_ratio) if n_ep else np.full(len(checks.ch_names), np.nan)
        )
    return quality_report_from_summary(
        checks.ch_names,
        checks.thresholds,
        n_ep,
        checks.pass_fraction,
        (
            checks.gap.any(axis=0),
            checks.flat.any(axis=0),
            checks.amp.any(axis=0),
            checks.rail.any(axis=0),
        ),
        checks.gap_fraction,
        emg_med,
        line_med,
        required=required,
    )


def nanmedian_axis0(a: np.ndarray) -> np.ndarray:
    """``np.nanmedian(a, axis=0)`` bit for bit, without its masked-array path (fast on short
    columns); an all-NaN column gives NaN without a warning.

    One sort (NaN sorts last), then the middle value, or ``(low + high) / 2`` of the two middle
    values as NumPy's median computes it.
    """
    srt = np.sort(a, axis=0)
    n_valid = a.shape[0] - np.count_nonzero(np.isnan(a), axis=0)
    cols = np.arange(a.shape[1])
    low = srt[np.maximum((n_valid - 1) // 2, 0), cols]
    high = srt[np.minimum(n_valid // 2, a.shape[0] - 1), cols]
    return np.where(n_valid > 0, (low + high) / 2.0, np.nan)


def quality_report_from_summary(
    names,
    thresholds: Mapping[str, object],
    n_epochs: int,
    pass_fraction: np.ndarray,
    failed_any: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    gap_fraction: np.ndarray,
    emg_median: np.ndarray,
    line_median: np.ndarray,
    *,
    required=None,
) -> QualityReport:
    """The :class:`~addictidx._core.QualityReport` of per-channel epoch summaries.

    :func:`quality_report_from_checks` summarises :class:`EEGEpochChecks` and calls this; the
    incremental features (:class:`~addictidx.features.RollingEpochs`) summarise a window of
    kept epochs and call it too, so both give the same report.

    Parameters
    ----------
    names : sequence of str
        Channel names.
    thresholds : Mapping
        Merged thresholds (``EEGEpochChecks.thresholds``).
    n_epochs : int
        Epochs summarised.
    pass_fraction : ndarray, shape (n_channels,)
        Share of passing epochs.
    failed_any : tuple of 4 ndarray of bool
        Whether any epoch failed the gap, flatline, amplitude and rail checks.
    gap_fraction : ndarray
        Share of non-finite samples.
    emg_median, line_median : ndarray
        Median per-epoch EMG share and line-noise ratio (NaN-ignoring).
    required : sequence of str | None
        Channels that must pass the gate (default: all).
    """
    th = thresholds
    min_pass = float(th["min_pass_fraction"])
    names = tuple(names)
    frac = pass_fraction
    required = names if required is None else tuple(required)
    flags: list[str] = []
    reasons: list[str] = []
    if n_epochs == 0:
        reasons.append(
            f"The EEG is shorter than one {th['epoch_s']} s epoch; no quality can be assessed."
        )
    gap_max = float(th["gap_max_fraction"])
    emg_max, line_max = float(th["emg_share_max"]), float(th["line_ratio_max"])
    keys = ("gap", "flatline", "amplitude", "rail")
    for i, ch in enumerate(names):
        for key, arr in zip(keys, failed_any):
            if arr[i]:
                flags.append(f"{key}:{ch}")
        if gap_fraction[i] > gap_max:
            flags.append(f"gaps>{gap_max:.0%}:{ch}")
        if emg_median[i] > emg_max:
            flags.append(f"emg:{ch}")
        if line_median[i] > line_max:
            flags.append(f"line_noise:{ch}")
        if n_epochs and not frac[i] >= min_pass:
            flags.append(f"epochs<{min_pass:.0%}:{ch}")
            if ch in required:
                reasons.append(
                    f"Only {frac[i]:.0%} of {th['epoch_s']} s EEG epochs on {ch} pass the "
                    f"amplitude, flatline and gap checks (at least {min_pass:.0%} needed)."
                )
    missing = [c for c in required if c not in names]
    for c in missing:
        reasons.append(f"Required EEG channel {c} is not in the recording.")
    per_channel = {ch: (float(frac[i]) if n_epochs else 0.0) for i, ch in enumerate(names)}
    return QualityReport(
        per_channel=per_channel, flags=tuple(flags), usable=not reasons, reasons=tuple(reasons)
    )


def session_emg_indicator(checks: EEGEpochChecks, channels=None) -> tuple[float, dict[str, float]]:
    """Session-level EMG indicator for the personal EMG gate (EVIDENCE §7(i)).

    Definition: for each channel, the **median over the epochs that pass the gap, flatline and
    amplitude checks** (the epochs the index features are averaged over) of the per-epoch EMG
    share, i.e. the power in ``emg_band_hz`` (30-100 Hz by default, capped at Nyquist - 2 Hz)
    over the power from 1 Hz to the top of that band, with every mains harmonic +-2 Hz removed
    from both sums (the ">30 Hz power" form of the indicator EVIDENCE cites from Gasser T et al.,
    Clin Neurophysiol 2005;116:2044, whose frontal and temporal leads carry the most EMG); then
    the **mean of those medians over** ``channels`` (all four Muse leads are frontal or
    temporal). The median keeps a few burst epochs from dominating; the mean gives every lead
    the same weight from session to session.

    Parameters
    ----------
    checks : EEGEpochChecks
        Output of :func:`eeg_epoch_checks` on the scored EEG.
    channels : sequence of str | None
        Channels to average (default: all channels of ``checks``).

    Returns
    -------
    indicator : float
        The session indicator in [0, 1]; ``NaN`` when a channel is missing or has no passing
        epoch (the session then fails the 60 % gate anyway).
    per_channel : dict of str -> float
        The per-channel medians (``NaN`` where unavailable).
    """
    names = list(checks.ch_names)
    chans = names if channels is None else [str(c) for c in channels]
    per: dict[str, float] = {}
    for ch in chans:
        if ch not in names:
            per[ch] = float("nan")
            continue
        i = names.index(ch)
        vals = checks.emg_share[checks.ok[:, i], i]
        vals = vals[np.isfinite(vals)]
        # np.median bit for bit, without its first-call import of numpy.ma
        per[ch] = float(_median_last(vals)) if vals.size else float("nan")
    arr = np.array(list(per.values()), dtype=np.float64)
    value = float(arr.mean()) if arr.size and np.isfinite(arr).all() else float("nan")
    return value, per


def assess_eeg_quality(data, sfreq: float, ch_names, *, thresholds=None) -> QualityReport:
    """Quality of a recording: per-channel pass share of 2-s epochs, flags and the 60 % gate.

    Parameters
    ----------
    data : array, shape (n_channels, n_times)
        EEG in µV; ``NaN`` marks missing samples.
    sfreq : float
        Sampling frequency in Hz.
    ch_names : sequence of str
        Channel names in row order.
    thresholds : dict | None
        Overrides of :data:`DEFAULT_EEG_THRESHOLDS`, usually from the device profile.

    Returns
    -------
    report : QualityReport
        See :func:`quality_report_from_checks`. ``usable`` is True when every channel has at
        least 60 % passing epochs (EVIDENCE §7(i)).
    """
    return quality_report_from_checks(
        eeg_epoch_checks(data, sfreq, ch_names, thresholds=thresholds)
    )
