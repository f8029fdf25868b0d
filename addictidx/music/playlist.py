"""Iso-principle playlists: start at the person's arousal tempo, step down to the target.

The tempo plan is the closed loop's own rule (:mod:`addictidx.prescribe.tempo`, the
``[music_loop]`` row of the rule table, EVIDENCE.md §7(iii)): the start tempo is the preferred
tempo clamped to the current heart rate +/- ``start_hr_clamp_pct`` (10 %), or the heart rate
itself; each step is ``step_pct`` (7 %, allowed 5-10) lower, every ``step_interval_s`` (60 s,
allowed 60-120), until the target is reached; then the target tempo holds to the end. A planned
playlist assumes the heart rate follows; in a live session the loop's ``tempo`` events (step,
hold, off) drive the player instead (:mod:`addictidx.music.session`).

For each slot the track chosen is the one whose tempo, or half or double tempo (a 130-bpm track
felt at half time serves a 65-bpm step), is closest to the step, among tracks not louder than
the loudness cap, unused tracks first (:func:`choose_track`). With ``stretch_max_pct`` > 0 the
chosen track is played faster or slower by at most that much (8 % by default; pitch kept) so its
tempo lands on the step; a track further away than that plays unstretched and the entry says how
far off it is. A track repeats only when no unused track lands on the step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from addictidx._core.validate import check_positive
from addictidx.music.library import Track
from addictidx.prescribe.rules import MusicLoopSpec, load_rules
from addictidx.prescribe.tempo import start_tempo_bpm, step_down_bpm

__all__ = [
    "PlaylistEntry",
    "Playlist",
    "tempo_plan",
    "choose_track",
    "build_playlist",
    "STRETCH_MAX_PCT",
    "DEFAULT_LOUDNESS_CAP",
]

#: Largest time-stretch (%) used to land a track's tempo on the step.
STRETCH_MAX_PCT = 8.0
#: Default loudness cap (LUFS; RMS dBFS for tracks measured without pyloudnorm).
DEFAULT_LOUDNESS_CAP = -14.0
_RELATION = {-1: "half", 0: "same", 1: "double"}


@dataclass(frozen=True)
class PlaylistEntry:
    """One slot of a playlist.

    Attributes
    ----------
    start_s, duration_s : float
        Where the slot starts in the playlist and how long it plays (s).
    step_bpm : int
        The tempo plan's tempo for this slot.
    track : Track
    relation : {"same", "half", "double"}
        How the track's tempo maps onto the step (felt at half or double time).
    stretch_rate : float
        Playback rate (1 = unstretched; 1.05 = 5 % faster, pitch kept).
    played_bpm : float
        The tempo heard: ``track tempo x 2**relation x stretch_rate``.
    off_step_pct : float
        ``100 (played - step) / step`` (0 when the stretch landed it).
    repeat : bool
        The track was used before (the library ran out of eligible tracks).
    loop : bool
        The track is shorter than the slot and plays again to fill it.
    """

    start_s: float
    duration_s: float
    step_bpm: int
    track: Track
    relation: str
    stretch_rate: float
    played_bpm: float
    off_step_pct: float
    repeat: bool
    loop: bool

    def to_dict(self) -> dict:
        """JSON-ready (the track as id, label, path, tempo and loudness)."""
        t = self.track
        return {
            "start_s": round(self.start_s, 3),
            "duration_s": round(self.duration_s, 3),
            "step_bpm": self.step_bpm,
            "track_id": t.id,
            "label": t.label,
            "path": t.path,
            "track_bpm": round(t.tempo_bpm, 2),
            "relation": self.relation,
            "stretch_rate": round(self.stretch_rate, 4),
            "played_bpm": round(self.played_bpm, 2),
            "off_step_pct": round(self.off_step_pct, 2),
            "loudness": None if not math.isfinite(t.loudness) else round(t.loudness, 1),
            "loudness_method": t.loudness_method,
            "repeat": self.repeat,
            "loop": self.loop,
        }


@dataclass(frozen=True)
class Playlist:
    """A planned playlist and how it was made."""

    hr_bpm: float
    target_bpm: float
    minutes: float
    start_bpm: int
    tempi_bpm: tuple[int, ...]
    entries: tuple[PlaylistEntry, ...]
    stretch_max_pct: float
    loudness_cap: float | None
    spec: MusicLoopSpec
    excluded_loud: int

    def to_dict(self) -> dict:
        """The ``music playlist --json`` document."""
        return {
            "hr_bpm": round(self.hr_bpm, 1),
            "target_bpm": self.target_bpm,
            "minutes": self.minutes,
            "start_bpm": self.start_bpm,
            "tempo_plan_bpm": list(self.tempi_bpm),
            "step_pct": float(self.spec.step_pct),
            "step_interval_s": float(self.spec.step_interval_s),
            "stretch_max_pct": self.stretch_max_pct,
            "loudness_cap": self.loudness_cap,
            "excluded_too_loud": self.excluded_loud,
            "entries": [e.to_dict() for e in self.entries],
        }


def tempo_plan(
    hr_bpm: float,
    target_bpm: float,
    minutes: float,
    *,
    preferred_bpm: float | None = None,
    spec: MusicLoopSpec | None = None,
) -> tuple[MusicLoopSpec, list[tuple[float, float, int]]]:
    """The slots ``(start_s, duration_s, tempo_bpm)`` of the tempo descent.

    The step rule is :func:`addictidx.prescribe.tempo.step_down_bpm` with the rule table's
    ``[music_loop]`` and ``target_bpm`` as both ends of its target.
    """
    hr = check_positive("hr_bpm", hr_bpm)
    total = check_positive("minutes", minutes) * 60.0
    target = check_positive("target_bpm", target_bpm)
    base = spec if spec is not None else load_rules().music_loop
    if not 40.0 <= target <= 100.0:
        raise ValueError(f"'target_bpm' must be within 40-100 bpm, got {target_bpm!r}.")
    t = int(math.floor(target + 0.5))
    loop_spec = replace(base, target_bpm=(t, t))
    tempo = start_tempo_bpm(hr, preferred_bpm, clamp_pct=float(loop_spec.start_hr_clamp_pct))
    step_s = float(loop_spec.step_interval_s)
    slots, start = [], 0.0
    while start < total - 1e-9:
        dur = min(step_s, total - start)
        slots.append((start, dur, tempo))
        start += dur
        tempo = step_down_bpm(tempo, loop_spec) if tempo > t else tempo
    return loop_spec, slots


def _fit(track_bpm: float, step: float, stretch_max_pct: float) -> tuple[int, float, float]:
    """``(octave, stretch rate, stretch needed %)`` of a track for a step, best octave first.

    The stretch needed is ``100 |step / (track tempo x 2**octave) - 1|``; the rate is 1 when
    it exceeds ``stretch_max_pct``.
    """
    best = None
    for k in (0, -1, 1):
        eff = track_bpm * 2.0**k
        dist = abs(step / eff - 1.0) * 100.0
        if best is None or dist < best[2] - 1e-9:
            best = (k, eff, dist)
    k, eff, dist = best
    rate = step / eff
    if abs(rate - 1.0) * 100.0 > stretch_max_pct + 1e-9:
        rate = 1.0
    return k, rate, dist


def choose_track(
    tracks: Sequence[Track],
    step_bpm: float,
    *,
    used: Sequence[str] = (),
    stretch_max_pct: float = STRETCH_MAX_PCT,
) -> tuple[Track, int, float, bool] | None:
    """The track for one step (by tempo, half or double tempo).

    In this order: a track not used yet that lands on the step (within ``stretch_max_pct``),
    the closest first; else a used one that lands, the least recently used first; else the
    closest unused track; else the closest track. A track is identified by its content hash
    (``used`` holds hashes), so two copies of one file count as one. Ties go to the more
    confident tempo estimate, then the lower id.

    Returns
    -------
    tuple | None
        ``(track, octave, stretch_rate, repeat)``; None when no track has a tempo.
    """
    pool = [t for t in tracks if math.isfinite(t.tempo_bpm) and t.tempo_bpm > 0]
    if not pool:
        return None
    last = {h: i for i, h in enumerate(used)}

    def dist(t: Track) -> float:
        return round(_fit(t.tempo_bpm, step_bpm, 0.0)[2], 6)

    def conf(t: Track) -> float:
        return -(t.tempo_confidence if math.isfinite(t.tempo_confidence) else 0.0)

    lands = [t for t in pool if dist(t) <= stretch_max_pct + 1e-9]
    groups = (
        ([t for t in lands if t.sha256 not in last], lambda t: (dist(t), conf(t), t.id)),
        ([t for t in lands if t.sha256 in last], lambda t: (last[t.sha256], dist(t), t.id)),
        ([t for t in pool if t.sha256 not in last], lambda t: (dist(t), conf(t), t.id)),
        (pool, lambda t: (dist(t), last.get(t.sha256, -1), t.id)),
    )
    for group, key in groups:
        if group:
            best = min(group, key=key)
            break
    k, rate, _ = _fit(best.tempo_bpm, step_bpm, stretch_max_pct)
    return best, k, rate, best.sha256 in last


def build_playlist(
    tracks: Sequence[Track],
    *,
    hr_bpm: float,
    target_bpm: float,
    minutes: float,
    preferred_bpm: float | None = None,
    stretch_max_pct: float = STRETCH_MAX_PCT,
    loudness_cap: float | None = DEFAULT_LOUDNESS_CAP,
    spec: MusicLoopSpec | None = None,
) -> Playlist:
    """Plan an iso-principle playlist from the library's tracks (see the module notes).

    Parameters
    ----------
    tracks : sequence of Track
        The library (:meth:`MusicLibrary.tracks`).
    hr_bpm : float
        Current heart rate (RR-derived, :func:`addictidx.features.heart_rate.
        current_heart_rate_bpm`).
    target_bpm : float
        Tempo to step down to (40-100; the rule table's range is 60-70).
    minutes : float
        Length of the playlist.
    preferred_bpm : float | None
        The person's preferred start tempo (clamped to HR +/- 10 %).
    stretch_max_pct : float
        Largest time-stretch (0-8 %; 0 = never stretch).
    loudness_cap : float | None
        Tracks louder than this are not used (None: no cap).
    spec : MusicLoopSpec | None
        Loop parameters (default: the packaged rule table's).

    Raises
    ------
    ValueError
        Bad parameters, or no track of the library is eligible.
    """
    smax = float(stretch_max_pct)
    if not 0.0 <= smax <= STRETCH_MAX_PCT:
        raise ValueError(
            f"'stretch_max_pct' must be within 0-{STRETCH_MAX_PCT:g} %, got {stretch_max_pct!r}."
        )
    loop_spec, slots = tempo_plan(
        hr_bpm, target_bpm, minutes, preferred_bpm=preferred_bpm, spec=spec
    )
    timed = [t for t in tracks if math.isfinite(t.tempo_bpm) and t.tempo_bpm > 0]
    ok = [
        t
        for t in timed
        if loudness_cap is None or not math.isfinite(t.loudness) or t.loudness <= loudness_cap
    ]
    if not ok:
        why = (
            "no track with a tempo" if not timed else f"every track is louder than {loudness_cap}"
        )
        raise ValueError(f"No track for a playlist: {why} (run 'addictidx music scan DIR').")
    used: list[str] = []
    entries = []
    for start, dur, step in slots:
        track, k, rate, repeat = choose_track(ok, step, used=used, stretch_max_pct=smax)
        used.append(track.sha256)
        played = track.tempo_bpm * 2.0**k * rate
        entries.append(
            PlaylistEntry(
                start_s=start,
                duration_s=dur,
                step_bpm=int(step),
                track=track,
                relation=_RELATION[k],
                stretch_rate=rate,
                played_bpm=played,
                off_step_pct=100.0 * (played - step) / step,
                repeat=repeat,
                loop=math.isfinite(track.duration_s) and track.duration_s < dur,
            )
        )
    return Playlist(
        hr_bpm=float(hr_bpm),
        target_bpm=float(target_bpm),
        minutes=float(minutes),
        start_bpm=int(slots[0][2]),
        tempi_bpm=tuple(int(s[2]) for s in slots),
        entries=tuple(entries),
        stretch_max_pct=smax,
        loudness_cap=loudness_cap,
        spec=loop_spec,
        excluded_loud=len(timed) - len(ok),
    )
