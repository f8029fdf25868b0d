"""The session report as a two-page A4 PDF (matplotlib, Agg, ``PdfPages``), after Kubios HRV.

Page 1 - summary for staff: header (pseudonym, date, devices, software, quality), the index with
its contributions and confidence, the trend across the person's sessions, the suggestion with its
rationale, events and safety events.
Page 2 - the physiology: RR tachogram with rejected beats, Poincaré plot, the HRV table with
Kubios names, EEG spectra and band powers per channel, and the analysis settings.
Page 3 - only when the research classifier was enabled: its probability on a page of its own,
labelled "research", with its disclaimer and the model card's limits (never fused into the index).
Every page ends with the intended-use statement (EVIDENCE.md §7(v)).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from addictidx.report.content import FEATURE_LABELS, ReportContent, _fmt

__all__ = ["write_pdf", "render_pages"]

A4 = (8.27, 11.69)
_BLUE = "#1f4e79"


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width))


def _footer(fig, rc: ReportContent, page: int, n_pages: int) -> None:
    fig.add_artist(_line(fig, 0.085))
    fig.text(
        0.05,
        0.078,
        _wrap("Intended use: " + rc.intended_use, 150),
        fontsize=5.6,
        va="top",
        color="#333333",
    )
    fig.text(
        0.05, 0.048, _wrap("Never: " + rc.not_for, 150), fontsize=5.6, va="top", color="#8a1c1c"
    )
    fig.text(
        0.95,
        0.012,
        f"addictidx · {rc.software} · page {page}/{n_pages}",
        fontsize=5.5,
        ha="right",
        color="#777777",
    )


def _line(fig, y):
    from matplotlib.lines import Line2D

    return Line2D([0.05, 0.95], [y, y], transform=fig.transFigure, color="#bbbbbb", lw=0.6)


def _header(fig, rc: ReportContent, title: str) -> None:
    fig.text(0.05, 0.972, title, fontsize=13, weight="bold", color=_BLUE, va="top")
    sim = " · SIMULATED devices (replayed real recordings)" if rc.simulated else ""
    fig.text(
        0.05,
        0.945,
        f"Subject {rc.subject} · session #{rc.session['id']} · {rc.date} UTC · "
        f"protocol {rc.protocol}{sim}",
        fontsize=7.5,
        va="top",
    )
    dev = ", ".join(f"{k}: {v}" for k, v in rc.devices.items()) or "-"
    fig.text(
        0.05,
        0.930,
        f"Devices {dev} (firmware: not reported by simulated devices)"
        if rc.simulated
        else f"Devices {dev}",
        fontsize=7,
        va="top",
        color="#444444",
    )
    fig.add_artist(_line(fig, 0.918))


def _quality_text(rc: ReportContent) -> str:
    q = rc.quality or {}
    pc = q.get("per_channel") or {}
    eeg = "  ".join(f"{k} {v:.0%}" for k, v in pc.items() if k != "rr")
    rr = pc.get("rr")
    lines = [
        "Signal quality (share of 2-s EEG epochs passing; share of RR accepted)",
        f"  EEG {eeg or '-'}    RR {'-' if rr is None else f'{rr:.1%}'}"
        + (
            ""
            if rc.rr_corrected_pct is None
            else f"  (beats corrected {rc.rr_corrected_pct:.1f} %)"
        ),
        f"  usable for the index: {'yes' if q.get('usable') else 'NO'}"
        + ("" if q.get("usable") else " - " + "; ".join(q.get("reasons") or [])),
    ]
    return "\n".join(lines)


def _index_text(rc: ReportContent) -> tuple[str, str, str]:
    idx = rc.index or {}
    if idx.get("index") is None:
        return "–", "not computed", _wrap(str(idx.get("reason") or ""), 48)
    base = (
        "own baseline"
        if idx.get("baseline") == "personal"
        else "POPULATION NORMS (< 5 baseline sessions)"
    )
    big = f"{idx['index']:.0f}"
    band = str(idx.get("band") or "").upper()
    small = (
        f"Z = {idx['z']:+.2f} · confidence {idx['confidence']:.2f}\n"
        f"compared with {base}\n{idx.get('n_baseline_sessions', 0)} baseline sessions\n"
        f"model v{idx.get('model_version')}"
    )
    return big, band, small


def _rx_text(rc: ReportContent) -> str:
    rx = rc.prescription
    if not rx:
        return "No suggestion (no resting heart rate)."

    def rng(v, unit):
        return "–" if v is None else f"{v[0]}–{v[1]} {unit}"

    head = (
        f"{rx['activity']}  ·  state {str(rx['state']).upper()}\n"
        f"intensity {rng(rx.get('intensity_pct_hrr'), '% HRR')} · target HR "
        f"{rng(rx.get('hr_target_bpm'), 'bpm')} · {rng(rx.get('duration_min'), 'min')} · music "
        f"{rng(rx.get('music_bpm'), 'bpm')}"
    )
    return head + "\n" + _wrap(f"Why ({rx['rule_id']}): {rx['rationale']}", 118)


def _events_text(rc: ReportContent) -> str:
    lines = []
    if rc.safety_events:
        lines += [f"  SAFETY {e['t_s']:7.1f} s  {e['kind']}" for e in rc.safety_events[:8]]
    else:
        lines.append("  Safety events: none.")
    ev = [e for e in rc.events if e["kind"] != "eeg_gap_samples"]
    for e in ev[:8]:
        d = e.get("detail") or {}
        extra = ", ".join(f"{k} {v}" for k, v in d.items() if k != "phase")
        lines.append(f"  {e['t_s']:7.1f} s  {e['kind']}" + (f" ({extra})" if extra else ""))
    if len(ev) > 8:
        lines.append(f"  ... {len(ev) - 8} more events (sessions show)")
    gaps = [e for e in rc.events if e["kind"] == "eeg_gap_samples"]
    if gaps:
        lines.append(
            f"  EEG samples missing (marked as gaps): {gaps[0]['detail'].get('n_missing')}"
        )
    return "\n".join(lines)


def render_pages(rc: ReportContent) -> list:
    """Build the report's pages as matplotlib ``Figure`` objects (no pyplot)."""
    from matplotlib.figure import Figure

    from addictidx.report.figures import (
        BAND_COLORS,
        draw_contributions,
        draw_poincare,
        draw_spectra,
        draw_tachogram,
        draw_trend,
    )

    n_pages = 3 if rc.research is not None else 2
    # -- page 1 ---------------------------------------------------------------------------------
    p1 = Figure(figsize=A4)
    _header(p1, rc, "Assessment report – physiological deviation index")
    p1.text(0.05, 0.905, _quality_text(rc), fontsize=7, va="top", family="monospace")
    big, band, small = _index_text(rc)
    p1.text(
        0.05,
        0.835,
        "Addiction index (physiological deviation, 0–100)",
        fontsize=9,
        weight="bold",
        va="top",
    )
    color = BAND_COLORS.get((rc.index or {}).get("band"), "#555555")
    p1.text(0.05, 0.815, big, fontsize=40, weight="bold", color=color, va="top")
    p1.text(0.20, 0.805, band, fontsize=14, weight="bold", color=color, va="top")
    p1.text(0.20, 0.780, small, fontsize=7, va="top")
    ax = p1.add_axes([0.64, 0.725, 0.24, 0.105])
    draw_contributions(ax, rc)
    feats = rc.features or {}
    ftxt = "   ".join(f"{FEATURE_LABELS.get(k, k)} {_fmt(v)}" for k, v in feats.items())
    p1.text(
        0.05,
        0.672,
        _wrap("Features (scored rest phases): " + ftxt, 140),
        fontsize=6.5,
        va="top",
        color="#333333",
    )
    ax = p1.add_axes([0.08, 0.48, 0.88, 0.15])
    draw_trend(ax, rc)
    p1.add_artist(_line(p1, 0.445))
    p1.text(
        0.05,
        0.435,
        "Suggestion for staff and participant (not an order)",
        fontsize=9,
        weight="bold",
        va="top",
    )
    p1.text(0.05, 0.415, _rx_text(rc), fontsize=7, va="top")
    p1.add_artist(_line(p1, 0.300))
    p1.text(0.05, 0.290, "Events and safety", fontsize=9, weight="bold", va="top")
    p1.text(0.05, 0.272, _events_text(rc), fontsize=6.5, va="top", family="monospace")
    _footer(p1, rc, 1, n_pages)

    # -- page 2 ---------------------------------------------------------------------------------
    p2 = Figure(figsize=A4)
    _header(p2, rc, "Heart-rate variability and EEG")
    ax = p2.add_axes([0.08, 0.755, 0.88, 0.14])
    draw_tachogram(ax, rc)
    ax = p2.add_axes([0.08, 0.47, 0.36, 0.23])
    draw_poincare(ax, rc)
    # HRV table (Kubios names)
    rows = rc.hrv_rows()
    p2.text(
        0.52,
        0.715,
        "HRV (Kubios names; accepted beats of the scored phases)",
        fontsize=8,
        weight="bold",
        va="top",
    )
    y = 0.698
    for label, val, unit, _code in rows:
        p2.text(0.52, y, label, fontsize=6.3, va="top")
        p2.text(0.80, y, val, fontsize=6.3, va="top", ha="right", family="monospace")
        p2.text(0.81, y, unit, fontsize=6.3, va="top", color="#555555")
        y -= 0.0092
    ax = p2.add_axes([0.08, 0.175, 0.52, 0.185])
    draw_spectra(ax, rc)
    # band power table
    p2.text(0.64, 0.375, "EEG band power, eyes closed", fontsize=8, weight="bold", va="top")
    p2.text(0.64, 0.360, "abs µV² (relative to 1–25 Hz)", fontsize=6, va="top", color="#555555")
    if rc.band_powers:
        bands = ("delta", "theta", "alpha", "beta")
        yb = 0.340
        p2.text(0.64, yb, "ch", fontsize=6.3, va="top", weight="bold")
        for j, b in enumerate(bands):
            p2.text(0.70 + 0.065 * j, yb, b, fontsize=6.3, va="top", weight="bold")
        for ch, bp in rc.band_powers.items():
            yb -= 0.022
            p2.text(0.64, yb, ch, fontsize=6.3, va="top")
            for j, b in enumerate(bands):
                a, r = bp[b]
                p2.text(
                    0.70 + 0.065 * j,
                    yb,
                    f"{a:.1f}\n({r:.0%})",
                    fontsize=5.8,
                    va="top",
                    family="monospace",
                )
    else:
        p2.text(0.64, 0.34, "no usable EEG", fontsize=7, va="top")
    p2.add_artist(_line(p2, 0.142))
    sett = "   ".join(f"{k}: {v}." for k, v in rc.settings)
    p2.text(0.05, 0.137, _wrap("Settings — " + sett, 175), fontsize=5.0, va="top", color="#333333")
    _footer(p2, rc, 2, n_pages)
    pages = [p1, p2]
    if rc.research is not None:
        p3 = Figure(figsize=A4)
        _header(p3, rc, "RESEARCH output – not part of the index")
        _research_page(p3, rc.research)
        _footer(p3, rc, 3, n_pages)
        pages.append(p3)
    return pages


