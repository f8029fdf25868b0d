"""Issue 9: encryption at rest, key rotation, audit chain, consent, research export, erasure,
disk full while recording, and logs without subject codes or signal values.

Independent checks: the encrypted file format is parsed by hand in the test and decrypted with
``cryptography``'s AESGCM directly; keyed hashes are recomputed with ``hmac``/``hashlib``;
recorded EEG is compared sample for sample with the bundled source recording; erasure is checked
by scanning the raw bytes of every file in the store (database, WAL, SHM included).
"""

from __future__ import annotations

import base64
import datetime as dt
import errno
import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from addictidx._core import DataFormatError, StoreError
from addictidx.readers import bundled_muse_eeg
from addictidx.sessions.assessment import run_assessment
from addictidx.sessions.protocol import Phase, Protocol
from addictidx.store import crypto, keyring
from addictidx.store.audit import verify_store as verify_audit
from addictidx.store.consent import in_force
from addictidx.store.raw import read_raw
from addictidx.store.session_store import SessionStore

SHORT = Protocol(
    "test-trust",
    (
        Phase("device_check", 10.0, False, kind="check"),
        Phase("eyes_closed_rest", 40.0, True),
        Phase("eyes_open_rest", 10.0, True),
    ),
)
PLAIN_OK = {
    "addictidx.sqlite",
    "addictidx.sqlite-wal",
    "addictidx.sqlite-shm",
    "audit.jsonl",
    "audit.head",  # HMAC-signed, holds no subject
    ".lock",  # empty recording lock
}


def _cli(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "addictidx", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=e,
    )


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch):
    for k in (keyring.KEY_ENV, keyring.KEY_FILE_ENV, keyring.HASH_KEY_ENV, "ADDICTIDX_DB_URL"):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture(scope="module")
def assessed(tmp_path_factory):
    """A store with one simulated assessment of P901 and consent records."""
    store = tmp_path_factory.mktemp("trust") / "store"
    res = run_assessment(
        "P901", store_dir=store, protocol=SHORT, seed=3, age=30, consent_given=True
    )
    return store, res


