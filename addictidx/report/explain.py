"""The report's words: the index's reference frame and confidence, each feature's part in it, and
every event and safety event as a sentence (issue 17.7).

Pure functions of the stored JSON (``session_detail``) and the baseline the session was scored
against; the PDF, HTML and dashboard say the same things in the same words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DECISION_SUPPORT",
    "FEATURE_WORDS",
    "clock",
    "reference_frame_words",
    "confidence_words",
    "feature_sentences",
    "index_sum_sentence",
    "event_sentence",
    "music_sentence",
    "safety_sentence",
    "phase_label",
    "wrap_paragraph",
    "session_outcome",
]

#: One line every report page carries (EVIDENCE.md §7(v)).
DECISION_SUPPORT = (
    "The addiction index is decision support for staff, never a diagnosis, drug test, "
    "lie detector or disciplinary score."
)

#: feature -> (plain name, unit, decimals shown)
FEATURE_WORDS: dict[str, tuple[str, str, int]] = {
    "hrv_ln_rmssd": ("ln RMSSD (heart-rate variability)", "ln ms", 2),
    "hr_mean_bpm": ("resting heart rate", "bpm", 1),
    "eeg_beta_rel_frontal": ("frontal relative beta (AF7/AF8)", "", 3),
    "eeg_alpha_beta_ratio_temporal": ("temporal alpha/beta ratio (TP9/TP10)", "", 2),
}
#: +1 when a higher value moves towards hyperarousal / low regulation (models.index_graph).
_SIGNS = {
    "hrv_ln_rmssd": -1.0,
    "hr_mean_bpm": 1.0,
    "eeg_beta_rel_frontal": 1.0,
    "eeg_alpha_beta_ratio_temporal": -1.0,
}
_Z_CLIP = 3.0


def clock(t_s: float | None) -> str:
    """Session time as ``m:ss`` (``-`` when unknown)."""
    if t_s is None or not math.isfinite(float(t_s)):
        return "-"
    s = int(round(max(0.0, float(t_s))))
    return f"{s // 60}:{s % 60:02d}"


def wrap_paragraph(text: str, width: int = 96, indent: str = "  ") -> str:
    """A sentence wrapped for the terminal."""
    import textwrap

    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ")


def phase_label(name: str) -> str:
    """``eyes_closed_rest`` -> ``eyes closed rest``."""
    return str(name).replace("_", " ")


def _num(v: float, nd: int, unit: str = "") -> str:
    txt = f"{v:.{nd}f}"
    return f"{txt} {unit}".rstrip() if unit and unit != "ln ms" else txt


def reference_frame_words(idx: Mapping[str, Any]) -> str:
    """What the index was compared with, in words."""
    n = int(idx.get("n_baseline_sessions") or 0)
    if idx.get("baseline") == "personal":
        return (
            f"Reference frame: this person's own baseline (median and spread of their last {n} "
            "usable sessions). The index says how unusual today is for this person."
        )
    return (
        "Reference frame: POPULATION norms (published heart-rate norms for healthy adults and "
        f"Muse device reference values), because this person has {n} of the 5 usable sessions a "
        "personal baseline needs. The index says how today compares with other people, not "
        "with this person's usual state; it is not comparable with later scores against the "
        "personal baseline."
    )


def confidence_words(idx: Mapping[str, Any], quality: Mapping[str, Any] | None) -> str:
    """The confidence number as a product of three factors, in words."""
    conf = idx.get("confidence")
    if conf is None:
        return "Confidence: not available."
    zf = idx.get("z_features") or {}
    n_av = sum(v is not None for v in zf.values()) or 4
    f = n_av / 4
    pc = (quality or {}).get("per_channel") or {}
    vals = [min(1.0, max(0.0, float(v))) for v in pc.values() if v is not None]
    q = sum(vals) / len(vals) if vals else 1.0
    b = conf / (f * q) if f * q > 0 else float("nan")
    ref = (
        "own baseline: 0.6 at 5 sessions, rising to 1.0 at 14"
        if idx.get("baseline") == "personal"
        else "population norms: 0.3"
    )
    return (
        f"Confidence {conf:.2f} on a 0-1 scale = reference {b:.2f} ({ref}) x features "
        f"{f:.2f} ({n_av} of 4 available) x signal quality {q:.2f} (mean share of good "
        "epochs and accepted beats). It says how much weight the number can bear, not how "
        "likely anything is."
    )


def feature_sentences(
    idx: Mapping[str, Any],
    features: Mapping[str, float | None] | None,
    reference: Mapping[str, tuple[float | None, float | None]] | None,
) -> list[str]:
    """One sentence per core feature: value, reference, direction, z and contribution.

    ``reference`` maps a feature to the ``(median, MAD)`` it was scored against.
    """
    out = []
    zf = idx.get("z_features") or {}
    contrib = idx.get("contributions") or {}
    for name, (label, unit, nd) in FEATURE_WORDS.items():
        v = (features or {}).get(name)
        z = zf.get(name)
        if v is None or z is None or not math.isfinite(float(v)):
            out.append(f"{label[0].upper() + label[1:]}: not available, not in the index.")
            continue
        med, mad = (reference or {}).get(name, (None, None))
        head = f"{label[0].upper() + label[1:]} {_num(v, nd, unit)}"
        if name == "hrv_ln_rmssd":
            head += f" (RMSSD {math.exp(v):.0f} ms)"
        if med is not None:
            d = float(v) - float(med)
            where = "above" if d > 0 else "below" if d < 0 else "at"
            head += f" is {_num(abs(d), nd, unit)} {where} the reference {_num(med, nd, unit)}" + (
                "" if mad is None else f" (spread MAD {_num(mad, nd, unit)})"
            )
        c = contrib.get(name)
        c = 0.0 if c is None else float(c)
        effect = "raises" if c > 0 else "lowers" if c < 0 else "does not move"
        why = ""
        if _SIGNS[name] < 0 and med is not None and float(v) != float(med):
            why = " (lower values count towards hyperarousal, so the sign is reversed)"
        capped = " (capped at +-3)" if abs(float(z)) >= _Z_CLIP - 1e-9 else ""
        out.append(
            f"{head}: z {float(z):+.2f}{capped}{why}; it {effect} the index "
            f"(contribution {c:+.2f})."
        )
    return out


def index_sum_sentence(idx: Mapping[str, Any]) -> str:
    """How the contributions make the number."""
    z = idx.get("z")
    if z is None or idx.get("index") is None:
        return ""
    return (
        f"Contributions are each feature's z divided by the number of features; they add up to "
        f"Z = {float(z):+.2f}, and the index is 100 x Phi(Z) = {float(idx['index']):.0f} "
        "(50 = exactly the reference)."
    )


def _strip_rule(reason: str) -> str:
    r = str(reason or "").strip()
    if r.startswith("[") and "]" in r:
        r = r[r.index("]") + 1 :].strip()
    return r[:1].upper() + r[1:] if r else r


_MARKS = {
    "staff_mark": "Staff set a mark",
    "movement": "Staff marked movement",
    "talking": "Staff marked talking",
    "eyes_opened": "Staff marked eyes opened",
}


def music_sentence(d: Mapping[str, Any], at: str) -> str:
    """A music change (``music`` event): which track, which tempo, the HR at the time."""
    hr = d.get("hr_bpm")
    hr_txt = "" if hr is None else f" (HR {float(hr):.0f} bpm)"
    action = d.get("action")
    if action == "off":
        return f"{at} the music stopped: {_strip_rule(d.get('reason')) or 'off'}{hr_txt}."
    if action == "no_track":
        return f"{at} no track of the music library fits {d.get('tempo_bpm')} bpm{hr_txt}."
    what = {
        "start": "music started with",
        "switch": "the music switched to",
        "stretch": "the music was re-timed:",
        "hold": "the music held:",
    }.get(str(action), "music:")
    rate = d.get("stretch_rate")
    stretch = "" if rate in (None, 1.0) else f", stretched x{float(rate):.3f}"
    rel = d.get("relation")
    felt = "" if rel in (None, "same") else f", felt at {rel} time"
    goal = f"the step to {d.get('tempo_bpm')} bpm"
    if d.get("exercise"):  # the exercise phase: the cadence of the prescribed activity
        goal = f"{d['exercise']} at {d.get('cadence_per_min')} per minute"
    return (
        f'{at} {what} "{d.get("label")}" (track {d.get("track_id")}, '
        f"{float(d.get('track_bpm') or 0):.1f} bpm{felt}{stretch}) playing at "
        f"{float(d.get('played_bpm') or 0):.1f} bpm for {goal}{hr_txt}."
    )


def event_sentence(e: Mapping[str, Any]) -> str | None:
    """One event as a sentence (``None`` for events the report shows elsewhere)."""
    kind = e.get("kind")
    d = e.get("detail") if isinstance(e.get("detail"), dict) else {}
    at = f"At {clock(e.get('t_s'))}"
    if kind in ("phase", "research_probability", "window"):
        return None
    if kind == "eeg_gap_samples":
        return f"{int(d.get('n_missing') or 0)} EEG samples were missing; they are marked as gaps."
    if kind == "loop_start":
        z = d.get("zone_bpm") or [None, None]
        stop = d.get("stop_bpm")
        return (
            f"{at} the guided intervention started with the closed loop: target zone "
            f"{z[0]:.0f}-{z[1]:.0f} bpm"
            + ("" if stop is None else f", stop above {float(stop):.0f} bpm")
            + (", music on" if d.get("music") else "")
            + "."
        )
    if kind == "scored":
        if d.get("index") is None:
            return f"{at} the rest phases were scored: no index."
        return (
            f"{at} the rest phases were scored: index {float(d['index']):.0f} ({d.get('band')})."
        )
    if kind == "loop":
        what = str(d.get("kind") or "prompt").replace("_", " ")
        return f"{at} closed loop, {what}: {_strip_rule(d.get('reason'))}."
    if kind == "music":  # the music player following the tempo loop (issue 21.4)
        return music_sentence(d, at)
    if kind == "signal_lost":
        return f"{at} the signal was lost; recording paused (the pause is left out of scoring)."
    if kind == "signal_resumed":
        return f"{at} the signal came back; recording resumed."
    if kind == "session_stopped":
        where = d.get("phase")
        return (
            f"{at} the session was stopped"
            + (f" during {phase_label(where)}" if where else "")
            + f": {_strip_rule(d.get('reason'))}."
        )
    if kind == "recovered":
        return f"{at} the session was completed from its raw data after an interruption."
    if kind in _MARKS or kind == "mark":
        return f"{at} {_MARKS.get(kind, 'staff set a mark').lower()}."
    parts = []
    for k, v in d.items():
        if isinstance(v, float):
            v = f"{v:.1f}"
        parts.append(f"{str(k).replace('_', ' ')} {v}")
    return (
        f"{at}: {str(kind).replace('_', ' ')}" + (f" ({', '.join(parts)})" if parts else "") + "."
    )


_SAFETY = {
    "stop": "SAFETY STOP",
    "pause": "Safety pause",
    "resume": "Resumed after a safety pause",
    "prompt": "Safety prompt",
    "flag": "Safety flag",
    "hr_recovery": "Heart-rate recovery",
}


def safety_sentence(e: Mapping[str, Any]) -> str:
    """One safety event as a sentence: when, what, why, which rule."""
    d = e.get("detail") if isinstance(e.get("detail"), dict) else {}
    kind = str(e.get("kind") or d.get("kind") or "event")
    head = _SAFETY.get(kind, kind.replace("_", " ").capitalize())
    reason = _strip_rule(d.get("reason")) or "no reason recorded"
    rule = d.get("rule")
    hr = d.get("hr_bpm")
    extra = []
    if hr is not None and "bpm" not in reason:
        extra.append(f"HR {float(hr):.0f} bpm")
    if rule:
        extra.append(f"rule {rule}")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"At {clock(e.get('t_s'))} {head}: {reason}{tail}."


def session_outcome(detail: Mapping[str, Any]) -> str:
    """How a stored session ended, in a few words (issue 17.9): ``complete``, ``stopped at 9:45``,
    ``complete, safety stop at 8:21`` (the intervention was stopped, the protocol went on),
    ``recovered (320 s of data)``, ``recovered, no data``, ``running``.

    The store's ``status`` says only whether a session is finished; a STOPped or recovered
    session is finished too, and must not read as a complete protocol.
    """
    status = str(detail.get("status") or "-")
    events = detail.get("events") or []
    stop = next((e for e in events if e.get("kind") == "session_stopped"), None)
    rec = next((e for e in events if e.get("kind") == "recovered"), None)
    if stop is not None:
        return f"stopped at {clock(stop.get('t_s'))}"
    if rec is not None:
        d = rec.get("detail") or {}
        if not (d.get("eeg_s") or d.get("n_beats")):
            return "recovered, no data"
        part = "" if d.get("protocol_complete") else ", protocol incomplete"
        return f"recovered ({float(d.get('data_end_s') or 0):.0f} s of data{part})"
    safety = [e for e in detail.get("safety_events") or [] if e.get("kind") == "stop"]
    if status == "complete" and safety:
        return f"complete, safety stop at {clock(safety[0].get('t_s'))}"
    return status
