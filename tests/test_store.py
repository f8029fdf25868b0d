"""The SQLite session store: schema, WAL, pseudonymous codes, round trips."""

import math
import sqlite3

import pytest

from addictidx._core import IndexResult, Prescription, QualityReport, StoreError
from addictidx.store.codes import check_subject_code
from addictidx.store.schema import SCHEMA_VERSION
from addictidx.store.session_store import SessionStore


@pytest.mark.parametrize("code", ["P001", "SITE2-0042", "demo_7", "A1B"])
def test_valid_codes(code):
    assert check_subject_code(code) == code


@pytest.mark.parametrize(
    "code", ["", "P1", "John Smith", "anna", "x" * 33 + "1", "-P001", "P001;DROP", "李4"]
)
def test_invalid_codes_rejected(code):
    with pytest.raises(ValueError, match="pseudonymous code"):
        check_subject_code(code)


def test_schema_wal_and_version(tmp_path):
    with SessionStore(tmp_path) as st:
        assert st.path.exists()
    con = sqlite3.connect(tmp_path / "addictidx.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    cols = {r[1] for r in con.execute("PRAGMA table_info(subjects)")}
    # The subjects table can hold a code and a creation time, nothing else about a person.
    assert cols == {"code", "created_utc"}


def test_newer_schema_refused(tmp_path):
    SessionStore(tmp_path).close()
    con = sqlite3.connect(tmp_path / "addictidx.sqlite")
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this addictidx"):
        SessionStore(tmp_path)


def test_roundtrip_session(tmp_path):
    res = IndexResult(
        index=84.13447460685429,
        band="elevated",
        z=1.0,
        z_features={"hrv_ln_rmssd": 1.0, "hr_mean_bpm": None},
        contributions={"hrv_ln_rmssd": 1.0},
        confidence=0.4,
        baseline="population",
        n_baseline_sessions=0,
        model_id="addiction-index",
        model_version="1",
        quality=QualityReport(per_channel={"AF7": 1.0}),
    )
    rx = Prescription(
        band="elevated",
        state="green",
        activity="walking",
        intensity_pct_hrr=(40, 59),
        hr_target_bpm=(111, 135),
        duration_min=(20, 30),
        music_bpm=(60, 80),
        rule_id="elevated.green",
        rationale="test",
    )
    with SessionStore(tmp_path) as st:
        sid = st.start_session(
            "P001", devices={"headband": "sim-muse"}, simulated=True, software="t"
        )
        st.add_phase(sid, "eyes_closed_rest", 20.0, 200.0)
        n = st.add_feature_windows(
            sid, "eyes_closed_rest", [(30.0, {"hrv_rmssd_ms": 35.0, "x": float("nan")}, True, [])]
        )
        assert n == 1
        st.set_session_features(sid, {"hr_mean_bpm": 68.0}, usable=True, quality=res.quality)
        st.set_index_result(sid, res)
        st.set_prescription(sid, rx)
        st.add_event(sid, 42.0, "gap", {"stream": "eeg", "n_missing": 12})
        st.end_session(sid)
        d = st.queries.session_detail(sid)
        rows = st.queries.list_sessions("P001")
        prior = st.queries.prior_session_features("P001")
    assert d["status"] == "complete"
    assert d["index_result"]["index"] == pytest.approx(84.13447460685429)
    assert d["prescription"]["hr_target_bpm"] == [111, 135]
    assert d["events"][0]["detail"]["n_missing"] == 12
    assert d["n_feature_windows"] == 1
    assert rows[0]["band"] == "elevated"
    assert prior == [{"hr_mean_bpm": 68.0}]


def test_nan_stored_as_null(tmp_path):
    with SessionStore(tmp_path) as st:
        sid = st.start_session("P002", devices={}, simulated=True, software="t")
        st.set_session_features(sid, {"a": float("nan"), "b": 1.5}, usable=False, quality={})
        d = st.queries.session_detail(sid)
    assert d["features"] == {"a": None, "b": 1.5}
    assert not any(isinstance(v, float) and math.isnan(v) for v in d["features"].values())


def test_aborted_sessions_not_in_baseline(tmp_path):
    with SessionStore(tmp_path) as st:
        a = st.start_session("P003", devices={}, simulated=True, software="t")
        st.set_session_features(a, {"hr_mean_bpm": 60.0}, usable=True, quality={})
        st.end_session(a, status="aborted")
        b = st.start_session("P003", devices={}, simulated=True, software="t")
        st.set_session_features(b, {"hr_mean_bpm": 70.0}, usable=False, quality={})
        st.end_session(b)
        c = st.start_session("P003", devices={}, simulated=True, software="t")
        st.set_session_features(c, {"hr_mean_bpm": 80.0}, usable=True, quality={})
        st.end_session(c)
        assert st.queries.prior_session_features("P003") == [{"hr_mean_bpm": 80.0}]
        assert st.queries.prior_session_features("P003", before_session=c) == []


def test_bad_code_never_reaches_db(tmp_path):
    with SessionStore(tmp_path) as st:
        with pytest.raises(ValueError):
            st.start_session("Jane Doe", devices={}, simulated=True, software="t")
        assert st.queries.list_sessions() == []
