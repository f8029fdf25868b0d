"""LSL outlets and inlets: metadata, exact values and times, gaps counted, nothing identifying."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest

lsl = pytest.importorskip("mne_lsl.lsl", reason="LSL tests need mne-lsl (extra 'lsl')")

from addictidx._core.types import Chunk, StreamSpec  # noqa: E402
from addictidx.interop.lsl_in import LslSource, LslStreamNotFound, rr_unit_scale  # noqa: E402
from addictidx.interop.lsl_out import LslPublisher  # noqa: E402

EEG = StreamSpec("muse-2", "eeg", "eeg", ("TP9", "AF7", "AF8", "TP10"), 256.0, "uV", 12)
RR = StreamSpec("polar-h10", "rr", "rr", ("rr",), None, "s")


def _wait(pred, timeout=120.0):  # bounds a hang only
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _subscribed(*outlets) -> None:
    """Wait until each outlet has a consumer: liblsl registers the inlet's queue on the outlet
    after ``open_stream`` may already have returned, and a sample pushed before that is never
    delivered (a fixed sleep raced this on a loaded machine). Bounds a hang only."""
    for out in outlets:
        assert out.wait_for_consumers(timeout=120), "the inlet never subscribed"


def _outlet(pub, suffix: str):
    """The publisher's outlet whose stream key ends with ``suffix``."""
    (out,) = [o for k, o in pub._outlets.items() if k.endswith(suffix)]
    return out


@pytest.fixture
def prefix():
    # unique stream names: concurrent test runs on one network must not see each other
    return f"addx-test-{uuid.uuid4().hex[:8]}"


def _block(b: int) -> Chunk:
    # Muse EEG values are multiples of 0.48828125 uV; block b holds 12 samples
    data = (np.arange(48, dtype=float).reshape(4, 12) + 100 * b) * 0.48828125
    return Chunk(EEG, data, (b * 12 + np.arange(12)) / 256.0, seq=b)


def test_publisher_metadata_and_exact_samples(prefix):
    pub = LslPublisher(
        session_now=0.0,
        device_info={"muse-2": {"vendor": "Interaxon", "label": "Muse 2"}},
        prefix=prefix,
    )
    pub.on_chunk(_block(0))  # creates the outlet
    (info,) = lsl.resolve_streams(timeout=60, name=f"{prefix} muse-2 eeg")
    inlet = lsl.StreamInlet(info)
    inlet.open_stream(timeout=60)
    full = inlet.get_sinfo()
    assert full.stype == "EEG" and full.sfreq == 256.0 and full.dtype == np.float64
    assert full.get_channel_names() == ["TP9", "AF7", "AF8", "TP10"]
    assert full.get_channel_units() == ["microvolts"] * 4
    xml = full.as_xml
    assert "<manufacturer>Interaxon</manufacturer>" in xml and "<device>Muse 2</device>" in xml
    assert pub.wait_for_consumers(timeout=120)  # the inlet's queue is on the outlet
    for b in range(1, 4):
        pub.on_chunk(_block(b))
    got_x, got_t = [], []

    def pulled():
        x, t = inlet.pull_chunk(timeout=0.2)
        if len(t):
            got_x.append(np.array(x, copy=True)), got_t.append(np.array(t, copy=True))
        return sum(len(t) for t in got_t) >= 36

    assert _wait(pulled)
    x = np.concatenate(got_x)[:36].T
    t = np.concatenate(got_t)[:36]
    want = np.concatenate([_block(b).data for b in range(1, 4)], axis=1)
    np.testing.assert_array_equal(x, want)  # float64 end to end: bit-exact
    want_t = np.concatenate([_block(b).times for b in range(1, 4)]) + pub.offset
    np.testing.assert_allclose(t, want_t, rtol=0, atol=1e-9)
    pub.close()


