"""The session report as one self-contained HTML page (plots embedded as PNG, no scripts).

Same content and order as the PDF (:mod:`addictidx.report.pdf`): header and quality, index with
contributions and confidence, trend, suggestion and rationale, events and safety events, RR
tachogram, Poincaré plot, HRV table (Kubios names), EEG spectra and band powers, settings, and the
intended-use statement.
"""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

from addictidx.report.content import FEATURE_LABELS, ReportContent, fmt_value

__all__ = ["render_html", "write_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:1.5rem auto;
padding:0 1rem;color:#222;line-height:1.4}
h1{color:#1f4e79;font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;border-bottom:1px solid #ccc;
padding-bottom:.2rem;margin-top:1.6rem}.meta{color:#444;font-size:.9rem}
.sim{background:#fff4d6;padding:.1rem .4rem;border-radius:.2rem}
.index{display:flex;gap:1.5rem;align-items:center}.big{font-size:3rem;font-weight:700}
.band-low{color:#4c9a5b}.band-elevated{color:#e0a030}.band-high{color:#c8453c}
table{border-collapse:collapse;font-size:.85rem}td,th{padding:.15rem .6rem;text-align:left;
border-bottom:1px solid #eee}td.num{text-align:right;font-family:ui-monospace,monospace}
img{max-width:100%}.two{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.use{font-size:.8rem;color:#333;border-top:1px solid #ccc;margin-top:2rem;padding-top:.5rem}
.never{color:#8a1c1c}.settings{font-size:.8rem;color:#444}
.research{border:2px dashed #8a6d3b;background:#fbf7ee;padding:.3rem .8rem;margin-top:1.2rem}
.research .tag{background:#8a6d3b;color:#fff;padding:.05rem .4rem;border-radius:.2rem;font-size:.8rem}
"""


def _png(draw, rc: ReportContent, size: tuple[float, float]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    ax = fig.add_subplot(1, 1, 1)
    draw(ax, rc)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _rng(v, unit: str) -> str:
    return "–" if v is None else f"{v[0]}–{v[1]} {unit}"


def _research_html(block: dict) -> str:
    """The research classifier's block: its own boxed section, label and disclaimer."""
    e = escape
    p = block.get("probability")
    if p is None:
        value = f"not computed ({e(str(block.get('reason') or ''))})"
    else:
        value = (
            f"<b>score {p:.2f}</b> = probability of the UCI training class "
            f"'{e(str(block.get('positive_class')))}' · mean over "
            f"{int(block.get('n_epochs') or 0)} 1-s epochs of eyes-closed EEG"
        )
    return (
        "<section class='research' data-section='research'>"
        "<h2><span class='tag'>research</span> Research classifier – not part of the index</h2>"
        f"<p>{value}<br>model {e(str(block.get('model_id')))} "
        f"v{e(str(block.get('model_version')))}</p>"
        f"<p class='never'>{e(str(block.get('disclaimer') or ''))}</p></section>"
    )


def render_html(rc: ReportContent) -> str:
    """The report as an HTML string."""
    from addictidx.report import explain
    from addictidx.report.figures import (
        draw_band_bars,
        draw_contributions,
        draw_eeg_quality,
        draw_hrv_spectrum,
        draw_intervention,
        draw_poincare,
        draw_rr_histogram,
        draw_spectra,
        draw_tachogram,
        draw_trend,
    )
    from addictidx.report.pdf import footer_lines, quality_lines, rx_lines

    e = escape
    idx = rc.index or {}
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>addictidx report {e(rc.subject)} #{rc.session['id']}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Assessment report – physiological deviation index</h1>",
        f"<p class='meta'>Subject <b>{e(rc.subject)}</b> · session #{rc.session['id']} · "
        f"{e(rc.date)} UTC · protocol {e(rc.protocol)} · {e(rc.software)}"
        + (
            " · <span class='sim'>simulated devices (replayed real recordings)</span>"
            if rc.simulated
            else ""
        )
        + "<br>Devices: "
        + e(", ".join(f"{k}: {v}" for k, v in rc.devices.items()) or "-")
        + (" (firmware: not reported by simulated devices)" if rc.simulated else "")
        + "</p>",
        f"<p class='never'><b>{e(explain.DECISION_SUPPORT)}</b></p>",
        "<h2>Signal quality and artefacts</h2>",
    ]
    parts += [f"<p>{e(t)}</p>" for t in quality_lines(rc)]
    parts.append(
        f"<img alt='EEG quality per channel' src='{_png(draw_eeg_quality, rc, (6, 1.8))}'>"
    )

    parts.append("<h2>Addiction index (physiological deviation, 0–100)</h2>")
    if idx.get("index") is None:
        parts.append(f"<p><b>Not computed.</b> {e(str(idx.get('reason') or ''))}</p>")
    else:
        band = e(str(idx.get("band")))
        base = "own baseline" if idx.get("baseline") == "personal" else "<b>POPULATION</b> norms"
        parts.append(
            f"<div class='index'><div class='big band-{band}'>{idx['index']:.0f}</div><div>"
            f"<b class='band-{band}'>{band.upper()}</b><br>Z = {idx['z']:+.2f}, confidence "
            f"{idx['confidence']:.2f}<br>compared with {base}; "
            f"{idx.get('n_baseline_sessions', 0)} baseline sessions<br>model "
            f"{e(str(idx.get('model_id')))} v{e(str(idx.get('model_version')))}</div></div>"
        )
        parts.append(f"<img alt='contributions' src='{_png(draw_contributions, rc, (7, 2.2))}'>")
        words = [explain.reference_frame_words(idx), explain.confidence_words(idx, rc.quality)]
        words += explain.feature_sentences(idx, rc.features, rc.reference)
        words.append(explain.index_sum_sentence(idx))
        parts.append("<h3>What the number means</h3><ul>")
        parts += [f"<li>{e(w)}</li>" for w in words if w]
        parts.append("</ul>")
    feats = rc.features or {}
    parts.append("<table><tr><th>feature (scored rest phases)</th><th>value</th></tr>")
    for k, v in feats.items():
        unit = explain.FEATURE_WORDS.get(k, ("", "", 0))[1]
        parts.append(
            f"<tr><td>{e(FEATURE_LABELS.get(k, k))}</td>"
            f"<td class='num'>{fmt_value(v, unit=unit)}</td></tr>"
        )
    parts.append("</table>")
    parts.append("<h2>Trend across this person's sessions</h2>")
    parts.append(
        "<p>A dashed break marks a change of reference frame (population norms to own "
        "baseline): scores on either side are not comparable.</p>"
    )
    parts.append(f"<img alt='trend' src='{_png(draw_trend, rc, (8, 2.6))}'>")

    parts.append("<h2>Suggestion for staff and participant (not an order)</h2>")
    parts += [f"<p>{e(t)}</p>" for t in rx_lines(rc)]
    if rc.intervention is not None:
        parts.append("<h2>Guided intervention: heart rate against the target zone</h2>")
        parts.append(
            f"<img alt='intervention heart rate' src='{_png(draw_intervention, rc, (9, 2.6))}'>"
        )

    parts.append("<h2>Events and safety</h2>")
    parts.append(f"<p>Session outcome: <b>{e(explain.session_outcome(rc.session))}</b>.</p>")
    parts.append("<h3>Safety events</h3><ol>")
    parts += [f"<li>{e(explain.safety_sentence(ev))}</li>" for ev in rc.safety_events]
    parts.append("</ol>" + ("" if rc.safety_events else "<p>None.</p>"))
    sentences = [s for s in (explain.event_sentence(ev) for ev in rc.events) if s]
    parts.append("<h3>Events</h3><ul>")
    parts += [f"<li>{e(s)}</li>" for s in sentences]
    parts.append("</ul>" + ("" if sentences else "<p>None.</p>"))

    parts.append("<h2>Heart-rate variability (Kubios names and conventions)</h2>")
    parts.append(f"<img alt='RR tachogram' src='{_png(draw_tachogram, rc, (9, 2.6))}'>")
    parts.append("<div class='two'><div>")
    parts.append(f"<img alt='RR histogram' src='{_png(draw_rr_histogram, rc, (4, 3.4))}'>")
    parts.append(
        f"</div><div><img alt='Poincaré plot' src='{_png(draw_poincare, rc, (4, 3.4))}'>"
        "</div></div>"
    )
    parts.append(f"<img alt='HRV spectrum' src='{_png(draw_hrv_spectrum, rc, (9, 2.6))}'>")
    parts.append("<table><tr><th>Kubios name</th><th>value</th><th>unit</th><th>code</th></tr>")
    for label, val, unit, code in rc.hrv_rows():
        parts.append(
            f"<tr><td>{e(label)}</td><td class='num'>{e(val)}</td><td>{e(unit)}</td>"
            f"<td><code>{e(code)}</code></td></tr>"
        )
    parts.append("</table>")

    parts.append("<h2>EEG, eyes closed</h2>")
    parts.append(f"<img alt='EEG spectra' src='{_png(draw_spectra, rc, (8, 3))}'>")
    parts.append(f"<img alt='EEG band power' src='{_png(draw_band_bars, rc, (8, 2.6))}'>")
    if rc.band_powers:
        bands = ("delta", "theta", "alpha", "beta")
        parts.append(
            "<table><tr><th>channel</th>"
            + "".join(f"<th>{b} µV² (rel.)</th>" for b in bands)
            + "</tr>"
        )
        for ch, bp in rc.band_powers.items():
            parts.append(
                f"<tr><td>{e(ch)}</td>"
                + "".join(
                    f"<td class='num'>{bp[b][0]:.1f} ({100 * bp[b][1]:.0f} %)</td>" for b in bands
                )
                + "</tr>"
            )
        parts.append("</table>")

    parts.append("<h2>Settings</h2><ul class='settings'>")
    parts += [f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in rc.settings]
    parts.append("</ul>")
    if rc.research is not None:
        parts.append(_research_html(rc.research))
    parts.append("<div class='use'>")
    parts += [
        f"<p class='{'never' if c == '#8a1c1c' else ''}'>{'<b>' if b else ''}{e(t)}"
        f"{'</b>' if b else ''}</p>"
        for t, c, b in footer_lines(rc, wrap=False)
    ]
    parts.append("</div></body></html>")
    return "\n".join(parts)


def write_html(rc: ReportContent, path: str | Path) -> Path:
    """Write the report as one HTML file and return its path (atomically, owner-only)."""
    from addictidx.store.files import private_dir, write_atomic

    path = Path(path)
    private_dir(path.parent)
    return write_atomic(path, render_html(rc).encode("utf-8"))
