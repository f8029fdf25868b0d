"""Firmware profiles: shipped files load and carry the protocol facts; bad files fail clearly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from addictidx._core.errors import ProfileError
from addictidx._core.types import StreamSpec
from addictidx.acquire import DECODERS, list_profiles, load_profile
from addictidx.acquire.decoders import muse_classic

VECTORS = {
    v["id"]: v
    for v in json.loads((Path(__file__).parent / "data" / "ble_test_vectors.json").read_text())[
        "vectors"
    ]
}
SHIPPED = {
    "muse-2016",
    "muse-2",
    "muse-s",
    "muse-s-athena",
    "polar-h10",
    "generic-hrs",
    "sim-muse",
    "sim-hrs",
}
MUSE_SUFFIX = "-4c4d-454d-96be-f03bac821358"
HRM = "00002a37-0000-1000-8000-00805f9b34fb"


def test_list_profiles_is_exactly_the_shipped_set():
    assert set(list_profiles()) == SHIPPED
    assert list_profiles() == sorted(SHIPPED)
    assert set(list_profiles(include_simulated=False)) == SHIPPED - {"sim-muse", "sim-hrs"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_profile_loads(name):
    p = load_profile(name)
    assert p.name == name and p.source == f"{name}.toml"
    assert p.simulated is name.startswith("sim-")
    for s in p.streams:
        assert s.decoder in DECODERS
        spec = p.stream_spec(s.name)
        assert isinstance(spec, StreamSpec)
        assert spec.key == f"{name}/{s.name}" and spec.channels == s.channels
        assert spec.sfreq == s.sfreq and spec.unit == s.unit
    if p.control is not None:
        for seq in p.control.sequences:
            assert len(p.control.encoded(seq)) == len(p.control.sequences[seq].commands)


def test_load_by_path_equals_builtin(tmp_path):
    src = Path(__file__).resolve().parents[1] / "firmware_profiles" / "muse-2.toml"
    dst = tmp_path / "muse-2.toml"
    dst.write_text(src.read_text())
    a, b = load_profile(dst), load_profile("muse-2")
    assert a.streams == b.streams and a.control == b.control and a.source == str(dst)


@pytest.mark.parametrize("name", ["muse-2016", "muse-2", "muse-s", "sim-muse"])
def test_muse_classic_eeg_matches_protocol(name):
    p = load_profile(name)
    assert p.protocol == "muse-classic"
    assert p.service_uuids == ("0000fe8d-0000-1000-8000-00805f9b34fb",)
    eeg = p.stream("eeg")
    assert eeg.channels == ("TP9", "AF7", "AF8", "TP10")
    # PROTOCOLS §1.1: 273e0003..0006 = TP9, AF7, AF8, TP10.
    assert dict(eeg.routes) == {
        f"273e000{i}{MUSE_SUFFIX}": (ch,) for i, ch in zip(range(3, 7), eeg.channels, strict=True)
    }
    assert (eeg.sfreq, eeg.samples_per_packet, eeg.unit) == (256.0, 12, "uV")
    assert eeg.counter is not None and (
        eeg.counter.bits,
        eeg.counter.endian,
        eeg.counter.modulus,
    ) == (16, "big", 65536)
    # The profile's conversion is the one the decoder applies.
    assert (eeg.scale, eeg.offset) == (muse_classic.EEG_SCALE_UV, muse_classic.EEG_OFFSET)
    assert p.stream("acc").scale == muse_classic.ACC_SCALE_G
    assert p.stream("gyro").scale == muse_classic.GYRO_SCALE_DPS
    # Control sequences encode to the muse-js / app-capture bytes.
    ctl = p.control
    assert ctl.characteristic == f"273e0001{MUSE_SUFFIX}"
    init = [b.hex() for b, _ in ctl.encoded("init")]
    assert VECTORS["muse.cmd.v1"]["hex"] in init and VECTORS["muse.cmd.p21"]["hex"] in init
    assert [b.hex() for b, _ in ctl.encoded("start")] == [VECTORS["muse.cmd.d"]["hex"]]
    assert [b.hex() for b, _ in ctl.encoded("stop")] == [VECTORS["muse.cmd.h"]["hex"]]
    assert [b.hex() for b, _ in ctl.encoded("keep_alive")] == [VECTORS["muse.cmd.k"]["hex"]]
    assert ctl.keep_alive_interval_s == 60


def test_eeg_quality_thresholds_are_per_channel():
    eeg = load_profile("muse-2").stream("eeg")
    tp9, af7 = eeg.quality_for("TP9"), eeg.quality_for("AF7")
    assert af7["ptp_max_uv"] > tp9["ptp_max_uv"]  # blink-prone frontal sites are looser
    assert af7["flat_std_min_uv"] == tp9["flat_std_min_uv"] > 0
    # rail limit sits just inside the 12-bit range: raw 0 -> -1000 uV
    assert tp9["rail_abs_max_uv"] < 1000.0
    with pytest.raises(KeyError, match="no channel 'Fpz'"):
        eeg.quality_for("Fpz")


def test_muse_ppg_profiles():
    m2 = load_profile("muse-2").stream("ppg")
    assert (
        m2.channels == ("ambient", "infrared", "red")
        and m2.sfreq == 64
        and m2.samples_per_packet == 6
    )
    assert list(m2.routes) == [f"273e00{x}{MUSE_SUFFIX}" for x in ("0f", "10", "11")]
    assert m2.required is False
    assert [b.hex() for b, _ in load_profile("muse-2").control.encoded("init_with_ppg")][
        2
    ] == VECTORS["muse.cmd.p50"]["hex"]
    assert [b.hex() for b, _ in load_profile("muse-s").control.encoded("init_with_ppg")][
        2
    ] == VECTORS["muse.cmd.p61"]["hex"]
    assert "ppg" not in load_profile("muse-2016").stream_names


def test_sim_muse_is_classic_and_simulated():
    p = load_profile("sim-muse")
    assert p.simulated and p.protocol == "muse-classic"
    assert p.stream_spec("eeg") == StreamSpec(
        "sim-muse", "eeg", "eeg", ("TP9", "AF7", "AF8", "TP10"), 256.0, "uV", 12
    )


@pytest.mark.parametrize("name", ["generic-hrs", "sim-hrs", "polar-h10"])
def test_hrs_streams(name):
    p = load_profile(name)
    hr, rr = p.stream("hr"), p.stream("rr")
    assert hr.irregular and rr.irregular and p.stream_spec("rr").sfreq is None
    assert hr.decoder == rr.decoder == "hrs.measurement"
    assert rr.unit == "s" and rr.scale == 1 / 1024
    assert p.characteristic_map()[HRM] == (("hr", ("hr",)), ("rr", ("rr",)))
    bat = p.stream("battery")
    assert bat.poll_interval_s and not bat.required
    assert "0000180d-0000-1000-8000-00805f9b34fb" in p.service_uuids


def test_generic_hrs_has_no_control():
    p = load_profile("generic-hrs")
    assert p.control is None and p.protocol == "hrs" and p.name_prefixes == ()


def test_polar_h10_profile():
    p = load_profile("polar-h10")
    assert p.protocol == "polar-pmd+hrs" and p.min_mtu == 232
    assert p.matches_name("Polar H10 A1B2C3D4") and not p.matches_name("Polar H9 1")
    ecg = p.stream("ecg")
    assert (ecg.sfreq, ecg.unit, ecg.decoder, ecg.clock, ecg.samples_per_packet) == (
        130.0,
        "uV",
        "pmd.ecg",
        "device",
        73,
    )
    assert ecg.layout["measurement_type"] == 0
    acc = p.stream("acc")
    assert acc.sfreq == 200 and acc.layout["measurement_type"] == 2 and acc.scale == 0.001
    ctl = p.control
    assert ctl.framing == "hex" and ctl.characteristic == "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
    assert (
        ctl.encoded("start")[0][0].hex() == VECTORS["pmd.cp.start_ecg_130hz_14bit"]["request_hex"]
    )
    assert ctl.encoded("stop")[0][0].hex() == VECTORS["pmd.cp.stop_ecg"]["hex"]
    assert (
        ctl.encoded("start_acc")[0][0].hex() == VECTORS["pmd.cp.start_acc_200hz_16bit_8g"]["hex"]
    )
    assert ctl.encoded("init")[0][0].hex() == VECTORS["pmd.cp.get_ecg_settings_request"]["hex"]
    assert ctl.encoded("start")[0][1] == 0.5


def test_athena_profile_records_disputes():
    p = load_profile("muse-s-athena")
    assert p.protocol == "muse-athena"
    assert p.discriminator_characteristic == f"273e0013{MUSE_SUFFIX}"
    assert set(p.decisions) >= {
        "sequence_field",
        "device_clock",
        "battery_scale",
        "tag_0x88_length",
        "optics_0x34_mapping",
        "header_bytes_11_13",
        "eeg_centering",
    }
    assert all("choice" in d for d in p.decisions.values())
    eeg = p.stream("eeg")
    assert eeg.scale == pytest.approx(1450 / 16383, rel=1e-15) and eeg.offset == -8192
    assert set(eeg.routes) == {f"273e0013{MUSE_SUFFIX}", f"273e0014{MUSE_SUFFIX}"}
    assert eeg.layout["tags"] == (0x11, 0x12) and eeg.layout["bit_width"] == 14
    assert p.stream("gyro").scale < 0  # negative on Athena
    start = [b.hex() for b, _ in p.control.encoded("start")]
    assert start == [VECTORS["athena.cmd.dc001"]["hex"]] * 2 + [
        VECTORS["athena.cmd.L1"]["hex"],
        VECTORS["athena.cmd.s"]["hex"],
    ]
    assert [d for _, d in p.control.encoded("start")] == [0.05, 0.1, 0.3, 0.0]
    init = [b.hex() for b, _ in p.control.encoded("init")]
    assert (
        init[0] == VECTORS["athena.cmd.v6"]["hex"]
        and init[3] == VECTORS["athena.cmd.p1041"]["hex"]
    )


def test_profiles_are_immutable():
    p = load_profile("muse-2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"
    with pytest.raises(TypeError):
        p.stream("eeg").routes["x"] = ("y",)
    with pytest.raises(TypeError):
        load_profile("muse-s-athena").decisions["eeg_centering"]["choice"] = "x"


def test_unknown_name_and_missing_file(tmp_path):
    with pytest.raises(ProfileError, match="No built-in firmware profile named 'muse-9'.*muse-2"):
        load_profile("muse-9")
    missing = tmp_path / "nope.toml"
    with pytest.raises(ProfileError, match="nope.toml: cannot read profile"):
        load_profile(missing)
    with pytest.raises(KeyError, match="no stream 'ecg'"):
        load_profile("muse-2").stream("ecg")


# ---- broken files -------------------------------------------------------------------------------

GOOD = """\
[device]
name = "x"
label = "Test band"
vendor = "test"
protocol = "muse-classic"
name_prefixes = ["Muse"]
service_uuids = ["0000fe8d-0000-1000-8000-00805f9b34fb"]
min_mtu = 23

