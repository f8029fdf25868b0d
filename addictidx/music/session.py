"""Music in a live session: the closed loop's ``tempo`` events choose, switch or stretch tracks.

:class:`SessionMusic` is a session observer (``LiveAssessment(observers=[...])``,
``run_assessment(..., observers=(music,))``). For every ``loop`` event of kind ``tempo``
(:mod:`addictidx.sessions.closed_loop` puts the tempo and ``music`` = play / hold / off in its
detail) it decides what plays:

* **play** at a new tempo: if the track playing can land on it within the stretch limit
  (8 %), it is *stretched* (played faster or slower, pitch kept) so the music does not jump;
  otherwise the player *switches* to the track chosen for the step by
  :func:`~addictidx.music.playlist.choose_track` (unused tracks first, loudness cap);
* **hold** (HR stopped falling): the track and its tempo stay;
* **off** (the person turned the music off), a safety stop of the intervention and the end of
  the session (a ``session_stopped`` event, or the end of the last phase): the music stops.

Exercise phase: when the guided intervention starts (``loop_start`` with music) under a
prescription with an exercise intensity, the player starts a track at the cadence tempo of the
prescribed activity (:func:`~addictidx.music.exercise.exercise_tempo`, e.g. walking at
40-59 % HRR: 114 steps/min, 114 bpm) and keeps it through the work; the loop's first ``tempo``
event (the cool-down) then takes over with the iso-principle descent.

Every change is an event of the session (``live.emit("music", t, detail)``): stored with the
session and listed in its report: which track (id and label), the step tempo, the tempo heard,
the stretch and the HR at the time. :attr:`SessionMusic.now` is what the dashboard's player
reads (``GET /api/music``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

from addictidx.music.library import Track
from addictidx.music.playlist import DEFAULT_LOUDNESS_CAP, STRETCH_MAX_PCT, choose_track

__all__ = ["SessionMusic", "MUSIC_EVENT"]

#: Kind of the session events this module emits.
MUSIC_EVENT = "music"
_RELATION = {-1: "half", 0: "same", 1: "double"}


class SessionMusic:
    """Plays the library into a session, following the tempo loop (see the module notes).

    Parameters
    ----------
    tracks : sequence of Track
        The library's tracks with a tempo (:meth:`MusicLibrary.tracks`).
    stretch_max_pct : float
        Largest time-stretch (0-8 %).
    loudness_cap : float | None
        Tracks louder than this (LUFS) are not played.
    end_phases : tuple of str
        Phase kinds whose end stops the music (default: the recovery phase).
    emit : callable | None
        ``emit(kind, t_s, detail)``: the session's event sink (set by :meth:`attach`).

    Attributes
    ----------
    now : dict | None
        What plays now (``seq`` increases with every change), None when silent.
    changes : list of dict
        Every change, as emitted.
    """

    def __init__(
        self,
        tracks: Sequence[Track],
        *,
        stretch_max_pct: float = STRETCH_MAX_PCT,
        loudness_cap: float | None = DEFAULT_LOUDNESS_CAP,
        end_phases: tuple[str, ...] = ("recovery",),
        emit: Callable[[str, float, dict], None] | None = None,
    ) -> None:
        if not 0.0 <= float(stretch_max_pct) <= STRETCH_MAX_PCT:
            raise ValueError(
                f"'stretch_max_pct' must be within 0-{STRETCH_MAX_PCT:g} %, got "
                f"{stretch_max_pct!r}."
            )
        self.tracks = [
            t
            for t in tracks
            if math.isfinite(t.tempo_bpm)
            and (
                loudness_cap is None or not math.isfinite(t.loudness) or t.loudness <= loudness_cap
            )
        ]
        self.stretch_max_pct = float(stretch_max_pct)
        self.end_phases = tuple(end_phases)
        self.emit = emit
        self.now: dict[str, Any] | None = None
        self.changes: list[dict[str, Any]] = []
        self._used: list[str] = []
        self._track: Track | None = None
        self._octave = 0
        self._seq = 0
        self._lock = threading.Lock()
        self._end_names: set[str] = set()
        self._rx: dict[str, Any] | None = None
        self._tag: dict[str, Any] | None = None
        #: The exercise tempo chosen for the work phase (None: none played).
        self.exercise = None

    # -- wiring ----------------------------------------------------------------------------------
    def attach(self, live, session_id: int | None = None) -> None:
        """``on_start`` hook: emit into the live session (and learn its phase kinds)."""
        self.emit = live.emit
        protocol = getattr(live, "protocol", None)
        if protocol is not None:
            self._end_names = {p.name for p in protocol.phases if p.kind in self.end_phases}

    def snapshot(self) -> dict[str, Any] | None:
        """A copy of :attr:`now` (read from another thread, e.g. the web server's)."""
        with self._lock:
            return None if self.now is None else dict(self.now)

    # -- the observer ----------------------------------------------------------------------------
    def on_event(self, kind: str, t: float, detail: dict) -> None:
        """Session events: ``loop``/``tempo`` drive the player; the session's end stops it."""
        if kind == MUSIC_EVENT:
            return
        if kind == "prescription":
            self._rx = dict(detail)
        elif kind == "loop_start" and detail.get("music"):
            self.start_exercise(float(t))
        elif kind == "loop" and detail.get("kind") == "tempo" and detail.get("music"):
            self.follow(float(t), detail)
        elif kind == "safety" and detail.get("kind") == "stop":
            # a safety stop ends the exercise: its music stops with it (the recovery is quiet)
            if self.now is not None:
                self._change(
                    float(t), "off", None, None, detail.get("hr_bpm"), "safety stop: music off"
                )
        elif kind == "session_stopped" or (
            kind == "phase_end" and detail.get("phase") in self._end_names
        ):
            if self.now is not None:
                self._change(float(t), "off", None, None, None, "the session ended")

    def start_exercise(self, t: float, rx: dict | None = None) -> None:
        """Play the exercise-phase tempo of the prescription (``rx`` or the one the session
        announced); nothing when it has no exercise intensity."""
        from addictidx.music.exercise import exercise_tempo

        rx = rx if rx is not None else self._rx
        if not rx or not rx.get("intensity_pct_hrr"):
            return
        ex = exercise_tempo(
            str(rx.get("activity") or ""),
            tuple(rx["intensity_pct_hrr"]),
            music_bpm=tuple(rx["music_bpm"]) if rx.get("music_bpm") else None,
        )
        self.exercise = ex
        if ex.cadence_per_min is None:
            return
        self._tag = {"exercise": ex.activity, "cadence_per_min": round(ex.cadence_per_min, 1)}
        try:
            self.follow(t, {"music": "play", "tempo_bpm": ex.tempo_bpm, "reason": ex.note})
        finally:
            self._tag = None

    def follow(self, t: float, detail: dict) -> None:
        """Apply one tempo event detail (``music``, ``tempo_bpm``, ``hr_bpm``, ``reason``)."""
        action, tempo, hr = detail.get("music"), detail.get("tempo_bpm"), detail.get("hr_bpm")
        reason = str(detail.get("reason") or "")
        if action == "off" or tempo is None:
            if self.now is not None:
                self._change(t, "off", None, None, hr, reason)
            return
        if action == "hold":
            if self.now is not None:
                self._change(t, "hold", float(self.now["tempo_bpm"]), None, hr, reason)
            return
        step = float(tempo)
        cur = self._track
        if cur is not None:
            eff = cur.tempo_bpm * 2.0**self._octave
            if abs(step / eff - 1.0) * 100.0 <= self.stretch_max_pct + 1e-9:
                self._change(t, "stretch", step, cur, hr, reason, rate=step / eff)
                return
        pick = choose_track(
            self.tracks, step, used=self._used, stretch_max_pct=self.stretch_max_pct
        )
        if pick is None:
            self._change(t, "no_track", step, None, hr, "the music library has no track")
            return
        track, k, rate, _repeat = pick
        self._octave = k
        self._used.append(track.sha256)
        self._change(t, "start" if cur is None else "switch", step, track, hr, reason, rate=rate)

    def _change(
        self,
        t: float,
        action: str,
        step: float | None,
        track: Track | None,
        hr,
        reason: str,
        *,
        rate: float = 1.0,
    ) -> None:
        if action in ("start", "switch", "stretch"):
            self._track = track
        elif action in ("off", "no_track"):
            self._track, track = None, None
        else:  # hold: keep the track and its rate
            track = self._track
            rate = float(self.now["stretch_rate"]) if self.now else 1.0
        self._seq += 1
        d: dict[str, Any] = {
            "seq": self._seq,
            "action": action,
            "tempo_bpm": None if step is None else round(step, 1),
            "hr_bpm": None if hr is None else round(float(hr), 1),
            "reason": reason,
        }
        if track is not None:
            d.update(
                track_id=track.id,
                label=track.label,
                track_bpm=round(track.tempo_bpm, 2),
                relation=_RELATION[self._octave],
                stretch_rate=round(rate, 4),
                played_bpm=round(track.tempo_bpm * 2.0**self._octave * rate, 2),
            )
        if self._tag and track is not None:
            d.update(self._tag)
        with self._lock:
            self.now = d if track is not None else None
        self.changes.append(d)
        if self.emit is not None:
            self.emit(MUSIC_EVENT, float(t), dict(d))
