"""Attacks on the decoders (issue 15.6): cut frames, cut responses, impossible values.

A frame that does not hold a whole frame of samples, a response shorter than its layout, or a
physiologically impossible value must be a DecodeError or a flagged value, never a silent
success. Payloads are the real device captures of ``tests/data/ble_test_vectors.json`` (Polar
H10 gatttool session, PROTOCOLS.md §3.2-3.3) cut at every boundary, and Heart Rate Measurements
built by hand from the SIG layout (PROTOCOLS.md §4.1: flags, uint8/uint16 HR, uint16 RR in
1/1024 s). The plausible ranges are the issue's: HR 20-250 bpm, RR 0.2-3 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from addictidx._core.errors import DecodeError
from addictidx.acquire import StreamHub, decode
from addictidx.acquire.decoders.hrs import decode_heart_rate_measurement
from addictidx.acquire.decoders.polar_pmd import decode_pmd_control_response, decode_pmd_ecg

DATA = Path(__file__).parent / "data"
VECTORS = {v["id"]: v for v in json.loads((DATA / "ble_test_vectors.json").read_text())["vectors"]}
HRM = "00002a37-0000-1000-8000-00805f9b34fb"
PMD_CP = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
ECG_FRAME = bytes.fromhex(VECTORS["pmd.data.ecg_h10_real_frame"]["hex"])  # 10 + 73 x 3 bytes
SETTINGS = bytes.fromhex(VECTORS["pmd.cp.get_ecg_settings_response"]["hex"])  # 13 bytes


# ---- PMD ECG frames cut at a 3-byte boundary --------------------------------------------------


def test_whole_real_frame_still_decodes():
    ts, uv = decode_pmd_ecg(ECG_FRAME, n_samples=73)
    assert (
        uv.size == 73
        and ts == VECTORS["pmd.data.ecg_h10_real_frame"]["expected"]["timestamp_ns_since_2000"]
    )


@pytest.mark.parametrize("n_kept", range(73))
def test_cut_ecg_frame_is_a_decode_error(n_kept):
    # 10-byte header + n_kept whole int24 samples: a whole number of samples, but not a whole
    # frame; the header's timestamp is that of sample 73, which the cut frame does not hold
    cut = ECG_FRAME[: 10 + 3 * n_kept]
    with pytest.raises(DecodeError) as e:
        decode("polar-h10", PMD_DATA, cut)
    assert e.value.stream == "ecg" and e.value.byte_offset is not None


def test_header_alone_is_an_error_even_without_a_frame_size():
    with pytest.raises(DecodeError, match="no sample"):
        decode_pmd_ecg(ECG_FRAME[:10])


def test_hub_does_not_place_a_cut_frames_samples_and_marks_the_hole():
    # three consecutive H10 frames 73 samples apart on the device clock; the middle one is cut
    ts0 = int.from_bytes(ECG_FRAME[1:9], "little")
    step = 73 * 7_692_308  # ns, 73 samples at 130 Hz

    def frame(k: int) -> bytes:
        return ECG_FRAME[:1] + (ts0 + k * step).to_bytes(8, "little") + ECG_FRAME[9:]

    hub = StreamHub({"h10": "polar-h10"})
    hub.on_notification("h10", PMD_DATA, frame(0), 0.0)
    hub.on_notification("h10", PMD_DATA, frame(1)[: 10 + 3 * 20], 0.56)
    hub.on_notification("h10", PMD_DATA, frame(2), 1.12)
    st = hub.stats()["h10"]
    assert st["n_decode_errors"] == 1 and "20 samples" in st["last_error"]
    w = hub.get_window(3.0, "ecg", "h10")
    x = w.data[0][-3 * 73 :]
    # frame 0 and 2 intact, frame 1 entirely NaN (the cut samples are not put at wrong times)
    assert np.isfinite(x[:73]).all() and np.isnan(x[73:146]).all() and np.isfinite(x[146:]).all()
    assert [(g.stream, g.reason, g.n_missing) for g in hub.gaps] == [("ecg", "loss", 73)]


# ---- PMD control responses shorter than their layout ------------------------------------------


@pytest.mark.parametrize("n", [n for n in range(4, len(SETTINGS)) if n != 9])
def test_cut_ecg_settings_response_is_a_decode_error(n):
    # f0 01 00 00 00 | 00 01 8200 | 01 01 0e00 cut anywhere inside the layout: it never reads
    # as SUCCESS with no settings or with a setting missing its values
    with pytest.raises(DecodeError):
        decode("polar-h10", PMD_CP, SETTINGS[:n])


def test_cut_between_two_whole_settings_keeps_only_whole_values():
    # cut exactly after the SAMPLE_RATE setting: byte-wise a valid shorter list (a device may
    # list fewer settings), so it decodes, but only with values that were whole
    (p,) = decode("polar-h10", PMD_CP, SETTINGS[:9])
    assert p.to_dict()["fields"]["settings"] == {"SAMPLE_RATE": [130]}


def test_cut_response_names_the_offset():
    with pytest.raises(DecodeError) as e:
        decode_pmd_control_response(SETTINGS[:-1])  # RESOLUTION value cut
    assert e.value.byte_offset == 11


@pytest.mark.parametrize(
    "vid",
    [
        "pmd.cp.get_ecg_settings_response",
        "pmd.cp.response_acc_settings_sdk_test",  # unknown setting type: kept raw, not an error
    ],
)
def test_whole_responses_still_decode(vid):
    r = decode_pmd_control_response(bytes.fromhex(VECTORS[vid]["hex"]))
    assert r.ok


def test_start_response_with_its_trailing_byte_still_succeeds():
    # the real H10 start reply f0 02 00 00 00 00 (PROTOCOLS.md §3.2) is not a settings list
    vec = VECTORS["pmd.cp.start_ecg_130hz_14bit"]
    r = decode_pmd_control_response(bytes.fromhex(vec["response_hex"]))
    assert r.ok and dict(r.settings) == {}


# ---- impossible heart rates and RR intervals --------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "hr", "plausible"),
    [
        (bytes([0x01, 0xFF, 0xFF]), 65535, False),  # uint16 HR 65535
        (bytes([0x00, 0x00]), 0, False),  # 0 = no heart rate yet
        (bytes([0x00, 19]), 19, False),
        (bytes([0x00, 20]), 20, True),
        (bytes([0x00, 250]), 250, True),
        (bytes([0x00, 251]), 251, False),
        (bytes([0x01, 0x2C, 0x01]), 300, False),
    ],
)
def test_impossible_heart_rate_is_flagged(payload, hr, plausible):
    assert decode_heart_rate_measurement(payload).hr_plausible is plausible
    (p,) = decode("generic-hrs", HRM, payload)
    f = p.to_dict()["fields"]
    assert f["hr_bpm"] == hr and f["hr_plausible"] is plausible


def test_impossible_rr_is_flagged():
    # RR 0.1 s (102/1024), 0.2 s exactly (204.8 -> 205/1024 > 0.2), 3 s (3072), 3.5 s (3584)
    rr = [102, 205, 3072, 3584]
    payload = bytes([0x10, 60]) + b"".join(v.to_bytes(2, "little") for v in rr)
    (p,) = decode("generic-hrs", HRM, payload)
    assert p.to_dict()["fields"]["rr_plausible"] == [False, True, True, False]
    assert decode_heart_rate_measurement(payload).rr_plausible == (False, True, True, False)


def test_hub_turns_an_impossible_heart_rate_into_a_missing_sample():
    hub = StreamHub({"strap": "generic-hrs"})
    hub.on_notification("strap", HRM, bytes([0x11, 0xFF, 0xFF, 0x00, 0x04]), 1.0)  # 65535 bpm
    hub.on_notification("strap", HRM, bytes([0x10, 61, 0x66, 0x00]), 2.0)  # 61 bpm, RR 0.1 s
    hr = hub.get_window(5.0, "hr", "strap").data[0]
    assert np.isnan(hr[0]) and hr[1] == 61.0
    rr = hub.get_window(5.0, "rr", "strap").data[0]
    np.testing.assert_array_equal(rr, [1.0, 102 / 1024])  # RR kept as sent (nothing lost)
    st = hub.stats()["strap"]
    assert st["hr_implausible"] == 1 and st["rr_implausible"] == 1
