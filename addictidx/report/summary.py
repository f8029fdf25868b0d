"""Plain-text and JSON summaries of an assessment, an index result and a prescription.

Every summary that shows the index repeats the intended-use statement (EVIDENCE.md §7(v)).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import asdict
from typing import Any

from addictidx._core.intended_use import INTENDED_USE, NOT_FOR
from addictidx._core.types import IndexResult, Prescription

__all__ = [
    "index_result_dict",
    "format_index",
    "format_prescription",
    "format_research",
    "summary_dict",
    "format_summary",
    "emg_gate_phrase",
]

_FEATURE_LABELS = {
    "hrv_ln_rmssd": "ln RMSSD (ln ms)",
    "hr_mean_bpm": "Resting heart rate (bpm)",
    "eeg_beta_rel_frontal": "Relative beta 13-25 Hz, AF7/AF8",
    "eeg_alpha_beta_ratio_temporal": "Alpha/beta ratio, TP9/TP10",
}


def _num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def index_result_dict(result: IndexResult) -> dict[str, Any]:
    """JSON-ready dict: ``{"index", "band", "z", "z_features", "confidence", ...}``.

    ``z`` holds the per-feature z-scores (the ``index`` CLI contract), ``z_composite`` the
    composite Z.
    """
    return {
        "index": _num(result.index),
        "index_display": result.display_index,
        "band": result.band,
        "z": {k: _num(v) for k, v in result.z_features.items()},
        "z_composite": _num(result.z),
        "contributions": {k: _num(v) for k, v in result.contributions.items()},
        "confidence": _num(result.confidence),
        "baseline": result.baseline,
        "n_baseline_sessions": result.n_baseline_sessions,
        "model_id": result.model_id,
        "model_version": result.model_version,
        "reason": result.reason,
        "quality": None if result.quality is None else asdict(result.quality),
        "intended_use": INTENDED_USE,
        "not_for": NOT_FOR,
    }


def emg_gate_phrase(gate: Any) -> str:
    """One short phrase on the personal EMG gate (EVIDENCE §7(i)) from its stored record
    (``quality["emg_gate"]``); ``""`` when the session has none."""
    if not isinstance(gate, dict):
        return ""
    v, p90, n = gate.get("indicator"), gate.get("p90"), gate.get("n_prior", 0)
    if v is None:
        return "EMG gate: no indicator"
    if not gate.get("active") or p90 is None:
        return f"EMG {v:.3f}; personal EMG gate not yet active ({n} of 5 prior sessions)"
    if gate.get("passed"):
        return f"EMG {v:.3f} <= own P90 {p90:.3f}"
    return f"EMG {v:.3f} > own P90 {p90:.3f}: no index"


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=96, initial_indent=indent, subsequent_indent=indent)


def format_index(result: IndexResult) -> str:
    """Human-readable index block with contributions and the disclaimer."""
    lines = []
    if result.index is None:
        lines.append("Addiction index: not computed")
        lines.append(_wrap(f"Reason: {result.reason}"))
    else:
        base = (
            "your own baseline"
            if result.baseline == "personal"
            else "POPULATION NORMS (fewer than 5 baseline sessions; lower confidence)"
        )
        lines.append(
            f"Addiction index: {result.display_index} / 100  band: {result.band.upper()}  "
            f"(Z = {result.z:+.2f}, confidence {result.confidence:.2f})"
        )
        lines.append(
            _wrap(f"Compared with {base}; {result.n_baseline_sessions} baseline sessions.")
        )
        lines.append("  Contributions to Z (positive = towards hyperarousal / low regulation):")
        for name, zk in result.z_features.items():
            label = _FEATURE_LABELS.get(name, name)
            if zk is None:
                lines.append(f"    {label:<36} unavailable")
            else:
                c = result.contributions.get(name, 0.0)
                lines.append(f"    {label:<36} z {zk:+.2f}   share of Z {c:+.2f}")
        lines.append(f"  Model: {result.model_id} v{result.model_version}")
    lines.append(_wrap("What this is: " + INTENDED_USE))
    lines.append(_wrap("Never: " + NOT_FOR))
    return "\n".join(lines)


def format_prescription(rx: Prescription) -> str:
    """Human-readable prescription block."""

    def rng(x, unit):
        return "-" if x is None else f"{x[0]}-{x[1]} {unit}"

    lines = [
        f"Suggestion (state {rx.state.upper()}, band {rx.band or 'n/a'}): {rx.activity}",
        f"  intensity {rng(rx.intensity_pct_hrr, '% HRR')}, target HR "
        f"{rng(rx.hr_target_bpm, 'bpm')}, "
        f"duration {rng(rx.duration_min, 'min')}, music {rng(rx.music_bpm, 'bpm')}",
        _wrap(f"Why ({rx.rule_id}): {rx.rationale}"),
    ]
    return "\n".join(lines)


def format_research(block: dict) -> str:
    """Human-readable research block: label, probability and its disclaimer (never the index)."""
    lines = ["RESEARCH output (not part of the addiction index; never fused into it)"]
    p = block.get("probability")
    if p is None:
        lines.append(f"  Research classifier probability: not computed ({block.get('reason')})")
    else:
        lines.append(
            f"  Research classifier score {p:.2f} = probability of the UCI training class "
            f"'{block.get('positive_class')}'"
        )
        lines.append(
            f"  (mean over {block.get('n_epochs')} 1-s epochs of eyes-closed EEG; "
            f"{block.get('model_id')} v{block.get('model_version')})"
        )
    lines.append(_wrap(str(block.get("disclaimer") or "")))
    return "\n".join(lines)


def summary_dict(result: Any) -> dict[str, Any]:
    """JSON-ready summary of an :class:`~addictidx.sessions.assessment.AssessmentResult`.

    When the research classifier was enabled its block is under a separate top-level
    ``"research"`` key (absent otherwise), never inside ``"index"``.
    """
    out = {
        "subject": result.subject,
        "session_id": result.session_id,
        "store": str(result.store_path),
        "protocol": result.protocol,
        "session_time_s": result.session_time_s,
        "wall_time_s": round(result.wall_time_s, 3),
        "devices": dict(result.devices),
        "features": {k: _num(v) for k, v in result.features.items()},
        "quality": asdict(result.quality),
        "signal_accounting": dict(result.accounting),
        "n_feature_windows": result.n_feature_windows,
        "index": index_result_dict(result.index),
        "prescription": None if result.prescription is None else result.prescription.to_dict(),
    }
    research = getattr(result, "research", None)
    if research is not None:
        out["research"] = {k: _num(v) for k, v in research.items()}
    return out


def format_summary(result: Any) -> str:
    """The plain summary printed at the end of an assessment."""
    q = result.quality
    acc = result.accounting
    lines = [
        "",
        f"addictidx assessment - subject {result.subject}, session #{result.session_id}"
        + (" (simulated devices, real recordings)" if result.simulated else ""),
        f"  protocol {result.protocol}: {result.session_time_s:.0f} s of session time in "
        f"{result.wall_time_s:.1f} s wall time",
        "",
        "Signal quality (share of 2-s epochs passing, per channel):",
        "  " + "  ".join(f"{ch} {v:.2f}" for ch, v in q.per_channel.items()),
        f"  EEG samples received {acc.get('eeg_samples', 0)}, missing (marked as gaps) "
        f"{acc.get('eeg_missing', 0)}; RR beats {acc.get('rr_beats', 0)}",
        f"  usable: {'yes' if q.usable else 'NO'}"
        + ("" if q.usable else " - " + "; ".join(q.reasons)),
        *([f"  {emg}"] if (emg := emg_gate_phrase(getattr(result, "emg_gate", None))) else []),
        "",
        "Features (scored rest phases):",
    ]
    for name, v in result.features.items():
        label = _FEATURE_LABELS.get(name, name)
        lines.append(f"  {label:<36} {'-' if v is None or not math.isfinite(v) else f'{v:.4g}'}")
    lines.append("")
    lines.append(format_index(result.index))
    lines.append("")
    if result.prescription is not None:
        lines.append(format_prescription(result.prescription))
        lines.append("")
    research = getattr(result, "research", None)
    if research is not None:
        lines.append(format_research(research))
        lines.append("")
    lines.append(f"Saved to store: {result.store_path}")
    return "\n".join(lines)
