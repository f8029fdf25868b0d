"""Store schema migration from version 1, erase, consent, and the PostgreSQL path.

The PostgreSQL test starts a throw-away server with Debian's ``initdb``/``pg_ctl`` (as the
``postgres`` user when run as root) and skips, saying why, when that is not possible.
"""

import importlib.util
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from addictidx.store.schema import SCHEMA_VERSION

# The version-1 schema exactly as addictidx 0.1.0 created it (raw SQLite DDL).
from addictidx.store.session_store import SessionStore

# The version-1 schema exactly as addictidx 0.1.0 created it (raw SQLite DDL).
V1_DDL = """
CREATE TABLE subjects (code TEXT PRIMARY KEY, created_utc TEXT NOT NULL);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, subject_code TEXT NOT NULL REFERENCES subjects(code),
    started_utc TEXT NOT NULL, ended_utc TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'aborted')),
    simulated INTEGER NOT NULL, devices_json TEXT NOT NULL, software TEXT NOT NULL);
CREATE TABLE phases (session_id INTEGER NOT NULL REFERENCES sessions(id), name TEXT NOT NULL,
    t_start_s REAL NOT NULL, t_end_s REAL);
CREATE TABLE feature_windows (session_id INTEGER NOT NULL REFERENCES sessions(id),
    phase TEXT NOT NULL, t_end_s REAL NOT NULL, values_json TEXT NOT NULL,
    usable INTEGER NOT NULL, flags_json TEXT NOT NULL);
CREATE TABLE session_features (session_id INTEGER PRIMARY KEY REFERENCES sessions(id),
    values_json TEXT NOT NULL, usable INTEGER NOT NULL, quality_json TEXT NOT NULL);
CREATE TABLE index_results (session_id INTEGER PRIMARY KEY REFERENCES sessions(id), idx REAL,
    band TEXT, z REAL, confidence REAL NOT NULL, baseline TEXT NOT NULL, model_id TEXT NOT NULL,
    model_version TEXT NOT NULL, result_json TEXT NOT NULL);
CREATE TABLE prescriptions (session_id INTEGER PRIMARY KEY REFERENCES sessions(id),
    rule_id TEXT NOT NULL, state TEXT NOT NULL, activity TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE events (session_id INTEGER NOT NULL REFERENCES sessions(id), t_s REAL NOT NULL,
    kind TEXT NOT NULL, detail_json TEXT NOT NULL);
PRAGMA user_version=1;
"""


