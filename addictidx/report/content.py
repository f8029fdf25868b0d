"""What a session report shows, gathered once from the store and the raw recording.

:func:`report_content` returns plain data (numbers, arrays, strings) that the PDF
(:mod:`addictidx.report.pdf`) and HTML (:mod:`addictidx.report.html`) renderers lay out the same
way. HRV names follow Kubios HRV (STYLE.md §9); the code names (``hrv_rmssd_ms``) stay in the
table's last column so the two can be matched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from addictidx._core.intended_use import INTENDED_USE, NOT_FOR
from addictidx.report.summary import emg_gate_phrase

__all__ = [
    "ReportContent",
    "report_content",
    "fmt_value",
    "KUBIOS_HRV_LABELS",
    "SETTINGS",
]

#: Our HRV names -> Kubios HRV labels and units, in Kubios' order (time, frequency, nonlinear).
KUBIOS_HRV_LABELS: tuple[tuple[str, str, str], ...] = (
    ("hrv_mean_nn_ms", "Mean RR", "ms"),
    ("hrv_sdnn_ms", "SDNN", "ms"),
    ("hr_mean_bpm", "Mean HR", "beats/min"),
    ("hr_sd_bpm", "STD HR", "beats/min"),
    ("hr_min_bpm", "Min HR", "beats/min"),
    ("hr_max_bpm", "Max HR", "beats/min"),
    ("hrv_rmssd_ms", "RMSSD", "ms"),
    ("hrv_pnn50_pct", "pNNxx (pNN50)", "%"),
    ("hrv_hti", "HRV triangular index", ""),
    ("hrv_tinn_ms", "TINN", "ms"),
    ("hrv_stress_index", "Stress index", ""),
    ("hrv_lf_peak_hz", "LF peak frequency", "Hz"),
    ("hrv_hf_peak_hz", "HF peak frequency", "Hz"),
    ("hrv_vlf_ms2", "VLF power", "ms²"),
    ("hrv_lf_ms2", "LF power", "ms²"),
    ("hrv_hf_ms2", "HF power", "ms²"),
    ("hrv_ln_lf", "LF power (log)", "ln ms²"),
    ("hrv_ln_hf", "HF power (log)", "ln ms²"),
    ("hrv_lf_nu", "LF power (n.u.)", "n.u."),
    ("hrv_hf_nu", "HF power (n.u.)", "n.u."),
    ("hrv_tp_ms2", "Total power", "ms²"),
    ("hrv_vlf_rel_pct", "VLF power (%)", "%"),
    ("hrv_lf_rel_pct", "LF power (%)", "%"),
    ("hrv_hf_rel_pct", "HF power (%)", "%"),
    ("hrv_lfhf", "LF/HF ratio", ""),
    ("hrv_sd1_ms", "Poincaré SD1", "ms"),
    ("hrv_sd2_ms", "Poincaré SD2", "ms"),
    ("hrv_sd2_sd1", "SD2/SD1 ratio", ""),
    ("hrv_sampen", "Sample entropy (SampEn)", ""),
    ("hrv_dfa_alpha1", "DFA α1", ""),
    ("hrv_dfa_alpha2", "DFA α2", ""),
)

FEATURE_LABELS = {
    "hrv_ln_rmssd": "ln RMSSD",
    "hr_mean_bpm": "Resting HR",
    "eeg_beta_rel_frontal": "Frontal rel. beta (AF7/AF8)",
    "eeg_alpha_beta_ratio_temporal": "Temporal alpha/beta (TP9/TP10)",
}

#: The analysis settings stated in every report's footer.
SETTINGS: tuple[tuple[str, str], ...] = (
    (
        "RR artefact correction",
        "local-median rule: intervals deviating > 20 % from the median of "
        "the 5 beats on each side, or outside 0.3-2.0 s, are rejected (not interpolated); the "
        "session is usable only with < 5 % rejected and >= 120 s accepted",
    ),
    (
        "HRV spectrum",
        "Kubios convention: 4 Hz cubic-spline resampling, smoothness-priors "
        "detrending (lambda 500), Welch; VLF 0-0.04, LF 0.04-0.15, HF 0.15-0.4 Hz",
    ),
    (
        "EEG spectrum",
        "Welch, 2-s Hamming segments, 50 % overlap, 0.5 Hz resolution, per channel "
        "over the eyes-closed phase; bands delta 1-4, theta 4-8, alpha 8-13, beta 13-25 Hz",
    ),
    (
        "EEG quality",
        "2-s epochs; fail when peak-to-peak > 150 µV, std < 0.5 µV or |x| > 990 µV; "
        "a channel passes with >= 60 % good epochs",
    ),
    (
        "EMG gate",
        "no index when the session's EMG indicator (30-100 Hz power share, mains "
        "±2 Hz removed, median over passing epochs, mean of AF7/AF8/TP9/TP10; Gasser 2005) is "
        "above the person's own 90th percentile of >= 5 prior usable sessions",
    ),
    (
        "Index",
        "robust z-scores against the person's own baseline (median/MAD of >= 5 prior "
        "usable sessions) or population norms; mean Z mapped to 0-100 as 100·Φ(Z)",
    ),
)

_BANDS = (("delta", 1.0, 4.0), ("theta", 4.0, 8.0), ("alpha", 8.0, 13.0), ("beta", 13.0, 25.0))


@dataclass
class ReportContent:
    """Everything one report shows (see :func:`report_content`)."""

    session: dict
    subject: str
    date: str
    devices: dict
    software: str
    simulated: bool
    protocol: str
    phases: list
    quality: dict | None
    features: dict | None
    index: dict | None
    prescription: dict | None
    events: list
    safety_events: list
    trend: list
    hrv: dict = field(default_factory=dict)
    rr_times: np.ndarray | None = None
    rr_ms: np.ndarray | None = None
    rr_ok: np.ndarray | None = None
    rr_corrected_pct: float | None = None
    eeg_freqs: np.ndarray | None = None
    eeg_psd: np.ndarray | None = None  # (n_channels, n_freqs), µV²/Hz
    eeg_channels: tuple = ()
    band_powers: dict = field(default_factory=dict)  # channel -> band -> (abs µV², rel)
    eeg_span_s: tuple[float, float] | None = None
    research: dict | None = None  # research classifier block (shown apart, never in the index)
    #: feature -> (median, MAD) the session was scored against (personal baseline or norms)
    reference: dict = field(default_factory=dict)
    hrv_freqs: np.ndarray | None = None  # Hz
    hrv_psd: np.ndarray | None = None  # ms²/Hz (Kubios convention)
    #: the guided intervention: beat times (s), HR (bpm), zone, stop HR, phase spans
    intervention: dict | None = None
    intended_use: str = INTENDED_USE
    not_for: str = NOT_FOR
    settings: tuple = SETTINGS

    def hrv_rows(self) -> list[tuple[str, str, str, str]]:
        """``(Kubios label, value, unit, code name)`` for the HRV table."""
        rows = []
        for key, label, unit in KUBIOS_HRV_LABELS:
            v = self.hrv.get(key)
            if key == "hrv_sd2_sd1" and v is None:
                r = self.hrv.get("hrv_sd1_sd2")
                v = (1.0 / r) if r else None
            rows.append((label, fmt_value(v, unit=unit), unit, key))
        return rows


#: Decimals shown per HRV unit (Kubios' report precision); other values: 3 significant digits.
_DECIMALS = {"ms": 1, "beats/min": 1, "%": 1, "ms²": 0, "Hz": 3, "ln ms²": 2, "n.u.": 1}


def fmt_value(v: Any, digits: int = 3, unit: str | None = None) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        if unit in _DECIMALS:
            return f"{v:.{_DECIMALS[unit]}f}"
        if unit == "":
            return f"{v:.2f}" if abs(v) < 1000 else f"{v:.0f}"
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _finite_or_none(d: dict) -> dict:
    return {
        k: (float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None)
        for k, v in d.items()
    }


def report_content(store: Any, session_id: int) -> ReportContent:
    """Gather what the report of one stored session shows.

    Parameters
    ----------
    store : SessionStore
        The store.
    session_id : int
        The session.

    Returns
    -------
    ReportContent
    """
    from addictidx.models.research import RESEARCH_EVENT_KIND
    from addictidx.sessions.protocol import PhaseSpan
    from addictidx.sessions.scoring import select_scored

    d = store.queries.session_detail(session_id)
    if hasattr(store, "audit_event"):  # a report shows the whole session: logged as a view
        store.audit_event(
            "view", subject=d["subject"], session=session_id, detail={"what": "report"}
        )
    rc = ReportContent(
        session=d,
        subject=d["subject"],
        date=d["started_utc"],
        devices=d["devices"],
        software=d["software"],
        simulated=bool(d["simulated"]),
        protocol=(d.get("recording") or {}).get("protocol") or "-",
        phases=d["phases"],
        quality=d["quality"],
        features=d["features"],
        index=d["index_result"],
        prescription=d["prescription"],
        events=[e for e in d["events"] if e["kind"] not in ("phase", RESEARCH_EVENT_KIND)],
        safety_events=d.get("safety_events", []),
        trend=store.queries.subject_trend(d["subject"]),
        research=next(
            (e["detail"] for e in reversed(d["events"]) if e["kind"] == RESEARCH_EVENT_KIND), None
        ),
    )
    rc.reference = _reference(store, d)
    emg = emg_gate_phrase((d["quality"] or {}).get("emg_gate"))
    if emg:  # this session's EMG gate, beside the rule in the settings footer
        rc.settings = rc.settings + (("EMG gate, this session", emg),)
    rec = store.queries.recording(session_id)
    if rec is None or not rec["raw_dir"].is_dir():
        return rc
    from addictidx.store.raw import read_raw

    raw = read_raw(rec["raw_dir"], keyring=getattr(store, "keyring", None))
    spans = [
        PhaseSpan(p["name"], "rest", _scored(rec, p["name"]), p["t_start_s"], p["t_end_s"])
        for p in d["phases"]
    ]
    # pauses from the events
    lost = None
    for e in d["events"]:
        if e["kind"] == "signal_lost":
            lost = e["t_s"]
        elif e["kind"] == "signal_resumed" and lost is not None:
            for s in spans:
                if s.t_start_s <= lost < (s.t_end_s or 1e18):
                    s.pauses.append((lost, e["t_s"]))
            lost = None
    eeg, rr = select_scored(spans, raw.eeg_times, raw.eeg, raw.rr_times, raw.rr_s)
    closed = [s for s in spans if s.scored and "closed" in s.name]
    if closed:
        rc.eeg_span_s = (closed[0].t_start_s, closed[-1].t_end_s)
    _add_rr(rc, spans, raw)
    _add_intervention(rc, d, raw)
    if eeg is not None and eeg.shape[1] >= int(4 * raw.sfreq):
        _add_eeg(rc, eeg, raw.sfreq, raw.ch_names)
    return rc


def _scored(rec: dict, name: str) -> bool:
    for p in rec["meta"].get("protocol", {}).get("phases", []):
        if p["name"] == name:
            return bool(p["scored"])
    return False


def _add_rr(rc: ReportContent, spans, raw) -> None:
    from addictidx.features import compute_hrv, rr_quality

    scored = [s for s in spans if s.scored and s.t_end_s is not None]
    if not raw.rr_s.size or not scored:
        return
    a, b = scored[0].t_start_s, scored[-1].t_end_s
    m = (raw.rr_times > a) & (raw.rr_times <= b)
    if m.sum() < 3:
        return
    rr = raw.rr_s[m]
    ok, _rep = rr_quality(rr)
    rc.rr_times, rc.rr_ms, rc.rr_ok = raw.rr_times[m], rr * 1000.0, ok
    rc.rr_corrected_pct = 100.0 * float((~ok).sum()) / rr.size
    try:
        rc.hrv = _finite_or_none(compute_hrv(np.where(ok, rr, np.nan), convention="kubios"))
    except ValueError:
        rc.hrv = {}
    from addictidx.features.hrv_frequency import hrv_psd

    freqs, psd = hrv_psd(np.where(ok, rr, np.nan), convention="kubios")
    if freqs.size:
        rc.hrv_freqs, rc.hrv_psd = freqs, psd


def _reference(store, d: dict) -> dict:
    """(median, MAD) per core feature of the baseline this session was scored against."""
    idx = d.get("index_result") or {}
    if idx.get("baseline") is None:
        return {}
    from addictidx.models import baseline_from_sessions, population_baseline

    if idx.get("baseline") == "personal" and hasattr(store, "prior_session_features"):
        b = baseline_from_sessions(
            store.queries.prior_session_features(d["subject"], before_session=d["id"])
        )
    else:
        b = population_baseline()
    if b.kind != idx.get("baseline"):  # the store changed since: do not explain with it
        return {}
    return {k: (b.median[k], b.mad[k]) for k in b.median}


def _add_intervention(rc: ReportContent, d: dict, raw) -> None:
    """The intervention's heart rate (beat by beat) with its zone, for the HR-trace plot."""
    start = next((e for e in d["events"] if e["kind"] == "loop_start"), None)
    spans = [p for p in d["phases"] if p["name"] in ("guided_intervention", "recovery")]
    if start is None or not spans or not raw.rr_s.size:
        return
    a = spans[0]["t_start_s"]
    b = max((p["t_end_s"] or a) for p in spans)
    m = (raw.rr_times >= a) & (raw.rr_times <= b)
    det = start.get("detail") or {}
    rc.intervention = {
        "t": raw.rr_times[m],
        "hr": 60.0 / raw.rr_s[m],
        "zone": tuple(det.get("zone_bpm") or ()) or None,
        "stop_bpm": det.get("stop_bpm"),
        "phases": [(p["name"], p["t_start_s"], p["t_end_s"]) for p in spans],
    }


