"""Simulated devices: the notification stream matches the source recording byte-exactly.

Independent references: the bundled CSV read with ``numpy.genfromtxt`` (not our reader), the
protocol decoders of ``addictidx.acquire.decoders`` (written against PROTOCOLS.md test vectors),
and hand calculations.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
import pytest

from addictidx._core.types import StreamSpec
from addictidx.acquire.decoders.hrs import decode_heart_rate_measurement
from addictidx.acquire.decoders.muse_classic import decode_muse_eeg
from addictidx.acquire.simulate import Notification, SimulatedHeadband, SimulatedStrap

STEP_UV = 0.48828125  # PROTOCOLS.md §1.3: 1000/2048 µV per count
CHANNELS = ("TP9", "AF7", "AF8", "TP10")
# PROTOCOLS.md §1.1 and §4.1 (written out here, independent of the profile files)
MUSE_EEG_CHARACTERISTICS = {
    "TP9": "273e0003-4c4d-454d-96be-f03bac821358",
    "AF7": "273e0004-4c4d-454d-96be-f03bac821358",
    "AF8": "273e0005-4c4d-454d-96be-f03bac821358",
    "TP10": "273e0006-4c4d-454d-96be-f03bac821358",
}
HEART_RATE_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"


@pytest.fixture(scope="module")
def csv_reference():
    """The bundled Muse CSV, read independently of addictidx.readers."""
    res = resources.files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz")
    with res.open("rb") as f, gzip.open(f, "rt") as text:
        arr = np.genfromtxt(text, delimiter=",", names=True)
    return np.vstack([arr[c] for c in CHANNELS])


def _decode_all(notes, n_blocks, start_sequence=0):
    """Place every decoded notification at (channel, block) by characteristic and sequence."""
    row = {MUSE_EEG_CHARACTERISTICS[c]: i for i, c in enumerate(CHANNELS)}
    out = np.full((4, n_blocks, 12), np.nan)
    for n in notes:
        seq, uv = decode_muse_eeg(n.payload)
        b = (seq - start_sequence) % 65536
        out[row[n.characteristic], b] = uv
    return out.reshape(4, -1)


def test_devices_follow_their_profiles():
    head, strap = SimulatedHeadband(duration_s=1.0), SimulatedStrap(duration_s=5.0)
    assert head.name == "sim-muse" and strap.name == "sim-hrs"
    assert head.characteristics == MUSE_EEG_CHARACTERISTICS
    assert strap.characteristic == HEART_RATE_MEASUREMENT
    assert head.stream_spec == StreamSpec("sim-muse", "eeg", "eeg", CHANNELS, 256.0, "uV", 12)
    assert strap.rr_spec.unit == "s" and strap.hr_spec.unit == "bpm"
    assert strap.rr_spec.sfreq is None and strap.rr_spec.channels == ("rr",)


def test_headband_decodes_to_source_within_half_step(csv_reference):
    head = SimulatedHeadband(seed=1)
    notes = list(head)
    n_blocks = csv_reference.shape[1] // 12
    assert head.n_blocks == n_blocks == 2561
    assert len(notes) == 4 * n_blocks
    decoded = _decode_all(notes, n_blocks)
    src = csv_reference[:, : 12 * n_blocks]
    unclipped = np.abs(src) < 999.5
    assert unclipped.all()  # the bundled excerpt never reaches the ±1000 µV rails
    assert np.max(np.abs(decoded - src)[unclipped]) <= STEP_UV / 2 + 1e-9


def test_headband_encoding_clips_and_quantizes():
    # hand values: 1500 µV clips to raw 4095 -> 0.48828125 * 2047 = 999.51171875;
    # -1500 clips to raw 0 -> -1000; 0.3 µV rounds to one step 0.48828125.
    data = np.zeros((4, 12))
    data[0, 0], data[1, 1], data[2, 2] = 1500.0, -1500.0, 0.3
    (n_tp9, n_af7, n_af8, _) = sorted(
        SimulatedHeadband(data, 256.0, shuffle=False), key=lambda n: n.characteristic
    )
    assert decode_muse_eeg(n_tp9.payload)[1][0] == 999.51171875
    assert decode_muse_eeg(n_af7.payload)[1][1] == -1000.0
    assert decode_muse_eeg(n_af8.payload)[1][2] == STEP_UV


def test_headband_times_order_and_shuffle():
    head = SimulatedHeadband(duration_s=5.0, seed=7)
    notes = list(head)
    t = np.array([n.t for n in notes])
    assert np.all(np.diff(t) >= 0)
    # block b is sent at the time of its last sample, (12 b + 11) / 256
    blocks = t.reshape(-1, 4)
    assert np.all(blocks == blocks[:, :1])
    np.testing.assert_array_equal(blocks[:, 0], (12 * np.arange(blocks.shape[0]) + 11) / 256)
    orders = {tuple(n.characteristic for n in notes[i : i + 4]) for i in range(0, len(notes), 4)}
    assert all(sorted(o) == sorted(MUSE_EEG_CHARACTERISTICS[c] for c in CHANNELS) for o in orders)
    assert len(orders) > 10  # 24 permutations, 106 blocks: the order really varies
    unshuffled = list(SimulatedHeadband(duration_s=5.0, shuffle=False))
    assert {tuple(n.characteristic for n in unshuffled[i : i + 4]) for i in range(0, 400, 4)} == {
        tuple(MUSE_EEG_CHARACTERISTICS[c] for c in CHANNELS)
    }
    # same seed, same stream; other seed, other order, same bytes per (char, seq)
    assert list(SimulatedHeadband(duration_s=5.0, seed=7)) == notes
    other = list(SimulatedHeadband(duration_s=5.0, seed=8))
    assert other != notes
    assert sorted((n.characteristic, n.payload) for n in other) == sorted(
        (n.characteristic, n.payload) for n in notes
    )


def test_headband_sequence_wraps_and_recording_loops(csv_reference):
    n = csv_reference.shape[1]  # 30732 samples = 2561 blocks exactly
    head = SimulatedHeadband(duration_s=2 * n / 256 + 1.0, start_sequence=65000, seed=2)
    notes = list(head)
    seqs = np.array([decode_muse_eeg(x.payload)[0] for x in notes[::4]])
    assert head.n_blocks == 2 * 2561 + 21  # floor((2 * 30732 + 256) / 12)
    assert seqs[0] == 65000 and seqs[535] == 65535 and seqs[536] == 0
    assert np.all((np.diff(seqs) % 65536) == 1)
    decoded = _decode_all(notes, head.n_blocks, start_sequence=65000)
    idx = np.arange(12 * head.n_blocks) % n  # the recording loops sample by sample
    assert np.max(np.abs(decoded - csv_reference[:, idx])) <= STEP_UV / 2 + 1e-9


def test_headband_faults():
    full = list(SimulatedHeadband(duration_s=60.0, seed=3))
    dropped = list(SimulatedHeadband(duration_s=60.0, seed=3, drop_fraction=0.1))
    # 5120 notifications, p = 0.1: 512 expected, sd 21
    assert 400 < len(full) - len(dropped) < 620
    assert set(dropped) <= set(full)
    silent = list(SimulatedHeadband(duration_s=60.0, seed=3, dropouts=[(10.0, 12.5)]))
    gone = set(full) - set(silent)
    assert gone == {n for n in full if 10.0 <= n.t < 12.5}
    assert len(gone) == 4 * 53  # block times (12 b + 11)/256 in [10, 12.5): b = 213..265
    jit = list(SimulatedHeadband(duration_s=60.0, seed=3, jitter_s=0.1))
    tj = np.array([n.t for n in jit])
    assert np.all(np.diff(tj) >= 0)  # still time ordered although blocks now interleave
    assert len(jit) == len(full)


def test_headband_skips_nan_source_samples():
    data = np.ones((4, 36))
    data[2, 13] = np.nan  # AF8, block 1
    notes = list(SimulatedHeadband(data, 256.0))
    assert len(notes) == 11
    assert not any(
        n.characteristic == MUSE_EEG_CHARACTERISTICS["AF8"] and decode_muse_eeg(n.payload)[0] == 1
        for n in notes
    )


def test_strap_hand_example():
    # beats at T = 0.5, 1.0, 2.5, 3.2 s; notifications at 1, 2, 3, 4 s
    strap = SimulatedStrap([0.5, 0.5, 1.5, 0.7])
    notes = list(strap)
    assert [n.t for n in notes] == [1.0, 2.0, 3.0, 4.0]
    assert all(n.characteristic == HEART_RATE_MEASUREMENT for n in notes)
    m = [decode_heart_rate_measurement(n.payload) for n in notes]
    assert [x.rr_1024 for x in m] == [(512, 512), (), (1536,), (717,)]  # round(0.7*1024)=717
    # HR = round(60 / mean of the last <= 4 completed RR)
    assert [x.hr_bpm for x in m] == [120, 120, round(60 / (2.5 / 3)), round(60 / (3.2 / 4))]
    assert all(x.contact_detected for x in m)


def test_strap_sends_every_source_interval():
    strap = SimulatedStrap(seed=0)
    rr = strap.rr_s
    assert rr.size == 1019
    got = []
    for n in strap:
        got.extend(decode_heart_rate_measurement(n.payload).rr_1024)
    got = np.array(got) / 1024
    np.testing.assert_array_equal(got, np.rint(rr * 1024) / 1024)
    np.testing.assert_array_equal(got, rr)  # the source is on the 1/128 s grid: exact


def test_strap_rounds_off_grid_values_and_loops():
    rr = 0.8 + 0.0013 * np.arange(10)  # not multiples of 1/1024
    strap = SimulatedStrap(rr, duration_s=3 * rr.sum())
    got = np.concatenate([np.array(decode_heart_rate_measurement(n.payload).rr_s) for n in strap])
    np.testing.assert_array_equal(got, np.tile(np.rint(rr * 1024) / 1024, 3))


def test_strap_caps_rr_per_notification_without_loss():
    rr = np.full(40, 0.1)  # 10 beats per second, at most 9 per 20-byte notification
    notes = list(SimulatedStrap(rr))
    counts = [len(decode_heart_rate_measurement(n.payload).rr_1024) for n in notes]
    assert max(counts) == 9 and sum(counts) == 40
    assert all(len(n.payload) <= 20 for n in notes)


def test_notification_is_frozen():
    n = Notification(0.0, "x", b"")
    with pytest.raises(AttributeError):
        n.t = 1.0  # type: ignore[misc]


def test_bad_arguments():
    with pytest.raises(ValueError, match="drop_fraction"):
        SimulatedHeadband(drop_fraction=1.0)
    with pytest.raises(ValueError, match=r"dropouts\[0\]"):
        SimulatedStrap(dropouts=[(5, 1)])
    with pytest.raises(ValueError, match="sfreq"):
        SimulatedHeadband(np.zeros((4, 24)))
    with pytest.raises(ValueError, match="position 1"):
        SimulatedStrap([0.8, -1.0])
