"""Fast paths of the real-time pipeline equal their reference paths exactly (issue 8 follow-up).

* ``decode_muse_eeg`` / ``unpack_uint12`` (one Python integer + shifts) against a bit-string
  reading of the bytes written here and against the vectorized numpy unpacker;
* ``decode_muse_eeg_batch`` against ``decode_muse_eeg`` row by row;
* ``MuseEegAssembler.feed_decoded`` against ``feed`` on lossy, reordered, duplicated streams;
* the sort-based NaN-aware median of ``rr_quality`` against ``np.nanmedian`` bit for bit;
* ``compute_hrv(nonlinear=False, geometric=False)`` against the full call.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addictidx._core.errors import DecodeError
from addictidx._core.types import StreamSpec
from addictidx.acquire.assemble import MuseEegAssembler
from addictidx.acquire.decoders import muse_classic as M
from addictidx.features import compute_hrv
from addictidx.features.hrv import HRV_GEOMETRIC_NAMES, HRV_NAMES, HRV_NONLINEAR_NAMES
from addictidx.features.rr_quality import _nanmedian_rows, rr_quality

_payload20 = st.binary(min_size=20, max_size=20)


def _bits_unpack12(b: bytes) -> list[int]:
    """12-bit MSB-first fields of ``b`` read from its bit string (independent of the code)."""
    bits = "".join(f"{x:08b}" for x in b)
    return [int(bits[i : i + 12], 2) for i in range(0, len(bits), 12)]


# ------------------------------------------------------------------------------ Muse EEG decode


@settings(max_examples=300, deadline=None)
@given(_payload20)
def test_decode_eeg_fast_path_equals_bitstring_and_numpy_paths(p):
    seq, uv = M.decode_muse_eeg(p)
    assert seq == p[0] * 256 + p[1]
    want = [0.48828125 * (r - 2048) for r in _bits_unpack12(p[2:])]
    assert uv.dtype == np.float64 and uv.shape == (12,) and uv.flags.writeable
    assert uv.tolist() == want  # exact
    raw = M._unpack_uint12_numpy(p[2:])
    np.testing.assert_array_equal(uv, M.EEG_SCALE_UV * (raw.astype(np.float64) + M.EEG_OFFSET))
    # bytearray / memoryview take the same path
    for q in (bytearray(p), memoryview(p)):
        s2, u2 = M.decode_muse_eeg(q)
        assert s2 == seq and u2.tolist() == want


def test_decode_eeg_returns_a_fresh_array():
    p = bytes(range(20))
    _, a = M.decode_muse_eeg(p)
    a[:] = 0.0
    _, b = M.decode_muse_eeg(p)
    assert b[0] == 0.48828125 * (((0x02 << 4) | (0x03 >> 4)) - 2048)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 40).flatmap(lambda k: st.binary(min_size=3 * k, max_size=3 * k)))
def test_unpack12_short_and_long_paths_equal(b):
    got = M.unpack_uint12(b)  # int path up to 48 bytes, numpy path above
    assert got.dtype == np.uint16 and got.shape == (2 * len(b) // 3,)
    assert got.tolist() == _bits_unpack12(b)
    np.testing.assert_array_equal(got, M._unpack_uint12_numpy(b))


@settings(max_examples=100, deadline=None)
@given(st.lists(_payload20, max_size=40))
def test_decode_eeg_batch_equals_single(payloads):
    seqs, uv = M.decode_muse_eeg_batch(payloads)
    assert seqs.shape == (len(payloads),) and uv.shape == (len(payloads), 12)
    for i, p in enumerate(payloads):
        s1, u1 = M.decode_muse_eeg(p)
        assert int(seqs[i]) == s1
        assert uv[i].tolist() == u1.tolist()


def test_decode_eeg_batch_errors_name_the_bad_payload():
    good = bytes(20)
    with pytest.raises(DecodeError, match="at byte 19: expected exactly 20 bytes, got 19"):
        M.decode_muse_eeg_batch([good, bytes(19), bytes(21)])  # lengths sum to 3 x 20
    with pytest.raises(DecodeError, match="must be bytes"):
        M.decode_muse_eeg_batch([good, "00" * 10])
    s, u = M.decode_muse_eeg_batch([bytearray(good), memoryview(good)])
    assert s.tolist() == [0, 0] and u.tolist() == [[-1000.0] * 12] * 2


# ------------------------------------------------------------------------------ assembler


_SPEC = StreamSpec("muse", "eeg", "eeg", ("TP9", "AF7", "AF8", "TP10"), 256.0, "uV", 12)
_UUIDS = {f"273e000{i + 3}-4c4d-454d-96be-f03bac821358": c for i, c in enumerate(_SPEC.channels)}


def _chunks_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.data, y.data)  # NaN == NaN here
        np.testing.assert_array_equal(x.times, y.times)
        assert (x.seq, x.n_missing) == (y.seq, y.n_missing)
        assert x.received_at == y.received_at or (
            math.isnan(x.received_at) and math.isnan(y.received_at)
        )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["anchor", "lstsq"]), st.integers(1, 3))
def test_feed_decoded_equals_feed(seed, clock, lag):
    r = random.Random(seed)
    a = MuseEegAssembler(_SPEC, _UUIDS, clock=clock, max_lag_blocks=lag)
    b = MuseEegAssembler(_SPEC, _UUIDS, clock=clock, max_lag_blocks=lag)
    uuids = list(_UUIDS)
    seq0, t, notes = r.randrange(65536), 0.0, []
    for blk in range(r.randrange(3, 60)):
        for u in uuids:
            if r.random() < 0.1:  # lost
                continue
            t += r.random() * 0.02
            notes.append((u if r.random() < 0.8 else u.upper(), (seq0 + blk) % 65536, t))
            if r.random() < 0.03:  # duplicate
                notes.append(notes[-1])
    for i in range(len(notes) - 1):  # local reordering
        if r.random() < 0.05:
            notes[i], notes[i + 1] = notes[i + 1], notes[i]
    for u, sq, tt in notes:
        p = bytes([sq >> 8, sq & 0xFF]) + bytes(r.randrange(256) for _ in range(18))
        _chunks_equal(a.feed(u, p, tt), b.feed_decoded(u, *M.decode_muse_eeg(p), tt))
    _chunks_equal(a.flush(), b.flush())
    for k in ("n_packets", "n_late", "n_duplicate", "n_missing_blocks", "n_partial_blocks"):
        assert getattr(a, k) == getattr(b, k)
    assert a.n_packets + a.n_late == len(notes)  # duplicates are counted in n_packets


def test_feed_decoded_rejects_unknown_characteristic():
    a = MuseEegAssembler(_SPEC, _UUIDS)
    with pytest.raises(ValueError, match="not an EEG characteristic"):
        a.feed_decoded("273e000b-4c4d-454d-96be-f03bac821358", 0, np.zeros(12), 0.0)


def test_partial_block_counts_missing_electrodes():
    # block 0 gets TP9 and AF8 only; block 1 arrives complete; a packet of block 2 follows
    a = MuseEegAssembler(_SPEC, _UUIDS)
    u = list(_UUIDS)
    blk0 = bytes([0, 0]) + bytes([0x80, 0x08, 0x00] * 6)  # raw 2048, 2048 -> 0 µV
    out = a.feed(u[0], blk0, 0.0) + a.feed(u[2], blk0, 0.001)
    for i in range(4):
        out += a.feed(u[i], bytes([0, 1]) + bytes(18), 0.05 + i * 1e-3)
    out += a.feed(u[0], bytes([0, 2]) + bytes(18), 0.1)
    assert [c.seq for c in out] == [0, 1]
    assert [c.n_missing for c in out] == [24, 0]
    assert out[0].data[[0, 2]].tolist() == [[0.0] * 12] * 2
    assert np.isnan(out[0].data[[1, 3]]).all()
    assert out[1].data.tolist() == [[-1000.0] * 12] * 4
    assert out[0].received_at == 0.001 and out[1].received_at == 0.05 + 3e-3
    assert (a.n_partial_blocks, a.n_missing_blocks, a.n_packets) == (1, 0, 7)


# ------------------------------------------------------------------------------ NaN median


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.integers(1, 30), st.floats(0.0, 1.0))
def test_nanmedian_rows_equals_numpy_bit_for_bit(seed, n_cols, n_rows, p_nan):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.3, 2.0, (n_rows, n_cols))
    a[rng.random(a.shape) < p_nan] = np.nan
    a[0] = np.nan  # an all-NaN row
    if n_rows > 1:
        a[1] = np.round(a[1], 1)  # ties
    med, n_valid = _nanmedian_rows(a)
    with pytest.warns(RuntimeWarning):
        want = np.nanmedian(a, axis=1)
    np.testing.assert_array_equal(med, want)  # exact, NaN where NaN
    np.testing.assert_array_equal(n_valid, (~np.isnan(a)).sum(axis=1))


def test_nanmedian_rows_hand_values():
    a = np.array(
        [
            [1.0, np.nan, 3.0, 2.0],  # odd count: 2
            [4.0, 1.0, np.nan, np.nan],  # even count: (1 + 4) / 2
            [np.nan] * 4,
            [0.1, 0.2, 0.3, 0.7],
        ]
    )  # (0.2 + 0.3) / 2, rounded as (low + high) / 2
    med, n = _nanmedian_rows(a)
    assert med[0] == 2.0 and med[1] == 2.5 and math.isnan(med[2])
    assert med[3] == (0.2 + 0.3) / 2
    assert n.tolist() == [3, 2, 0, 4]


def test_rr_quality_median_rule_by_hand():
    # 11 intervals of 1.0 s with a premature beat 0.7 s in the middle: local median 1.0,
    # deviation 30 % > 20 % -> flagged; its neighbours' medians stay 1.0 -> accepted
    rr = np.ones(11)
    rr[5] = 0.7
    ok, rep = rr_quality(rr, min_duration_s=1.0)
    assert ok.tolist() == [True] * 5 + [False] + [True] * 5
    # half_window=2: even (2, 4) and odd (3) neighbour counts, worked by hand:
    # i=0: {1.0, 1.3} -> 1.15, 13 % ok;   i=1: {1.0, 1.3, 1.3} -> 1.3, 23 % flagged
    # i=2: {1.0, 1.0, 1.3, 1.0} -> 1.0, 30 % flagged;   i=3: {1.0, 1.3, 1.0, 1.3} -> 1.15 ok
    # i=4: {1.3, 1.3, 1.3} -> 1.3, 23 % flagged;   i=5: {1.3, 1.0} -> 1.15, 13 % ok
    rr2 = np.array([1.0, 1.0, 1.3, 1.3, 1.0, 1.3])
    ok2, rep2 = rr_quality(rr2, min_duration_s=1.0, half_window=2)
    assert ok2.tolist() == [True, False, False, True, False, True]
    assert rep2.per_channel["rr"] == 0.5 and not rep2.usable


# ------------------------------------------------------------------------------ compute_hrv


@pytest.mark.parametrize("nonlinear,geometric", [(False, True), (True, False), (False, False)])
def test_compute_hrv_skipped_groups_leave_the_rest_identical(nonlinear, geometric):
    rng = np.random.default_rng(3)
    rr = 0.8 + 0.05 * np.sin(np.arange(200) / 3.0) + rng.normal(0, 0.02, 200)
    rr[[17, 90]] = np.nan
    full, qf = compute_hrv(rr, frequency=False, return_quality=True)
    part, qp = compute_hrv(
        rr, frequency=False, nonlinear=nonlinear, geometric=geometric, return_quality=True
    )
    skipped = set()
    if not nonlinear:
        skipped.update(HRV_NONLINEAR_NAMES)
    if not geometric:
        skipped.update(HRV_GEOMETRIC_NAMES)
    assert list(part) == list(HRV_NAMES)
    for k in HRV_NAMES:
        if k in skipped:
            assert math.isnan(part[k]), k
        elif math.isnan(full[k]):
            assert math.isnan(part[k]), k
        else:
            assert part[k] == full[k], k  # exact
    assert qp.usable == qf.usable and qp.per_channel == qf.per_channel
    assert set(qp.flags) == {f for f in qf.flags if f.split(":", 1)[1] not in skipped}
    # hand check of the two index features on the lean path
    ms = rr * 1000.0
    d = np.diff(ms)[np.isfinite(ms[:-1]) & np.isfinite(ms[1:])]
    assert part["hrv_rmssd_ms"] == pytest.approx(math.sqrt(np.mean(d * d)), rel=1e-12)
    assert part["hr_mean_bpm"] == pytest.approx(60000.0 / np.nanmean(ms), rel=1e-12)


def test_compute_hrv_still_rejects_milliseconds():
    with pytest.raises(ValueError, match="looks like milliseconds"):
        compute_hrv([800.0, 810.0, np.nan, 790.0], frequency=False, nonlinear=False)
    # a single large value does not trip the unit check (median 1.0 s)
    out = compute_hrv([1.0, 1.0, 11.0], frequency=False, enforce_min_window=False)
    assert out["hrv_median_nn_ms"] == 1000.0
