"""The session report as an A4 PDF (matplotlib, Agg, ``PdfPages``), read like a Kubios HRV report
plus the index.

Order: signal quality (artefact %, per-channel EEG quality); the index with its reference frame,
confidence and each feature's part in words; the trend (a change of reference frame is a
labelled break); the suggestion; the guided intervention's heart rate against its zone with every
safety event in words; events as sentences; then the HRV pages (tachogram with corrected beats,
RR histogram, Poincaré plot with the SD1/SD2 ellipse, spectrum with VLF/LF/HF shaded, the Kubios
table) and the EEG (spectra, band-power bars and table), the settings; the research classifier
only when it was enabled, on a page of its own. Blocks flow over as many pages as they need
(:mod:`addictidx.report.layout`): no text crosses a rule. Every page ends with the intended-use
statement and the line that the index is decision support, never a diagnosis.
"""

from __future__ import annotations

from pathlib import Path

from addictidx.report import explain
from addictidx.report.content import FEATURE_LABELS, ReportContent, fmt_value
from addictidx.report.layout import (
    MARGIN_X,
    PAGE_H,
    PAGE_W,
    Block,
    figure_block,
    line_height,
    paginate,
    text_block,
    wrap_lines,
)

__all__ = [
    "write_pdf",
    "render_pages",
    "report_blocks",
    "layout",
    "footer_lines",
    "quality_lines",
    "rx_lines",
]

A4 = (PAGE_W, PAGE_H)
_BLUE = "#1f4e79"
_MAX_LINES = 55  # a text block longer than this continues on the next page


def _axes(fig, rect, pad=(0.75, 0.42, 0.25, 0.28)):
    """One axes in a block's rect, leaving ``pad`` inches (left, bottom, right, top)."""
    x, y, w, h = rect
    pl, pb, pr, pt = pad[0] / PAGE_W, pad[1] / PAGE_H, pad[2] / PAGE_W, pad[3] / PAGE_H
    return fig.add_axes([x + pl, y + pb, w - pl - pr, h - pb - pt])


def _split(rect, fractions):
    """Split a rect horizontally into parts of the given width fractions."""
    x, y, w, h = rect
    out, x0 = [], x
    for f in fractions:
        out.append((x0, y, w * f, h))
        x0 += w * f
    return out


# -- header and footer ----------------------------------------------------------------------
def _header(fig, rc: ReportContent, title: str) -> None:
    x = MARGIN_X / PAGE_W
    fig.text(x, 1 - 0.30 / PAGE_H, title, fontsize=13, weight="bold", color=_BLUE, va="top")
    fig.text(
        x,
        1 - 0.56 / PAGE_H,
        f"Subject {rc.subject} · session #{rc.session['id']} · {rc.date} UTC · "
        f"protocol {rc.protocol}",
        fontsize=7.5,
        va="top",
    )
    dev = ", ".join(f"{k}: {v}" for k, v in rc.devices.items()) or "-"
    sim = " · SIMULATED devices replaying real recordings (no firmware)" if rc.simulated else ""
    fig.text(x, 1 - 0.70 / PAGE_H, f"Devices {dev}{sim}", fontsize=7, va="top", color="#444444")
    fig.add_artist(_rule(0.86))


def footer_lines(rc: ReportContent, *, wrap: bool = True) -> list[tuple[str, str, bool]]:
    """The footer's lines as ``(text, colour, bold)`` (wrapped for the PDF unless ``wrap``
    is False)."""
    w = PAGE_W - 2 * MARGIN_X

    def lines(t):
        return wrap_lines(t, 5.6, w) if wrap else [t]

    out = [(explain.DECISION_SUPPORT, "#8a1c1c", True)]
    out += [(t, "#333333", False) for t in lines("Intended use: " + rc.intended_use)]
    out += [(t, "#8a1c1c", False) for t in lines("Never: " + rc.not_for)]
    return out


def _footer(fig, rc: ReportContent, page: int, n_pages: int) -> None:
    top = PAGE_H - 1.25 + 0.08
    fig.add_artist(_rule(PAGE_H - 1.25))
    y = top
    for text, color, bold in footer_lines(rc):
        fig.text(
            MARGIN_X / PAGE_W,
            1 - y / PAGE_H,
            text,
            fontsize=6.2 if bold else 5.6,
            va="top",
            color=color,
            weight="bold" if bold else "normal",
        )
        y += line_height(6.2 if bold else 5.6)
    fig.text(
        1 - MARGIN_X / PAGE_W,
        0.15 / PAGE_H,
        f"addictidx · {rc.software} · page {page}/{n_pages}",
        fontsize=5.5,
        ha="right",
        color="#777777",
    )