def test_source_reads_our_streams_and_counts_a_lost_block_as_a_gap(prefix):
    pub = LslPublisher(session_now=0.0, prefix=prefix)
    pub.on_chunk(_block(0))
    pub.on_chunk(Chunk(RR, np.array([[0.8]]), np.array([0.8])))
    src = LslSource(
        eeg_stream=f"{prefix} muse-2 eeg", rr_stream=f"{prefix} polar-h10 rr", timeout=60
    )
    # both inlets' queues on the outlets before block 1 (HR has no inlet here)
    _subscribed(_outlet(pub, "/eeg"), _outlet(pub, "/rr"))
    for b in range(1, 11):
        if b != 5:  # block 5 is lost: 12 samples
            pub.on_chunk(_block(b))
    beats = [(1.6, 0.8), (2.4, 0.8), (4.0, 0.8), (4.8, 0.8)]  # 3.2 s beat lost
    for tb, r in beats:
        pub.on_chunk(Chunk(RR, np.array([[r]]), np.array([tb])))
    chunks: list[Chunk] = []
    assert _wait(
        lambda: (
            chunks.extend(src.poll())
            or sum(c.n_times for c in chunks if c.spec.kind == "eeg") >= 120
            and sum(c.n_times for c in chunks if c.spec.kind == "rr") >= 4
        )
    )
    eeg = [c for c in chunks if c.spec.kind == "eeg"]
    x = np.concatenate([c.data for c in eeg], axis=1)
    t = np.concatenate([c.times for c in eeg])
    assert x.shape == (4, 120) and sum(c.n_missing for c in eeg) == 12
    nan = ~np.isfinite(x[0])
    assert nan.sum() == 12 and np.flatnonzero(nan).tolist() == list(range(48, 60))
    # session clock = LSL time - t0: the source sees the publisher's times shifted by one offset
    # (plus liblsl's clock-offset estimate, tens of microseconds on one host); spacing is exact
    shift = pub.offset - src.t0
    np.testing.assert_allclose(t - t[0], np.arange(120) / 256.0, rtol=0, atol=1e-9)
    assert t[0] == pytest.approx(12 / 256.0 + shift, abs=1e-3)
    np.testing.assert_array_equal(
        x[:, :48], np.concatenate([_block(b).data for b in range(1, 5)], axis=1)
    )
    (g_eeg,) = [g for g in src.gaps if g.stream == "eeg"]
    assert g_eeg.n_missing == 12 and g_eeg.reason == "loss"
    assert g_eeg.duration_s == pytest.approx(12 / 256.0)
    assert g_eeg.start_s - t[0] == pytest.approx(48 / 256.0, abs=1e-9)
    rr = np.concatenate([c.data[0] for c in chunks if c.spec.kind == "rr"])
    np.testing.assert_allclose(rr[-4:], [0.8] * 4, rtol=1e-12)  # published in ms, read back in s
    assert src.rr_unit_note == "ms (metadata)"
    (g_rr,) = [g for g in src.gaps if g.stream == "rr"]
    assert g_rr.duration_s == pytest.approx(0.8, abs=1e-6)
    src.close()
    pub.close()


def test_foreign_rr_stream_in_ms_without_units_is_detected(prefix):
    info = lsl.StreamInfo(f"{prefix} polar rr", "RR", 1, 0.0, "float32", f"{prefix}-rr")
    out = lsl.StreamOutlet(info)
    src = LslSource(eeg_stream=None, rr_stream=f"{prefix} polar rr", timeout=60)
    _subscribed(out)
    t0 = lsl.local_clock()
    for k, r in enumerate([812.0, 804.0, 820.0]):
        out.push_sample(np.array([r], dtype=np.float32), timestamp=t0 + 0.81 * (k + 1))
    chunks = []
    assert _wait(lambda: chunks.extend(src.poll()) or sum(c.n_times for c in chunks) >= 3)
    rr = np.concatenate([c.data[0] for c in chunks])
    np.testing.assert_allclose(rr, [0.812, 0.804, 0.820], rtol=1e-6)
    assert src.rr_unit_note == "ms (detected: median > 3)"
    src.close()


def test_rr_unit_rules():
    assert rr_unit_scale("milliseconds", [0.8]) == (1e-3, "ms (metadata)")
    assert rr_unit_scale("s", [800.0]) == (1.0, "s (metadata)")
    assert rr_unit_scale(None, [780.0, 812.0])[0] == 1e-3
    assert rr_unit_scale("", [0.78, 0.81])[0] == 1.0


def test_markers_and_index_never_carry_the_subject(prefix):
    pub = LslPublisher(session_now=0.0, prefix=prefix)
    pub.on_event("phase", 1.0, {"phase": "eyes_closed_rest", "subject": "P001"})
    (info,) = lsl.resolve_streams(timeout=60, name=f"{prefix} markers")
    inlet = lsl.StreamInlet(info)
    inlet.open_stream(timeout=60)
    assert pub.wait_for_consumers(timeout=120)
    pub.on_event("mark", 2.0, {"label": "staff_mark", "note": "P001 said hello"})
    pub.on_event("safety", 3.0, {"rule": "S2", "reason": "HR >= 85% HRR", "subject": "P001"})
    pub.on_event("phase", 4.0, {"phase": "John Smith 1980-01-01"})  # not a fixed-vocabulary word
    got = []
    assert _wait(lambda: got.extend(inlet.pull_chunk(timeout=0.2)[0]) or len(got) >= 3)
    msgs = [json.loads(m[0]) for m in got]
    assert msgs[0] == {"event": "mark", "label": "staff_mark"}
    assert msgs[1] == {"event": "safety", "rule": "S2", "reason": "HR >= 85% HRR"}
    assert msgs[2] == {"event": "phase"}
    assert "P001" not in json.dumps(msgs) and "Smith" not in json.dumps(msgs)
    assert "P001" not in inlet.get_sinfo().as_xml
    pub.close()


