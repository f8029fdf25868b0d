"""The research classifier beside the index (issue 5 item 6, EVIDENCE.md §7(ii) step 6).

Checks: the index is bit-identical with and without the research model; the research block
exists (store, summary text + JSON, HTML/PDF report, CLI) only when enabled and never inside the
index; its probability equals the shipped ONNX model (``load_research_model``) applied to UCI-style
features computed here independently with SciPy's Welch from the raw eyes-closed EEG.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pytest
from scipy.signal import welch
from typer.testing import CliRunner

from addictidx.cli import app
from addictidx.models.research import RESEARCH_EVENT_KIND, load_research_model
from addictidx.report.summary import format_summary, summary_dict
from addictidx.sessions.assessment import run_assessment
from addictidx.sessions.protocol import STANDARD_PROTOCOL
from addictidx.store.session_store import SessionStore

# The UCI model's features, written out from its model card: per channel AF7, AF8, TP9 (for TP7),
# TP10 (for TP8) and band delta 1-4, theta 4-8, alpha 8-12, beta 13-25 Hz (closed), log10 of the
# trapezoid-integrated Welch density of each 1-s epoch (0.5-s Hamming segments, 50 % overlap,
# 1-Hz bins).
CARD_CHANNELS = ("AF7", "AF8", "TP9", "TP10")
CARD_BANDS = ((1.0, 4.0), (4.0, 8.0), (8.0, 12.0), (13.0, 25.0))


def _independent_features(eeg: np.ndarray, sfreq: float, ch_names) -> np.ndarray:
    n = int(sfreq)
    rows = []
    for k in range(eeg.shape[1] // n):
        ep = eeg[[list(ch_names).index(c) for c in CARD_CHANNELS], k * n : (k + 1) * n]
        if not np.isfinite(ep).all():
            continue
        f, p = welch(
            ep,
            fs=sfreq,
            window="hamming",
            nperseg=n // 2,
            noverlap=n // 4,
            nfft=n,
            detrend="constant",
            scaling="density",
            axis=-1,
        )
        row = []
        for ch in range(4):
            for lo, hi in CARD_BANDS:
                m = (f >= lo) & (f <= hi)
                row.append(math.log10(np.trapezoid(p[ch, m], f[m])))
        rows.append(row)
    return np.asarray(rows)


def _same(a, b) -> bool:
    """Exact equality of nested results, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same simulated session (same recordings, same seed) without and with research."""
    out = {}
    for research in (False, True):
        d = tmp_path_factory.mktemp("on" if research else "off")
        out[research] = (
            d,
            run_assessment(
                "R001",
                store_dir=d,
                protocol=STANDARD_PROTOCOL,
                seed=4,
                research=research,
                age=30,
                consent_given=True,
            ),
        )
    return out


def test_index_bit_identical_with_and_without_research(pair):
    (d0, off), (d1, on) = pair[False], pair[True]
    assert on.research is not None and on.research["probability"] is not None
    assert off.research is None
    assert off.index.index is not None
    assert _same(asdict(off.index), asdict(on.index))  # index, Z, z, contributions, confidence
    assert _same(dict(off.features), dict(on.features))
    assert off.prescription == on.prescription
    with SessionStore(d0) as s0, SessionStore(d1) as s1:
        a, b = s0.queries.session_detail(off.session_id), s1.queries.session_detail(on.session_id)
        assert a["index_result"] == b["index_result"]  # the stored JSON too
        assert a["features"] == b["features"]
        assert "research" not in json.dumps(b["index_result"])
        assert s0.queries.research_result(off.session_id) is None
        assert s1.queries.research_result(on.session_id) == on.research


def test_probability_equals_model_on_independent_features(pair):
    from addictidx.store.raw import read_raw

    d, res = pair[True]
    with SessionStore(d) as store:
        detail = store.queries.session_detail(res.session_id)
        raw = read_raw(store.queries.recording(res.session_id)["raw_dir"], keyring=store.keyring)
    assert not [e for e in detail["events"] if e["kind"] == "signal_lost"]  # no pauses to cut
    (closed,) = [p for p in detail["phases"] if p["name"] == "eyes_closed_rest"]
    m = (raw.eeg_times >= closed["t_start_s"]) & (raw.eeg_times < closed["t_end_s"])
    X = _independent_features(raw.eeg[:, m], raw.sfreq, raw.ch_names)
    assert X.shape == (180, 16)  # 3 min of eyes-closed EEG in 1-s epochs
    expected = float(np.mean(load_research_model().predict_proba(X)))
    block = res.research
    assert block["n_epochs"] == X.shape[0]
    assert block["probability"] == pytest.approx(expected, abs=1e-6)
    assert 0.0 < block["probability"] < 1.0
    assert block["label"] == "research"
    assert block["positive_class"] == "alcoholic"


def test_block_carries_label_disclaimer_and_card_auc(pair):
    card = json.loads(
        (load_research_model().path.with_name("research_uci_alcoholism_v1.card.json")).read_text()
    )
    block = pair[True][1].research
    lo, hi = card["metrics"]["auc_ci95"]
    assert block["auc"] == card["metrics"]["auc"] and block["auc_ci95"] == [lo, hi]
    text = block["disclaimer"]
    assert f"AUC {card['metrics']['auc']:.2f} (95 % CI {lo:.2f}-{hi:.2f}" in text
    for words in (
        "NOT part of the addiction index",
        "UCI alcoholism",
        "proxy electrodes",
        "pipeline demonstration, not a screen",
    ):
        assert words in text


def test_summary_has_research_only_when_enabled(pair):
    off, on = pair[False][1], pair[True][1]
    s_off, s_on = summary_dict(off), summary_dict(on)
    assert "research" not in s_off and "research" not in s_off["index"]
    assert "research" not in s_on["index"]  # never inside the index
    assert s_on["research"]["probability"] == on.research["probability"]
    assert _same(
        {k: v for k, v in s_on.items() if k not in ("research", "store", "wall_time_s")},
        {k: v for k, v in s_off.items() if k not in ("store", "wall_time_s")},
    )
    t_off, t_on = format_summary(off), format_summary(on)
    assert "RESEARCH" not in t_off and "Research classifier" not in t_off
    i_res, i_idx = t_on.index("RESEARCH output"), t_on.index("Addiction index:")
    assert i_res > i_idx  # its own section after the index block
    assert f"score {on.research['probability']:.2f}" in t_on
    assert "pipeline demonstration, not a screen" in t_on


def test_report_shows_research_section_only_when_enabled(pair):
    from addictidx.report.content import report_content
    from addictidx.report.html import render_html
    from addictidx.report.pdf import render_pages

    n_pages = {}
    for research, (d, res) in pair.items():
        with SessionStore(d) as store:
            rc = report_content(store, res.session_id)
        html = render_html(rc)
        pages = render_pages(rc)
        assert all(e["kind"] != RESEARCH_EVENT_KIND for e in rc.events)  # not an event row
        if research:
            assert rc.research == res.research
            assert "data-section='research'" in html and "not part of the index" in html
            assert f"score {res.research['probability']:.2f}" in html
            assert "pipeline demonstration, not a screen" in html
            # its own page, the last one, and on no other page
            text = " ".join(t.get_text() for t in pages[-1].texts)
            assert "RESEARCH" in text and "pipeline demonstration" in text
            for page in pages[:-1]:
                assert "Research classifier" not in " ".join(t.get_text() for t in page.texts)
        else:
            assert rc.research is None
            assert "data-section='research'" not in html and "Research classifier" not in html
        n_pages[research] = len(pages)
    assert n_pages[True] == n_pages[False] + 1


def test_export_annotations_skip_the_research_block(pair, tmp_path):
    from addictidx.readers import read_recording
    from addictidx.sessions.io import export_session

    d, res = pair[True]
    with SessionStore(d) as store:
        paths = export_session(store, res.session_id, tmp_path)
    rec = read_recording(paths["eeg_bdf"])
    texts = [a.text for a in rec.annotations]
    assert "phase:eyes_closed_rest" in texts
    assert not [t for t in texts if "research" in t]


def test_recover_with_research_stores_block(tmp_path):
    """score_and_store with research replaces (never duplicates) the stored block."""
    from addictidx.sessions.protocol import PhaseSpan
    from addictidx.sessions.run import score_and_store
    from addictidx.sessions.scoring import SessionData
    from addictidx.store.raw import read_raw

    res = run_assessment(
        "R002",
        store_dir=tmp_path,
        protocol=STANDARD_PROTOCOL,
        seed=1,
        research=True,
        age=30,
        consent_given=True,
    )
    with SessionStore(tmp_path) as store:
        d = store.queries.session_detail(res.session_id)
        raw = read_raw(store.queries.recording(res.session_id)["raw_dir"], keyring=store.keyring)
        spans = [
            PhaseSpan(p["name"], "rest", p["name"] != "device_check", p["t_start_s"], p["t_end_s"])
            for p in d["phases"]
        ]
        data = SessionData.from_recording(
            spans,
            raw.eeg_times,
            raw.eeg,
            raw.rr_times,
            raw.rr_s,
            sfreq=raw.sfreq,
            ch_names=raw.ch_names,
        )
        score_and_store(store, res.session_id, "R002", data, age=30, research=True)
        events = store.queries.session_detail(res.session_id)["events"]
        assert sum(e["kind"] == RESEARCH_EVENT_KIND for e in events) == 1
        assert store.queries.research_result(res.session_id)["probability"] == pytest.approx(
            res.research["probability"], abs=1e-12
        )


def test_cli_assess_flag(tmp_path):
    runner = CliRunner()
    base = ["assess", "--consent-given", "--subject", "R003", "--simulate", "--speed", "1000"]
    base += ["--age", "40"]
    base += ["--no-report"]
    r_off = runner.invoke(app, base + ["--store", str(tmp_path / "a")])
    r_on = runner.invoke(app, base + ["--store", str(tmp_path / "b"), "--research-model"])
    assert r_off.exit_code == 0, r_off.output
    assert r_on.exit_code == 0, r_on.output
    assert "RESEARCH output" not in r_off.output
    assert "RESEARCH output" in r_on.output and "pipeline demonstration" in r_on.output
    # the index lines are the same text in both
    idx = [ln for ln in r_off.output.splitlines() if ln.startswith("Addiction index:")]
    assert idx and idx == [
        ln for ln in r_on.output.splitlines() if ln.startswith("Addiction index:")
    ]
