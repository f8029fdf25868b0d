"""Session layer of issue #7: closed loop in the guided intervention, safety stops, the
session-clock ticker, and real-device acquisition through BleakTransport (fake bleak classes).

Expected values come from the test's own construction (beat series with a known step, scripted
silences) and from the safety thresholds written out by hand (Karvonen / Tanaka).
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from addictidx.acquire import Backoff, SimulatedHeadband, SimulatedStrap
from addictidx.readers import bundled_rr
from addictidx.sessions.assessment import run_assessment, run_assessment_async
from addictidx.sessions.devices import BleDevice, session_devices
from addictidx.sessions.protocol import Phase, Protocol

GUIDED_SHORT = Protocol(
    "test-guided",
    (
        Phase("device_check", 10.0, False, kind="check"),
        Phase("eyes_closed_rest", 110.0, True),
        Phase("eyes_open_rest", 20.0, True),
        Phase("guided_intervention", 60.0, False, kind="intervention"),
        Phase("recovery", 80.0, False, kind="recovery"),
    ),
)
SHORT = Protocol(
    "test-short",
    (
        Phase("device_check", 10.0, False, kind="check"),
        Phase("eyes_closed_rest", 40.0, True),
        Phase("eyes_open_rest", 10.0, True),
    ),
)


def _fake_bleak():
    path = Path(__file__).with_name("fake_bleak.py")
    spec = importlib.util.spec_from_file_location("addictidx_tests_fake_bleak", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rr_with_burst(t_on: float, t_off: float, rr_fast: float, total_s: float) -> np.ndarray:
    """The bundled real RR series, with beats of ``rr_fast`` s between t_on and t_off."""
    rest = bundled_rr()
    out, t, k = [], 0.0, 0
    while t < total_s:
        r = rr_fast if t_on <= t < t_off else float(rest[k % rest.size])
        if not (t_on <= t < t_off):
            k += 1
        out.append(r)
        t += r
    return np.asarray(out)


def _detail(store_path: Path, sid: int) -> dict:
    from addictidx.store.session_store import SessionStore

    with SessionStore(store_path.parent) as st:
        return st.queries.session_detail(sid)


def _guided(tmp_path, name, rr, on_progress=None):
    dur = GUIDED_SHORT.duration_s + 60.0
    hb = SimulatedHeadband(duration_s=dur, seed=4)
    st = SimulatedStrap(rr, duration_s=dur, seed=4)
    return run_assessment(
        name,
        store_dir=tmp_path / name,
        protocol=GUIDED_SHORT,
        headband=hb,
        strap=st,
        screening={"medically_screened": True},
        on_progress=on_progress,
        age=30,
        consent_given=True,
    )


def test_hr_burst_in_intervention_is_an_s2_stop_then_recovery_and_not_scored(tmp_path):
    # 180 bpm from 150 s (intervention runs from ~140 s) for 20 s, then the resting series again.
    calm = _guided(tmp_path, "P101", _rr_with_burst(1e9, 1e9, 1.0, 400.0))
    burst = _guided(tmp_path, "P102", _rr_with_burst(150.0, 170.0, 60 / 180, 400.0))
    # The index is scored before the intervention: a stop cannot change it.
    assert calm.index.index is not None
    assert burst.index.index == pytest.approx(calm.index.index, abs=1e-12)
    assert burst.prescription == calm.prescription

    d = _detail(burst.store_path, burst.session_id)
    safety = d["safety_events"]
    kinds = [(e["kind"], e["detail"]["rule"]) for e in safety]
    assert kinds[0] == ("stop", "S2") and ("hr_recovery", "R1") in kinds
    stop = safety[0]
    # S2 threshold by hand: rest from the scored RR, HRmax 208 - 0.7 * 30 = 187 bpm,
    # stop at min(rest + 0.85 (HRmax - rest), 0.95 HRmax).
    rest = burst.features["hr_mean_bpm"]
    stop_bpm = min(rest + 0.85 * (187.0 - rest), 0.95 * 187.0)
    assert stop["detail"]["hr_bpm"] >= stop_bpm
    assert stop["detail"]["reason"].startswith("[S2]")
    # HR (60 / median of 5 RR) reaches 180 bpm at the 3rd fast beat: 100 s + 3 beats, within
    # the strap's 1-s notification period.
    assert 150.0 + 2 * (60 / 180) <= stop["t_s"] <= 150.0 + 3 * (60 / 180) + 1.5
    phases = {p["name"]: p for p in d["phases"]}
    assert phases["guided_intervention"]["t_end_s"] == pytest.approx(stop["t_s"])
    assert phases["recovery"]["t_start_s"] == pytest.approx(stop["t_s"])
    # the controller was built from the prescription's zone
    loop_start = [e for e in d["events"] if e["kind"] == "loop_start"]
    assert loop_start and loop_start[0]["detail"]["zone_bpm"] == list(
        burst.prescription.hr_target_bpm
    )
    assert burst.safety_events[0][1] == "stop" and not burst.stopped
    # the calm session has no stop
    assert not [
        e
        for e in _detail(calm.store_path, calm.session_id)["safety_events"]
        if e["kind"] == "stop"
    ]


def test_symptom_in_intervention_stops_it_and_the_stop_button_ends_the_session(tmp_path):
    rr = _rr_with_burst(1e9, 1e9, 1.0, 400.0)
    live_ref = {}

    def symptom_at_160(phase, t, total):
        if t >= 160.0 and "sent" not in live_ref:
            live_ref["sent"] = True
            live_ref["live"].report_symptom("dizziness")

    dur = GUIDED_SHORT.duration_s + 60.0
    res = run_assessment(
        "P103",
        store_dir=tmp_path,
        protocol=GUIDED_SHORT,
        headband=SimulatedHeadband(duration_s=dur, seed=4),
        strap=SimulatedStrap(rr, duration_s=dur, seed=4),
        on_start=lambda live, sid: live_ref.update(live=live),
        on_progress=symptom_at_160,
        age=30,
        consent_given=True,
    )
    d = _detail(res.store_path, res.session_id)
    stops = [e for e in d["safety_events"] if e["kind"] == "stop"]
    assert len(stops) == 1 and stops[0]["detail"]["rule"] == "S6"
    assert "dizziness" in stops[0]["detail"]["reason"]
    assert 160.0 <= stops[0]["t_s"] <= 161.0
    # the intervention ended there; the recovery ran to its end (the session was not stopped)
    assert [p[0] for p in res.phases][-2:] == ["guided_intervention", "recovery"]
    assert res.phases[-1][2] - res.phases[-1][1] == pytest.approx(80.0, abs=0.6)
    assert not res.stopped

    # The stop button during the eyes-closed rest ends the whole session at once.
    def stop_at_30(phase, t, total):
        if t >= 30.0 and live_ref.get("stop") is None:
            live_ref["stop"] = True
            live_ref["live"].request_stop("stop button pressed")

    res2 = run_assessment(
        "P104",
        store_dir=tmp_path,
        protocol=SHORT,
        on_start=lambda live, sid: live_ref.update(live=live),
        on_progress=stop_at_30,
        age=30,
        consent_given=True,
    )
    assert res2.stopped
    d2 = _detail(res2.store_path, res2.session_id)
    (stop,) = d2["safety_events"]
    assert (stop["kind"], stop["detail"]["rule"]) == ("stop", "S6") and 30.0 <= stop["t_s"] < 31.0
    assert "session_stopped" in [e["kind"] for e in d2["events"]]
    assert d2["status"] == "complete"
    assert res2.phases[-1][0] == "eyes_closed_rest" and res2.phases[-1][2] == pytest.approx(
        stop["t_s"]
    )
    assert res2.session_time_s < 31.0


def test_ticker_pauses_when_both_devices_go_silent(tmp_path):
    dur = SHORT.duration_s + 60.0
    hb = SimulatedHeadband(duration_s=dur, dropouts=[(30.0, 40.0)], seed=2)
    st = SimulatedStrap(duration_s=dur, dropouts=[(30.0, 40.0)], seed=2)
    res = run_assessment(
        "P105",
        store_dir=tmp_path,
        protocol=SHORT,
        headband=hb,
        strap=st,
        age=30,
        consent_given=True,
    )
    ev = dict((k, t) for k, t in res.events if k in ("signal_lost", "signal_resumed"))
    # Both devices fall silent at 30 s. Silence longer than LOSS_S = 3 s is noticed by the
    # 0.5-s ticker (at most 0.5 s late), long before any notification comes back at 40 s.
    from addictidx.acquire import iter_notifications

    times = {
        name: [n.t for _, n in iter_notifications({name: d}, until_s=dur)]
        for name, d in (("h", hb), ("s", st))
    }
    t0 = min(times["h"][0], times["s"][0])
    last_data = min(max(t for t in ts if t < 35.0) for ts in times.values()) - t0
    assert last_data < 30.0
    assert last_data + 3.0 < ev["signal_lost"] <= last_data + 3.0 + 0.5 + 1e-9
    # resumed with the first notification at which both devices are back
    first_back = max(min(t for t in ts if t > 35.0) for ts in times.values()) - t0
    assert first_back == pytest.approx(ev["signal_resumed"], abs=0.1)
    # the paused time does not count: the eyes-closed phase is longer by the pause and by the
    # ticker step that noticed the loss (PhaseClock counts no step that ends without signal)
    (ec,) = [p for p in res.phases if p[0] == "eyes_closed_rest"]
    paused = ev["signal_resumed"] - ev["signal_lost"]
    assert ec[2] - ec[1] == pytest.approx(40.0 + paused + 0.5, abs=0.05)


def test_real_device_path_through_bleak_transport_with_reconnect(tmp_path):
    fb = _fake_bleak()
    dur = SHORT.duration_s + 40.0
    head = SimulatedHeadband(duration_s=dur, seed=6)
    strap = SimulatedStrap(duration_s=dur, seed=6)
    ph = fb.FakePeripheral(head, "00:55:DA:B0:00:11", "SimMuse-0011")
    ps = fb.FakePeripheral(strap, "A0:9E:1A:00:00:12", "SimHRS 12", battery=77)
    world = fb.FakeWorld([ph, ps], drops=[("sim-hrs", 25.0, 6.0)])
    scanner, client = fb.make_fakes(world)
    kind, hb, st = session_devices(False, "sim-muse", "sim-hrs")
    assert kind == "ble" and isinstance(hb, BleDevice) and hb.profile.name == "sim-muse"
    opts = dict(
        clock=world,
        scanner_cls=scanner,
        client_cls=client,
        check_interval_s=0.002,
        backoff=Backoff(initial_s=0.001, max_s=0.002),
        command_delay_scale=0.0,
        watchdog_s=None,
        seed=0,
    )

    async def main():
        wt = asyncio.create_task(world.run())
        try:
            return await asyncio.wait_for(
                run_assessment_async(
                    "P106",
                    store_dir=tmp_path,
                    protocol=SHORT,
                    devices=kind,
                    headband=hb,
                    strap=st,
                    transport_options=opts,
                    age=30,
                    consent_given=True,
                ),
                timeout=120,
            )
        finally:
            world.closed = True
            await wt

    res = asyncio.run(main())
    assert not res.simulated and res.devices == {"headband": "sim-muse", "strap": "sim-hrs"}
    assert res.index.index is not None or res.index.reason
    d = _detail(res.store_path, res.session_id)
    assert d["status"] == "complete" and d["simulated"] in (0, False)
    links = [
        (e["detail"]["device"], e["detail"]["link"]) for e in d["events"] if e["kind"] == "link"
    ]
    assert ("sim-hrs", "disconnected") in links
    assert links.count(("sim-hrs", "connected")) >= 1
    gaps = [e["detail"] for e in d["events"] if e["kind"] == "gap"]
    assert any(g["device"] == "sim-hrs" and g["reason"] == "disconnect" for g in gaps)
    # the strap silent for 6 s (> LOSS_S) paused the session, and it resumed after reconnect
    kinds = [e["kind"] for e in d["events"]]
    assert "signal_lost" in kinds and "signal_resumed" in kinds
    # every beat the strap delivered while connected is in the raw recording, in order
    from addictidx.acquire.decoders import decode_heart_rate_measurement
    from addictidx.store.raw import read_raw

    sent = np.concatenate([decode_heart_rate_measurement(n.payload).rr_1024 for n in ps.delivered])
    raw = read_raw(
        Path(d["recording"]["raw_dir"])
        if Path(d["recording"]["raw_dir"]).is_absolute()
        else res.store_path.parent / d["recording"]["raw_dir"]
    )
    np.testing.assert_allclose(raw.rr_s, (sent / 1024.0)[: raw.rr_s.size])
    assert raw.rr_s.size >= sent.size - 2  # at most the last notifications after the end


def test_session_devices_auto_profiles_and_athena_accepted():
    kind, hb, st = session_devices(False)
    assert (kind, hb.profile.name, st.profile.name) == ("ble", "muse-2", "generic-hrs")
    # Muse S Athena is accepted when named (issue #3 items 4-5); a non-Muse headband is not
    assert session_devices(False, "muse-s-athena")[1].profile.name == "muse-s-athena"
    with pytest.raises(ValueError, match="no Muse 'eeg' stream"):
        session_devices(False, "polar-h10")
    kind, hb, st = session_devices(True, duration_s=30.0)
    assert kind == "simulate" and hb.profile.name == "sim-muse" and st.profile.name == "sim-hrs"
