"""Render short multi-instrument tracks with a known tempo (tests, benchmarks, demo library).

A track is drums (kick on beats 1 and 3, snare on 2 and 4, closed hi-hat on every eighth),
a bass note on every beat and a sustained chord per bar, synthesised with numpy. Options:
*swing* (the off-beat eighth of every beat is played late, at ``swing`` of the beat instead of
1/2: 2/3 is the classic triplet swing) and *drift* (the tempo changes linearly by
``drift_pct`` % from the first beat to the last, as a live band speeds up or slows down).

The ground truth of a drifting track is its mean tempo ``60 / mean(inter-beat interval)``,
returned with the beat times, so a tempo estimate is checked against what was played.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RenderedTrack", "render_track", "write_track"]


@dataclass(frozen=True)
class RenderedTrack:
    """A rendered track and what was played.

    Attributes
    ----------
    audio : ndarray, shape (n_times,)
        Mono float32 samples in [-1, 1].
    sfreq : float
        Sampling rate (Hz).
    beat_times_s : ndarray
        Time of every beat (s).
    tempo_bpm : float
        Ground truth: ``60 / mean(diff(beat_times_s))``.
    """

    audio: np.ndarray
    sfreq: float
    beat_times_s: np.ndarray
    tempo_bpm: float


def _beat_times(bpm: float, seconds: float, drift_pct: float) -> np.ndarray:
    """Beat onsets with the tempo moving linearly (in bpm) by ``drift_pct`` over the track."""
    t, times = 0.25, []
    n_est = max(2, int(seconds * bpm / 60.0))
    k = 0
    while t < seconds - 0.05:
        times.append(t)
        frac = min(1.0, k / max(1, n_est - 1))
        tempo = bpm * (1.0 + drift_pct / 100.0 * frac)
        t += 60.0 / tempo
        k += 1
    return np.asarray(times)


def _env(n: int, sfreq: float, decay_s: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (decay_s * sfreq))


def _add(out: np.ndarray, start_s: float, sig: np.ndarray, sfreq: float) -> None:
    i = int(round(start_s * sfreq))
    if i >= out.size:
        return
    m = min(sig.size, out.size - i)
    out[i : i + m] += sig[:m]


def render_track(
    bpm: float,
    seconds: float = 6.0,
    *,
    sfreq: float = 22050.0,
    swing: float = 0.5,
    drift_pct: float = 0.0,
    key_hz: float = 55.0,
    seed: int = 0,
) -> RenderedTrack:
    """Render drums, bass and chords at ``bpm``.

    Parameters
    ----------
    bpm : float
        Tempo of the first beat (bpm).
    seconds : float
        Length (s).
    sfreq : float
        Sampling rate (Hz).
    swing : float
        Position of the off-beat eighth within the beat (0.5 straight, 2/3 triplet swing).
    drift_pct : float
        Linear tempo change from the first to the last beat (%).
    key_hz : float
        Root of the bass (Hz); chords are a minor triad two octaves up.
    seed : int
        Seed of the noise of the drums.

    Returns
    -------
    RenderedTrack
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * sfreq)
    out = np.zeros(n, dtype=np.float64)
    beats = _beat_times(float(bpm), float(seconds), float(drift_pct))
    ibi = np.diff(np.append(beats, beats[-1] + (beats[-1] - beats[-2])))
    # instruments
    nk = int(0.25 * sfreq)
    tk = np.arange(nk) / sfreq
    kick = np.sin(2 * np.pi * (50 * tk + 60 * (1 - np.exp(-tk * 30)) / 30)) * _env(nk, sfreq, 0.08)
    ns = int(0.18 * sfreq)
    snare = 0.6 * rng.standard_normal(ns) + 0.4 * np.sin(2 * np.pi * 190 * np.arange(ns) / sfreq)
    snare *= _env(ns, sfreq, 0.05)
    nh = int(0.05 * sfreq)
    hat = np.diff(rng.standard_normal(nh + 1)) * _env(nh, sfreq, 0.012) * 0.12
    triad = key_hz * 4 * np.array([1.0, 2 ** (3 / 12), 2 ** (7 / 12)])
    for k, (tb, d) in enumerate(zip(beats, ibi)):
        _add(out, tb, kick if k % 2 == 0 else 0.7 * snare, sfreq)
        _add(out, tb, hat, sfreq)
        _add(out, tb + swing * d, 0.6 * hat, sfreq)
        nb = int(0.9 * d * sfreq)
        tt = np.arange(nb) / sfreq
        f0 = key_hz * (1.0 if (k // 4) % 2 == 0 else 2 ** (5 / 12))
        bass = 0.35 * np.sin(2 * np.pi * f0 * tt) * _env(nb, sfreq, 0.35 * d)
        _add(out, tb, bass, sfreq)
        if k % 4 == 0:  # one chord per bar, soft attack
            nc = int(min(4 * d, seconds) * sfreq)
            tc = np.arange(nc) / sfreq
            att = np.minimum(1.0, tc / 0.08)
            chord = sum(np.sin(2 * np.pi * f * tc) for f in triad) * 0.05 * att
            _add(out, tb, chord * _env(nc, sfreq, 2.0 * d), sfreq)
    peak = float(np.max(np.abs(out))) or 1.0
    audio = (0.8 * out / peak).astype(np.float32)
    return RenderedTrack(audio, float(sfreq), beats, float(60.0 / np.mean(np.diff(beats))))


def write_track(path, track: RenderedTrack, *, subtype: str | None = None) -> None:
    """Write a rendered track with soundfile (format from the file extension)."""
    import soundfile as sf

    sf.write(str(path), track.audio, int(track.sfreq), subtype=subtype)