def _rule(y_in: float):
    from matplotlib.lines import Line2D

    x0, x1 = MARGIN_X / PAGE_W, 1 - MARGIN_X / PAGE_W
    y = 1 - y_in / PAGE_H
    return Line2D([x0, x1], [y, y], color="#bbbbbb", lw=0.6)


# -- blocks ---------------------------------------------------------------------------------
def quality_lines(rc: ReportContent) -> list[str]:
    q = rc.quality or {}
    pc = q.get("per_channel") or {}
    eeg = [(k, v) for k, v in pc.items() if k != "rr" and v is not None]
    rr = pc.get("rr")
    lines = []
    if rc.rr_corrected_pct is not None:
        lines.append(
            f"Heart: {rc.rr_corrected_pct:.1f} % of beats in the scored phases were rejected as "
            "artefacts (ectopic or missed beats) and left out, not interpolated"
            + ("" if rr is None else f"; {100 * rr:.1f} % accepted overall.")
        )
    elif rr is not None:
        lines.append(f"Heart: {100 * rr:.1f} % of beats accepted.")
    else:
        lines.append("Heart: no RR intervals recorded.")
    if eeg:
        lines.append(
            "EEG: "
            + ", ".join(f"{k} {100 * v:.0f} %" for k, v in eeg)
            + " of 2-s epochs passed the artefact checks (60 % needed per channel); "
            + "the rest are artefacts ("
            + ", ".join(f"{k} {100 - 100 * v:.0f} %" for k, v in eeg)
            + ")."
        )
    lines.append(
        "Usable for the index: "
        + ("yes." if q.get("usable") else "NO - " + "; ".join(q.get("reasons") or []) + ".")
    )
    return lines


def _index_blocks(rc: ReportContent) -> list[Block]:
    from addictidx.report.figures import BAND_COLORS, draw_contributions

    idx = rc.index or {}
    title = "Addiction index (physiological deviation, 0-100)"
    if idx.get("index") is None:
        return text_block(title, ["Not computed. " + str(idx.get("reason") or "")], size=8)
    color = BAND_COLORS.get(idx.get("band"), "#555555")
    big, band = f"{idx['index']:.0f}", str(idx.get("band") or "").upper()
    side = [
        f"Z = {idx['z']:+.2f} · confidence {idx['confidence']:.2f}",
        f"compared with {'own baseline' if idx.get('baseline') == 'personal' else 'POPULATION'}",
        f"{idx.get('n_baseline_sessions', 0)} baseline sessions",
        f"model v{idx.get('model_version')}",
    ]

    def draw(fig, rect):
        x, y, w, h = rect
        top = y + h
        fig.text(x, top, title, fontsize=9, weight="bold", va="top", color=_BLUE)
        fig.text(x, top - 0.25 / PAGE_H, big, fontsize=36, weight="bold", color=color, va="top")
        fig.text(
            x + 1.05 / PAGE_W,
            top - 0.30 / PAGE_H,
            band,
            fontsize=13,
            weight="bold",
            color=color,
            va="top",
        )
        for k, t in enumerate(side):
            fig.text(x + 1.05 / PAGE_W, top - (0.56 + 0.13 * k) / PAGE_H, t, fontsize=7, va="top")
        r = _split(rect, (0.52, 0.48))[1]
        draw_contributions(_axes(fig, r, pad=(1.45, 0.38, 0.62, 0.22)), rc)

    blocks = [figure_block(1.35, draw, text="\n".join([title, big, band, *side]), name="index")]
    words = [explain.reference_frame_words(idx), explain.confidence_words(idx, rc.quality)]
    words += explain.feature_sentences(idx, rc.features, rc.reference)
    words.append(explain.index_sum_sentence(idx))
    blocks += text_block("What the number means", words, size=7, name="index-words")
    return blocks


def _trend_block(rc: ReportContent) -> Block:
    from addictidx.report.figures import draw_trend

    title = "Trend across this person's sessions (a dashed break = the reference changed)"

    def draw(fig, rect):
        x, y, w, h = rect
        fig.text(x, y + h, title, fontsize=9, weight="bold", va="top", color=_BLUE)
        draw_trend(_axes(fig, rect, pad=(0.6, 0.3, 0.2, 0.45)), rc)

    return figure_block(1.75, draw, text=title, name="trend")


