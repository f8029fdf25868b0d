"""Heart Rate Service decoders against the shared vectors (polar-ble-sdk tests, H7 captures)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addictidx._core.errors import DecodeError
from addictidx.acquire.decoders import (
    HeartRateMeasurement,
    decode_battery_level,
    decode_heart_rate_measurement,
    encode_battery_level,
    encode_heart_rate_measurement,
)

VECTORS = {
    v["id"]: v
    for v in json.loads((Path(__file__).parent / "data" / "ble_test_vectors.json").read_text())[
        "vectors"
    ]
}
HRS_IDS = sorted(k for k, v in VECTORS.items() if v["kind"] == "heart_rate_measurement")


def test_all_hrs_vectors_are_parametrized():
    assert len(HRS_IDS) == len([k for k in VECTORS if k.startswith("hrs.")]) == 12


@pytest.mark.parametrize("vid", HRS_IDS)
def test_hrs_vector(vid):
    v = VECTORS[vid]
    exp = v["expected"]
    m = decode_heart_rate_measurement(bytes.fromhex(v["hex"]))
    assert isinstance(m, HeartRateMeasurement)
    checked = 0
    if "hr" in exp:
        assert m.hr_bpm == exp["hr"]
        checked += 1
    if "contact_supported" in exp:
        assert m.contact_supported is exp["contact_supported"]
        checked += 1
    if "contact_detected" in exp:
        assert m.contact_detected is exp["contact_detected"]
        checked += 1
    if "energy_kJ" in exp:
        assert m.energy_kj == exp["energy_kJ"]
        checked += 1
    if "rr_1024" in exp:
        assert list(m.rr_1024) == exp["rr_1024"]
        checked += 1
    if "rr_ms" in exp:  # the SDK rounds (mapRr1024ToRrMs); we keep exact floats
        assert [round(x) for x in m.rr_ms] == exp["rr_ms"]
        checked += 1
    if "rr_ms_exact" in exp:
        assert list(m.rr_ms) == exp["rr_ms_exact"]
        checked += 1
    assert checked == len(exp)


def test_rr_units_are_exact():
    m = decode_heart_rate_measurement(bytes.fromhex("163c1104"))
    assert m.rr_s == (1.0166015625,)
    assert m.rr_ms == (1016.6015625,)
    m = decode_heart_rate_measurement(
        bytes.fromhex("163cf503")
    )  # second H7 capture in PROTOCOLS §4.1
    assert m.rr_1024 == (1013,) and round(m.rr_ms[0], 1) == 989.3


def _build(flags: int, hr: int, energy: int, rr: list[int]) -> bytes:
    """Hand-built notification with struct, independent of the encoder."""
    out = bytes([flags]) + (struct.pack("<H", hr) if flags & 1 else struct.pack("<B", hr))
    if flags & 0x08:
        out += struct.pack("<H", energy)
    if flags & 0x10:
        out += struct.pack(f"<{len(rr)}H", *rr)
    return out


@pytest.mark.parametrize("flags", range(256))
def test_every_flag_combination(flags):
    hr = 300 if flags & 1 else 72
    rr = [800, 1041, 65535]
    m = decode_heart_rate_measurement(_build(flags, hr, 1234, rr))
    assert m.hr_bpm == hr and m.hr_uint16 is bool(flags & 1)
    contact = (flags >> 1) & 3
    assert m.contact_supported is (contact >= 2)
    assert m.contact_detected == {0: None, 1: None, 2: False, 3: True}[contact]
    assert m.energy_kj == (1234 if flags & 0x08 else None)
    assert m.rr_1024 == (tuple(rr) if flags & 0x10 else ())


@pytest.mark.parametrize(
    ("hexstr", "match"),
    [
        ("", "at byte 0: missing flags"),
        ("00", "at byte 1: flags demand a uint8 heart rate"),
        ("013c", "at byte 1: flags demand a uint16 heart rate"),
        ("083c10", "at byte 2: flags demand a uint16 energy"),
        ("093c0010", "at byte 3: flags demand a uint16 energy"),
        ("163c110420", "at byte 2: RR field has odd length 3"),
        ("1e3cffff1104aa", "at byte 4: RR field has odd length 3"),
    ],
)
def test_truncated_payloads_name_the_offset(hexstr, match):
    payload = bytes.fromhex(hexstr)
    with pytest.raises(DecodeError, match=match) as e:
        decode_heart_rate_measurement(payload)
    assert "decode_heart_rate_measurement" in str(e.value)
    assert f"{len(payload)}-byte" in str(e.value)


def test_rr_flag_without_values_is_empty():
    m = decode_heart_rate_measurement(bytes.fromhex("163c"))
    assert m.hr_bpm == 60 and m.rr_1024 == ()


def test_encoder_reproduces_real_captures():
    # Polar H7 gatttool captures (cal-id/Polar-H7-Pi) quoted in PROTOCOLS §4.1.
    assert encode_heart_rate_measurement(60).hex() == "063c"
    assert encode_heart_rate_measurement(60, [1041]).hex() == "163c1104"
    assert encode_heart_rate_measurement(60, (1013,)).hex() == "163cf503"
    # polar-ble-sdk BleHrClientTest vectors.
    assert (
        encode_heart_rate_measurement(0, contact=None, energy_kj=65535, uint16=True).hex()
        == "090000ffff"
    )
    assert encode_heart_rate_measurement(0x8080, contact=None, uint16=True).hex() == "018080"
    assert encode_heart_rate_measurement(0, [65535], contact=None).hex() == "1000ffff"
    assert encode_heart_rate_measurement(0, contact=False).hex() == "0400"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(hr_bpm=256),
        dict(hr_bpm=-1),
        dict(hr_bpm=70000, uint16=True),
        dict(hr_bpm=60, rr_1024=[70000]),
        dict(hr_bpm=60, energy_kj=-1),
    ],
)
def test_encoder_rejects_out_of_range(kwargs):
    with pytest.raises(ValueError):
        encode_heart_rate_measurement(**kwargs)


@given(
    uint16=st.booleans(),
    hr=st.integers(0, 0xFFFF),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=9),
    contact=st.sampled_from([None, True, False]),
    energy=st.none() | st.integers(0, 0xFFFF),
)
def test_hrs_roundtrip(uint16, hr, rr, contact, energy):
    if not uint16:
        hr &= 0xFF
    payload = encode_heart_rate_measurement(
        hr, rr, contact=contact, energy_kj=energy, uint16=uint16
    )
    m = decode_heart_rate_measurement(payload)
    assert m == HeartRateMeasurement(
        hr_bpm=hr,
        contact_supported=contact is not None,
        contact_detected=contact,
        energy_kj=energy,
        rr_1024=tuple(rr),
        hr_uint16=uint16,
    )
    assert m.rr_s == tuple(x / 1024 for x in rr)


@settings(max_examples=500)
@given(st.binary(max_size=24))
def test_random_bytes_only_raise_decode_error(b):
    for fn in (decode_heart_rate_measurement, decode_battery_level):
        try:
            fn(b)
        except DecodeError:
            pass


def test_battery_level():
    assert decode_battery_level(b"\x00") == 0
    assert decode_battery_level(bytes([100])) == 100
    assert decode_battery_level(encode_battery_level(57)) == 57
    with pytest.raises(DecodeError, match="at byte 0: battery level 101"):
        decode_battery_level(bytes([101]))
    with pytest.raises(DecodeError, match="exactly 1 byte, got 2"):
        decode_battery_level(b"\x10\x00")
    with pytest.raises(ValueError):
        encode_battery_level(101)
