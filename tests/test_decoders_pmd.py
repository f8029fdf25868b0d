"""Polar PMD control-point and data-frame decoders against the shared vectors (H10, SDK)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addictidx._core.errors import DecodeError
from addictidx.acquire.decoders import (
    decode_pmd_acc,
    decode_pmd_control_response,
    decode_pmd_ecg,
    decode_pmd_features,
    decode_pmd_frame,
    decode_pmd_settings,
    encode_pmd_request,
)

VECTORS = {
    v["id"]: v
    for v in json.loads((Path(__file__).parent / "data" / "ble_test_vectors.json").read_text())[
        "vectors"
    ]
}
PMD_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _b(vid: str, key: str = "hex") -> bytes:
    return bytes.fromhex(VECTORS[vid][key])


def _utc(ns: int) -> str:
    return (PMD_EPOCH + timedelta(microseconds=ns // 1000)).strftime("%Y-%m-%dT%H:%M:%S.%f")


TESTED = set()


def covers(*ids):
    TESTED.update(ids)
    return lambda f: f


@covers("pmd.cp.read_features_h10")
def test_features_h10():
    exp = VECTORS["pmd.cp.read_features_h10"]["expected"]
    feats = decode_pmd_features(_b("pmd.cp.read_features_h10"))
    for name in ("ECG", "PPG", "ACC", "PPI", "GYRO", "MAG"):
        assert (name in feats) is exp[name]
    with pytest.raises(DecodeError, match="at byte 0: expected feature marker"):
        decode_pmd_features(b"\xf0\x05")


@covers("pmd.cp.get_ecg_settings_request", "pmd.cp.stop_ecg")
def test_simple_requests():
    assert encode_pmd_request("GET_MEASUREMENT_SETTINGS", "ECG") == _b(
        "pmd.cp.get_ecg_settings_request"
    )
    assert encode_pmd_request(1, 0) == _b("pmd.cp.get_ecg_settings_request")
    assert encode_pmd_request("STOP_MEASUREMENT", "ECG") == _b("pmd.cp.stop_ecg")
    assert encode_pmd_request(3, "ACC").hex() == "0302"


@covers("pmd.cp.get_ecg_settings_response")
def test_get_ecg_settings_response():
    exp = VECTORS["pmd.cp.get_ecg_settings_response"]["expected"]
    r = decode_pmd_control_response(_b("pmd.cp.get_ecg_settings_response"))
    assert (r.op, r.measurement_type, r.status_name, r.more) == (
        exp["op"],
        exp["type"],
        exp["status"],
        exp["more"],
    )
    assert r.ok and r.measurement_name == "ECG"
    assert {k: list(v) for k, v in r.settings.items()} == exp["settings"]


@covers("pmd.cp.start_ecg_no_params")
def test_start_without_params_is_invalid_parameter():
    v = VECTORS["pmd.cp.start_ecg_no_params"]
    assert encode_pmd_request("REQUEST_MEASUREMENT_START", "ECG") == _b(
        "pmd.cp.start_ecg_no_params", "request_hex"
    )
    r = decode_pmd_control_response(_b("pmd.cp.start_ecg_no_params", "response_hex"))
    assert r.status == v["expected"]["status"] and r.status_name == v["expected"]["status_name"]
    assert not r.ok and r.settings == {}


@covers("pmd.cp.start_ecg_130hz_14bit")
def test_start_ecg_exchange():
    v = VECTORS["pmd.cp.start_ecg_130hz_14bit"]
    req = encode_pmd_request(
        "REQUEST_MEASUREMENT_START", "ECG", {"SAMPLE_RATE": 130, "RESOLUTION": 14}
    )
    assert req == _b("pmd.cp.start_ecg_130hz_14bit", "request_hex")
    assert decode_pmd_settings(req[2:]) == {"SAMPLE_RATE": (130,), "RESOLUTION": (14,)}
    r = decode_pmd_control_response(_b("pmd.cp.start_ecg_130hz_14bit", "response_hex"))
    assert (
        r.status_name == v["expected"]["response_status"] and r.op == 2 and r.measurement_type == 0
    )


@covers("pmd.cp.start_acc_200hz_16bit_8g")
def test_start_acc_h10():
    exp = VECTORS["pmd.cp.start_acc_200hz_16bit_8g"]["expected"]
    req = encode_pmd_request(2, "ACC", {"SAMPLE_RATE": 200, "RESOLUTION": 16, "RANGE": 8})
    assert req == _b("pmd.cp.start_acc_200hz_16bit_8g")
    s = decode_pmd_settings(req[2:])
    assert (req[0], s["SAMPLE_RATE"][0], s["RESOLUTION"][0], s["RANGE"][0]) == (
        exp["op"],
        exp["SAMPLE_RATE"],
        exp["RESOLUTION"],
        exp["RANGE_G"],
    )


@covers("pmd.cp.start_acc_verity_with_channels")
def test_start_acc_verity_with_channels():
    v = VECTORS["pmd.cp.start_acc_verity_with_channels"]
    exp = v["expected"]
    req = encode_pmd_request(
        2, "ACC", {"SAMPLE_RATE": 52, "RESOLUTION": 16, "RANGE": 8, "CHANNELS": 3}
    )
    assert req == _b("pmd.cp.start_acc_verity_with_channels", "request_hex")
    s = decode_pmd_settings(req[2:])
    assert (s["SAMPLE_RATE"], s["RESOLUTION"], s["RANGE"], s["CHANNELS"]) == (
        (exp["SAMPLE_RATE"],),
        (exp["RESOLUTION"],),
        (exp["RANGE"],),
        (exp["CHANNELS(u8)"],),
    )
    r = decode_pmd_control_response(_b("pmd.cp.start_acc_verity_with_channels", "response_hex"))
    assert r.status_name == exp["response_status"] and r.measurement_name == "ACC"


@covers("pmd.cp.response_acc_settings_sdk_test")
def test_sdk_response_with_opaque_parameters():
    exp = VECTORS["pmd.cp.response_acc_settings_sdk_test"]["expected"]
    r = decode_pmd_control_response(_b("pmd.cp.response_acc_settings_sdk_test"))
    assert r.op == 1 and r.measurement_type == exp["type"] and r.status_name == exp["status"]
    assert r.more is exp["more"] and r.parameters.hex() == exp["parameters_hex"]


def test_factor_setting_roundtrip():
    req = encode_pmd_request(2, "ACC", {"FACTOR": 0.000244})
    s = decode_pmd_settings(req[2:])
    assert s["FACTOR"][0] == float(np.float32(0.000244))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ("0001", "at byte 7: setting SAMPLE_RATE needs 1 x 2 bytes"),
        ("00", "at byte 6: missing value count"),
        ("2001", "at byte 5: unknown setting type 32"),
    ],
)
def test_settings_errors_name_offset(params, match):
    with pytest.raises(DecodeError, match=match):
        decode_pmd_settings(bytes.fromhex(params), base_offset=5)


@covers("pmd.data.ecg_h10_real_frame")
def test_ecg_real_frame():
    exp = VECTORS["pmd.data.ecg_h10_real_frame"]["expected"]
    payload = _b("pmd.data.ecg_h10_real_frame")
    fr = decode_pmd_frame(payload)
    assert fr.measurement_type == exp["measurement_type"] and fr.frame_type == exp["frame_type"]
    assert fr.compressed is exp["compressed"]
    ts, uv = decode_pmd_ecg(payload)
    assert ts == exp["timestamp_ns_since_2000"]
    assert _utc(ts) == exp["timestamp_utc"][:26]
    assert uv.size == exp["n_samples"] and uv.dtype == np.float64
    assert uv.tolist() == exp["uV"]
    assert (uv[0], uv[1], uv[14]) == (117, 115, -4)  # asserted by the source itself
    assert len(payload) == 10 + 73 * 3


@covers("pmd.timestamps.h10_consecutive_ecg_frames")
def test_h10_frame_timestamps():
    v = VECTORS["pmd.timestamps.h10_consecutive_ecg_frames"]
    ts = np.array(v["timestamps_ns_since_2000"], dtype=np.int64)
    ts_last, _ = decode_pmd_ecg(_b("pmd.data.ecg_h10_real_frame"))
    assert ts_last == ts[-1]  # the real frame is the last of the six
    assert np.diff(ts).tolist() == v["expected"]["frame_deltas_ns"]
    rate = v["samples_per_frame"] / (np.diff(ts).mean() * 1e-9)
    assert rate == pytest.approx(v["expected"]["effective_rate_hz [derived_by_report]"], abs=1e-3)
    assert _utc(int(ts[0])) == v["expected"]["first_frame_utc"][:26]


@covers("pmd.data.acc_type1_raw_sdk_prefix")
def test_acc_raw_type1():
    exp = VECTORS["pmd.data.acc_type1_raw_sdk_prefix"]["expected"]
    payload = _b("pmd.data.acc_type1_raw_sdk_prefix")
    assert decode_pmd_frame(payload).frame_type == exp["frame_type"]
    ts, mg = decode_pmd_acc(payload)
    assert ts == exp["timestamp"]
    assert mg.shape == (3, 2) and mg.T.tolist() == exp["mG"]


@covers("pmd.data.acc_compressed_type1_sdk")
def test_acc_compressed_type1():
    exp = VECTORS["pmd.data.acc_compressed_type1_sdk"]["expected"]
    payload = _b("pmd.data.acc_compressed_type1_sdk")
    assert payload[9] == 0x81
    _, raw = decode_pmd_acc(payload, factor=exp["factor"])
    assert raw.T.tolist() == exp["samples_raw"]


@covers("pmd.data.acc_compressed_type0_sdk")
def test_acc_compressed_type0():
    exp = VECTORS["pmd.data.acc_compressed_type0_sdk"]["expected"]
    payload = _b("pmd.data.acc_compressed_type0_sdk")
    assert payload[9] == 0x80
    _, raw = decode_pmd_acc(payload)
    assert raw.shape == (3, exp["n_samples"])
    assert raw[:, :2].T.tolist() == exp["raw_first_two"]
    f32 = np.float32
    mg = [[int(f32(exp["factor"]) * f32(x) * f32(1000)) for x in row] for row in raw[:, :2].T]
    assert mg == exp["mG_first_two (int(float32(factor*raw*1000)))"]


def test_every_pmd_vector_is_covered():
    assert TESTED == {k for k in VECTORS if k.startswith("pmd.")}


@pytest.mark.parametrize(
    ("hexstr", "match"),
    [
        ("02" + "00" * 9, "at byte 0: measurement type 2 is not ECG"),
        ("00" + "00" * 8 + "01" + "000000", "at byte 9: frame type 0x01"),
        ("00" + "00" * 8 + "00" + "0000", "at byte 10: 2 sample bytes is not a multiple of 3"),
        ("00" * 5, "needs at least 10 bytes"),
    ],
)
def test_ecg_errors(hexstr, match):
    with pytest.raises(DecodeError, match=match):
        decode_pmd_ecg(bytes.fromhex(hexstr))


def test_truncated_delta_block_names_offset():
    payload = _b("pmd.data.acc_compressed_type1_sdk")[:-1]
    with pytest.raises(DecodeError, match="at byte 18: delta block needs 3 bytes, only 2 left"):
        decode_pmd_acc(payload)


@settings(max_examples=400)
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_decode_error(b):
    for fn in (
        decode_pmd_features,
        decode_pmd_control_response,
        decode_pmd_ecg,
        decode_pmd_acc,
        decode_pmd_frame,
        decode_pmd_settings,
    ):
        try:
            fn(b)
        except DecodeError:
            pass


@given(st.binary(min_size=0, max_size=40).map(lambda b: bytes([0x02] + [0] * 8 + [0x81]) + b))
def test_random_compressed_acc_only_raises_decode_error(b):
    try:
        decode_pmd_acc(b)
    except DecodeError:
        pass