def rx_lines(rc: ReportContent) -> list[str]:
    rx = rc.prescription
    if not rx:
        return ["No suggestion (no resting heart rate, or no age or measured HRmax)."]

    def rng(v, unit):
        return "-" if v is None else f"{v[0]}-{v[1]} {unit}"

    return [
        f"{rx['activity']} · state {str(rx['state']).upper()}",
        f"Intensity {rng(rx.get('intensity_pct_hrr'), '% HRR')} · target HR "
        f"{rng(rx.get('hr_target_bpm'), 'bpm')} · {rng(rx.get('duration_min'), 'min')} · "
        f"music {rng(rx.get('music_bpm'), 'bpm')}",
        f"Why ({rx['rule_id']}): {rx['rationale']}",
    ]


def _intervention_blocks(rc: ReportContent) -> list[Block]:
    from addictidx.report.figures import draw_intervention

    if rc.intervention is None:
        return []
    title = "Guided intervention: heart rate against the target zone"

    def draw(fig, rect):
        x, y, w, h = rect
        fig.text(x, y + h, title, fontsize=9, weight="bold", va="top", color=_BLUE)
        draw_intervention(_axes(fig, rect, pad=(0.6, 0.42, 0.2, 0.3)), rc)

    return [figure_block(1.9, draw, text=title, name="intervention")]


def _events_blocks(rc: ReportContent) -> list[Block]:
    safety = [f"S{k + 1}. " + explain.safety_sentence(e) for k, e in enumerate(rc.safety_events)]
    lines = [f"Session outcome: {explain.session_outcome(rc.session)}.", "Safety events:"]
    lines += safety or ["None."]
    ev = [s for s in (explain.event_sentence(e) for e in rc.events) if s]
    lines += ["Events:"] + (ev or ["None."])
    return text_block("Events and safety", lines, size=7, name="events", max_lines=_MAX_LINES)


def _hrv_blocks(rc: ReportContent) -> list[Block]:
    from addictidx.report.figures import (
        draw_hrv_spectrum,
        draw_poincare,
        draw_rr_histogram,
        draw_tachogram,
    )

    def tach(fig, rect):
        draw_tachogram(_axes(fig, rect, pad=(0.6, 0.4, 0.2, 0.25)), rc)

    def hist_poincare(fig, rect):
        a, b = _split(rect, (0.5, 0.5))
        draw_rr_histogram(_axes(fig, a, pad=(0.6, 0.4, 0.25, 0.25)), rc)
        draw_poincare(_axes(fig, b, pad=(0.6, 0.4, 0.25, 0.25)), rc)

    def spectrum(fig, rect):
        draw_hrv_spectrum(_axes(fig, rect, pad=(0.75, 0.4, 0.2, 0.25)), rc)

    n_rej = 0 if rc.rr_ok is None else int((~rc.rr_ok).sum())
    head = text_block(
        "Heart-rate variability (Kubios names and conventions)",
        [
            f"Accepted beats of the scored rest phases; {n_rej} rejected beats are marked x in "
            "the tachogram and left out of every number below."
        ],
        size=7,
        name="hrv-head",
        new_page=True,
    )
    rows = rc.hrv_rows()
    half = (len(rows) + 1) // 2
    table = []
    for (l1, v1, u1, _), right in zip(rows[:half], rows[half:] + [("", "", "", "")]):
        l2, v2, u2, _ = right
        table.append(f"{l1:<24}{v1:>10} {u1:<10}  {l2:<24}{v2:>10} {u2}")
    return [
        *head,
        figure_block(1.55, tach, text="RR tachogram", name="tachogram"),
        figure_block(2.45, hist_poincare, text="RR histogram Poincaré plot", name="poincare"),
        figure_block(1.75, spectrum, text="HRV spectrum", name="hrv-spectrum"),
        *text_block("HRV table", table, size=6.5, mono=True, name="hrv-table"),
    ]


def _eeg_blocks(rc: ReportContent) -> list[Block]:
    from addictidx.report.figures import draw_band_bars, draw_eeg_quality, draw_spectra

    def spectra(fig, rect):
        a, b = _split(rect, (0.6, 0.4))
        draw_spectra(_axes(fig, a, pad=(0.65, 0.4, 0.2, 0.3)), rc)
        draw_eeg_quality(_axes(fig, b, pad=(0.55, 0.4, 0.15, 0.3)), rc)

    def bars(fig, rect):
        draw_band_bars(_axes(fig, rect, pad=(0.6, 0.45, 0.2, 0.25)), rc)

    lines = []
    if rc.band_powers:
        bands = ("delta", "theta", "alpha", "beta")
        lines.append(f"{'channel':<9}" + "".join(f"{b + ' µV² (rel.)':>22}" for b in bands))
        for ch, bp in rc.band_powers.items():
            lines.append(
                f"{ch:<9}"
                + "".join(f"{f'{bp[b][0]:.1f} ({100 * bp[b][1]:.0f} %)':>22}" for b in bands)
            )
    else:
        lines.append("No usable EEG.")
    return [
        *text_block(
            "EEG, eyes closed",
            ["Welch spectra per channel over the eyes-closed phase; quality per channel."],
            size=7,
            name="eeg-head",
        ),
        figure_block(2.1, spectra, text="EEG spectra", name="eeg-spectra"),
        figure_block(1.7, bars, text="EEG band power", name="band-bars"),
        *text_block(
            "Band power (absolute µV², relative to 1-25 Hz)",
            lines,
            size=6.5,
            mono=True,
            name="band-table",
        ),
    ]


