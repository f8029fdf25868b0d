"""Tempo of a track: autocorrelation of librosa's onset envelope, octave chosen by beat strength.

1. **Onset envelopes** (:func:`librosa.onset.onset_strength_multi`, log-mel spectral flux, mean
   over bands, hop 256 samples at 22.05 kHz = 11.6 ms): one over all bands, one over the bands
   below :data:`LOW_BAND_HZ` (kick drum and bass, where the beat of most popular music sits).
2. **Candidates**: the peaks of the envelope's autocorrelation between 35 and 240 bpm, each
   refined by parabolic interpolation of the peak (a lag resolution well below one frame, so a
   steady track's tempo comes out to a fraction of a bpm; a drifting one at its mean tempo).
   The autocorrelation at the chosen lag, divided by its value at lag 0, is the **tempo
   confidence** ("pulse clarity", Lartillot et al. 2008).
3. **Octave** (the half/double ambiguity every tempo estimator has): the strongest candidate
   is placed on the low-band envelope (the full one when the low bands are nearly silent) as a
   pulse grid (best phase). If the points half-way between its
   pulses are nearly as strong as the pulses (ratio >= :data:`DOUBLE_RATIO`), the beat is
   twice as fast; if every other pulse is much weaker (ratio < :data:`HALF_RATIO`), it is half
   as fast. A BPM tag in the file (``TBPM``/``bpm``), when one octave of the estimate is within
   :data:`TAG_MATCH_PCT` % of it, picks that octave (the tag states the musician's count; the
   precise value still comes from the audio). Finally the tempo is folded into
   :data:`TEMPO_RANGE_BPM`.
4. **Beat strength**: mean envelope at the pulses over the mean envelope (1 = no beat).

Beat tracking by dynamic programming (:func:`librosa.beat.beat_track`) is not used: its numba
compilation costs about a minute on a first run and it adds nothing to the tempo value here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TempoEstimate",
    "estimate_tempo",
    "onset_envelope",
    "HOP",
    "ANALYSIS_SFREQ",
    "DOUBLE_RATIO",
    "HALF_RATIO",
    "TAG_MATCH_PCT",
    "TEMPO_RANGE_BPM",
    "MIN_SECONDS",
]

#: Sampling rate audio is analysed at (Hz).
ANALYSIS_SFREQ = 22050
#: Hop of the onset envelope (samples).
HOP = 256
#: Audio shorter than this (s) has no tempo (too few pulses to count).
MIN_SECONDS = 3.0
#: Candidates are searched between these tempi (bpm).
SEARCH_BPM = (35.0, 240.0)
#: Final tempi are folded into this range (bpm) by octaves.
TEMPO_RANGE_BPM = (50.0, 200.0)
#: The beat is judged on the bands below this frequency (Hz): kick drum and bass carry it.
LOW_BAND_HZ = 250.0
#: Mid-pulse / pulse strength at or above which the beat is the double tempo.
DOUBLE_RATIO = 0.4
#: Weaker / stronger alternate-pulse strength below which the beat is the half tempo.
HALF_RATIO = 0.5
#: Low-band envelope mean, relative to the full one, below which the full one decides.
LOW_MIN_SHARE = 0.2
#: A BPM tag picks the octave of the estimate within this many percent.
TAG_MATCH_PCT = 5.0


@dataclass(frozen=True)
class TempoEstimate:
    """A track's tempo.

    Attributes
    ----------
    tempo_bpm : float
        Estimated tempo (bpm), NaN when the track has no pulse.
    confidence : float
        Pulse clarity 0-1 (autocorrelation at the tempo lag over lag 0).
    beat_strength : float
        Mean onset envelope at the pulses over its mean (1 = no beat).
    raw_bpm : float
        The strongest autocorrelation candidate before the octave decision.
    octave_reason : str
        Why the octave was chosen (``"autocorrelation"``, ``"mid-pulses strong"``,
        ``"alternate pulses weak"``, ``"tag"``, ``"range"``; ``"too short"`` / ``"no pulse"``
        with a NaN tempo).
    """

    tempo_bpm: float
    confidence: float
    beat_strength: float
    raw_bpm: float
    octave_reason: str


def onset_envelope(y: np.ndarray, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """librosa's onset strength of mono audio: ``(all bands, bands below LOW_BAND_HZ)``.

    Both are :func:`librosa.onset.onset_strength_multi` (log-mel spectral flux, mean over the
    bands of each channel, one value per :data:`HOP` samples) from one mel spectrogram.
    """
    import librosa

    n_mels = 128
    centres = librosa.mel_frequencies(n_mels + 2, fmax=float(sfreq) / 2)[1:-1]
    n_low = int(max(2, np.searchsorted(centres, LOW_BAND_HZ)))
    env = librosa.onset.onset_strength_multi(
        y=np.asarray(y, dtype=np.float32),
        sr=sfreq,
        hop_length=HOP,
        n_mels=n_mels,
        channels=[0, n_low, n_mels],
    )
    full = (n_low * env[0] + (n_mels - n_low) * env[1]) / n_mels
    return full, env[0]


def _candidates(oenv: np.ndarray, fr: float) -> list[tuple[float, float]]:
    """``(bpm, clarity)`` of the autocorrelation peaks, strongest first."""
    import librosa

    x = oenv - oenv.mean()
    ac = librosa.autocorrelate(x)
    if ac.size == 0 or ac[0] <= 0:
        return []
    ac = ac / ac[0]
    lo = max(1, int(math.floor(fr * 60.0 / SEARCH_BPM[1])))
    hi = min(ac.size - 2, int(math.ceil(fr * 60.0 / SEARCH_BPM[0])))
    if hi <= lo + 1:
        return []
    i = np.arange(lo, hi + 1)
    a, b, c = ac[i - 1], ac[i], ac[i + 1]
    peak = (b >= a) & (b > c) & (b > 0)
    out = []
    for k in i[peak]:
        a, b, c = ac[k - 1], ac[k], ac[k + 1]
        den = a - 2 * b + c
        off = 0.5 * (a - c) / den if den != 0 else 0.0
        out.append((60.0 * fr / (k + off), float(b - 0.25 * (a - c) * off)))
    out.sort(key=lambda p: -p[1])
    return out


def _grid_strength(oenv: np.ndarray, period: float, phase: float) -> np.ndarray:
    """Max envelope within +-2 frames of each pulse ``phase + k * period``."""
    pos = np.arange(phase, oenv.size - 2, period)
    if pos.size == 0:
        return np.zeros(1)
    idx = np.rint(pos).astype(int)
    win = np.clip(idx[:, None] + np.arange(-2, 3)[None, :], 0, oenv.size - 1)
    return oenv[win].max(axis=1)


def _pulses(oenv: np.ndarray, period: float) -> tuple[np.ndarray, float]:
    """Pulse strengths at the best phase of a grid of ``period`` frames, and that phase."""
    phases = np.arange(0.0, period, 1.0)
    best, best_s = 0.0, -1.0
    for ph in phases:
        s = float(_grid_strength(oenv, period, ph).mean())
        if s > best_s:
            best, best_s = float(ph), s
    return _grid_strength(oenv, period, best), best


def _octave(oenv: np.ndarray, fr: float, bpm: float) -> tuple[float, str]:
    """Move ``bpm`` by octaves by beat strength (see the module notes)."""
    reason = "autocorrelation"
    for _ in range(3):  # double while the mid-pulses are as strong as the pulses
        if bpm * 2 > SEARCH_BPM[1]:
            break
        period = 60.0 * fr / bpm
        on, phase = _pulses(oenv, period)
        mid = _grid_strength(oenv, period, phase + period / 2)
        if on.size < 2 or mid.size < 2 or mid.mean() < DOUBLE_RATIO * on.mean():
            break
        bpm, reason = bpm * 2, "mid-pulses strong"
    if reason == "autocorrelation":
        for _ in range(3):  # halve while every other pulse is much weaker
            if bpm / 2 < SEARCH_BPM[0]:
                break
            on, _ph = _pulses(oenv, 60.0 * fr / bpm)
            if on.size < 4:
                break
            even, odd = on[0::2].mean(), on[1::2].mean()
            if min(even, odd) >= HALF_RATIO * max(even, odd):
                break
            bpm, reason = bpm / 2, "alternate pulses weak"
    return bpm, reason


def estimate_tempo(
    y: np.ndarray, sfreq: float = ANALYSIS_SFREQ, *, tag_bpm: float | None = None
) -> TempoEstimate:
    """Estimate the tempo of mono audio.

    Parameters
    ----------
    y : ndarray, shape (n_times,)
        Mono audio (resample to :data:`ANALYSIS_SFREQ` for the documented hop).
    sfreq : float
        Sampling rate (Hz).
    tag_bpm : float | None
        The file's BPM tag, if any (picks the octave, see the module notes).

    Returns
    -------
    TempoEstimate
    """
    if np.asarray(y).size < MIN_SECONDS * float(sfreq):
        return TempoEstimate(math.nan, 0.0, 1.0, math.nan, "too short")
    oenv, low = onset_envelope(y, sfreq)
    fr = float(sfreq) / HOP
    cands = _candidates(oenv, fr)
    if not cands or not np.any(oenv > 0):
        return TempoEstimate(math.nan, 0.0, 1.0, math.nan, "no pulse")
    raw, clarity = cands[0]
    # the low bands decide the octave unless they carry almost nothing (no bass or drums)
    beat_env = low if low.mean() >= LOW_MIN_SHARE * oenv.mean() else oenv
    bpm, reason = _octave(beat_env, fr, raw)
    if tag_bpm is not None and math.isfinite(tag_bpm) and tag_bpm > 0:
        for k in (-2, -1, 0, 1, 2):
            alt = bpm * 2.0**k
            if abs(alt - tag_bpm) <= TAG_MATCH_PCT / 100.0 * tag_bpm:
                if k != 0:
                    bpm, reason = alt, "tag"
                break
    lo, hi = TEMPO_RANGE_BPM
    while bpm > hi:
        bpm, reason = bpm / 2, "range"
    while bpm < lo:
        bpm, reason = bpm * 2, "range"
    on, _ph = _pulses(oenv, 60.0 * fr / bpm)
    mean = float(oenv.mean())
    strength = float(on.mean() / mean) if mean > 0 else 1.0
    return TempoEstimate(float(bpm), float(max(0.0, min(1.0, clarity))), strength, raw, reason)
