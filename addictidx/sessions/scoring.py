"""One scoring path: scored data (or their features) + the subject's history -> a session score.

:func:`score_session` is the only place where a session is scored. Live sessions
(:mod:`addictidx.sessions.run`), crash recovery (:func:`~addictidx.sessions.recover.
recover_session`), ``addictidx rescore`` and the real-time benchmark (:mod:`addictidx.bench`)
all call it; :func:`score_sessions` is the same function for many sessions at once (one ONNX
call), which :func:`score_session` itself uses.

The steps (EVIDENCE.md §7(i)-(iii)):

1. the four index features and their quality report
   (:func:`~addictidx.features.index_features_with_emg` over the scored data, or given
   already computed, e.g. by the incremental :class:`~addictidx.features.RollingIndexFeatures`);
2. the personal EMG gate against the person's own 90th percentile (:func:`emg_gate`), only
   when the history is personal;
3. the baseline (personal from >= 5 prior valid sessions, else the labelled population norms)
   and the index (:func:`~addictidx.models.score_indices`);
4. the prescription, when an age is given and a resting heart rate exists.

Nothing here touches a store, a file or a clock: the caller brings the history
(:meth:`SubjectHistory.from_store`) and stores the :class:`SessionScore`.
Unavailable features are ``NaN`` from the feature layer to the index; they become ``null`` only
where JSON is written (:meth:`SessionScore.features_json`, the store).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from addictidx._core.types import IndexResult, Prescription, QualityReport
from addictidx.features import EMGIndicator, IndexFeatureSet, index_features_with_emg

__all__ = [
    "SessionData",
    "SubjectHistory",
    "SessionScore",
    "score_session",
    "score_sessions",
    "with_prescription",
    "select_scored",
    "emg_gate",
    "EMG_GATE_MIN_SESSIONS",
    "EMG_GATE_PERCENTILE",
    "EMG_GATE_FAIL_FLAG",
    "EMG_GATE_INACTIVE_FLAG",
]

#: Prior valid sessions with an EMG indicator needed before the personal EMG gate applies.
EMG_GATE_MIN_SESSIONS = 5
#: The personal percentile the session EMG indicator must not exceed (EVIDENCE §7(i)).
EMG_GATE_PERCENTILE = 90.0
#: Flag when the gate refused the session / when too few prior sessions exist.
EMG_GATE_FAIL_FLAG = "emg>p90"
EMG_GATE_INACTIVE_FLAG = "emg_gate_inactive"


@dataclass(frozen=True)
class SessionData:
    """The data a session is scored on.

    Parameters
    ----------
    eeg : ndarray, shape (n_channels, n_times) | None
        Scored EEG in µV (``NaN`` = missing); ``None`` when there is none.
    sfreq : float | None
        EEG sampling frequency (Hz).
    ch_names : tuple of str
        EEG channel names in row order.
    rr_s : ndarray, shape (n_beats,) | None
        Scored RR intervals (s); ``None`` when there are none.
    eeg_thresholds : Mapping | None
        EEG quality thresholds of the headband's profile.
    """

    eeg: np.ndarray | None
    sfreq: float | None
    ch_names: tuple[str, ...]
    rr_s: np.ndarray | None
    eeg_thresholds: Mapping | None = None

    @classmethod
    def from_recording(
        cls,
        spans,
        eeg_times,
        eeg,
        rr_times,
        rr_s,
        *,
        sfreq: float,
        ch_names,
        eeg_thresholds: Mapping | None = None,
    ) -> SessionData:
        """The scored phases of a recording (:func:`select_scored`) as :class:`SessionData`."""
        e, r = select_scored(spans, eeg_times, eeg, rr_times, rr_s)
        return cls(e, float(sfreq), tuple(ch_names), r, eeg_thresholds)

    def features(self) -> IndexFeatureSet:
        """The index features of these data
        (:func:`~addictidx.features.index_features_with_emg`)."""
        feats, quality, emg = index_features_with_emg(
            self.eeg,
            self.sfreq,
            list(self.ch_names) if self.eeg is not None else None,
            self.rr_s,
            eeg_thresholds=self.eeg_thresholds,
        )
        return IndexFeatureSet(feats, quality, emg)


@dataclass(frozen=True)
class SubjectHistory:
    """What scoring needs of a person's earlier sessions.

    Parameters
    ----------
    prior_features : tuple of Mapping
        Session-level features of the prior complete, usable sessions, oldest first.
    prior_emg : tuple of float
        Their stored EMG indicators (for the personal EMG gate).
    personal : bool
        False: score against population norms only and apply no EMG gate (``rescore`` of a
        file and the benchmark, which have no person behind them).
    """

    prior_features: tuple[Mapping[str, float | None], ...] = ()
    prior_emg: tuple[float, ...] = ()
    personal: bool = True

    @classmethod
    def from_store(cls, store: Any, subject: str, *, before_session: int) -> SubjectHistory:
        """The history of ``subject`` before session ``before_session`` in a session store."""
        return cls(
            tuple(store.queries.prior_session_features(subject, before_session=before_session)),
            tuple(store.queries.prior_emg_indicators(subject, before_session=before_session)),
            True,
        )

    @classmethod
    def population(cls) -> SubjectHistory:
        """No person: population norms, no EMG gate."""
        return cls(personal=False)

    def baseline(self):
        """Personal baseline from the prior sessions, or the population norms."""
        from addictidx.models import baseline_from_sessions, population_baseline

        if not self.personal:
            return population_baseline()
        return baseline_from_sessions(list(self.prior_features))


@dataclass(frozen=True)
class SessionScore:
    """A scored session.

    Attributes
    ----------
    features : Mapping[str, float]
        The four core features; ``NaN`` = unavailable.
    quality : QualityReport
        The feature layer's report with the EMG gate's flag (and reason, when it failed).
    index : IndexResult
        The index (``index.index`` None with a reason when none could be given).
    prescription : Prescription | None
        The suggestion (None without an age or without a resting heart rate).
    emg_gate : Mapping | None
        The personal EMG gate's record (:func:`emg_gate`); None for a non-personal history.
    emg : EMGIndicator
        The session's EMG indicator.
    """

    features: Mapping[str, float]
    quality: QualityReport
    index: IndexResult
    prescription: Prescription | None = None
    emg_gate: Mapping | None = None
    emg: EMGIndicator = field(default_factory=lambda: EMGIndicator(math.nan))

    def features_json(self) -> dict[str, float | None]:
        """The features JSON-ready (``NaN`` -> ``None``)."""
        return {k: (float(v) if math.isfinite(v) else None) for k, v in self.features.items()}

    @property
    def resting_hr_bpm(self) -> float | None:
        """``hr_mean_bpm`` of the scored data, None when unavailable."""
        v = self.features.get("hr_mean_bpm", math.nan)
        return float(v) if math.isfinite(v) else None


def emg_gate(emg, prior, quality: QualityReport) -> tuple[QualityReport, dict]:
    """Apply the personal EMG gate of EVIDENCE §7(i) to one session.

    "EMG indicator (51-69 Hz or >30 Hz power; Gasser 2005) not above the person's own 90th
    percentile": the indicator is :func:`~addictidx.features.session_emg_indicator` (30-100 Hz
    power share, mains +-2 Hz removed, median over passing 2-s epochs, mean of AF7, AF8, TP9,
    TP10); the percentile is ``np.percentile(prior, 90)`` (linear interpolation) over the
    indicators of the person's prior complete, usable sessions. With at least
    :data:`EMG_GATE_MIN_SESSIONS` of them, a session whose indicator is strictly above it is
    not usable (flag ``"emg>p90"`` and a reason naming the value and the percentile); with
    fewer, nothing is gated and the flag ``"emg_gate_inactive"`` says so. A session without an
    indicator (no EEG, or a channel with no passing epoch, which fails the 60 % gate) is
    neither gated nor flagged.

    Parameters
    ----------
    emg : EMGIndicator
        Today's indicator (:func:`~addictidx.features.index_features_with_emg`).
    prior : sequence of float
        The indicators of the prior valid sessions
        (:meth:`~addictidx.store.session_store.SessionStore.prior_emg_indicators`).
    quality : QualityReport
        The session's quality report so far.

    Returns
    -------
    quality : QualityReport
        ``quality`` with the gate's flag and, when it failed, its reason (``usable=False``).
    gate : dict
        JSON-ready record: ``indicator``, ``per_channel``, ``band_hz``, ``n_prior``,
        ``percentile``, ``p90`` (None while inactive), ``active``, ``passed`` (None when not
        evaluated).
    """
    d = emg.to_dict()
    value = d["value"]
    vals = [float(v) for v in prior if v is not None and math.isfinite(v)]
    active = len(vals) >= EMG_GATE_MIN_SESSIONS
    p90 = float(np.percentile(vals, EMG_GATE_PERCENTILE)) if active else None
    gate = {
        "indicator": value,
        "per_channel": d["per_channel"],
        "band_hz": d["band_hz"],
        "n_prior": len(vals),
        "percentile": EMG_GATE_PERCENTILE,
        "p90": p90,
        "active": active,
        "passed": None,
    }
    if value is None:
        return quality, gate
    if not active:
        return quality.merge(QualityReport(per_channel={}, flags=(EMG_GATE_INACTIVE_FLAG,))), gate
    gate["passed"] = bool(value <= p90)
    if gate["passed"]:
        return quality, gate
    lo, hi = d["band_hz"]
    reason = (
        f"EMG gate: EMG indicator {value:.4f} ({lo:g}-{hi:g} Hz power share, AF7/AF8/TP9/TP10) "
        f"is above this person's own {EMG_GATE_PERCENTILE:g}th percentile {p90:.4f} of "
        f"{len(vals)} prior valid sessions (EVIDENCE §7(i); Gasser 2005)"
    )
    return quality.merge(
        QualityReport(per_channel={}, flags=(EMG_GATE_FAIL_FLAG,), usable=False, reasons=(reason,))
    ), gate


def score_sessions(
    items: Sequence[SessionData | IndexFeatureSet],
    history: SubjectHistory | Sequence[SubjectHistory],
    *,
    age: float | None = None,
    screening: Mapping | None = None,
    baselines: Sequence | None = None,
) -> list[SessionScore]:
    """:func:`score_session` for many sessions, with one ONNX call for all of them.

    Parameters
    ----------
    items : sequence of SessionData or IndexFeatureSet
        Per session, the scored data or their index features.
    history : SubjectHistory or sequence of SubjectHistory
        One history for all sessions, or one per session.
    age : float | None
        Years, for the prescription (None: no prescription).
    screening : Mapping | None
        Pre-session screening answers (see :class:`addictidx.prescribe.Screening`).
    baselines : sequence of Baseline | None
        Each history's baseline when the caller already has it (a server scoring the same
        people every second need not rebuild it); default ``history.baseline()``.

    Returns
    -------
    list of SessionScore
        In the order of ``items``.
    """
    from addictidx.models import score_indices

    n = len(items)
    hist = [history] * n if isinstance(history, SubjectHistory) else list(history)
    if len(hist) != n:
        raise ValueError(
            f"Got {len(hist)} histories for {n} sessions; give one, or one per session."
        )
    if baselines is None:
        cache: dict[int, Any] = {}
        baselines = [cache.setdefault(id(h), h.baseline()) for h in hist]
    feature_sets = [x.features() if isinstance(x, SessionData) else x for x in items]
    qualities, gates = [], []
    for fs, h in zip(feature_sets, hist):
        if h.personal:
            q, g = emg_gate(fs.emg, h.prior_emg, fs.quality)
        else:
            q, g = fs.quality, None
        qualities.append(q)
        gates.append(g)
    results = score_indices([fs.features for fs in feature_sets], baselines, qualities=qualities)
    out = []
    for fs, q, g, res in zip(feature_sets, qualities, gates, results):
        sc = SessionScore(dict(fs.features), q, res, None, g, fs.emg)
        out.append(with_prescription(sc, age, screening) if age is not None else sc)
    return out


def with_prescription(score: SessionScore, age: float, screening: Mapping | None) -> SessionScore:
    """``score`` with its prescription (:func:`~addictidx.prescribe.prescribe` on the index and
    the resting heart rate ``hr_mean_bpm``); unchanged when there is no resting heart rate.

    The last step of :func:`score_sessions`; a server that times the steps apart calls
    :func:`score_sessions` without ``age`` and then this.
    """
    from addictidx.prescribe import prescribe

    hr = score.resting_hr_bpm
    if hr is None:
        return score
    rx = prescribe(score.index, age=age, resting_hr=hr, screening=screening)
    return SessionScore(score.features, score.quality, score.index, rx, score.emg_gate, score.emg)


def score_session(
    data: SessionData | IndexFeatureSet,
    history: SubjectHistory | None = None,
    *,
    age: float | None = None,
    screening: Mapping | None = None,
) -> SessionScore:
    """Score one session: features -> EMG gate -> baseline -> index -> prescription.

    Parameters
    ----------
    data : SessionData or IndexFeatureSet
        The scored data, or their index features computed already.
    history : SubjectHistory | None
        The person's earlier sessions; ``None`` = population norms, no EMG gate.
    age : float | None
        Years, for the prescription (None: no prescription).
    screening : Mapping | None
        Pre-session screening answers.

    Returns
    -------
    SessionScore
    """
    h = SubjectHistory.population() if history is None else history
    return score_sessions([data], h, age=age, screening=screening)[0]


def select_scored(spans, eeg_times, eeg, rr_times, rr_s):
    """EEG of the eyes-closed phase(s) and RR of all scored phases, minus paused intervals.

    Parameters
    ----------
    spans : list of PhaseSpan
        Where each phase ran on the session clock.
    eeg_times, eeg, rr_times, rr_s : ndarray
        Recorded data on the same clock.

    Returns
    -------
    eeg_data : ndarray, shape (n_channels, n) | None
    rr : ndarray, shape (n_beats,) | None
    """
    scored = [s for s in spans if s.scored and s.t_end_s is not None]
    closed = [s for s in scored if "closed" in s.name] or scored

    def mask(times, chosen, left_closed):
        m = np.zeros(times.shape, dtype=bool)
        for s in chosen:
            if left_closed:
                m |= (times >= s.t_start_s) & (times < s.t_end_s)
            else:
                m |= (times > s.t_start_s) & (times <= s.t_end_s)
            for a, b in s.pauses:
                m &= ~((times >= a) & (times < b))
        return m

    me = mask(eeg_times, closed, True)
    mr = mask(rr_times, scored, False)
    return (eeg[:, me] if me.any() else None), (rr_s[mr] if mr.any() else None)