def test_v1_store_migrates_and_keeps_data(tmp_path):
    con = sqlite3.connect(tmp_path / "addictidx.sqlite")
    con.executescript(V1_DDL)
    con.execute("INSERT INTO subjects VALUES ('P001', '2026-01-01T00:00:00Z')")
    con.execute(
        "INSERT INTO sessions(subject_code, started_utc, status, simulated, devices_json, "
        "software)"
        " VALUES ('P001', '2026-01-01T00:00:00Z', 'complete', 1, '{}', 'old')"
    )
    con.execute("INSERT INTO session_features VALUES (1, '{\"hr_mean_bpm\": 61.0}', 1, '{}')")
    con.commit()
    con.close()
    with SessionStore(tmp_path) as st:
        assert st.queries.prior_session_features("P001") == [{"hr_mean_bpm": 61.0}]
        st.consent.add("P001", scope="assessment")
        sid = st.start_session("P001", devices={}, simulated=True, software="new")
        assert sid == 2
    con = sqlite3.connect(tmp_path / "addictidx.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"consents", "safety_events", "recordings"} <= tables
    # The consent table can hold a code, a time, a scope and a status: nothing about a person.
    cols = {r[1] for r in con.execute("PRAGMA table_info(consents)")}
    assert cols == {"id", "subject_code", "recorded_utc", "scope", "status", "document_version"}


def test_erase_subject_removes_rows_and_raw_files(tmp_path):
    with SessionStore(tmp_path) as st:
        a = st.start_session("P020", devices={}, simulated=True, software="t")
        raw = tmp_path / "raw" / "session-000001"
        raw.mkdir(parents=True)
        (raw / "eeg.f64").write_bytes(b"\0" * 40)
        st.set_recording(a, "raw/session-000001", protocol="p", meta={"x": 1})
        st.add_event(a, 1.0, "mark", {"label": "movement"})
        st.add_safety_event(a, 2.0, "S2", {"hr_bpm": 180})
        st.consent.add("P020")
        b = st.start_session("P021", devices={}, simulated=True, software="t")
        assert st.erasure.erase_subject("P020").n_sessions == 1
        assert [r["id"] for r in st.queries.list_sessions()] == [b]
        assert st.consent.records("P020") == []
    assert not raw.exists()
    con = sqlite3.connect(tmp_path / "addictidx.sqlite")
    for table in ("events", "safety_events", "recordings", "consents"):
        assert con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    # one subject left, named by its key id (schema 4: no code in the database)
    ((left,),) = con.execute("SELECT code FROM subjects").fetchall()
    assert left.startswith("k:") and b"P020" not in (tmp_path / "addictidx.sqlite").read_bytes()


def test_bad_url_is_one_clear_error(tmp_path):
    from addictidx._core import StoreError

    with pytest.raises(StoreError, match="Cannot open session store"):
        SessionStore(tmp_path, url="postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    try:
        SessionStore(tmp_path, url="postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    except StoreError as exc:
        assert "secret" not in str(exc)


def _free_port() -> int:
    """A loopback port outside the kernel's ephemeral range (tests/netport.py says why)."""
    spec = importlib.util.spec_from_file_location(
        "addictidx_tests_netport", Path(__file__).with_name("netport.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.free_port()


#: The running test server's data directory (for the erasure scan).
_PG_DATA: dict = {}


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    bindir = None
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (cand / "initdb").exists():
            bindir = cand
            break
    if bindir is None and shutil.which("initdb"):
        bindir = Path(shutil.which("initdb")).parent
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb/pg_ctl) are not installed "
            "(Debian: apt-get install postgresql)"
        )
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")
    import tempfile

    # Own directory under the system temp dir: the server user must be able to reach it.
    base = Path(tempfile.mkdtemp(prefix="addictidx-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser is missing: cannot start PostgreSQL")
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        os.chmod(base, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    r = subprocess.run(
        prefix
        + [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "addictidx",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"initdb failed: {r.stderr.strip().splitlines()[-1:]}")
    log = base / "log"
    r = subprocess.run(
        prefix
        + [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            "600",  # bounds a hang only: a loaded machine starts it slowly (default 60 s)
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
            "start",
        ],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"pg_ctl start failed: {r.stderr.strip()[-200:]}")
    try:
        subprocess.run(
            prefix
            + [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "addictidx",
                "site1",
            ],
            check=True,
            capture_output=True,
        )
        _PG_DATA["dir"] = data
        yield f"postgresql+psycopg://addictidx@127.0.0.1:{port}/site1"
    finally:
        subprocess.run(
            prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def test_postgresql_roundtrip_and_assessment(postgres_url, tmp_path):
    """The same store code against a real PostgreSQL server: migrations, writes, queries."""
    from sqlalchemy import create_engine, text

    from addictidx.sessions.assessment import run_assessment
    from addictidx.sessions.protocol import Phase, Protocol

    short = Protocol(
        "t",
        (Phase("device_check", 5.0, False, kind="check"), Phase("eyes_closed_rest", 125.0, True)),
    )
    res = run_assessment(
        "P001", store_dir=tmp_path, protocol=short, db_url=postgres_url, age=30, consent_given=True
    )
    assert not (tmp_path / "addictidx.sqlite").exists()  # the database is PostgreSQL
    with SessionStore(tmp_path, url=postgres_url) as st:
        d = st.queries.session_detail(res.session_id)
        st.consent.add("P001")
        assert st.consent.records("P001")[0]["status"] == "given"
    assert d["status"] == "complete"
    assert [p["name"] for p in d["phases"]] == ["device_check", "eyes_closed_rest"]
    assert d["index_result"]["index"] == pytest.approx(res.index.index)
    eng = create_engine(postgres_url)
    with eng.connect() as con:
        assert con.execute(text("SELECT version FROM addictidx_schema")).scalar() == SCHEMA_VERSION
        n = con.execute(text("SELECT COUNT(*) FROM feature_windows")).scalar()
    eng.dispose()
    assert n == res.n_feature_windows == 13  # one per 10 s of 130 s
    # Reopening migrates nothing and keeps the data.
    with SessionStore(tmp_path, url=postgres_url) as st:
        assert [r["id"] for r in st.queries.list_sessions("P001")] == [res.session_id]


def test_postgresql_erase_leaves_the_code_in_no_relation_file_or_wal(postgres_url, tmp_path):
    """Issue 14 item 4: after erase + VACUUM + CHECKPOINT the code was still in 6 relation files
    and a WAL segment. The database now never holds the code (subjects are key ids), so no file
    of the server's data directory contains it, before or after the erasure."""
    from sqlalchemy import create_engine

    from addictidx.sessions.assessment import run_assessment
    from addictidx.sessions.protocol import Phase, Protocol

    code = "PGX-4711"  # '-' never occurs in base64 or hex
    eng = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as con:  # a database of its own: a database belongs to one store
        con.exec_driver_sql("CREATE DATABASE site_erase")
    eng.dispose()
    postgres_url = postgres_url.rsplit("/", 1)[0] + "/site_erase"
    short = Protocol(
        "t",
        (Phase("device_check", 5.0, False, kind="check"), Phase("eyes_closed_rest", 30.0, True)),
    )
    run_assessment(
        code, store_dir=tmp_path, protocol=short, db_url=postgres_url, age=30, consent_given=True
    )
    with SessionStore(tmp_path, url=postgres_url) as st:
        st.consent.add(code, scope="research")
        rep = st.erasure.erase_subject(code)
        assert rep.n_sessions == 1 and rep.key_id
    eng = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as con:
        con.exec_driver_sql("CHECKPOINT")
    eng.dispose()
    hits = [
        p
        for p in Path(_PG_DATA["dir"]).rglob("*")
        if p.is_file() and code.encode() in p.read_bytes()
    ]
    assert hits == []
    for p in tmp_path.rglob("*"):  # nor in the store folder
        assert not p.is_file() or code.encode() not in p.read_bytes(), p
