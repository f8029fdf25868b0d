"""Muse S Athena decoding: shared vectors, real OpenMuse captures, muse-lsl as reference, loss.

Independent sources used here: the ``athena.*`` vectors (BrainFlow PR #779 trace, OpenMuse
capture, muse-lsl unit test); muse-lsl 2.5.3 ``athena.py`` decoding of the bundled capture
excerpts (``tests/data/athena_muselsl_reference.json``); a pure-Python bit-string reference of
the LSB-first layout written from the PROTOCOLS §2.3 text; the sample counts OpenMuse's decoder
reported for the full captures (README of the shared data folder).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addictidx._core.errors import DecodeError
from addictidx.acquire import decode, load_profile
from addictidx.acquire.decoders import (
    ATHENA_TAGS,
    AthenaLossDetector,
    decode_athena_block,
    split_athena_notification,
)
from addictidx.acquire.decoders.muse_athena import AthenaBlock

DATA = Path(__file__).parent / "data"
VECTORS = {v["id"]: v for v in json.loads((DATA / "ble_test_vectors.json").read_text())["vectors"]}
DATA1 = "273e0013-4c4d-454d-96be-f03bac821358"
DATA2 = "273e0014-4c4d-454d-96be-f03bac821358"
EEG_SCALE = 1450 / 16383  # PROTOCOLS §2.4 (BrainFlow after PR #855, muselsl, OpenMuse)
EXCERPTS = ["athena_openmuse_p21.txt", "athena_openmuse_p1041.txt", "athena_openmuse_seqwrap.txt"]
REFERENCE = json.loads((DATA / "athena_muselsl_reference.json").read_text())


def _lines(name: str) -> list[bytes]:
    return [bytes.fromhex(ln.split("\t")[2]) for ln in (DATA / name).read_text().splitlines()]


def _vec(vid: str) -> bytes:
    return bytes.fromhex(VECTORS[vid]["hex"])


# Pure-Python reference of PROTOCOLS §2.3: "sample s, channel c starts at bit (s*n_ch + c)*width;
# bit i is bit i % 8 (LSB = 0) of byte i // 8" -- written with a bit string, not integer shifts.
def _ref_lsb_fields(data: bytes, width: int, count: int) -> list[int]:
    bits = "".join(f"{b:08b}"[::-1] for b in data)  # LSB-first per byte
    return [int(bits[k * width : (k + 1) * width][::-1], 2) for k in range(count)]


def _ref_pack_lsb(values: list[int], width: int, nbytes: int) -> bytes:
    bits = "".join(f"{v:0{width}b}"[::-1] for v in values).ljust(nbytes * 8, "0")
    return bytes(int(bits[i : i + 8][::-1], 2) for i in range(0, nbytes * 8, 8))


# ---- shared vectors -------------------------------------------------------------------------


def test_brainflow_trace_vector_first_eeg_sample_raw():
    exp = VECTORS["athena.packet.brainflow_pr779_a"]["expected_structure_derived_by_report"]
    pk = decode("muse-s-athena", DATA1, _vec("athena.packet.brainflow_pr779_a"))
    assert [p.stream for p in pk] == ["eeg"] * 7
    assert [p.sequence for p in pk] == [5, 6, 7, 8, 9, 10, 11]
    first = [pk[0].channels[c][0] for c in load_profile("muse-s-athena").stream("eeg").channels]
    raw = [round(v / EEG_SCALE + 8192) for v in first]
    assert raw == exp["first_primary_sample_raw_u14"]
    assert pk[0].fields["packet_sequence"] == exp["byte1_packet_seq"]


def test_openmuse_vector_accgyro_and_eeg():
    exp = VECTORS["athena.packet.openmuse_newfw_0"]["expected_structure_derived_by_report"]
    pk = decode("muse-s-athena", DATA2, _vec("athena.packet.openmuse_newfw_0"))
    assert [p.stream for p in pk] == ["acc", "gyro"] + ["eeg"] * 5
    acc, gyro = pk[0], pk[1]
    assert acc.sequence == gyro.sequence == exp["primary_block_index_byte10"]
    a0 = [acc.channels[c][0] for c in ("x", "y", "z")]
    g0 = [gyro.channels[c][0] for c in ("x", "y", "z")]
    raw = exp["accgyro_first_sample_raw_i16"]
    np.testing.assert_allclose(a0, np.array(raw[:3]) * 0.0000610352, rtol=1e-12)
    np.testing.assert_allclose(g0, np.array(raw[3:]) * -0.0074768, rtol=1e-12)
    np.testing.assert_allclose(a0, exp["acc_g_first_sample (raw*0.0000610352)"], atol=5e-5)
    np.testing.assert_allclose(g0, exp["gyro_dps_first_sample (raw*-0.0074768)"], atol=5e-4)
    assert abs(np.linalg.norm(a0) - 0.994) < 1e-3  # at rest: 1 g
    eeg = pk[2]
    names = load_profile("muse-s-athena").stream("eeg").channels
    assert [round(eeg.channels[c][0] / EEG_SCALE + 8192) for c in names] == exp[
        "eeg_block0_sample0_raw_u14"
    ]
    assert [p.sequence for p in pk[2:]] == [s["index"] for s in exp["subpackets"]]


def test_lsb_vector_all_ones():
    v = VECTORS["athena.bits.lsb_first"]
    blk = AthenaBlock(0, 0x11, 0, bytes.fromhex(v["hex"]) + bytes(26))
    raw = decode_athena_block(blk)
    assert raw[0, 0] == v["expected"]["extract_lsb_bits(data,0,14)"] == 16383
    assert raw[1, 0] == 0b11  # the remaining two 1-bits of 0xffff


# ---- real captures: muse-lsl 2.5.3 as reference ---------------------------------------------


@pytest.mark.parametrize("name", EXCERPTS)
def test_excerpts_equal_muselsl_reference(name):
    ref = REFERENCE["files"][name]
    payloads = _lines(name)
    assert len(ref) == len(payloads)
    n_blocks = 0
    for payload, blocks in zip(payloads, ref):
        pk = decode("muse-s-athena", DATA1, payload)
        assert [p.stream for p in pk] == [b[0] for b in blocks]
        for p, (_stream, package_num, values) in zip(pk, blocks):
            # muse-lsl/BrainFlow: package_num = (uint16 packet counter << 8) | block index
            assert (p.fields["packet_sequence"] << 8) | p.sequence == package_num
            got = np.array(list(p.channels.values()))
            # muse-lsl returns float32: 6e-5 resolution at +-725 uV
            np.testing.assert_allclose(got, np.array(values), rtol=0, atol=1e-4)
            n_blocks += 1
    assert n_blocks >= 70


def test_excerpts_cover_every_stream_and_tag():
    streams, tags = set(), set()
    for name in EXCERPTS:
        for payload in _lines(name):
            streams |= {p.stream for p in decode("muse-s-athena", DATA1, payload)}
            tags |= {b.tag for b in split_athena_notification(payload)}
    assert streams == {"eeg", "optics", "acc", "gyro", "battery"}
    assert {0x11, 0x12, 0x36, 0x47, 0x53, 0x98} <= tags


def test_eeg_tags_give_profile_channels():
    prof = load_profile("muse-s-athena").stream("eeg")
    p21 = decode("muse-s-athena", DATA1, _lines("athena_openmuse_p21.txt")[1])
    eeg4 = [p for p in p21 if p.stream == "eeg"]
    assert eeg4 and all(tuple(p.channels) == ("TP9", "AF7", "AF8", "TP10") for p in eeg4)
    assert all(p.fields["tag"] == "0x11" and p.n_samples == 4 for p in eeg4)
    eeg8 = [p for p in decode("muse-s-athena", DATA1, _vec("athena.packet.brainflow_pr779_a"))]
    assert all(tuple(p.channels) == prof.channels and p.n_samples == 2 for p in eeg8)
    assert all(p.units[c] == "uV" for p in eeg4 + eeg8 for c in p.channels)


def test_packet_counter_is_uint16_little_endian():
    pk = [decode("muse-s-athena", DATA1, p) for p in _lines("athena_openmuse_seqwrap.txt")]
    seqs = [p[0].fields["packet_sequence"] for p in pk]
    # byte 1 wraps 0xff -> 0x00 while byte 2 steps 0 -> 1: one counter, +1 per notification
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert 0xFF in seqs and 0x100 in seqs
    raw = _lines("athena_openmuse_seqwrap.txt")
    assert [r[1] | r[2] << 8 for r in raw] == seqs


def test_battery_block_keeps_raw_and_uses_profile_scale():
    payload = _lines("athena_openmuse_p21.txt")[20]
    (bat,) = [p for p in decode("muse-s-athena", DATA1, payload) if p.stream == "battery"]
    raw = bat.fields["battery_raw"]
    blk = next(b for b in split_athena_notification(payload) if b.tag == 0x98)
    assert raw == int.from_bytes(blk.data[:2], "little")
    scale = load_profile("muse-s-athena").stream("battery").scale
    assert bat.channels["battery_pct"][0] == raw / 512 == raw * scale
    assert bat.units == {"battery_pct": "%"}


def test_gyro_sign_is_negative_on_athena():
    blk = AthenaBlock(0, 0x47, 3, np.array([0, 0, 100, 1000, -1000, 1] * 3, "<i2").tobytes())
    raw = decode_athena_block(blk)
    assert raw[:, 0].tolist() == [0, 0, 100, 1000, -1000, 1]
    # through the profile: gyro x = 1000 * -0.0074768 deg/s
    hdr = bytes([14 + 36, 7, 0, 0, 0, 0, 0, 0, 0, 0x47, 3, 0, 0, 0])
    acc, gyro = decode("muse-s-athena", DATA1, hdr + blk.data)
    assert gyro.channels["x"][0] == pytest.approx(-7.4768, rel=1e-12)
    assert acc.channels["z"][0] == pytest.approx(100 * 0.0000610352, rel=1e-12)
    assert gyro.units["x"] == "deg/s" and acc.units["x"] == "g"


# ---- random valid packets decode to exact values ---------------------------------------------


def _notification(blocks: list[tuple[int, int, bytes]], seq: int = 0) -> bytes:
    (t0, i0, d0), rest = blocks[0], blocks[1:]
    body = d0 + b"".join(bytes([t, i, 0, 0, 0]) + d for t, i, d in rest)
    return (
        bytes([14 + len(body), seq & 0xFF, seq >> 8, 1, 2, 3, 4, 5, 6, t0, i0, 9, 9, 0x20]) + body
    )


@settings(max_examples=60, deadline=None)
@given(
    tag=st.sampled_from([0x11, 0x12, 0x34, 0x35, 0x36]),
    data=st.data(),
    index=st.integers(0, 255),
    seq=st.integers(0, 0xFFFF),
)
def test_random_bitpacked_blocks_roundtrip_exactly(tag, data, index, seq):
    spec = ATHENA_TAGS[tag]
    n = spec.n_channels * spec.n_samples
    raw = data.draw(st.lists(st.integers(0, (1 << spec.bits) - 1), min_size=n, max_size=n))
    payload = _ref_pack_lsb(raw, spec.bits, spec.payload_bytes)
    assert _ref_lsb_fields(payload, spec.bits, n) == raw
    (p,) = decode("muse-s-athena", DATA1, _notification([(tag, index, payload)], seq))
    assert p.sequence == index and p.fields["packet_sequence"] == seq
    got = np.array(list(p.channels.values()))  # (n_channels, n_samples)
    expect = np.array(raw).reshape(spec.n_samples, spec.n_channels).T
    if spec.sensor == "eeg":
        np.testing.assert_array_equal(got, (expect - 8192) * EEG_SCALE)
        assert p.stream == "eeg"
    else:
        np.testing.assert_array_equal(got, expect)  # optics: raw counts
        assert p.stream == "optics" and set(p.units.values()) == {"counts"}


def test_optics_0x34_maps_to_inner_sensors():
    payload = _ref_pack_lsb(list(range(1, 13)), 20, 30)
    (p,) = decode("muse-s-athena", DATA1, _notification([(0x34, 0, payload)]))
    assert tuple(p.channels) == ("LI_NIR", "RI_NIR", "LI_IR", "RI_IR")
    assert p.channels["LI_NIR"].tolist() == [1, 5, 9] and p.channels["RI_IR"].tolist() == [
        4,
        8,
        12,
    ]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_decode_error(b):
    for uuid in (DATA1, DATA2):
        try:
            decode("muse-s-athena", uuid, b)
        except DecodeError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 240), st.integers(0, 255))
def test_corrupted_real_notification_only_raises_decode_error(pos, value):
    payload = bytearray(_vec("athena.packet.openmuse_newfw_0"))
    payload[pos % len(payload)] = value
    try:
        decode("muse-s-athena", DATA1, bytes(payload))
    except DecodeError as e:
        assert "profile 'muse-s-athena'" in str(e) and e.byte_offset is not None


# ---- malformed framing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "offset", "text"),
    [
        (lambda b: b[:-1], 0, "packet length"),  # length byte now past the end
        (lambda b: bytes([13]) + b[1:13], 0, "packet length 13"),
        (lambda b: b[:9] + b"\x42" + b[10:], 9, "unknown TAG 0x42"),
        (lambda b: bytes([b[0] + 3]) + b[1:] + b"\x00\x00\x00", 215, "stray byte"),
        (lambda b: b"", 0, "empty notification"),
    ],
)
def test_malformed_framing_names_offset(mutate, offset, text):
    payload = mutate(_vec("athena.packet.openmuse_newfw_0"))
    with pytest.raises(DecodeError, match=text) as ei:
        decode("muse-s-athena", DATA1, payload)
    assert ei.value.byte_offset == offset
    assert f"at byte {offset}" in str(ei.value)
    assert "profile 'muse-s-athena'" in str(ei.value) and "stream '" in str(ei.value)


def test_tag_0x53_is_framed_and_skipped():
    payload = _notification([(0x53, 1, bytes(24)), (0x98, 2, bytes(20))])
    (p,) = decode("muse-s-athena", DATA1, payload)
    assert p.stream == "battery" and p.sequence == 2
    assert decode("muse-s-athena", DATA1, _notification([(0x53, 1, bytes(24))])) == []


# ---- loss detection -------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXCERPTS)
def test_consecutive_capture_has_no_gaps(name):
    det = AthenaLossDetector()
    assert all(det.feed(split_athena_notification(p)) == [] for p in _lines(name))
    assert det.missing_blocks == {} and det.missing_packets == 0 and det.duplicates == 0


@pytest.mark.parametrize("drop", [3, 10, 20])
def test_dropped_notification_is_reported_per_tag(drop):
    payloads = _lines("athena_openmuse_p21.txt")
    lost = split_athena_notification(payloads[drop])
    later = {b.tag for p in payloads[drop + 1 :] for b in split_athena_notification(p)}
    expected: dict[int, int] = {}
    for b in lost:  # count the blocks of each TAG the dropped notification carried ...
        if b.tag in later:  # ... that a later block of the same TAG reveals
            expected[b.tag] = expected.get(b.tag, 0) + 1
    det = AthenaLossDetector()
    gaps = []
    for i, p in enumerate(payloads):
        if i != drop:
            gaps += det.feed(split_athena_notification(p))
    assert det.missing_packets == 1
    pkt_gaps = [g for g in gaps if g.tag is None]
    assert len(pkt_gaps) == 1
    assert (pkt_gaps[0].previous, pkt_gaps[0].current) == (drop - 1, drop + 1)
    assert det.missing_blocks == expected


def test_duplicates_and_late_blocks_are_not_gaps():
    payloads = _lines("athena_openmuse_p21.txt")
    det = AthenaLossDetector()
    for p in payloads[:6]:
        det.feed(split_athena_notification(p))
    assert det.feed(split_athena_notification(payloads[5])) == []  # duplicate
    # the last block of each TAG repeats the last index seen; earlier ones count as late
    assert det.duplicates == len({b.tag for b in split_athena_notification(payloads[5])})
    assert det.feed(split_athena_notification(payloads[2])) == []  # late
    assert det.feed(split_athena_notification(payloads[6])) == []
    assert det.missing_blocks == {} and det.missing_packets == 0


# ---- profile records the choices the decoder uses -------------------------------------------


def test_profile_records_sequence_and_loss_decisions():
    d = load_profile("muse-s-athena").decisions
    assert "uint16 LE at bytes 1..2" in d["sequence_field"]["choice"]
    assert "per-TAG 8-bit block index" in d["loss_detection"]["choice"]
    for name in ("eeg", "optics", "acc", "gyro", "battery"):
        c = load_profile("muse-s-athena").stream(name).counter
        assert (c.bits, c.byte_offset) == (8, 1)


# ---- full captures (shared data) --------------------------------------------------------------


def _shared() -> Path | None:
    env = os.environ.get("ADDICTIDX_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    d = root / "data" / "muse-s-athena-raw-ble-packets-openmuse"
    return d if d.is_dir() else None


# Sample counts OpenMuse's decoder reported for the captures (shared data README.txt).
OPENMUSE_COUNTS = {
    "data_p21.txt.gz": {"eeg": (15532, 4), "acc": (3153, 3), "battery": (60, 1)},
    "data_p1041.txt.gz": {"eeg": (15568, 8), "optics": (3881, 16)},
}


@pytest.mark.shared_data
@pytest.mark.parametrize("fname", sorted(OPENMUSE_COUNTS))
def test_full_capture_sample_counts_match_openmuse(fname):
    d = _shared()
    if d is None:
        pytest.skip("needs /work/shared/data (or ADDICTIDX_SHARED) with the Athena captures")
    n: dict[str, int] = {}
    width: dict[str, int] = {}
    det = AthenaLossDetector()
    with gzip.open(d / fname, "rt") as f:
        for line in f:
            _, uuid, hx = line.rstrip("\n").split("\t")
            payload = bytes.fromhex(hx)
            det.feed(split_athena_notification(payload))
            for p in decode("muse-s-athena", uuid, payload):
                n[p.stream] = n.get(p.stream, 0) + p.n_samples
                width[p.stream] = len(p.channels)
    for stream, (count, nch) in OPENMUSE_COUNTS[fname].items():
        assert (n[stream], width[stream]) == (count, nch)
    assert det.missing_blocks == {} and det.missing_packets == 0