def _research_page(fig, block: dict) -> None:
    """The research classifier on its own page: label, probability, disclaimer, limits."""
    from matplotlib.patches import Rectangle

    fig.add_artist(
        Rectangle(
            (0.05, 0.68),
            0.90,
            0.22,
            transform=fig.transFigure,
            fill=False,
            ls="--",
            lw=1.2,
            ec="#8a6d3b",
        )
    )
    fig.text(
        0.07,
        0.885,
        "RESEARCH",
        fontsize=11,
        weight="bold",
        color="white",
        va="top",
        bbox={"facecolor": "#8a6d3b", "edgecolor": "none", "pad": 3},
    )
    fig.text(
        0.22,
        0.885,
        "Research classifier – shown beside the index, never fused into it",
        fontsize=10,
        weight="bold",
        va="top",
    )
    p = block.get("probability")
    if p is None:
        fig.text(0.07, 0.84, f"not computed ({block.get('reason')})", fontsize=12, va="top")
    else:
        fig.text(
            0.07, 0.845, f"score {p:.2f}", fontsize=22, weight="bold", color="#8a6d3b", va="top"
        )
        fig.text(
            0.07,
            0.795,
            f"probability of the UCI training class "
            f"'{block.get('positive_class')}', mean over {block.get('n_epochs')} 1-s epochs "
            "of eyes-closed EEG",
            fontsize=8,
            va="top",
        )
    fig.text(
        0.07,
        0.775,
        f"model {block.get('model_id')} v{block.get('model_version')}",
        fontsize=7,
        va="top",
        color="#444444",
    )
    fig.text(
        0.07,
        0.75,
        _wrap(str(block.get("disclaimer") or ""), 120),
        fontsize=8,
        va="top",
        color="#8a1c1c",
    )
    limits = _research_limits()
    if limits:
        fig.text(0.05, 0.65, "Limits (from the model card)", fontsize=9, weight="bold", va="top")
        fig.text(
            0.05,
            0.63,
            "\n".join(_wrap("- " + t, 130) for t in limits),
            fontsize=7,
            va="top",
            linespacing=1.5,
        )


def _research_limits() -> list[str]:
    """The shipped research model card's limits (empty if the card cannot be read)."""
    import json
    from importlib import resources

    from addictidx.models.research import RESEARCH_CARD_STEM

    try:
        ref = resources.files("addictidx.models").joinpath(f"{RESEARCH_CARD_STEM}.json")
        return [str(x) for x in json.loads(ref.read_text(encoding="utf-8")).get("limits", [])]
    except (OSError, ValueError):
        return []


def write_pdf(rc: ReportContent, path: str | Path) -> Path:
    """Write the report as a PDF and return its path."""
    from matplotlib.backends.backend_pdf import PdfPages

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = render_pages(rc)
    with PdfPages(
        path,
        metadata={
            "Title": f"addictidx report {rc.subject} #{rc.session['id']}",
            "Creator": rc.software,
        },
    ) as pdf:
        for fig in pages:
            pdf.savefig(fig)
    return path
