"""The end-to-end assessment: notifications -> decoders -> buffers -> features -> ONNX index ->
prescription -> SQLite store.

Every step is the real one: the simulated devices emit byte-exact BLE notifications built from
real recordings, which go through the same decoders and assemblers a real headband and strap
feed. Only the transport differs (``ReplayTransport`` instead of bleak).

Data flow inside :class:`LiveAssessment`:

* ``on_notification`` (the BLE callback) decodes and assembles only, then writes chunks to the
  ring buffers; it never runs numpy-heavy work.
* ``tick`` runs every ``hop_s`` of session time: windowed features for the trend table.
* ``finish`` scores the scored phases once: index features -> index (ONNX) -> prescription.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from addictidx import __version__
from addictidx._core.types import Chunk, IndexResult, Prescription, QualityReport
from addictidx.acquire import (
    EventBuffer,
    HrsAssembler,
    MuseEegAssembler,
    ReplayTransport,
    RingBuffer,
    SimulatedHeadband,
    SimulatedStrap,
    iter_notifications,
)
from addictidx.sessions.protocol import STANDARD_PROTOCOL, Protocol
from addictidx.sessions.store import SessionStore, check_subject_code

__all__ = ["AssessmentResult", "LiveAssessment", "run_assessment"]

ProgressCallback = Callable[[str, float, float], None]

# Trend windows stored during the session (not used for the index itself).
TREND_HOP_S = 10.0
TREND_EEG_S = 30.0
TREND_RR_S = 60.0


@dataclass(frozen=True)
class AssessmentResult:
    """What one assessment produced (also stored in the session store).

    Attributes
    ----------
    subject : str
        Pseudonymous subject code.
    session_id : int
        Session id in the store.
    store_path : Path
        SQLite file of the store.
    protocol : str
        Protocol name.
    session_time_s, wall_time_s : float
        Session-clock duration and wall-clock time it took.
    simulated : bool
        True when the devices were simulated.
    devices : Mapping[str, str]
        Role -> device profile name.
    features : Mapping[str, float | None]
        The core features scored (None = unavailable).
    quality : QualityReport
        Quality of the scored data.
    accounting : Mapping[str, int]
        Samples and beats received and missing.
    n_feature_windows : int
        Trend windows stored.
    index : IndexResult
        The addiction index.
    prescription : Prescription | None
        The suggestion, when one could be made.
    """

    subject: str
    session_id: int
    store_path: Path
    protocol: str
    session_time_s: float
    wall_time_s: float
    simulated: bool
    devices: Mapping[str, str]
    features: Mapping[str, float | None]
    quality: QualityReport
    accounting: Mapping[str, int]
    n_feature_windows: int
    index: IndexResult
    prescription: Prescription | None


@dataclass
class _Accounting:
    eeg_samples: int = 0
    eeg_missing: int = 0
    rr_beats: int = 0
    notifications: int = 0
    hr_no_contact: int = 0
    extra: dict = field(default_factory=dict)


class LiveAssessment:
    """Wire a headband and a strap into buffers and score them on the session clock.

    Parameters
    ----------
    headband : SimulatedHeadband
        Source of EEG notifications (classic Muse protocol).
    strap : SimulatedStrap
        Source of Heart Rate Measurement notifications.
    protocol : Protocol
        Phases and their durations.
    """

    def __init__(self, headband: SimulatedHeadband, strap: SimulatedStrap, protocol: Protocol):
        self.headband = headband
        self.strap = strap
        self.protocol = protocol
        self.eeg_spec = headband.stream_spec
        self.eeg_asm = MuseEegAssembler(self.eeg_spec, headband.channel_by_uuid)
        self.hrs_asm = HrsAssembler(strap.rr_spec, strap.hr_spec)
        cap = protocol.duration_s + 30.0
        self.eeg_buf = RingBuffer(self.eeg_spec, capacity_s=cap)
        # RR: capacity for 220 bpm over the whole protocol.
        self.rr_buf = EventBuffer(strap.rr_spec, capacity=int(cap * 220 / 60) + 16)
        self.acc = _Accounting()
        self.t0: float | None = None
        self.trend_rows: list[tuple[str, float, dict, bool, tuple[str, ...]]] = []
        self._next_tick = TREND_HOP_S
        self._eeg_thresholds = headband.profile.stream("eeg").quality or None

    # -- the BLE callback: decode + assemble + buffer, nothing heavy ---------------------
    def on_notification(
        self, device: str, characteristic: str, payload: bytes, received_at: float
    ) -> None:
        """Handle one BLE notification (the same signature bleak handlers get)."""
        if self.t0 is None:
            self.t0 = received_at
        self.acc.notifications += 1
        if device == self.headband.name:
            chunks = self.eeg_asm.feed(characteristic, payload, received_at)
            for c in chunks:
                self._write_eeg(c)
        elif device == self.strap.name:
            for c in self.hrs_asm.feed(payload, received_at):
                if c.spec.name == "rr":
                    self.rr_buf.write(c)
                    self.acc.rr_beats += c.n_times
        self.acc.hr_no_contact = self.hrs_asm.n_no_contact

    def _write_eeg(self, c: Chunk) -> None:
        self.eeg_buf.write(c)
        self.acc.eeg_samples += c.n_times
        self.acc.eeg_missing += c.n_missing

    def session_time(self, received_at: float) -> float:
        """Seconds since the first notification."""
        return 0.0 if self.t0 is None else received_at - self.t0

    def phase_at(self, t: float) -> str:
        """Name of the protocol phase at session time ``t``."""
        for phase, a, b in self.protocol.spans():
            if a <= t < b:
                return phase.name
        return self.protocol.phases[-1].name

    # -- periodic trend windows -----------------------------------------------------------
    def maybe_tick(self, received_at: float) -> None:
        """Run :meth:`tick` when the session clock passed the next hop."""
        t = self.session_time(received_at)
        while t >= self._next_tick:
            self.tick(self._next_tick)
            self._next_tick += TREND_HOP_S

    def tick(self, t: float) -> None:
        """Compute trend features over the latest windows and keep them for the store."""
        from addictidx.features import compute_index_features

        eeg = self.eeg_buf.latest(TREND_EEG_S)
        rr = self.rr_buf.latest(TREND_RR_S)
        feats, q = compute_index_features(
            eeg.data if eeg.data.shape[1] else None,
            self.eeg_spec.sfreq,
            self.eeg_spec.channels,
            rr.data[0] if rr.data.shape[1] else None,
            eeg_thresholds=self._eeg_thresholds,
        )
        self.trend_rows.append((self.phase_at(t), t, feats, q.usable, q.flags))

    # -- final scoring ------------------------------------------------------------------------
    def scored_data(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """EEG of the eyes-closed phase and RR of all scored phases (EVIDENCE.md §7(i))."""
        t0 = self.t0 or 0.0
        eeg_span = rr_span = None
        for phase, a, b in self.protocol.spans():
            if not phase.scored:
                continue
            rr_span = (a, b) if rr_span is None else (rr_span[0], b)
            if eeg_span is None and "closed" in phase.name:
                eeg_span = (a, b)
        if eeg_span is None:  # a protocol without an eyes-closed phase: all scored phases
            eeg_span = rr_span
        eeg = self.eeg_buf.latest(self.eeg_buf.capacity_s)
        m = (eeg.times >= t0 + eeg_span[0]) & (eeg.times < t0 + eeg_span[1])
        eeg_data = eeg.data[:, m] if m.any() else None
        rr = self.rr_buf.latest(self.protocol.duration_s + 60.0)
        m = (rr.times > t0 + rr_span[0]) & (rr.times <= t0 + rr_span[1])
        rr_data = rr.data[0, m] if m.any() else None
        return eeg_data, rr_data


def _default_devices(duration_s: float, seed: int) -> tuple[SimulatedHeadband, SimulatedStrap]:
    return (
        SimulatedHeadband(duration_s=duration_s, seed=seed),
        SimulatedStrap(duration_s=duration_s, seed=seed),
    )


def run_assessment(
    subject: str,
    *,
    store_dir: str | Path,
    protocol: Protocol = STANDARD_PROTOCOL,
    speed: float = 0.0,
    age: int = 30,
    screening: Mapping | None = None,
    headband: SimulatedHeadband | None = None,
    strap: SimulatedStrap | None = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> AssessmentResult:
    """Run one assessment on simulated devices and store it.

    Parameters
    ----------
    subject : str
        Pseudonymous subject code (see :func:`~addictidx.sessions.store.check_subject_code`).
    store_dir : path-like
        Store directory (the SQLite file is created there).
    protocol : Protocol
        Phases (default: 20 s device check, 3 min eyes closed, 2 min eyes open).
    speed : float
        Replay speed x real time; 0 = as fast as possible.
    age : int
        Age in years (HRmax by Tanaka for the prescription).
    screening : mapping | None
        Pre-session screening answers (see :class:`addictidx.prescribe.Screening`). The
        simulated demo passes ``{"medically_screened": True}``; ``None`` = never screened, which
        caps intensity at light.
    headband, strap : simulated devices | None
        Default: the bundled real recordings, looped to the protocol length.
    seed : int
        Seed of the simulated devices' random choices.
    on_progress : callable | None
        ``on_progress(phase, session_s, total_s)`` after each trend window.

    Returns
    -------
    AssessmentResult
    """
    from addictidx.features import compute_index_features
    from addictidx.models import baseline_from_sessions, score_index
    from addictidx.prescribe import prescribe

    check_subject_code(subject)
    wall0 = time.perf_counter()
    total = protocol.duration_s
    if headband is None or strap is None:
        hb, st = _default_devices(total, seed)
        headband = headband or hb
        strap = strap or st
    live = LiveAssessment(headband, strap, protocol)
    devices = {"headband": headband.profile.name, "strap": strap.profile.name}

    with SessionStore(store_dir) as store:
        sid = store.start_session(
            subject, devices=devices, simulated=True, software=f"addictidx {__version__}"
        )
        status = "aborted"
        try:
            progress_phase = [""]

            def on_note(device, characteristic, payload, received_at):
                live.on_notification(device, characteristic, payload, received_at)
                before = len(live.trend_rows)
                live.maybe_tick(received_at)
                if on_progress is not None and len(live.trend_rows) != before:
                    t = live.trend_rows[-1][1]
                    progress_phase[0] = live.phase_at(t)
                    on_progress(progress_phase[0], min(t, total), total)

            if speed and speed > 0:
                transport = ReplayTransport([headband, strap], speed=speed, callback=on_note)
                asyncio.run(transport.run(until_s=total))
            else:
                for name, note in iter_notifications([headband, strap], until_s=total):
                    on_note(name, note.characteristic, note.payload, note.t)
            for c in live.eeg_asm.flush():
                live._write_eeg(c)
            if live.t0 is not None:  # the trend window that ends the session
                live.maybe_tick(live.t0 + total)
            if on_progress is not None:
                on_progress("scoring", total, total)

            for phase, a, b in protocol.spans():
                store.add_phase(sid, phase.name, a, b)
            by_phase: dict[str, list] = {}
            for phase, t, feats, ok, flags in live.trend_rows:
                by_phase.setdefault(phase, []).append((t, feats, ok, flags))
            n_windows = sum(store.add_feature_windows(sid, p, rows) for p, rows in by_phase.items())
            if live.acc.eeg_missing:
                store.add_event(
                    sid, total, "eeg_gap_samples", {"n_missing": live.acc.eeg_missing}
                )

            eeg_data, rr_data = live.scored_data()
            feats, quality = compute_index_features(
                eeg_data,
                live.eeg_spec.sfreq,
                live.eeg_spec.channels,
                rr_data,
                eeg_thresholds=live._eeg_thresholds,
            )
            clean = {k: (None if not math.isfinite(v) else float(v)) for k, v in feats.items()}
            store.set_session_features(sid, clean, usable=quality.usable, quality=quality)

            baseline = baseline_from_sessions(
                store.prior_session_features(subject, before_session=sid)
            )
            result = score_index(clean, baseline, quality=quality)
            store.set_index_result(sid, result)

            rx = None
            hr = clean.get("hr_mean_bpm")
            if hr is not None:
                rx = prescribe(result, age=age, resting_hr=hr, screening=screening)
                store.set_prescription(sid, rx)
            status = "complete"
        finally:
            store.end_session(sid, status=status)

    return AssessmentResult(
        subject=subject,
        session_id=sid,
        store_path=Path(store_dir) / "addictidx.sqlite",
        protocol=protocol.name,
        session_time_s=total,
        wall_time_s=time.perf_counter() - wall0,
        simulated=True,
        devices=devices,
        features=clean,
        quality=quality,
        accounting={
            "eeg_samples": live.acc.eeg_samples,
            "eeg_missing": live.acc.eeg_missing,
            "rr_beats": live.acc.rr_beats,
            "notifications": live.acc.notifications,
            "eeg_late_packets": live.eeg_asm.n_late,
        },
        n_feature_windows=n_windows,
        index=result,
        prescription=rx,
    )