def _copy(store: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "store"
    shutil.copytree(store, dst)
    # The site key lives beside the store (<store>.keys/): a moved store takes it along.
    shutil.copytree(keyring.key_file_path(store).parent, keyring.key_file_path(dst).parent)
    return dst


def _site_key(store: Path) -> bytes:
    doc = json.loads(keyring.key_file_path(store).read_text())
    return base64.b64decode(doc["keys"][doc["current"]])


def _key_for(store: Path, data: bytes) -> bytes:
    """The key a file names in its header: the site key, or a subject key whose file (sealed
    with the site key) is opened by hand."""
    kid = data[8:16].hex()
    doc = json.loads(keyring.key_file_path(store).read_text())
    if kid in doc["keys"]:
        return base64.b64decode(doc["keys"][kid])
    sealed = (keyring.keys_dir(store) / "subjects" / f"{kid}.key").read_bytes()
    return base64.b64decode(json.loads(_parse_by_hand(sealed, _site_key(store))[0])["key"])


def _subject_salt(store: Path, code: str) -> str:
    for f in (keyring.keys_dir(store) / "subjects").glob("*.key"):
        doc = json.loads(_parse_by_hand(f.read_bytes(), _site_key(store))[0])
        if doc["code"] == code:
            return doc["salt"]
    raise AssertionError(code)


def _parse_by_hand(data: bytes, key: bytes) -> list[bytes]:
    """Decrypt the documented format without the package: header 32 B, then
    [len u32][nonce 12][ct+tag], AAD = header + index u64."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    assert data[:8] == b"AXENC1\n\0"
    header, off, out = data[:32], 32, []
    while off < len(data):
        (n,) = struct.unpack_from("<I", data, off)
        nonce = data[off + 4 : off + 16]
        ct = data[off + 16 : off + 16 + n]
        out.append(AESGCM(key).decrypt(nonce, ct, header + struct.pack("<Q", len(out))))
        off += 16 + n
    return out


# -- encryption at rest ------------------------------------------------------------------------
def test_store_files_are_ciphertext_and_decrypt_to_the_source(assessed):
    store, res = assessed
    files = [p for p in store.rglob("*") if p.is_file()]
    secret = [p for p in files if p.name not in PLAIN_OK]
    assert {p.name for p in secret} >= {"meta.json", "eeg.f64", "rr.f64"}
    for p in secret:
        data = p.read_bytes()
        assert data[:8] == crypto.MAGIC, p
        assert b"eeg_channels" not in data and b"TP9" not in data, p
    # key file: 0600 in a 0700 directory
    kf = keyring.key_file_path(store)
    assert not kf.is_relative_to(store)  # the key is beside the store, never inside it
    assert not (store / "keys").exists()
    assert kf.stat().st_mode & 0o777 == 0o600
    assert kf.parent.stat().st_mode & 0o777 == 0o700
    raw_dir = store / "raw" / "session-000001"
    key = _key_for(store, (raw_dir / "eeg.f64").read_bytes())
    rows = b"".join(_parse_by_hand((raw_dir / "eeg.f64").read_bytes(), key))
    eeg = np.frombuffer(rows, "<f8").reshape(-1, 5)
    meta = json.loads(_parse_by_hand((raw_dir / "meta.json").read_bytes(), key)[0])
    assert meta["eeg_channels"] == ["TP9", "AF7", "AF8", "TP10"]
    # sample for sample the source recording (classic Muse 12-bit quantisation <= 0.2442 uV)
    src = bundled_muse_eeg().data
    n = eeg.shape[0]
    idx = np.arange(n) % src.shape[1]
    ok = np.isfinite(eeg[:, 1:]).all(axis=1)
    assert ok.mean() > 0.99
    assert np.max(np.abs(eeg[ok, 1:].T - src[:, idx[ok]])) <= 0.2442 + 1e-6
    r = read_raw(raw_dir)
    np.testing.assert_array_equal(r.eeg, eeg[:, 1:].T)
    assert r.n_partial_bytes == 0


def test_tampered_record_and_reordered_records_fail_with_offset(tmp_path):
    ring, _ = keyring.init_keys(tmp_path)
    p = tmp_path / "x.bin"
    a = crypto.EncryptedAppender(p, ring)
    for i in range(3):
        a.append(bytes([i]) * 40)
    a.close()
    data = p.read_bytes()
    recs, partial = crypto.open_records(ring, data, p)
    assert recs == [bytes([i]) * 40 for i in range(3)] and partial == 0
    rec_len = 4 + 12 + 40 + 16
    bad = bytearray(data)
    bad[32 + rec_len + 20] ^= 1  # inside record 1
    with pytest.raises(DataFormatError, match=rf"byte {32 + rec_len}: record 1 fails authentic"):
        crypto.open_records(ring, bytes(bad), p)
    swapped = (
        data[:32]
        + data[32 + rec_len : 32 + 2 * rec_len]
        + data[32 : 32 + rec_len]
        + data[32 + 2 * rec_len :]
    )
    with pytest.raises(DataFormatError, match="byte 32: record 0 fails"):
        crypto.open_records(ring, swapped, p)
    # cut short by a crash: the complete records survive, the rest is counted
    recs, partial = crypto.open_records(ring, data[:-7], p)
    assert len(recs) == 2 and partial == rec_len - 7
    # appending after a crash cuts the partial record off first
    p.write_bytes(data[:-7])
    a = crypto.EncryptedAppender(p, ring)
    a.append(b"z" * 8)
    a.close()
    recs, partial = crypto.open_records(ring, p.read_bytes(), p)
    assert recs[-1] == b"z" * 8 and len(recs) == 3 and partial == 0


def test_key_file_permissions_and_env_key(tmp_path, monkeypatch):
    ring, _ = keyring.init_keys(tmp_path)
    kf = keyring.key_file_path(tmp_path)
    os.chmod(kf, 0o644)
    with pytest.raises(StoreError, match="readable by other users"):
        keyring.load_keyring(tmp_path)
    os.chmod(kf, 0o600)
    assert keyring.load_keyring(tmp_path).current == ring.current
    key = bytes(range(32))
    monkeypatch.setenv(keyring.KEY_ENV, base64.b64encode(key).decode())
    env_ring = keyring.load_keyring(tmp_path / "other")
    assert env_ring.current_key == key and env_ring.source == "env"
    assert not (tmp_path / "other").exists()  # nothing written when the key is in the env
    sealed = crypto.seal(env_ring, b"hello")
    assert _parse_by_hand(sealed, key) == [b"hello"]
    with pytest.raises(StoreError, match="neither in the site key ring"):
        crypto.open_sealed(ring, sealed, "f")
    monkeypatch.setenv(keyring.KEY_ENV, "not base64!")
    with pytest.raises(StoreError, match="not valid base64"):
        keyring.load_keyring(tmp_path)


def test_key_rotation_reencrypts_everything(assessed, tmp_path):
    store = _copy(assessed[0], tmp_path)
    before = read_raw(store / "raw" / "session-000001")
    old = json.loads(keyring.key_file_path(store).read_text())
    r = _cli("keys", "rotate", "--store", str(store))
    assert r.returncode == 0, r.stderr
    new = json.loads(keyring.key_file_path(store).read_text())
    assert new["current"] != old["current"] and list(new["keys"]) == [new["current"]]
    assert new["hash_key"] == old["hash_key"]  # subject hashes do not change
    subject_keys = {f.stem for f in (keyring.keys_dir(store) / "subjects").glob("*.key")}
    for p in crypto.encrypted_files(store):
        # under the new site key, or under a subject key (those never rotate; their files
        # are re-sealed with the new site key)
        assert p.read_bytes()[8:16].hex() in {new["current"]} | subject_keys, p
        _parse_by_hand(p.read_bytes(), _key_for(store, p.read_bytes()))
    for f in (keyring.keys_dir(store) / "subjects").glob("*.key"):
        assert f.read_bytes()[8:16].hex() == new["current"]
    after = read_raw(store / "raw" / "session-000001")
    np.testing.assert_array_equal(after.eeg, before.eeg)
    np.testing.assert_array_equal(after.rr_s, before.rr_s)
    assert verify_audit(store).ok
    assert (
        json.loads((store / "audit.jsonl").read_text().splitlines()[-1])["action"]
        == "key_rotation"
    )


# -- audit log -----------------------------------------------------------------------------------
def _audited_store(tmp_path) -> Path:
    store = tmp_path / "s"
    with SessionStore(store) as st:
        for i in range(5):
            sid = st.start_session(f"P10{i}", devices={}, simulated=True, software="t")
            st.audit_event("view", session=sid, detail={"what": "session"})
    return store


def _mac_by_hand(store: Path, entry: dict) -> str:
    """HMAC-SHA256 under the audit key of the store id and the entry's canonical JSON."""
    akey = base64.b64decode(json.loads(keyring.audit_key_path(store).read_text())["key"])
    sid = (
        sqlite3.connect(store / "addictidx.sqlite")
        .execute("SELECT key_id FROM store_keys WHERE purpose='store'")
        .fetchone()[0]
    )
    body = json.dumps(
        {k: v for k, v in entry.items() if k != "mac"}, sort_keys=True, separators=(",", ":")
    ).encode()
    return hmac.new(
        akey, b"addictidx-audit-2\0" + sid.encode() + b"\0" + body, "sha256"
    ).hexdigest()


def test_audit_verify_passes_then_names_the_first_bad_entry(tmp_path):
    store = _audited_store(tmp_path)
    log = store / "audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    assert len(lines) == 6  # store_created + 5 views
    e = json.loads(lines[2])
    # chain recomputed independently: mac = HMAC(audit key, ...), prev = previous mac
    assert e["mac"] == _mac_by_hand(store, e)
    assert e["prev"] == json.loads(lines[1])["mac"]
    assert e["subject"] is not None and "P101" not in lines[2].decode()
    r = _cli("audit", "verify", "--store", str(store))
    assert r.returncode == 0 and "6 entries" in r.stdout, r.stderr

    def check(new_lines, entry):
        log.write_bytes(b"".join(new_lines))
        res = _cli("audit", "verify", "--store", str(store))
        assert res.returncode != 0
        assert f"entry {entry}" in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        log.write_bytes(b"".join(lines))

    edited = lines.copy()
    edited[2] = lines[2].replace(b'"view"', b'"erase"')
    check(edited, 3)
    check(lines[:1] + lines[2:], 2)  # entry 2 removed
    check(lines[:1] + [lines[2], lines[1]] + lines[3:], 2)  # 2 and 3 swapped
    check(lines[:-1], 6)  # the last entry removed: the signed heads notice
    # a whole chain rewritten consistently without the key (plain SHA-256) fails at entry 1
    forged, prev = [], "0" * 64
    for ln in lines:
        x = json.loads(ln)
        if x["seq"] == 4:
            x["action"] = "export"
        x["prev"] = prev
        x.pop("mac")
        x["mac"] = hashlib.sha256(
            json.dumps(x, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        prev = x["mac"]
        forged.append(json.dumps(x, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    check(forged, 1)
    assert verify_audit(store).ok


def test_audit_records_view_export_erase_model_change_safety_stop(tmp_path):
    from addictidx._core.types import IndexResult

    store = tmp_path / "s"

    def result(version):
        return IndexResult(50.0, "typical", 0.0, {}, {}, 0.9, "population", 0, "m", version)

    with SessionStore(store) as st:
        a = st.start_session("P201", devices={}, simulated=True, software="t")
        b = st.start_session("P201", devices={}, simulated=True, software="t")
        st.set_index_result(a, result("1"))
        st.set_index_result(b, result("2"))
        st.add_safety_event(b, 12.5, "stop", {"rule": "S2"})
        st.add_safety_event(b, 13.0, "prompt", {"rule": "S5"})
        st.consent.add("P201", scope="research", signed_on="2026-01-02")
        st.erasure.erase_session(a)
        h = st.subject_registry.hash("P201")
    entries = [json.loads(x) for x in (store / "audit.jsonl").read_text().splitlines()]
    acts = [e["action"] for e in entries]
    assert acts == ["store_created", "model_change", "safety_stop", "consent", "erase"]
    entries = entries[1:]
    assert entries[0]["detail"] == {"from": "m 1", "to": "m 2"}
    assert entries[1]["detail"]["rule"] == "S2"
    assert {e["subject"] for e in entries} == {h}
    ring = keyring.load_keyring(store)
    salt = _subject_salt(store, "P201")
    assert (
        h
        == hmac.new(ring.hash_key, f"audit\0{salt}\0P201".encode(), hashlib.sha256).hexdigest()[
            :20
        ]
    )
    assert "P201" not in (store / "audit.jsonl").read_text()
    assert verify_audit(store).ok


# -- consent -------------------------------------------------------------------------------------
def test_consent_in_force_by_hand():
    recs = [
        {
            "scope": "research",
            "status": "given",
            "signed_on": "2026-01-10",
            "expires_on": "2026-06-30",
        },
        {"scope": "assessment", "status": "given", "signed_on": "2026-01-10", "expires_on": None},
        {
            "scope": "research",
            "status": "withdrawn",
            "signed_on": "2026-03-01",
            "expires_on": None,
        },
    ]
    assert not in_force(recs, "research", "2026-01-09")  # before signing
    assert in_force(recs, "research", "2026-02-01")
    assert not in_force(recs, "research", "2026-03-01")  # withdrawn that day
    assert in_force(recs, "assessment", dt.date(2030, 1, 1))
    assert not in_force(recs, "sharing", "2026-02-01")
    assert not in_force(recs[:1], "research", "2026-07-01")  # expired
    assert in_force(recs[:1], "research", "2026-06-30")


def test_consent_store_and_cli(tmp_path):
    store = tmp_path / "s"
    r = _cli(
        "consent",
        "record",
        "--subject",
        "P301",
        "--scope",
        "research",
        "--signed-on",
        "2026-01-05",
        "--expires-on",
        "2027-01-05",
        "--store",
        str(store),
    )
    assert r.returncode == 0, r.stderr
    with SessionStore(store) as st:
        (c,) = st.consent.records("P301")
        assert (c["scope"], c["status"], c["signed_on"], c["expires_on"]) == (
            "research",
            "given",
            "2026-01-05",
            "2027-01-05",
        )
        assert st.consent.in_force("P301", "research", "2026-06-01")
        with pytest.raises(ValueError, match="consent scope must be one of"):
            st.consent.add("P301", scope="marketing")
        with pytest.raises(ValueError, match="is not a date"):
            st.consent.add("P301", scope="research", signed_on="5 Jan")
    r = _cli(
        "consent",
        "record",
        "--subject",
        "John Smith",
        "--scope",
        "research",
        "--store",
        str(store),
    )
    assert r.returncode == 2 and "Invalid subject code" in r.stderr


# -- research export -----------------------------------------------------------------------------
def test_research_export_only_consenting_with_keyed_hashes(assessed, tmp_path):
    store = _copy(assessed[0], tmp_path)
    with SessionStore(store) as st:
        st.consent.add("P901", scope="research", signed_on="2026-01-01")
        st.start_session("P902", devices={}, simulated=True, software="t")  # no consent
        st.consent.add("P903", scope="research", signed_on="2026-01-01")
        st.consent.add("P903", scope="research", status="withdrawn", signed_on="2026-02-01")
    out = tmp_path / "research"
    r = _cli(
        "export", "--research", "--store", str(store), "--out", str(out), "--on", "2026-03-01"
    )
    assert r.returncode == 0, r.stderr
    assert "1 consenting subject(s)" in r.stdout and "2 subject(s) left out" in r.stdout
    ring = keyring.load_keyring(store)
    salt = _subject_salt(store, "P901")
    h = hmac.new(ring.hash_key, f"research\0{salt}\0P901".encode(), hashlib.sha256).hexdigest()[
        :20
    ]
    rows = (out / "sessions.tsv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split("\t")[:3] == [h, "1", "0"]
    names = {p.name for p in (out / "recordings").iterdir()}
    assert names == {f"{h}_ses-001_eeg.bdf", f"{h}_ses-001_rr.edf", f"{h}_ses-001_rr.tsv"}
    for p in out.rglob("*"):
        if p.is_file():
            b = p.read_bytes()
            for code in (b"P901", b"P902", b"P903"):
                assert code not in b, (p, code)
    import mne

    raw = mne.io.read_raw_bdf(out / "recordings" / f"{h}_ses-001_eeg.bdf", verbose="error")
    assert raw.info["meas_date"].year == 1985  # anonymous start date
    # refused inside the store (the store holds ciphertext only)
    r = _cli("export", "--research", "--store", str(store), "--out", str(store / "x"))
    assert r.returncode == 2 and "outside the store" in r.stderr
    r = _cli("export", "--store", str(store), "--out", str(out))
    assert r.returncode == 2 and "--research" in r.stderr


# -- erasure -------------------------------------------------------------------------------------
def test_erase_subject_leaves_the_code_in_no_byte_of_the_store(assessed, tmp_path):
    store = _copy(assessed[0], tmp_path)
    code = "P901"
    with SessionStore(store) as st:
        st.consent.add(code, scope="research")
        st.start_session("P999", devices={}, simulated=True, software="t")
        # derived files staff wrote into the store directory
        from addictidx.cli.sessions import write_report
        from addictidx.sessions.io import export_session

        write_report(st, 1, store / "reports")
        export_session(st, 1, store / "export")
        st.audit_event("view", subject=code, detail={"what": "list"})
    # leave a free-page and WAL history: many rows with the code, then delete some
    assert any(code.encode() in p.read_bytes() for p in store.rglob("*") if p.is_file())
    r = _cli("sessions", "erase", "--subject", code, "--store", str(store), "--yes")
    assert r.returncode == 0, r.stderr
    assert "in no file of the store" in r.stdout and "destroyed" in r.stdout
    for p in store.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert code.encode() not in data, p
            assert code.encode("utf-16-le") not in data, p
    assert not (store / "raw" / "session-000001").exists()
    assert not list((store / "reports").glob("*")) and not list((store / "export").glob("*"))
    con = sqlite3.connect(store / "addictidx.sqlite")
    ((left,),) = con.execute("SELECT code FROM subjects").fetchall()  # P999, by key id
    assert (
        left.startswith("k:")
        and con.execute("SELECT COUNT(*) FROM subject_salts").fetchone()[0] == 0
    )
    con.close()
    for p in keyring.keys_dir(store).rglob("*"):  # nor in the key folder
        if p.is_file() and p.parent.name == "subjects":
            assert json.loads(_parse_by_hand(p.read_bytes(), _site_key(store))[0])["code"] != code
    assert verify_audit(store).ok
    last = json.loads((store / "audit.jsonl").read_text().splitlines()[-1])
    assert last["action"] == "erase" and last["detail"] == {"what": "subject", "sessions": 1}
    r = _cli("sessions", "erase", "--subject", code, "--store", str(store), "--yes")
    assert r.returncode == 2 and "No subject" in r.stderr


# -- disk full while recording -------------------------------------------------------------------
def test_disk_full_while_recording_stops_cleanly_and_keeps_what_was_written(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = crypto._write_all

    def flaky(f, data):
        calls["n"] += 1
        if calls["n"] > 400:
            # the disk fills mid-record: half of it lands on disk, then ENOSPC
            f.write(bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(f, data)

    monkeypatch.setattr(crypto, "_write_all", flaky)
    store = tmp_path / "s"
    with pytest.raises(
        StoreError,
        match=r"Recording stopped: the disk is full .*rows written "
        r"before are kept",
    ):
        run_assessment("P501", store_dir=store, protocol=SHORT, seed=1, age=30, consent_given=True)
    with SessionStore(store) as st:
        (s,) = st.queries.list_sessions()
        assert s["status"] == "aborted"
        raw = read_raw(st.queries.recording(s["id"])["raw_dir"])
    assert raw.n_partial_bytes == 0  # the short write was cut off again
    src = bundled_muse_eeg().data
    n = raw.eeg.shape[1]
    assert n > 0 and n % 12 == 0
    ok = np.isfinite(raw.eeg).all(axis=0)
    assert np.max(np.abs(raw.eeg[:, ok] - src[:, np.arange(n)[ok] % src.shape[1]])) <= 0.2443


# -- logs ----------------------------------------------------------------------------------------
def test_logs_contain_no_subject_code_and_no_signal_values(tmp_path, caplog):
    from addictidx.acquire import SimulatedHeadband
    from addictidx.acquire.faults import FaultInjector

    caplog.set_level(logging.DEBUG)
    store = tmp_path / "s"
    code = "LOG-4242"
    res = run_assessment(code, store_dir=store, protocol=SHORT, seed=5, age=30, consent_given=True)
    with SessionStore(store) as st:
        from addictidx.sessions.io import export_session

        export_session(st, res.session_id, tmp_path / "exp")
        st.consent.add(code, scope="research")
    # a faulty link (warnings from the hub/decoders) and the readers
    from addictidx.acquire.hub import StreamHub
    from addictidx.acquire.replay import iter_notifications

    hub = StreamHub({"sim-muse": "sim-muse"})
    inj = FaultInjector(
        SimulatedHeadband(duration_s=5.0), seed=1, corrupt=0.3, drop=0.2, disconnects=[(2.0, 0.5)]
    )
    for name, n in iter_notifications([inj]):
        if hasattr(n, "payload"):
            hub.on_notification(name, n.characteristic, n.payload, n.t)
        else:
            hub.on_link_event(n)
    r = _cli("sessions", "erase", "--subject", code, "--store", str(store), "--yes")
    assert r.returncode == 0, r.stderr
    logs = [rec.getMessage() for rec in caplog.records]
    logs.append((store / "audit.jsonl").read_text())
    text = "\n".join(logs)
    assert code not in text
    # signal values: no decimal number in any log equals an EEG sample (uV) or RR (s, ms)
    src = bundled_muse_eeg().data
    eeg_vals = {f"{v:.2f}" for v in np.unique(src[:, :3000])}
    feats = [float(x) for x in res.features.values() if x is not None]
    nums = set(re.findall(r"-?\d+\.\d+", text))
    nums2 = {f"{float(x):.2f}" for x in nums}
    assert not (nums2 & eeg_vals - {"0.00"}), sorted(nums2 & eeg_vals)[:5]
    assert not any(f"{v:.4g}" in text for v in feats if abs(v) > 1e-3)
