"""The end-to-end assessment: notifications -> decoders -> buffers -> features -> ONNX index ->
prescription -> closed loop -> store.

Every step is the real one: the simulated devices emit byte-exact BLE notifications built from
real recordings, which go through the same stream hub, decoders and assemblers a real headband
and strap feed. Only the transport differs: :class:`~addictidx.acquire.ReplayTransport` (or the
plain generator :func:`~addictidx.acquire.iter_notifications` when running as fast as possible)
for simulated devices, :class:`~addictidx.acquire.BleakTransport` for real ones.

* :class:`~addictidx.sessions.live.LiveAssessment` handles notifications and link events (stream
  hub, raw files appended as data arrive, protocol clock with device check and pauses, trend
  windows, closed loop during a guided intervention).
* :class:`~addictidx.sessions.run.SessionRun` ties it to the store; a session-clock ticker
  (every ``TICK_S``) lets the protocol notice silence of both devices.
* :func:`~addictidx.sessions.scoring.score_session` scores the scored phases once (index
  features -> index (ONNX) -> prescription): at the end, or, when phases follow the scored ones
  (guided intervention), as soon as the last scored phase ends.
  :func:`~addictidx.sessions.recover.recover_session` does the same from the raw files after a
  crash.

:func:`run_assessment` (blocking) and :func:`run_assessment_async` (a coroutine, for the
dashboard, which shares its event loop with bleak) are the only two entry points; the CLI's
``assess`` and ``demo`` and the dashboard all use them. Both take the same
:class:`AssessmentOptions` (or its fields as keyword arguments).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from addictidx._core.types import IndexResult, Prescription, QualityReport
from addictidx.acquire import ReplayTransport
from addictidx.sessions.devices import BleDevice, ble_devices, simulated_devices
from addictidx.sessions.live import LOSS_S, MAX_PAUSE_S, TICK_S, TREND_HOP_S, LiveAssessment
from addictidx.sessions.protocol import STANDARD_PROTOCOL, Protocol
from addictidx.sessions.run import SessionRun

__all__ = [
    "AssessmentOptions",
    "AssessmentResult",
    "LiveAssessment",
    "run_assessment",
    "run_assessment_async",
    "simulated_devices",
    "LOSS_S",
    "MAX_PAUSE_S",
    "TREND_HOP_S",
]

ProgressCallback = Callable[[str, float, float], None]


@dataclass(frozen=True)
class AssessmentOptions:
    """How to run one assessment (every field but ``age`` has its documented default).

    Parameters
    ----------
    protocol : Protocol
        Phases (default: 20 s device check, 3 min eyes closed, 2 min eyes open).
    speed : float | None
        Replay speed x real time of simulated devices; 0 = as fast as possible. ``None``: the
        entry point's default (0 for :func:`run_assessment`, 1 for
        :func:`run_assessment_async`).
    age : float
        The person's age in years (18-90), keyword, **required**: HRmax = 208 - 0.7 x age
        (Tanaka) sets the prescription's targets and the closed loop's safety stops; it is
        never assumed (issue 17.5). Checked by :func:`addictidx.prescribe.check_age`.
    screening : mapping | None
        Pre-session screening answers (see :class:`addictidx.prescribe.Screening`). The
        simulated demo passes ``{"medically_screened": True}``; ``None`` = never screened, which
        caps intensity at light.
    headband, strap : device | str | None
        Simulated devices (default: the bundled real recordings, looped as long as the session
        needs); with ``devices="ble"`` profile names or ``"auto"`` (or
        :class:`~addictidx.sessions.devices.BleDevice`).
    seed : int
        Seed of the simulated devices' random choices.
    on_progress : callable | None
        ``on_progress(phase, session_s, total_s)`` after each trend window.
    on_start : callable | None
        ``on_start(live, session_id)`` once the session exists (live views hook in here).
    db_url : str | None
        Database URL instead of the store's SQLite file (see :class:`SessionStore`).
    replay_offset_s : float
        Start the default simulated devices' recordings this far in (see
        :func:`simulated_devices`).
    devices : {"simulate", "ble"}
        Simulated devices (replayed real recordings) or real ones over Bluetooth LE.
    transport_options : mapping | None
        Extra keyword arguments of :class:`~addictidx.acquire.BleakTransport` (e.g. ``clock``,
        ``scanner_cls``/``client_cls`` in tests, ``watchdog_s``).
    research : bool
        Also score the default research classifier (UCI alcoholism, labelled "research") on the
        eyes-closed EEG and store it apart from the index (default off: EVIDENCE.md §7(ii) 6).
    observers : tuple
        Objects with ``on_chunk(chunk)`` and/or ``on_event(kind, t_s, detail)``, told about
        every assembled chunk and every event (see
        :class:`~addictidx.sessions.live.LiveAssessment`).
    consent_given : bool
        Staff confirm the person signed the assessment consent: recorded (dated today, audited)
        when none is in force. Default False: a session without assessment consent in force is
        refused before it exists (:meth:`addictidx.store.consent.ConsentRecords.require`); a
        withdrawal is never overridden.
    consent_via : str | None
        How staff confirmed it, for the audit entry (e.g. ``"assess --consent-given"``).
    """

    protocol: Protocol = STANDARD_PROTOCOL
    speed: float | None = None
    age: float = field(kw_only=True)
    screening: Mapping | None = None
    headband: Any = None
    strap: Any = None
    seed: int = 0
    on_progress: ProgressCallback | None = None
    on_start: Callable[[LiveAssessment, int], None] | None = None
    db_url: str | None = None
    replay_offset_s: float = 0.0
    devices: str = "simulate"
    transport_options: Mapping | None = None
    research: bool = False
    observers: tuple = ()
    consent_given: bool = False
    consent_via: str | None = None

    def __post_init__(self) -> None:
        from addictidx.prescribe import check_age

        object.__setattr__(self, "age", check_age(self.age))

    @classmethod
    def build(cls, options: AssessmentOptions | None = None, **changes) -> AssessmentOptions:
        """``options`` (default: all defaults and ``age`` from ``changes``, where it is required)
        with the fields named in ``changes`` replaced."""
        known = {f.name for f in fields(cls)}
        bad = sorted(set(changes) - known)
        if bad:
            raise TypeError(
                f"Unknown assessment option(s) {bad}; the options are {sorted(known)}."
            )
        if options is None:
            from addictidx.prescribe import check_age

            check_age(changes.get("age"))  # one line when missing: never a silent default
            return cls(**changes)
        return replace(options, **changes)


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
    phases : tuple of (name, t_start_s, t_end_s)
        Where each phase ran on the session clock.
    events : tuple of (kind, t_s)
        Pauses, marks and other events of the session.
    safety_events : tuple of (t_s, kind, reason)
        Closed-loop stops, pauses, prompts and flags (audit only; never scored).
    stopped : bool
        True when the session was stopped early (stop button or symptom).
    research : Mapping | None
        The research classifier's output (:func:`addictidx.models.research.research_block`)
        when it was enabled, else None. Separate from ``index`` and never fused into it.
    emg_gate : Mapping | None
        The personal EMG gate's record (see :func:`emg_gate`), None when not scored.
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
    phases: tuple = ()
    events: tuple = ()
    safety_events: tuple = ()
    stopped: bool = False
    research: Mapping | None = None
    emg_gate: Mapping | None = None


def resolve_devices(options: AssessmentOptions) -> tuple[Any, Any]:
    """The headband and strap of ``options`` (simulated defaults, or BLE devices)."""
    return _devices_for(
        options.devices,
        options.headband,
        options.strap,
        options.protocol,
        options.seed,
        options.replay_offset_s,
    )


def _devices_for(kind, headband, strap, protocol, seed, replay_offset_s):
    if kind == "simulate":
        if headband is None or strap is None:
            hb, st = simulated_devices(protocol.duration_s + MAX_PAUSE_S, seed, replay_offset_s)
            headband, strap = headband or hb, strap or st
        return headband, strap
    if kind == "ble":
        if isinstance(headband, BleDevice) and isinstance(strap, BleDevice):
            return headband, strap
        return ble_devices(headband or "auto", strap or "auto")
    raise ValueError(
        f"Invalid value for the 'devices' parameter. Allowed values are 'simulate' "
        f"and 'ble', but got {kind!r} instead."
    )


def run_assessment(
    subject: str,
    *,
    store_dir: str | Path,
    options: AssessmentOptions | None = None,
    **option_fields: Any,
) -> AssessmentResult:
    """Run one assessment and store it (blocking).

    Decoded data are appended to ``<store>/raw/session-<id>/`` as they arrive, trend windows,
    events and safety events are committed to the store as they happen, so a crash leaves a
    ``running`` session that :func:`~addictidx.sessions.recover.recover_session` completes.

    Parameters
    ----------
    subject : str
        Pseudonymous subject code (see :func:`~addictidx.store.codes.check_subject_code`).
    store_dir : path-like
        Store directory (the SQLite file and raw recordings are created there).
    options : AssessmentOptions | None
        How to run it; ``option_fields`` (the fields of :class:`AssessmentOptions` as keyword
        arguments) replace single fields.
    **option_fields
        Any field of :class:`AssessmentOptions` (``protocol``, ``speed``, ``age``,
        ``screening``, ``headband``, ``strap``, ``seed``, ``on_progress``, ``on_start``,
        ``db_url``, ``replay_offset_s``, ``devices``, ``transport_options``, ``research``,
        ``observers``).

    Returns
    -------
    AssessmentResult
    """
    opts = AssessmentOptions.build(options, **option_fields)
    speed = 0.0 if opts.speed is None else opts.speed
    if opts.devices == "simulate" and not (speed and speed > 0):
        headband, strap = resolve_devices(opts)
        opts = replace(opts, speed=0.0, headband=headband, strap=strap)
        run = SessionRun(subject, store_dir, opts, headband, strap, simulated=True)
        try:
            run.drive_sync(headband.duration_s + 5.0)
            return AssessmentResult(**run.finish())
        finally:
            run.close()
    return asyncio.run(
        run_assessment_async(subject, store_dir=store_dir, options=replace(opts, speed=speed))
    )


async def run_assessment_async(
    subject: str,
    *,
    store_dir: str | Path,
    options: AssessmentOptions | None = None,
    **option_fields: Any,
) -> AssessmentResult:
    """:func:`run_assessment` as a coroutine on the running event loop (shared with bleak).

    Simulated devices play through :class:`~addictidx.acquire.ReplayTransport` at ``speed``
    (default 1; 0 = as fast as possible); real ones are acquired with
    :class:`~addictidx.acquire.BleakTransport` (scan, connect, keep-alive, watchdog, reconnect)
    until the protocol ends, the session is stopped, or every device gave up. Parameters as
    :func:`run_assessment`.
    """
    from addictidx.acquire import BleakTransport, BleTarget, MonotonicClock

    opts = AssessmentOptions.build(options, **option_fields)
    speed = 1.0 if opts.speed is None else opts.speed
    headband, strap = resolve_devices(opts)
    simulated = opts.devices == "simulate"
    run = SessionRun(subject, store_dir, opts, headband, strap, simulated=simulated)
    try:
        topts = dict(opts.transport_options or {})
        clock = topts.pop("clock", None) or MonotonicClock()
        if simulated:
            fast = not (speed and speed > 0)
            transport = ReplayTransport(
                [headband, strap], speed=0.0 if fast else speed, clock=clock
            )
            t_start = clock.now()
            rate = 1e6 if fast else float(speed)
            await run.drive_async(
                transport,
                tick_time=lambda: t_start + (clock.now() - t_start) * rate,
                tick_s=TICK_S / rate,
                until_s=headband.duration_s + 5.0,
            )
        else:
            targets = [
                BleTarget(d.profile, name=d.name, address=d.address) for d in (headband, strap)
            ]
            transport = BleakTransport(targets, clock=clock, **topts)
            await run.drive_async(
                transport,
                tick_time=clock.now,
                tick_s=float(topts.get("check_interval_s", TICK_S)),
                until_s=None,
            )
        return AssessmentResult(**run.finish())
    finally:
        run.close()