def report_blocks(rc: ReportContent) -> list[tuple[str, list[Block]]]:
    """The report's blocks in order, grouped by page title (a new title starts a page)."""
    feats = rc.features or {}
    units = {k: w[1] for k, w in explain.FEATURE_WORDS.items()}
    ftxt = "; ".join(
        f"{FEATURE_LABELS.get(k, k)} {fmt_value(v, unit=units.get(k, ''))}"
        for k, v in feats.items()
    )
    summary = [
        *text_block("Signal quality and artefacts", quality_lines(rc), size=7, name="quality"),
        *_index_blocks(rc),
        *text_block(None, ["Features (scored rest phases): " + ftxt], size=6.5, name="features"),
        _trend_block(rc),
        *text_block(
            "Suggestion for staff and participant (not an order)",
            rx_lines(rc),
            size=7,
            name="prescription",
        ),
        *_intervention_blocks(rc),
        *_events_blocks(rc),
    ]
    sett = [f"{k}: {v}." for k, v in rc.settings]
    physiology = [
        *_hrv_blocks(rc),
        *_eeg_blocks(rc),
        *text_block("Settings", sett, size=6, name="settings"),
    ]
    out = [
        ("Assessment report - physiological deviation index", summary),
        ("Heart-rate variability and EEG", physiology),
    ]
    if rc.research is not None:
        out.append(("RESEARCH output - not part of the index", _research_blocks(rc.research)))
    return out


def layout(rc: ReportContent):
    """``[(page title, Page)]``: every block placed (see
    :func:`~addictidx.report.layout.paginate`)."""
    pages = []
    for title, blocks in report_blocks(rc):
        blocks[0].new_page = True
        for p in paginate(blocks):
            pages.append((title, p))
    return pages


def render_pages(rc: ReportContent) -> list:
    """Build the report's pages as matplotlib ``Figure`` objects (no pyplot)."""
    from matplotlib.figure import Figure

    placed = layout(rc)
    figs = []
    for k, (title, page) in enumerate(placed, start=1):
        fig = Figure(figsize=A4)
        _header(fig, rc, title)
        for block, top in page.blocks:
            block.draw(fig, top)
        for y in page.rules:
            fig.add_artist(_rule(y))
        _footer(fig, rc, k, len(placed))
        figs.append(fig)
    return figs


def _research_blocks(block: dict) -> list[Block]:
    """The research classifier: label, probability, disclaimer, the model card's limits."""
    p = block.get("probability")
    value = (
        f"not computed ({block.get('reason')})"
        if p is None
        else f"Score {p:.2f} = probability of the UCI training class "
        f"'{block.get('positive_class')}', mean over {block.get('n_epochs')} 1-s epochs of "
        "eyes-closed EEG."
    )
    lines = [
        "RESEARCH - shown beside the index, never fused into it.",
        value,
        f"Model {block.get('model_id')} v{block.get('model_version')}.",
        str(block.get("disclaimer") or ""),
    ]
    out = text_block("Research classifier", lines, size=8, name="research")
    limits = _research_limits()
    if limits:
        out += text_block(
            "Limits (from the model card)", ["- " + t for t in limits], size=7, name="limits"
        )
    return out


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
    """Write the report as a PDF and return its path (atomically, owner-only: a kill never
    leaves a partial file behind)."""
    import io

    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    from addictidx.store.files import private_dir, write_atomic

    path = Path(path)
    private_dir(path.parent)
    buf = io.BytesIO()
    # TrueType (Type 42) fonts: text can be searched and copied, and boxes are exact.
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        pages = render_pages(rc)
        with PdfPages(
            buf,
            metadata={
                "Title": f"addictidx report {rc.subject} #{rc.session['id']}",
                "Creator": rc.software,
            },
        ) as pdf:
            for fig in pages:
                pdf.savefig(fig)
    return write_atomic(path, buf.getvalue())