def test_missing_stream_is_one_clear_error(prefix):
    with pytest.raises(LslStreamNotFound, match=f"No LSL stream named '{prefix} nope'"):
        LslSource(eeg_stream=f"{prefix} nope", rr_stream=None, timeout=0.5)


def test_dashboard_runner_publishes_on_lsl(tmp_path):
    """``dashboard --lsl``: the runner's session publishes its streams with full metadata."""
    import asyncio

    from addictidx.dashboard.runner import DashboardRunner

    def complete(found) -> bool:
        return all(any(n.endswith(x) for n in found) for x in (" eeg", " rr", " markers"))

    async def run():
        # real-time replay: the session (and its outlets) outlasts the look-up, which the test
        # ends by stopping it; at speed 20 a loaded machine could end it before the look-up
        runner = DashboardRunner(tmp_path / "store", simulate=True, speed=1.0, lsl=True)
        runner.start("P321", age=40, consent_given=True)
        try:
            deadline = time.monotonic() + 300  # bounds a hang only
            found: dict = {}
            # look until the streams are seen (one resolve can miss some on a loaded machine)
            while not complete(found) and not runner.task.done():
                assert time.monotonic() < deadline, f"streams not found: {sorted(found)}"
                infos = await asyncio.to_thread(lsl.resolve_streams, 2.0)
                found |= {s.name: s for s in infos if s.name.startswith("addictidx ")}
            return found
        finally:
            # the outlets open before the session exists: a stop needs the live session
            deadline = time.monotonic() + 300
            while runner.live is None and not runner.task.done():
                assert time.monotonic() < deadline, "the session did not start"
                await asyncio.sleep(0.05)
            runner.stop()
            await asyncio.wait_for(runner.task, timeout=300)  # bounds a hang only
            runner.close()

    found = asyncio.run(run())
    eeg = [s for n, s in found.items() if n.endswith(" eeg")]
    assert eeg and eeg[0].stype == "EEG" and eeg[0].sfreq == 256.0
    assert any(n.endswith(" markers") for n in found) and any(n.endswith(" rr") for n in found)
    assert all("P321" not in n for n in found)


def test_hr_stream_is_rr_derived_with_the_display_definition(prefix):
    """``HR`` = 60 / median of the last 5 valid RR (from the 3rd), never the strap's field."""
    pub = LslPublisher(session_now=0.0, prefix=prefix)
    hr_field = StreamSpec("polar-h10", "hr", "hr", ("hr",), None, "bpm")
    pub.on_chunk(Chunk(hr_field, np.array([[65535.0]]), np.array([0.5])))  # ignored
    pub.on_chunk(Chunk(RR, np.array([[0.8]]), np.array([0.8])))
    assert not any(n.endswith(" hr") and "65535" in n for n in pub._outlets)
    (info,) = lsl.resolve_streams(timeout=60, name=f"{prefix} polar-h10 hr")
    inlet = lsl.StreamInlet(info)
    inlet.open_stream(timeout=60)
    _subscribed(_outlet(pub, "/hr"))  # only HR has an inlet here
    rr = [0.8, 0.75, 0.1, 0.7, 0.65, 0.6]  # 0.1 s is not a beat
    t = np.cumsum(rr) + 1.0
    pub.on_chunk(Chunk(RR, np.array([rr]), t))
    got = []
    assert _wait(lambda: got.extend(inlet.pull_chunk(timeout=0.2)[0]) or len(got) >= 4)
    vals = [float(v[0]) for v in got]
    # beats so far (valid): 0.8 | 0.8, 0.75, 0.7, 0.65, 0.6 -> hand-computed medians
    want = [
        60 / np.median([0.8, 0.8, 0.75]),
        60 / np.median([0.8, 0.8, 0.75, 0.7]),
        60 / np.median([0.8, 0.8, 0.75, 0.7, 0.65]),
        60 / np.median([0.8, 0.75, 0.7, 0.65, 0.6]),
    ]
    np.testing.assert_allclose(vals, want, rtol=1e-12)
    pub.close()
