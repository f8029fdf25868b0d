"""Public decoding interface: decode(), DecodedPacket.to_dict(), DecodeError, encode_command, CLI.

Expected values come from the shared BLE test vectors (library unit tests and device captures,
``tests/data/ble_test_vectors.json``), the Bluetooth SIG / Polar SDK definitions written out by
hand below, and round trips through the independent encoders used by the simulated devices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import addictidx.acquire as acq
from addictidx._core.errors import DecodeError, ProfileError
from addictidx.acquire import (
    DecodedPacket,
    decode,
    encode_command,
    encode_heart_rate_measurement,
    encode_muse_eeg,
    list_profiles,
    load_profile,
)
from addictidx.acquire.decode_api import (
    UNITS,
    DecodeProfileError,
    decodable_characteristics,
    normalize_characteristic,
)

DATA = Path(__file__).parent / "data"
VECTORS = {v["id"]: v for v in json.loads((DATA / "ble_test_vectors.json").read_text())["vectors"]}
MUSE = "-4c4d-454d-96be-f03bac821358"
HRM = "00002a37-0000-1000-8000-00805f9b34fb"
BATT = "00002a19-0000-1000-8000-00805f9b34fb"
PMD_CP = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
KEYS = {"stream", "sequence", "timestamp_ns", "channels", "units", "fields"}


def _b(vid: str) -> bytes:
    return bytes.fromhex(VECTORS[vid]["hex"])


def _one(profile: str, uuid: str, payload: bytes) -> dict:
    (p,) = decode(profile, uuid, payload)
    d = p.to_dict()
    assert set(d) == KEYS
    assert json.loads(json.dumps(d)) == d  # plain JSON data
    return d


# ---- the public names -------------------------------------------------------------------------


def test_public_names_are_exported():
    for name in ("decode", "DecodedPacket", "DecodeError", "encode_command"):
        assert name in acq.__all__ and hasattr(acq, name)
    assert acq.DecodeError is DecodeError


# ---- every notification vector through decode() -----------------------------------------------


def test_muse_eeg_vector():
    d = _one("muse-2", "273e0006" + MUSE, _b("muse.eeg.notification_tp10"))
    exp = VECTORS["muse.eeg.notification_tp10"]["expected"]
    assert d["stream"] == "eeg" and d["sequence"] == exp["sequence"]
    assert d["channels"] == {"TP10": exp["uV"]} and d["units"] == {"TP10": "uV"}
    assert d["timestamp_ns"] is None


def test_muse_eeg_unpack12_vector_with_sequence_prefix():
    exp = VECTORS["muse.eeg.unpack12"]["expected"]
    d = _one("muse-s", "273e0003" + MUSE, bytes([0x12, 0x34]) + _b("muse.eeg.unpack12"))
    assert d["sequence"] == 0x1234
    assert d["channels"]["TP9"] == exp["uV (0.48828125*(n-2048)) [derived_by_report]"]


def test_muse_aux_channel_has_its_own_stream():
    d = _one("muse-2016", "273e0007" + MUSE, _b("muse.eeg.notification_tp10"))
    assert d["stream"] == "eeg_aux" and list(d["channels"]) == ["AUX"]


def test_muse_ppg_vector_unsigned():
    exp = VECTORS["muse.ppg.unpack24"]["expected"]["u24"]
    d = _one("muse-2", "273e0010" + MUSE, bytes([0, 7]) + _b("muse.ppg.unpack24"))
    assert d["stream"] == "ppg" and d["sequence"] == 7
    assert d["channels"] == {"infrared": exp} and d["units"] == {"infrared": "counts"}


def test_muse_accelerometer_vector():
    v = VECTORS["muse.accelerometer"]["expected"]
    d = _one("muse-2", "273e000a" + MUSE, _b("muse.accelerometer"))
    assert d["stream"] == "acc" and d["sequence"] == v["sequence"]
    got = np.array([d["channels"][c] for c in ("x", "y", "z")]).T  # (sample, axis)
    np.testing.assert_allclose(got, v["g (raw*0.0000610352)"], rtol=1e-12)
    assert set(d["units"].values()) == {"g"}


def test_muse_gyroscope_scale_positive_legacy():
    raw = [100, -200, 300, 1, 2, 3, -1, -2, -3]
    payload = bytes([0, 9]) + np.array(raw, ">i2").tobytes()
    d = _one("muse-2", "273e0009" + MUSE, payload)
    assert d["stream"] == "gyro" and d["units"]["x"] == "deg/s"
    np.testing.assert_allclose(d["channels"]["x"], np.array([100, 1, -1]) * 0.0074768, rtol=1e-12)


def test_muse_telemetry_vector():
    v = VECTORS["muse.telemetry"]["expected"]
    d = _one("muse-2", "273e000b" + MUSE, _b("muse.telemetry"))
    assert d["stream"] == "telemetry" and d["sequence"] == v["sequence"]
    assert d["channels"]["battery_pct"] == [v["battery_pct(u16/512)"]]
    assert d["channels"]["fuel_gauge_v"][0] == pytest.approx(v["fuel_gauge_mV(u16*2.2)"] / 1000)
    assert d["units"] == {"battery_pct": "%", "fuel_gauge_v": "V"}
    assert d["fields"] == {
        "adc_raw": v["adc_u16 [derived_by_report, meaning unknown]"],
        "temperature_raw": v["temperature(u16)"],
    }


def test_muse_control_fragments_stateless():
    frags = VECTORS["muse.control.json_fragments"]["fragments"]
    texts = []
    for f in frags:
        payload = (bytes([len(f)]) + f.encode()).ljust(20, b"\0")
        d = _one("muse-s", "273e0001" + MUSE, payload)
        assert d["stream"] == "control" and d["channels"] == {}
        texts.append(d["fields"]["text"])
    assert texts == frags


@pytest.mark.parametrize("vid", sorted(k for k in VECTORS if k.startswith("hrs.2a37.")))
@pytest.mark.parametrize("profile", ["generic-hrs", "polar-h10"])
def test_hrs_vectors(vid, profile):
    exp = VECTORS[vid]["expected"]
    d = _one(profile, "2a37", _b(vid))
    f = d["fields"]
    assert d["stream"] == "hr" and d["units"] == {"hr": "bpm", "rr": "s"}
    if "hr" in exp:
        assert f["hr_bpm"] == exp["hr"] and d["channels"]["hr"] == [float(exp["hr"])]
    if "contact_supported" in exp:
        assert f["contact_supported"] is exp["contact_supported"]
    if "contact_detected" in exp:
        assert f["contact_detected"] is exp["contact_detected"]
    if "energy_kJ" in exp:
        assert f["energy_kj"] == exp["energy_kJ"]
    if "rr_1024" in exp:
        assert f["rr_1024"] == exp["rr_1024"]
        assert f["rr_s"] == d["channels"]["rr"] == [n / 1024 for n in exp["rr_1024"]]
    if "rr_ms" in exp:  # SDK rounds to ms
        assert [round(s * 1000) for s in f["rr_s"]] == exp["rr_ms"]
    if "rr_ms_exact" in exp:
        assert [s * 1000 for s in f["rr_s"]] == exp["rr_ms_exact"]


@pytest.mark.parametrize(
    ("flags", "tail", "expected"),
    [
        # hand-decoded per the SIG definition: flags, HR, [energy], RR...
        (0x00, b"\x48", dict(hr_bpm=72, contact_supported=False, contact_detected=None)),
        (0x04, b"\x48", dict(hr_bpm=72, contact_supported=True, contact_detected=False)),
        (0x06, b"\x48", dict(hr_bpm=72, contact_supported=True, contact_detected=True)),
        (0x01, b"\x2c\x01", dict(hr_bpm=300, hr_uint16=True)),
        (0x08, b"\x48\x10\x27", dict(hr_bpm=72, energy_kj=10000, rr_s=[])),
        (0x18, b"\x48\x10\x27\x00\x04\x00\x02", dict(energy_kj=10000, rr_s=[1.0, 0.5])),
        (0x19, b"\x2c\x01\x01\x00\x00\x04", dict(hr_bpm=300, energy_kj=1, rr_s=[1.0])),
        (0x10, b"\x48" + b"\x00\x03" * 4, dict(rr_s=[0.75] * 4)),
    ],
)
def test_hrs_flag_combinations(flags, tail, expected):
    f = _one("generic-hrs", HRM, bytes([flags]) + tail)["fields"]
    for k, v in expected.items():
        assert f[k] == v, k


@settings(max_examples=150, deadline=None)
@given(
    hr=st.integers(0, 255),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=8),
    contact=st.sampled_from([None, True, False]),
    energy=st.one_of(st.none(), st.integers(0, 0xFFFF)),
    uint16=st.booleans(),
)
def test_random_valid_hrs_decode_exactly(hr, rr, contact, energy, uint16):
    payload = encode_heart_rate_measurement(
        hr, rr, contact=contact, energy_kj=energy, uint16=uint16
    )
    f = _one("generic-hrs", "0x2A37", payload)["fields"]
    assert f["hr_bpm"] == hr and f["rr_1024"] == rr and f["rr_s"] == [n / 1024 for n in rr]
    assert f["energy_kj"] == energy and f["contact_supported"] is (contact is not None)
    assert f["contact_detected"] is contact


@settings(max_examples=100, deadline=None)
@given(
    seq=st.integers(0, 0xFFFF),
    raw=st.lists(st.integers(0, 4095), min_size=12, max_size=12),
    ch=st.sampled_from([("273e0003", "TP9"), ("273e0004", "AF7"), ("273e0005", "AF8")]),
)
def test_random_valid_muse_eeg_decode_exactly(seq, raw, ch):
    uv = [0.48828125 * (r - 2048) for r in raw]  # exact in binary floating point
    d = _one("muse-2", ch[0] + MUSE, encode_muse_eeg(seq, uv))
    assert d["sequence"] == seq and d["channels"] == {ch[1]: uv}


def test_battery_level():
    d = _one("generic-hrs", "2A19", bytes([87]))
    assert d == {
        "stream": "battery",
        "sequence": None,
        "timestamp_ns": None,
        "channels": {"battery_pct": [87.0]},
        "units": {"battery_pct": "%"},
        "fields": {},
    }


# ---- Polar PMD ----------------------------------------------------------------------------------


def test_pmd_settings_response_vector():
    exp = VECTORS["pmd.cp.get_ecg_settings_response"]["expected"]
    d = _one("polar-h10", PMD_CP, _b("pmd.cp.get_ecg_settings_response"))
    f = d["fields"]
    assert d["stream"] == "control" and d["channels"] == {} and d["units"] == {}
    assert (f["op"], f["measurement_type"], f["status"], f["more"]) == (
        exp["op"],
        exp["type"],
        0,
        exp["more"],
    )
    assert f["status_name"] == exp["status"] == "SUCCESS"
    assert f["settings"] == exp["settings"] == {"SAMPLE_RATE": [130], "RESOLUTION": [14]}


def test_pmd_sdk_response_with_non_settings_parameters():
    d = _one("polar-h10", PMD_CP, _b("pmd.cp.response_acc_settings_sdk_test"))
    assert d["fields"]["op_name"] == "GET_MEASUREMENT_SETTINGS"
    assert d["fields"]["parameters_hex"] == "ffffff" and d["fields"]["settings"] == {}


def test_pmd_feature_read_vector():
    exp = VECTORS["pmd.cp.read_features_h10"]["expected"]
    f = _one("polar-h10", PMD_CP, _b("pmd.cp.read_features_h10"))["fields"]
    for k in ("ECG", "PPG", "ACC", "PPI", "GYRO", "MAG"):
        assert (k in f["features"]) is exp[k]


# Polar SDK PmdControlPointResponse.PmdControlPointResponseCode, written out by hand.
SDK_STATUS = [
    "SUCCESS",
    "ERROR_INVALID_OP_CODE",
    "ERROR_INVALID_MEASUREMENT_TYPE",
    "ERROR_NOT_SUPPORTED",
    "ERROR_INVALID_LENGTH",
    "ERROR_INVALID_PARAMETER",
    "ERROR_ALREADY_IN_STATE",
    "ERROR_INVALID_RESOLUTION",
    "ERROR_INVALID_SAMPLE_RATE",
    "ERROR_INVALID_RANGE",
    "ERROR_INVALID_MTU",
    "ERROR_INVALID_NUMBER_OF_CHANNELS",
    "ERROR_INVALID_STATE",
    "ERROR_DEVICE_IN_CHARGER",
    "ERROR_DISK_FULL",
    "ERROR_INVALID_SOURCE_MEASUREMENT_TYPE",
    "ERROR_INVALID_SOURCE_MEASUREMENT_RATE",
    "ERROR_INVALID_DERIVED_MEASUREMENT_SETTINGS_GROUP",
    "ERROR_INVALID_DERIVED_MEASUREMENT_METHOD",
]


@pytest.mark.parametrize("status", range(len(SDK_STATUS) + 1))
def test_pmd_every_status_code(status):
    f = _one("polar-h10", PMD_CP, bytes([0xF0, 0x02, 0x00, status, 0x00]))["fields"]
    assert f["status"] == status and f["op"] == 2 and f["measurement_name"] == "ECG"
    expected = SDK_STATUS[status] if status < len(SDK_STATUS) else f"UNKNOWN_{status}"
    assert f["status_name"] == expected


def test_pmd_real_invalid_parameter_capture():
    # real H10 exchange: '02 00' -> 'f0 02 00 05 00' (PROTOCOLS §3.2)
    f = _one("polar-h10", PMD_CP, bytes.fromhex("f002000500"))["fields"]
    assert f["status_name"] == "ERROR_INVALID_PARAMETER" and f["more"] is False


def test_pmd_ecg_real_frame():
    v = VECTORS["pmd.data.ecg_h10_real_frame"]["expected"]
    d = _one("polar-h10", PMD_DATA, _b("pmd.data.ecg_h10_real_frame"))
    assert d["stream"] == "ecg" and d["units"] == {"ECG": "uV"}
    assert d["timestamp_ns"] == v["timestamp_ns_since_2000"]  # device time, not Unix time
    assert d["fields"]["timestamp_unix_ns"] == v["timestamp_ns_since_2000"] + 946_684_800 * 10**9
    assert len(d["channels"]["ECG"]) == v["n_samples"] == d["fields"]["n_samples"]
    assert d["channels"]["ECG"] == [float(x) for x in v["uV"]]


def test_pmd_acc_type1_vector_in_g():
    v = VECTORS["pmd.data.acc_type1_raw_sdk_prefix"]["expected"]
    d = _one("polar-h10", PMD_DATA, _b("pmd.data.acc_type1_raw_sdk_prefix"))
    assert d["stream"] == "acc" and d["timestamp_ns"] == v["timestamp"]
    got = [[d["channels"][c][i] for c in ("x", "y", "z")] for i in range(2)]
    assert got == [[m / 1000 for m in s] for s in v["mG"]]
    assert set(d["units"].values()) == {"g"}


def test_pmd_acc_compressed_type1_vector():
    v = VECTORS["pmd.data.acc_compressed_type1_sdk"]["expected"]
    d = _one("polar-h10", PMD_DATA, _b("pmd.data.acc_compressed_type1_sdk"))
    got = [[round(d["channels"][c][i] * 1000) for c in ("x", "y", "z")] for i in range(2)]
    assert got == v["samples_raw"] and d["fields"]["compressed"] is True


def test_pmd_compressed_type0_needs_factor_and_is_rejected():
    with pytest.raises(DecodeError, match="at byte 9: frame type 0x80") as ei:
        decode("polar-h10", PMD_DATA, _b("pmd.data.acc_compressed_type0_sdk"))
    assert ei.value.stream == "acc" and ei.value.byte_offset == 9


def test_pmd_unknown_measurement_type():
    payload = bytes([0x01]) + bytes(8) + bytes([0]) + bytes(6)  # PPG frame to an H10 profile
    with pytest.raises(DecodeError, match=r"at byte 0: measurement type 1 \(PPG\)"):
        decode("polar-h10", PMD_DATA, payload)


# ---- shape invariants over every vector-decodable route ---------------------------------------


def _sample_calls():
    yield "muse-2", "273e0006" + MUSE, _b("muse.eeg.notification_tp10")
    yield "muse-2", "273e000b" + MUSE, _b("muse.telemetry")
    yield "muse-2", "273e000a" + MUSE, _b("muse.accelerometer")
    yield "muse-2", "273e000f" + MUSE, bytes(2) + _b("muse.ppg.unpack24")
    yield "generic-hrs", HRM, _b("hrs.2a37.polar_h7_capture_163c1104")
    yield "polar-h10", BATT, bytes([50])
    yield "polar-h10", PMD_DATA, _b("pmd.data.ecg_h10_real_frame")
    yield "polar-h10", PMD_DATA, _b("pmd.data.acc_type1_raw_sdk_prefix")
    for vid in ("athena.packet.brainflow_pr779_a", "athena.packet.openmuse_newfw_0"):
        yield "muse-s-athena", "273e0013" + MUSE, _b(vid)


def test_packets_use_profile_channels_and_allowed_units():
    for profile, uuid, payload in _sample_calls():
        prof = load_profile(profile)
        routed = {c for s in prof.streams if uuid in s.routes for c in s.channels}
        for p in decode(profile, uuid, payload):
            assert isinstance(p, DecodedPacket)
            assert p.stream in prof.stream_names
            assert set(p.channels) <= routed and set(p.units) == set(p.channels)
            assert set(p.units.values()) <= set(UNITS)
            for _name, arr in p.channels.items():
                assert arr.dtype == np.float64 and not arr.flags.writeable
            if p.stream in ("acc", "gyro"):
                assert all(c[-1] in "xyz" for c in p.channels)


def test_packet_is_frozen():
    (p,) = decode("generic-hrs", HRM, bytes([6, 60]))
    with pytest.raises(AttributeError):
        p.stream = "x"
    with pytest.raises(TypeError):
        p.channels["hr"] = np.zeros(1)
    with pytest.raises(ValueError):
        p.channels["hr"][0] = 1.0


# ---- characteristic forms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    ["2a37", "2A37", "0x2a37", "0x2A37", "00002a37", HRM, HRM.upper(), HRM.replace("-", "")],
)
def test_characteristic_forms(form):
    assert normalize_characteristic(form) == HRM
    assert _one("generic-hrs", form, bytes([6, 60]))["fields"]["hr_bpm"] == 60


def test_muse_uuid_upper_case():
    d = _one("muse-2", ("273e0006" + MUSE).upper(), _b("muse.eeg.notification_tp10"))
    assert d["stream"] == "eeg"


@pytest.mark.parametrize("bad", ["", "2a3", "xyz", "0x2a37f", "273e0006-4c4d"])
def test_bad_characteristic_is_a_decode_error(bad):
    with pytest.raises(DecodeError, match="not a UUID"):
        decode("generic-hrs", bad, bytes([6, 60]))


def test_characteristic_not_in_profile_lists_known_ones():
    with pytest.raises(DecodeError, match="has no stream on characteristic") as ei:
        decode("muse-2", "2a37", bytes([6, 60]))
    assert "273e0003" + MUSE in str(ei.value)


def test_decodable_characteristics_cover_all_profile_routes():
    for name in list_profiles():
        prof = load_profile(name)
        routes = decodable_characteristics(name)
        for s in prof.streams:
            for uuid in s.routes:
                assert uuid in routes
        if prof.control is not None:
            assert routes[prof.control.characteristic] == ("control",)


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "uuid", "payload", "stream", "offset"),
    [
        ("muse-2", "273e0004" + MUSE, bytes(19), "eeg", 19),
        ("muse-2", "273e000a" + MUSE, bytes(21), "acc", 20),
        ("muse-2", "273e0001" + MUSE, bytes([5, 0x41]), "control", 0),
        ("muse-2", "273e0001" + MUSE, bytes([2, 0x41, 0x07]), "control", 2),
        ("generic-hrs", "2a37", bytes([0x01, 0x3C]), "hr", 1),
        ("generic-hrs", "2a37", bytes([0x10, 0x3C, 0x01]), "hr", 2),
        ("generic-hrs", "2a37", b"", "hr", 0),
        ("generic-hrs", "2a19", bytes([101]), "battery", 0),
        ("polar-h10", PMD_CP, bytes([0xF1, 1, 0, 0]), "control", 0),
        ("polar-h10", PMD_CP, bytes([0xF0, 1]), "control", 2),
        ("polar-h10", PMD_DATA, bytes(9), "ecg/acc", 9),
        ("polar-h10", PMD_DATA, bytes(10) + bytes(4), "ecg", 10),
    ],
)
def test_decode_error_names_profile_stream_and_offset(profile, uuid, payload, stream, offset):
    with pytest.raises(DecodeError) as ei:
        decode(profile, uuid, payload)
    e = ei.value
    msg = str(e)
    assert f"profile {profile!r}" in msg and f"stream {stream!r}" in msg
    assert f"at byte {offset}" in msg and e.byte_offset == offset
    assert e.profile == profile and e.stream == stream
    assert e.characteristic == normalize_characteristic(uuid)
    assert "\n" not in msg


def test_non_bytes_payload_is_a_decode_error():
    with pytest.raises(DecodeError, match="must be bytes"):
        decode("generic-hrs", "2a37", "063c")
    assert decode("generic-hrs", "2a37", bytearray([6, 60]))[0].fields["hr_bpm"] == 60
    assert decode("generic-hrs", "2a37", memoryview(bytes([6, 60])))[0].fields["hr_bpm"] == 60


def test_unknown_profile_is_both_profile_and_decode_error():
    with pytest.raises(DecodeError, match="No built-in firmware profile named 'nope'") as ei:
        decode("nope", "2a37", bytes([6, 60]))
    assert isinstance(ei.value, ProfileError) and isinstance(ei.value, DecodeProfileError)


def test_profile_with_bad_athena_layout_fails_clearly(tmp_path):
    src = Path(__file__).resolve().parents[1] / "firmware_profiles" / "muse-s-athena.toml"
    text = src.read_text()
    bad = text.replace('"0x11" = ["TP9", "AF7", "AF8", "TP10"]', '"0x11" = ["TP9", "AF7", "AF8"]')
    assert bad != text
    path = tmp_path / "muse-s-athena.toml"
    path.write_text(bad)
    msg = r"tag_channels\.0x11: TAG 0x11 carries 4 channels"
    with pytest.raises(DecodeProfileError, match=msg):
        decode(str(path), "273e0013" + MUSE, _b("athena.packet.openmuse_newfw_0"))


ROUTES = [(name, uuid) for name in list_profiles() for uuid in decodable_characteristics(name)]


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=260))
@pytest.mark.parametrize(("profile", "uuid"), ROUTES)
def test_random_bytes_only_raise_decode_error(profile, uuid, b):
    try:
        out = decode(profile, uuid, b)
    except DecodeError as e:
        assert f"profile {profile!r}" in str(e) and e.byte_offset is not None
    else:
        for p in out:
            json.dumps(p.to_dict())


# ---- encode_command ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vid", sorted(k for k, v in VECTORS.items() if v["kind"] == "control_command")
)
def test_encode_command_vectors(vid):
    v = VECTORS[vid]
    profile = "muse-s-athena" if vid.startswith("athena.") else "muse-2"
    assert encode_command(profile, v["ascii"]).hex() == v["hex"]


def test_encode_command_polar_hex_framing():
    assert encode_command("polar-h10", "0300") == _b("pmd.cp.stop_ecg")
    v = VECTORS["pmd.cp.start_ecg_130hz_14bit"]
    assert encode_command("polar-h10", v["request_hex"]) == bytes.fromhex(v["request_hex"])
    # ... and the captured answer decodes as SUCCESS
    f = _one("polar-h10", PMD_CP, bytes.fromhex(v["response_hex"]))["fields"]
    assert f["status_name"] == v["expected"]["response_status"] and f["op"] == 2


def test_encode_command_errors():
    with pytest.raises(ProfileError, match="has no \\[control\\] table"):
        encode_command("generic-hrs", "d")
    for bad in ("", "a\nb", "é", "x" * 254):
        with pytest.raises(ValueError, match="cannot encode command"):
            encode_command("muse-2", bad)
    with pytest.raises(ValueError, match="cannot encode command 'zz'"):
        encode_command("polar-h10", "zz")


# ---- CLI ---------------------------------------------------------------------------------------


def _cli(*args):
    from addictidx.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_decode_json_equals_api():
    r = _cli("decode", "generic-hrs", "0x2A37", "163c1104", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [
        p.to_dict() for p in decode("generic-hrs", HRM, bytes.fromhex("163c1104"))
    ]


def test_cli_decode_athena_json_list():
    hx = VECTORS["athena.packet.openmuse_newfw_0"]["hex"]
    r = _cli("decode", "muse-s-athena", "273e0013" + MUSE, hx, "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert [p["stream"] for p in out] == ["acc", "gyro"] + ["eeg"] * 5


def test_cli_decode_human_readable():
    r = _cli("decode", "polar-h10", PMD_CP, "f0 02 00 07 00")
    assert r.exit_code == 0 and "ERROR_INVALID_RESOLUTION" in r.stdout


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("muse-2", "273e0006" + MUSE, "0001"), "at byte 2: expected exactly 20 bytes"),
        (("muse-2", "273e0006" + MUSE, "zz"), "not hex"),
        (("muse-2", "273e0006" + MUSE, "abc"), "odd number of hex digits"),
        (("nope", "2a37", "063c"), "No built-in firmware profile"),
        (("generic-hrs", "2a3x", "063c"), "not a UUID"),
    ],
)
def test_cli_decode_malformed_exits_nonzero_with_one_line(args, text):
    r = _cli("decode", *args, "--json")
    assert r.exit_code != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and text in lines[0] and lines[0].startswith("addictidx: error:")
    assert "Traceback" not in r.output