def _add_eeg(rc: ReportContent, eeg: np.ndarray, sfreq: float, ch_names) -> None:
    from addictidx.features import compute_psd

    n_seg = int(2 * sfreq)
    good = np.isfinite(eeg).all(axis=0)
    x = eeg[:, good]  # the report's spectrum skips missing samples
    n_win = (x.shape[1] // n_seg) * n_seg
    if n_win < n_seg:
        return
    freqs, psd = compute_psd(
        x[:, :n_win],
        sfreq,
        window_s=n_win / sfreq,
        step_s=n_win / sfreq,
        n_fft=n_seg,
        n_per_seg=n_seg,
        n_overlap=n_seg // 2,
    )
    psd = psd[0]
    rc.eeg_freqs, rc.eeg_psd, rc.eeg_channels = freqs, psd, tuple(ch_names)
    df = freqs[1] - freqs[0]
    total = (freqs >= 1.0) & (freqs <= 25.0)
    for i, ch in enumerate(ch_names):
        tot = float(np.trapezoid(psd[i, total], dx=df))
        rc.band_powers[ch] = {}
        for name, lo, hi in _BANDS:
            m = (freqs >= lo) & (freqs <= hi)
            p = float(np.trapezoid(psd[i, m], dx=df))
            rc.band_powers[ch][name] = (p, p / tot if tot > 0 else float("nan"))