[control]
characteristic = "273e0001-4c4d-454d-96be-f03bac821358"
framing = "muse-ascii"

[control.sequences.init]
commands = ["h", "p21"]
delays_ms = [10, 20]

[control.sequences.start]
commands = ["d"]

[control.sequences.stop]
commands = ["h"]

[[streams]]
name = "eeg"
kind = "eeg"
sfreq = 256
unit = "uV"
decoder = "muse.eeg"
channels = ["TP9", "AF7"]
counter = { bits = 16, endian = "big" }

[streams.characteristics]
TP9 = "273e0003-4c4d-454d-96be-f03bac821358"
AF7 = "273e0004-4c4d-454d-96be-f03bac821358"

[streams.quality]
ptp_max_uv = 150.0

[streams.quality.channels.AF7]
ptp_max_uv = 250.0

[[streams]]
name = "hr"
kind = "hr"
sfreq = "irregular"
unit = "bpm"
decoder = "hrs.measurement"
characteristic = "00002a37-0000-1000-8000-00805f9b34fb"
channels = ["hr"]
"""


def _write(tmp_path, text, stem="x"):
    f = tmp_path / f"{stem}.toml"
    f.write_text(text)
    return f


def test_good_template_loads(tmp_path):
    p = load_profile(_write(tmp_path, GOOD))
    assert p.stream_names == ("eeg", "hr")
    assert p.control.sequences["init"].delays_ms == (10, 20)
    assert p.control.sequences["start"].delays_ms == (0,)
    assert p.stream("eeg").quality_for("AF7") == {"ptp_max_uv": 250.0}


BAD = [
    # (old, new, key, words)
    ("sfreq = 256\n", "", "streams[0].sfreq", "missing required key"),
    ("sfreq = 256", 'sfreq = "fast"', "streams[0].sfreq", '"irregular"'),
    ("sfreq = 256", "sfreq = -1", "streams[0].sfreq", "> 0"),
    ("sfreq = 256", "sfreq = true", "streams[0].sfreq", "got boolean"),
    (
        'decoder = "muse.eeg"',
        'decoder = "muse.eeeg"',
        "streams[0].decoder",
        "unknown decoder key 'muse.eeeg'",
    ),
    (
        'channels = ["TP9", "AF7"]',
        'channels = ["TP9", "TP9"]',
        "streams[0].channels[1]",
        "duplicate value 'TP9'",
    ),
    ('AF7 = "273e0004-4c4d', 'AF7 = "273e0004-zz4d', "streams[0].characteristics.AF7", "bad UUID"),
    (
        'AF7 = "273e0004-4c4d-454d-96be-f03bac821358"',
        'AF7 = "273e0003-4c4d-454d-96be-f03bac821358"',
        "streams[0].characteristics.AF7",
        "duplicate characteristic",
    ),
    (
        'AF7 = "273e0004',
        'AF8 = "273e0004',
        "streams[0].characteristics.AF8",
        "not in streams[0].channels",
    ),
    ('unit = "uV"', 'unit = "uV"\nsfrq = 3', "streams[0].sfrq", "unknown key"),
    (
        'protocol = "muse-classic"',
        'protocol = "muse-3"',
        "device.protocol",
        "unknown protocol 'muse-3'",
    ),
    ('name = "x"', 'name = "y"', "device.name", "does not match the file name 'x'.toml"),
    ("min_mtu = 23", 'min_mtu = "232"', "device.min_mtu", "expected an integer"),
    ("min_mtu = 23", "min_mtu = 9000", "device.min_mtu", "23..517"),
    (
        "delays_ms = [10, 20]",
        "delays_ms = [10]",
        "control.sequences.init.delays_ms",
        "1 values for 2 commands",
    ),
    (
        "delays_ms = [10, 20]",
        "delays_ms = [10, -1]",
        "control.sequences.init.delays_ms[1]",
        ">= 0",
    ),
    (
        '[control.sequences.stop]\ncommands = ["h"]\n',
        "",
        "control.sequences.stop",
        "missing required sequence",
    ),
    (
        'framing = "muse-ascii"',
        'framing = "hex"',
        "control.sequences.init.commands[0]",
        "cannot encode 'h'",
    ),
    ('framing = "muse-ascii"', 'framing = "ascii"', "control.framing", "unknown framing"),
    (
        'framing = "muse-ascii"',
        'framing = "muse-ascii"\nkeep_alive_interval_s = 60',
        "control.keep_alive_interval_s",
        "no [control.sequences.keep_alive]",
    ),
    (
        "[streams.quality.channels.AF7]",
        "[streams.quality.channels.AF8]",
        "streams[0].quality.channels.AF8",
        "unknown channel 'AF8'",
    ),
    (
        "ptp_max_uv = 150.0",
        'ptp_max_uv = "high"',
        "streams[0].quality.ptp_max_uv",
        "expected a number",
    ),
    (
        'counter = { bits = 16, endian = "big" }',
        'counter = { bits = 16, endian = "middle" }',
        "streams[0].counter.endian",
        '"big" or "little"',
    ),
    ('counter = { bits = 16, endian = "big" }', "counter = 16", "streams[0].counter", '"none"'),
    (
        'name = "hr"',
        'name = "eeg"',
        "streams[1].name",
        "duplicate stream name 'eeg' (also streams[0])",
    ),
    ('kind = "hr"', 'kind = "heart"', "streams[1].kind", "unknown kind 'heart'"),
    (
        'characteristic = "00002a37-0000-1000-8000-00805f9b34fb"',
        "",
        "streams[1].characteristic",
        "exactly one of",
    ),
    (
        'characteristic = "00002a37-0000-1000-8000-00805f9b34fb"',
        'characteristic = "2a37"',
        "streams[1].characteristic",
        "bad UUID '2a37'",
    ),
    (
        'service_uuids = ["0000fe8d-0000-1000-8000-00805f9b34fb"]',
        'service_uuids = ["0000fe8d"]',
        "device.service_uuids[0]",
        "bad UUID",
    ),
    ("[device]\n", "[devices]\n", "devices", "unknown key"),
    (
        '[[streams]]\nname = "hr"',
        '[[streams]]\nname = "hr"\nrequired = "yes"',
        "streams[1].required",
        "expected boolean",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "key", "words"), BAD, ids=[b[2] + ":" + b[3][:20] for b in BAD]
)
def test_bad_file_names_file_key_and_problem(tmp_path, old, new, key, words):
    assert old in GOOD
    f = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ProfileError) as e:
        load_profile(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: {key}: "), msg
    assert words in msg, msg


def test_missing_device_table(tmp_path):
    f = _write(tmp_path, GOOD[GOOD.index("[control]") :])
    with pytest.raises(ProfileError, match=r"x.toml: device: missing required table"):
        load_profile(f)


def test_decision_without_choice(tmp_path):
    f = _write(
        tmp_path, GOOD + '\n[decisions.a]\nchoice = 1\n\n[decisions.b]\nevidence = "none"\n'
    )
    with pytest.raises(
        ProfileError, match=r"x.toml: decisions.b: expected a table with at least a 'choice'"
    ):
        load_profile(f)


def test_invalid_toml_and_no_streams(tmp_path):
    f = _write(tmp_path, GOOD.replace('label = "Test band"', 'label = "Test band'))
    with pytest.raises(ProfileError, match=r"x.toml: invalid TOML: .*line 3"):
        load_profile(f)
    f = _write(tmp_path, GOOD.split("[[streams]]")[0])
    with pytest.raises(ProfileError, match=r"x.toml: streams: missing required array"):
        load_profile(f)


# ---- profile facts the public decoder relies on (addictidx.acquire.decode) -------------------


@pytest.mark.parametrize("name", ["muse-2016", "muse-2", "muse-s"])
def test_classic_muse_profiles_have_optional_aux_stream(name):
    aux = load_profile(name).stream("eeg_aux")
    eeg = load_profile(name).stream("eeg")
    assert aux.kind == "eeg" and aux.channels == ("AUX",) and aux.required is False
    assert aux.characteristics == ("273e0007" + MUSE_SUFFIX,)
    assert (
        (aux.sfreq, aux.scale, aux.offset)
        == (eeg.sfreq, eeg.scale, eeg.offset)
        == (
            256,
            0.48828125,
            -2048,
        )
    )


def test_muse_2016_aux_preset_sequence():
    seq = load_profile("muse-2016").control.encoded("init_with_aux")
    assert [c.hex() for c, _ in seq][2] == "047032300a"  # p20 (PROTOCOLS §1.2)


@pytest.mark.parametrize("name", ["muse-2016", "muse-2", "muse-s", "sim-muse"])
def test_telemetry_channels_carry_units(name):
    t = load_profile(name).stream("telemetry")
    assert t.channels == ("battery_pct", "fuel_gauge_v")


def test_athena_scales_are_the_documented_constants():
    p = load_profile("muse-s-athena")
    eeg = p.stream("eeg")
    assert eeg.scale == 1450 / 16383 and eeg.offset == -8192  # PROTOCOLS §2.4
    assert p.stream("gyro").scale == -0.0074768 and p.stream("acc").scale == 0.0000610352
    assert p.stream("battery").scale == 1 / 512
    assert p.stream("optics").scale == 1.0 and p.stream("optics").unit == "counts"


def test_h10_acc_frame_types_recorded():
    acc = load_profile("polar-h10").stream("acc")
    assert tuple(acc.layout["frame_types"]) == (0x01, 0x81) and acc.scale == 0.001


def test_profile_decoder_keys_are_the_decoder_registry():
    # profiles load without the decoders (addictidx.devices sits below acquire); the key list
    # they validate against must stay the registry's
    from addictidx.devices import DECODER_KEYS

    assert set(DECODER_KEYS) == set(DECODERS) and len(DECODER_KEYS) == len(DECODERS)


def test_device_facts_are_readable_below_the_acquisition_layer():
    from addictidx.devices import stream_profile

    assert stream_profile("muse-2", "eeg").channels == ("TP9", "AF7", "AF8", "TP10")
    assert stream_profile("sim-muse", "eeg").sfreq == 256.0
    assert stream_profile("polar-h10", "ecg").sfreq == 130.0
    assert stream_profile("polar-h10", "ecg").samples_per_packet == 73
    assert stream_profile("polar-h10", "rr").scale == 1 / 1024
