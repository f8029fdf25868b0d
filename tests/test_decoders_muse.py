"""Muse decoders against the shared BLE test vectors (muse-js / muse-lsl / BrainFlow /
OpenMuse)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addictidx._core.errors import DecodeError
from addictidx.acquire.decoders import (
    ACC_SCALE_G,
    EEG_SCALE_UV,
    GYRO_SCALE_DPS,
    MuseControlReassembler,
    decode_muse_accelerometer,
    decode_muse_control,
    decode_muse_eeg,
    decode_muse_gyroscope,
    decode_muse_imu,
    decode_muse_ppg,
    decode_muse_telemetry,
    encode_muse_command,
    encode_muse_eeg,
    split_athena_notification,
    unpack_lsb_bits,
    unpack_uint12,
    unwrap_sequence,
)
from addictidx.acquire.decoders.muse_classic import decode_muse_eeg_values

VECTORS = {
    v["id"]: v
    for v in json.loads((Path(__file__).parent / "data" / "ble_test_vectors.json").read_text())[
        "vectors"
    ]
}
CMD_IDS = sorted(k for k, v in VECTORS.items() if v["kind"] == "control_command")
ATHENA_PACKET_IDS = sorted(k for k in VECTORS if k.startswith("athena.packet."))


def _b(vid: str) -> bytes:
    return bytes.fromhex(VECTORS[vid]["hex"])


# Pure-Python reference for the 12-bit MSB-first packing, written from the PROTOCOLS §1.3 text
# ("s0 = b2<<4 | b3>>4 ; s1 = (b3&0x0F)<<8 | b4") with a bit string, independent of the numpy code.
def _ref_unpack12(b: bytes) -> list[int]:
    bits = "".join(f"{x:08b}" for x in b)
    return [int(bits[i : i + 12], 2) for i in range(0, len(bits) - 11, 12)]


def test_every_muse_and_athena_vector_is_covered():
    covered = (
        set(CMD_IDS)
        | set(ATHENA_PACKET_IDS)
        | {
            "muse.eeg.unpack12",
            "muse.eeg.notification_tp10",
            "muse.eeg.sequence_wrap",
            "muse.ppg.unpack24",
            "muse.telemetry",
            "muse.accelerometer",
            "muse.control.json_fragments",
            "athena.bits.lsb_first",
        }
    )
    muse_like = {k for k in VECTORS if k.startswith(("muse.", "athena."))}
    assert muse_like == covered


@pytest.mark.parametrize("vid", CMD_IDS)
def test_encode_command_vectors(vid):
    v = VECTORS[vid]
    assert encode_muse_command(v["ascii"]).hex() == v["hex"]


@pytest.mark.parametrize("bad", ["", "p2\n1", "é", "x" * 254])
def test_encode_command_rejects_bad_text(bad):
    with pytest.raises(ValueError):
        encode_muse_command(bad)


def test_unpack12_vector():
    v = VECTORS["muse.eeg.unpack12"]
    raw = unpack_uint12(_b("muse.eeg.unpack12"))
    assert raw.tolist() == v["expected"]["raw_u12"]
    uv = EEG_SCALE_UV * (raw.astype(float) - 2048)
    np.testing.assert_array_equal(
        uv, v["expected"]["uV (0.48828125*(n-2048)) [derived_by_report]"]
    )


def test_eeg_notification_vector():
    v = VECTORS["muse.eeg.notification_tp10"]
    seq, uv = decode_muse_eeg(_b("muse.eeg.notification_tp10"))
    assert seq == v["expected"]["sequence"]
    assert uv.dtype == np.float64 and uv.shape == (12,)
    np.testing.assert_array_equal(uv, v["expected"]["uV"])


def test_eeg_notification_vector_with_16bit_sequence():
    # The unpack12 samples behind a big-endian sequence 0x1234 (hand-built notification).
    payload = bytes([0x12, 0x34]) + _b("muse.eeg.unpack12")
    seq, uv = decode_muse_eeg(payload)
    assert seq == 0x1234
    assert uv[0] == 0.48828125 * (1394 - 2048)


def test_sequence_wrap_vector():
    v = VECTORS["muse.eeg.sequence_wrap"]
    a, b = (int(s["hex"], 16) for s in v["steps"])
    assert (a, b) == tuple(s["sequence"] for s in v["steps"])
    delta = unwrap_sequence(unwrap_sequence(None, a), b) - a
    assert delta == v["expected"]["delta_blocks"]
    assert delta * 12 / 256 * 1000 == v["expected"]["timestamp_delta_ms"]


def test_unwrap_out_of_order_and_duplicates():
    # muse-js spec (same file as the wrap vector): 20 then 16 => -4 blocks.
    assert unwrap_sequence(20, 16) - 20 == -4
    assert unwrap_sequence(20, 20) == 20  # duplicate
    assert unwrap_sequence(20, 25) == 25  # gap of 4 blocks
    # Across a wrap, a late packet from before the wrap goes back, not forward 65532 blocks.
    assert unwrap_sequence(65536 + 2, 0xFFFE) == 65534
    # Backward jump of more than 0x1000 is a wrap (muse-js rule).
    assert unwrap_sequence(0x5000, 0x1000) == 0x1000 + 65536
    assert unwrap_sequence(0x5000, 0x4001) == 0x4001
    # Multiple wraps accumulate.
    x = None
    for raw in [65534, 65535, 0, 1, 65535 // 2, 65530, 3]:
        x = unwrap_sequence(x, raw)
    assert x == 2 * 65536 + 3
    # 8-bit counters (Athena per-TAG block index).
    assert unwrap_sequence(255, 0, bits=8) == 256
    with pytest.raises(ValueError, match="0..65535"):
        unwrap_sequence(None, 65536)


def test_ppg_vector_is_unsigned():
    v = VECTORS["muse.ppg.unpack24"]
    seq, counts = decode_muse_ppg(b"\x00\x07" + _b("muse.ppg.unpack24"))
    assert seq == 7
    assert counts.tolist() == v["expected"]["u24"]
    # BrainFlow's signed reading differs only where the top bit is set (value 5).
    signed = v["expected"]["s24_brainflow_interpretation [derived_by_report]"]
    assert counts[4] - 2**24 == signed[4]


def test_telemetry_vector():
    v = VECTORS["muse.telemetry"]["expected"]
    t = decode_muse_telemetry(_b("muse.telemetry"))
    assert t["sequence"] == v["sequence"]
    assert t["battery_pct"] == v["battery_pct(u16/512)"]
    assert t["fuel_gauge_mv"] == pytest.approx(v["fuel_gauge_mV(u16*2.2)"], rel=1e-15)
    assert t["adc_mv"] == v["adc_u16 [derived_by_report, meaning unknown]"]
    assert t["temperature"] == v["temperature(u16)"]


def test_accelerometer_vector():
    v = VECTORS["muse.accelerometer"]["expected"]
    seq, g = decode_muse_accelerometer(_b("muse.accelerometer"))
    assert seq == v["sequence"]
    assert g.shape == (3, 3)  # (axes, samples)
    raw = np.array(v["raw_i16 [derived_by_report]"])  # (samples, axes)
    np.testing.assert_allclose(g, raw.T * 0.0000610352, rtol=0, atol=0)
    np.testing.assert_allclose(g, np.array(v["g (raw*0.0000610352)"]).T, rtol=1e-12)


def test_gyroscope_uses_gyro_scale():
    payload = _b("muse.accelerometer")
    seq, dps = decode_muse_gyroscope(payload)
    _, raw = decode_muse_imu(payload, 1.0)
    assert seq == 21101
    np.testing.assert_array_equal(dps, raw * 0.0074768)
    assert GYRO_SCALE_DPS == 0.0074768 and ACC_SCALE_G == 0.0000610352
    assert raw[:, 0].tolist() == [3506, 3485, 15475]


def _notifications(fragments):
    return [bytes([len(f)]) + f.encode() + b"\x00" * (19 - len(f)) for f in fragments]


def test_control_json_fragments_vector():
    v = VECTORS["muse.control.json_fragments"]
    notes = _notifications(v["fragments"])
    assert notes[0].hex() == v["example_first_notification_hex"]
    r = MuseControlReassembler()
    got = []
    for n in notes:
        got += r.feed(n)
    assert got == v["expected"]
    assert r.n_dropped == 0 and r.pending == ""


def test_control_two_objects_in_one_notification():
    r = MuseControlReassembler()
    assert r.feed_text('{"rc":0}{"rc":1}{"a') == [{"rc": 0}, {"rc": 1}]
    assert r.feed_text('":"}{"}') == [{"a": "}{"}]  # braces inside strings are text


def test_control_recovers_after_lost_notification():
    r = MuseControlReassembler()
    r.feed_text('{"hn":"Muse-1324",')  # the notification with the closing brace is lost
    assert r.feed_text('{"rc":0}') == [{"rc": 0}]
    assert r.n_dropped == 1


@pytest.mark.parametrize(
    ("payload", "match"),
    [(b"", "empty"), (bytes([5]) + b"abc", "at byte 0"), (bytes([2, 0x41, 0xFF]), "at byte 2")],
)
def test_control_notification_errors(payload, match):
    with pytest.raises(DecodeError, match=match) as e:
        decode_muse_control(payload)
    assert "decode_muse_control" in str(e.value)


@pytest.mark.parametrize(
    "decoder",
    [
        decode_muse_eeg,
        decode_muse_ppg,
        decode_muse_accelerometer,
        decode_muse_gyroscope,
        decode_muse_telemetry,
    ],
)
@pytest.mark.parametrize("n", [0, 19, 21])
def test_wrong_length_raises_named_error(decoder, n):
    with pytest.raises(DecodeError) as e:
        decoder(bytes(n))
    msg = str(e.value)
    assert decoder.__name__ in msg and f"{n}-byte" in msg and "exactly 20 bytes" in msg


def test_non_bytes_payload_raises_decode_error():
    with pytest.raises(DecodeError, match="must be bytes"):
        decode_muse_eeg("00" * 20)


def test_unpack12_rejects_partial_triplet():
    with pytest.raises(DecodeError, match="multiple of 3"):
        unpack_uint12(bytes(4))


# ---- encoder properties -------------------------------------------------------------------------

raw12 = st.lists(st.integers(0, 4095), min_size=12, max_size=12)


@given(seq=st.integers(0, 0xFFFF), raw=raw12)
def test_eeg_roundtrip_exact_on_grid(seq, raw):
    uv = 0.48828125 * (np.array(raw, dtype=float) - 2048)
    payload = encode_muse_eeg(seq, uv)
    assert len(payload) == 20
    assert payload[:2] == seq.to_bytes(2, "big")
    assert unpack_uint12(payload[2:]).tolist() == raw
    assert _ref_unpack12(payload[2:]) == raw
    s, back = decode_muse_eeg(payload)
    assert s == seq
    np.testing.assert_array_equal(back, uv)
    assert decode_muse_eeg_values(payload) == (seq, tuple(uv.tolist()))  # Python floats


@given(uv=st.lists(st.floats(-1200, 1200), min_size=12, max_size=12))
def test_eeg_roundtrip_rounds_and_clips(uv):
    x = np.array(uv)
    _, back = decode_muse_eeg(encode_muse_eeg(0, x))
    clipped = np.clip(x, -1000.0, 999.51171875)
    assert np.all(np.abs(back - clipped) <= 0.48828125 / 2)


@given(st.binary(min_size=0, max_size=60).filter(lambda b: len(b) % 3 == 0))
def test_unpack12_matches_bitstring_reference(b):
    assert unpack_uint12(b).tolist() == _ref_unpack12(b)


def test_encode_eeg_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        encode_muse_eeg(0, np.zeros(11))
    with pytest.raises(ValueError, match="finite"):
        encode_muse_eeg(0, np.full(12, np.nan))
    with pytest.raises(ValueError, match="sequence"):
        encode_muse_eeg(65536, np.zeros(12))


@settings(max_examples=300)
@given(st.binary(max_size=40))
def test_random_bytes_only_raise_decode_error(b):
    for fn in (
        decode_muse_eeg,
        decode_muse_ppg,
        decode_muse_accelerometer,
        decode_muse_gyroscope,
        decode_muse_telemetry,
        decode_muse_control,
        split_athena_notification,
    ):
        try:
            fn(b)
        except DecodeError:
            pass
    r = MuseControlReassembler()
    try:
        r.feed(b)
    except DecodeError:
        pass


# ---- Athena framing (sample decoding and muse-lsl comparison: tests/test_decoders_athena.py) ----


@pytest.mark.parametrize("vid", ATHENA_PACKET_IDS)
def test_athena_packet_structure(vid):
    v = VECTORS[vid]
    exp = v["expected_structure_derived_by_report"]
    payload = _b(vid)
    assert payload[0] == exp["len_byte0"] == len(payload)
    blocks = split_athena_notification(payload)
    assert all(b.packet_seq == exp["byte1_packet_seq"] for b in blocks)
    assert int(exp["primary_tag_byte9"].split()[0], 16) == blocks[0].tag
    assert blocks[0].index == exp["primary_block_index_byte10"]
    subs = [(int(s["tag"], 16), s["index"]) for s in exp["subpackets"]]
    assert [(b.tag, b.index) for b in blocks[1:]] == subs
    consumed = 14 + len(blocks[0].data) + sum(5 + len(b.data) for b in blocks[1:])
    assert len(payload) - consumed == exp["leftover_bytes"] == 0


def test_athena_brainflow_first_eeg_sample():
    exp = VECTORS["athena.packet.brainflow_pr779_a"]["expected_structure_derived_by_report"]
    blocks = split_athena_notification(_b("athena.packet.brainflow_pr779_a"))
    assert unpack_lsb_bits(blocks[0].data, 14, 8).tolist() == exp["first_primary_sample_raw_u14"]


def test_athena_openmuse_accgyro_and_eeg():
    exp = VECTORS["athena.packet.openmuse_newfw_0"]["expected_structure_derived_by_report"]
    blocks = split_athena_notification(_b("athena.packet.openmuse_newfw_0"))
    raw = np.frombuffer(blocks[0].data, dtype="<i2")[:6]
    assert raw.tolist() == exp["accgyro_first_sample_raw_i16"]
    np.testing.assert_allclose(
        raw[:3] * 0.0000610352, exp["acc_g_first_sample (raw*0.0000610352)"], atol=5e-5
    )
    np.testing.assert_allclose(
        raw[3:] * -0.0074768, exp["gyro_dps_first_sample (raw*-0.0074768)"], atol=5e-4
    )
    assert abs(np.linalg.norm(raw[:3] * 0.0000610352) - 0.994) < 1e-3
    assert unpack_lsb_bits(blocks[1].data, 14, 8).tolist() == exp["eeg_block0_sample0_raw_u14"]


def test_athena_lsb_bits_vector():
    v = VECTORS["athena.bits.lsb_first"]
    assert (
        unpack_lsb_bits(_b("athena.bits.lsb_first"), 14, 1)[0]
        == v["expected"]["extract_lsb_bits(data,0,14)"]
    )


def test_athena_bad_packet_length_names_offset():
    payload = bytearray(_b("athena.packet.openmuse_newfw_0"))
    payload[0] = 250
    with pytest.raises(DecodeError, match="at byte 0: packet length 250"):
        split_athena_notification(bytes(payload))
