"""Issue 9: fuzzing every decoder and file reader (hypothesis), plus a brief atheris run.

Property: given arbitrary or mutated bytes, a decoder raises only ``DecodeError`` and a file
reader only ``DataFormatError`` (or ``StoreError`` for a key problem) - never another exception,
which the CLI would show as a traceback. Seeds are valid inputs built in the test (encoded
notifications, an EDF+/BDF written by ``edfio``, CSV/TSV text), then mutated byte by byte and
truncated. ``addictidx rescore`` on a malformed file prints one line naming the file.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addictidx._core import DataFormatError, DecodeError, StoreError
from addictidx.acquire.decoders import (
    DECODERS,
    encode_heart_rate_measurement,
    encode_muse_eeg,
)
from addictidx.store import keyring

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ROOT = Path(__file__).resolve().parents[1]


def _mutate(seed: bytes, edits, cut) -> bytes:
    b = bytearray(seed)
    for pos, val in edits:
        if b:
            b[pos % len(b)] = val
    if cut is not None and b:
        b = b[: cut % (len(b) + 1)]
    return bytes(b)


EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6)
CUT = st.one_of(st.none(), st.integers(0, 10**6))


# -- decoders ------------------------------------------------------------------------------------
_VALID = {
    "muse.eeg": encode_muse_eeg(7, np.arange(12) * 10.0),
    "hrs.measurement": encode_heart_rate_measurement(72, rr_1024=[800, 812]),
    "battery.level": bytes([87]),
}


@FUZZ
@given(key=st.sampled_from(sorted(DECODERS)), data=st.binary(max_size=300), edits=EDITS, cut=CUT)
def test_every_decoder_raises_only_decode_error(key, data, edits, cut):
    fn = DECODERS[key]
    for payload in (data, _mutate(_VALID.get(key, data), edits, cut)):
        try:
            fn(payload)
        except DecodeError:
            pass


@FUZZ
@given(data=st.binary(max_size=300), uuid_i=st.integers(0, 40))
def test_stream_hub_never_raises_on_garbage(data, uuid_i):
    from addictidx.acquire.hub import StreamHub
    from addictidx.acquire.profiles import load_profile

    hub = StreamHub({"m": "sim-muse", "h": "sim-hrs", "p": "polar-h10"}, silence_s=None)
    for dev, prof in (("m", "sim-muse"), ("h", "sim-hrs"), ("p", "polar-h10")):
        chars = [c for s in load_profile(prof).streams for c in s.characteristics]
        hub.on_notification(dev, chars[uuid_i % len(chars)], data, 1.0)
    hub.close()


# -- file readers --------------------------------------------------------------------------------
def _seed_files(d: Path) -> dict[str, bytes]:
    import edfio

    rng = np.random.default_rng(0)
    bdf = edfio.Bdf(
        [
            edfio.BdfSignal(
                rng.normal(0, 20, 512),
                256.0,
                label=c,
                physical_dimension="uV",
                physical_range=(-1000, 1000),
            )
            for c in ("TP9", "AF7")
        ],
        data_record_duration=1.0,
        annotations=[edfio.EdfAnnotation(0.5, None, "phase:x")],
    )
    bdf.write(d / "s.bdf")
    edf = edfio.Edf(
        [
            edfio.EdfSignal(
                np.full(8, 800.0),
                4.0,
                label="RR",
                physical_dimension="ms",
                physical_range=(0, 3000),
            )
        ],
        data_record_duration=1.0,
        annotations=[edfio.EdfAnnotation(0.1, None, "beat rr_ms=800.000")],
    )
    edf.write(d / "s.edf")
    muse = "timestamps,TP9,AF7,AF8,TP10,Right AUX\n" + "".join(
        f"{1700000000 + i / 256:.6f},{i % 7}.5,1.0,2.0,3.0,0.0\n" for i in range(64)
    )
    mm = "TimeStamp,RAW_TP9,RAW_AF7,RAW_AF8,RAW_TP10,Elements\n" + "".join(
        f"2024-05-01 10:00:00.{i * 4:03d},1.0,2.0,3.0,4.0,\n" for i in range(40)
    )
    tsv = "beat_time_s\trr_ms\n" + "".join(f"{i * 0.8:.4f}\t800.000\n" for i in range(20))
    return {
        ".bdf": (d / "s.bdf").read_bytes(),
        ".edf": (d / "s.edf").read_bytes(),
        ".csv": muse.encode(),
        "mm.csv": mm.encode(),
        ".tsv": tsv.encode(),
        ".xdf": b"XDF:" + bytes(range(64)),
    }


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return _seed_files(tmp_path_factory.mktemp("seeds"))


@FUZZ
@given(
    kind=st.sampled_from([".bdf", ".edf", ".csv", "mm.csv", ".tsv", ".xdf", ".csv.gz"]),
    edits=EDITS,
    cut=CUT,
    junk=st.binary(max_size=200),
)
def test_read_recording_raises_only_one_data_format_error(seeds, kind, edits, cut, junk):
    import gzip

    from addictidx.readers import read_recording

    seed = seeds.get(kind, seeds[".csv"])
    data = _mutate(seed, edits, cut) if edits or cut is not None else junk
    if kind == ".csv.gz":
        data = gzip.compress(data) if edits else data  # also a broken gzip stream
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / ("f" + (kind if kind.startswith(".") else "_" + kind))
        p.write_bytes(data)
        try:
            read_recording(p)
        except DataFormatError as exc:
            msg = str(exc)
            assert str(p) in msg and "\n" not in msg.strip(), msg


@FUZZ
@given(
    which=st.sampled_from(["rr_text", "h10_csv", "athena_log"]),
    text=st.text(max_size=300),
    edits=EDITS,
    cut=CUT,
)
def test_acquire_text_readers_raise_only_data_format_error(which, text, edits, cut):
    from addictidx.acquire.h10_replay import read_athena_log
    from addictidx.readers import read_polar_h10_csv, read_rr_text

    seed = {
        "rr_text": "0.812\n0.799\n# note\n0.805\n",
        "h10_csv": "time_ns,ecg_mV,hr_bpm,rr_ms\n1000,0.1,60,1000\n2000,0.2,,\n",
        "athena_log": "2024-01-01T00:00:00Z\t273e0013-4c4d-454d-96be-f03bac821358\tdeadbeef\n",
    }[which]
    fn = {"rr_text": read_rr_text, "h10_csv": read_polar_h10_csv, "athena_log": read_athena_log}[
        which
    ]
    for data in (text.encode("utf-8", "replace"), _mutate(seed.encode(), edits, cut)):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "f.txt"
            p.write_bytes(data)
            try:
                fn(p)
            except DataFormatError:
                pass


@FUZZ
@given(edits=EDITS, cut=CUT, target=st.sampled_from(["eeg.f64", "rr.f64", "meta.json"]))
def test_encrypted_raw_reader_raises_only_clear_errors(tmp_path_factory, edits, cut, target):
    from addictidx._core.types import Chunk, StreamSpec
    from addictidx.store.raw import RawWriter, read_raw

    base = tmp_path_factory.mktemp("raw")
    keyring.init_keys(base)
    spec = StreamSpec("hb", "eeg", "eeg", ("A", "B"), 256.0, "uV", 12)
    rr = StreamSpec("st", "rr", "rr", ("rr",), None, "s", None)
    with RawWriter(base, {"eeg_channels": ["A", "B"], "eeg_sfreq": 256.0}) as w:
        for k in range(3):
            w.append_eeg(Chunk(spec, np.ones((2, 4)) * k, np.arange(4) + 4.0 * k))
            w.append_rr(Chunk(rr, np.array([[0.8]]), np.array([float(k)])))
    p = base / target
    p.write_bytes(_mutate(p.read_bytes(), edits, cut))
    try:
        r = read_raw(base)
    except (DataFormatError, StoreError) as exc:
        assert str(base) in str(exc)
        return
    assert r.eeg.shape[0] == 2 and r.eeg.shape[1] <= 12


@FUZZ
@given(data=st.binary(max_size=400), edits=EDITS, cut=CUT)
def test_audit_verify_and_key_file_never_raise_unexpectedly(tmp_path_factory, data, edits, cut):
    from addictidx.store.audit import AuditLog, verify_audit

    d = tmp_path_factory.mktemp("audit")
    _ring, key = keyring.init_keys(d)
    log = AuditLog(d, key, "store-id")
    for i in range(3):
        log.append("view", session=i)
    p = d / "audit.jsonl"
    good = p.read_bytes()
    bad = _mutate(good, edits, cut) if edits or cut is not None else data
    p.write_bytes(bad)
    rep = verify_audit(d, key, "store-id", db_checked=False)
    if bad.rstrip(b"\n") != good.rstrip(b"\n"):  # any change of content is detected
        assert not rep.ok and rep.first_bad is not None
    kf = keyring.key_file_path(d)
    kf.write_bytes(_mutate(kf.read_bytes(), edits, cut) if edits else data)
    try:
        keyring.load_keyring(d)
    except StoreError:
        pass


def test_audit_verify_fails_on_any_single_byte_change(tmp_path):
    from addictidx.store.audit import AuditLog, verify_audit

    _ring, key = keyring.init_keys(tmp_path)
    log = AuditLog(tmp_path, key, "store-id")
    for i in range(4):
        log.append("export", session=i, detail={"n": i})
    p = tmp_path / "audit.jsonl"
    good = p.read_bytes()
    rng = np.random.default_rng(1)
    for pos in rng.choice(len(good), 40, replace=False):
        if good[pos : pos + 1] == b"\n":
            continue
        b = bytearray(good)
        b[pos] = (b[pos] + 1) % 256 if b[pos] != ord("9") else ord("8")
        p.write_bytes(bytes(b))
        assert not verify_audit(tmp_path, key, "store-id", db_checked=False).ok, pos
    p.write_bytes(good)
    assert verify_audit(tmp_path, key, "store-id", db_checked=False).ok


def test_rescore_on_malformed_files_prints_one_line(seeds, tmp_path):
    cases = {
        "trunc.bdf": seeds[".bdf"][:300],
        "bad.edf": seeds[".edf"][:180] + b"\xff" * 100,
        "bad.csv": b"timestamps,TP9,AF7\n1,2\n\xff\xfe\n",
        "bad.xdf": b"XDF:\x01\x02garbage",
        "bad.csv.gz": b"\x1f\x8b\x08garbage",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        proc = subprocess.run(
            [sys.executable, "-m", "addictidx", "rescore", str(p)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert "Traceback" not in proc.stderr and len(lines) == 1, (name, proc.stderr)
        assert name in lines[0], lines[0]


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_atheris_target_runs_briefly():
    """Coverage-guided fuzzing of the decoders, the readers and the encrypted formats."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "fuzz_atheris.py"),
            "-atheris_runs=3000",
            "-seed=1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Done 3000 in" in proc.stderr, proc.stderr[-2000:]
