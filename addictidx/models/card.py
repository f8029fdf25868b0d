"""Model cards (Markdown + JSON) and reliability diagrams (SVG) for research classifiers.

The card states the data, the training population, metrics with 95 % CIs, calibration, intended
use and limits, and the research label of EVIDENCE.md §7(ii) step 6: the classifier's
probability is shown *beside* the addiction index, labelled "research", and never fused into it.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = [
    "RESEARCH_LABEL",
    "INTENDED_USE_RESEARCH",
    "LIMITS_COMMON",
    "card_markdown",
    "reliability_svg",
    "write_model_card",
]

RESEARCH_LABEL = "research"
INTENDED_USE_RESEARCH = (
    "Research output only (EVIDENCE.md §7(ii) step 6): a probability from a classifier trained "
    "on a labelled research data set, shown beside the addiction index (physiological deviation "
    "index) and labelled 'research', never fused into the index, never used on its own. Off by "
    "default. For researchers checking the training pipeline and the honesty of subject-wise "
    "validation."
)
LIMITS_COMMON = (
    "Not a diagnosis, drug test or screen: it must not be used to decide anything about a person "
    "(care, release, discipline, privileges, rankings; EVIDENCE.md §7(v)).",
    "Validated only by subject-wise cross-validation on the training data; no external or "
    "prospective validation exists, so no accuracy claim for any other population or device.",
    "Few subjects: the 95 % CI of the subject-level AUC is wide; treat the point estimate with "
    "caution.",
    "Calibration (Platt) is estimated on the training population; probabilities do not transfer "
    "to another prevalence, device or setting.",
)
UCI_LIMITS = (
    "Pipeline demonstration, not a deployable screen: UCI is a 1990s 64-channel wet-electrode "
    "lab EEG of a visual ERP task (1-s post-stimulus epochs), not resting Muse EEG.",
    "TP7/TP8 stand in for the Muse TP9/TP10 (different sites); AF7/AF8 are cap electrodes, not "
    "dry headband sensors.",
    "Alcohol use disorder only; nothing here transfers to methamphetamine, heroin or other "
    "substances, to women, adolescents or older adults, or to people in rehabilitation.",
    "Labels are group membership (alcoholic vs control) of 20 people; with this few subjects the "
    "model may partly learn who the people are rather than the condition.",
)


def _fmt(v, nd: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _ci(ci) -> str:
    if not ci or ci[0] is None:
        return "n/a"
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def card_markdown(card: dict) -> str:
    """Render a card dict (see :func:`write_model_card`) as Markdown."""
    m = card["metrics"]
    lines = [
        f"# Model card: {card['model_id']} v{card['model_version']}",
        "",
        f"**Label: {card['label'].upper()}.** {card['intended_use']}",
        "",
    ]
    for w in card.get("warnings", []):
        lines += [f"> **Warning:** {w}", ""]
    lines += [
        "## Data",
        "",
        f"- Dataset: `{card['data']['dataset']}`; {card['data']['source']}",
        f"- Training-data SHA-256: `{card['data']['sha256']}`",
        f"- Subjects: {m['n_subjects']} ({card['data']['n_positive_subjects']} "
        f"{card['data']['classes'][1]}, {card['data']['n_negative_subjects']} "
        f"{card['data']['classes'][0]}); trials: {m['n_trials']}",
        f"- Classes: 0 = {card['data']['classes'][0]}, 1 = {card['data']['classes'][1]} "
        "(the model outputs P(class 1))",
        "",
        "## Training population",
        "",
        card["population"],
        "",
        "## Features",
        "",
        card["features"]["description"],
        "",
        "| # | name | unit |",
        "|---|---|---|",
    ]
    for i, (n, u) in enumerate(zip(card["features"]["names"], card["features"]["units"])):
        lines.append(f"| {i} | `{n}` | {u} |")
    t = card["training"]
    lines += [
        "",
        "## Training and validation",
        "",
        f"- Pipeline: {t['pipeline']}",
        f"- Validation: {t['validation']}",
        f"- Seed: {t['seed']}; C grid {t['C_grid']}; C chosen per outer fold "
        f"{t['chosen_C_outer']}; final model C = {t['final_C']}",
        f"- Platt sigmoid of the final model: p = 1 / (1 + exp(a d + b)), "
        f"a = {_fmt(t.get('platt_sigmoid', {}).get('a'), 4)}, "
        f"b = {_fmt(t.get('platt_sigmoid', {}).get('b'), 4)} (d = logistic-regression decision "
        "value)",
        "",
        "## Metrics (held-out subjects, nested subject-wise CV)",
        "",
        "| metric | value | 95 % CI |",
        "|---|---|---|",
        f"| AUC, subject level (mean probability per subject) | {_fmt(m['auc'])} | "
        f"{_ci(m['auc_ci95'])} |",
        f"| AUC, trial level | {_fmt(m['auc_trial'])} | {_ci(m['auc_trial_ci95'])} |",
        f"| Balanced accuracy, trial level (threshold 0.5) | {_fmt(m['balanced_accuracy'])} | |",
        f"| Balanced accuracy, subject level | {_fmt(m['balanced_accuracy_subject'])} | |",
        f"| Brier score, trial level | {_fmt(m['brier'])} | |",
        f"| Brier score, subject level | {_fmt(m['brier_subject'])} | |",
        f"| ECE ({len(m['reliability'])} equal-width bins), trial level | {_fmt(m['ece'])} | |",
        "",
        f"Subject-level AUC of each CV repeat: {[round(a, 3) for a in m.get('auc_repeats', [])]}. "
        f"CIs: percentile bootstrap ({m['n_boot']} resamples) over subjects (stratified by "
        "class for the subject-level AUC; whole subjects with all their trials for the "
        "trial-level AUC).",
        "",
        "### Reliability diagram (trial level)",
        "",
        "| bin | n | mean predicted | fraction positive |",
        "|---|---|---|---|",
    ]
    for r in m["reliability"]:
        lines.append(
            f"| {r['lo']:.1f}-{r['hi']:.1f} | {r['n']} | {_fmt(r['mean_predicted'])} | "
            f"{_fmt(r['fraction_positive'])} |"
        )
    if card.get("files", {}).get("reliability_plot"):
        lines += ["", f"Plot: `{card['files']['reliability_plot']}`"]
    lines += ["", "## Intended use", "", card["intended_use"], "", "## Limits", ""]
    lines += [f"- {x}" for x in card["limits"]]
    lines += ["", "## Software", ""]
    lines += [f"- {k} {v}" for k, v in card["library_versions"].items()]
    return "\n".join(lines) + "\n"


def reliability_svg(reliability: list[dict], *, title: str = "Reliability (trial level)") -> str:
    """A self-contained SVG reliability diagram: fraction positive vs mean predicted per bin.

    Dot area follows the number of trials in the bin; the diagonal is perfect calibration.
    """
    size, pad = 320, 40
    span = size - 2 * pad

    def xy(px: float, py: float) -> tuple[float, float]:
        return pad + px * span, size - pad - py * span

    n_max = max([r["n"] for r in reliability] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" font-family="sans-serif" font-size="11">',
        f"<title>{title}</title>",
        f'<rect x="{pad}" y="{pad}" width="{span}" height="{span}" fill="none" stroke="#444"/>',
        f'<line x1="{xy(0, 0)[0]}" y1="{xy(0, 0)[1]}" x2="{xy(1, 1)[0]}" y2="{xy(1, 1)[1]}" '
        'stroke="#999" stroke-dasharray="4 3"/>',
    ]
    for t in (0.0, 0.5, 1.0):
        x, y0 = xy(t, 0)
        parts.append(f'<text x="{x:.1f}" y="{y0 + 14:.1f}" text-anchor="middle">{t:.1f}</text>')
        x0, y = xy(0, t)
        parts.append(f'<text x="{x0 - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{t:.1f}</text>')
    parts.append(
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">mean predicted '
        "probability</text>"
    )
    parts.append(
        f'<text x="12" y="{size / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {size / 2})">fraction positive</text>'
    )
    parts.append(f'<text x="{size / 2}" y="20" text-anchor="middle">{title}</text>')
    pts = [r for r in reliability if r["n"]]
    if pts:
        path = " ".join(
            f"{xy(r['mean_predicted'], r['fraction_positive'])[0]:.1f},"
            f"{xy(r['mean_predicted'], r['fraction_positive'])[1]:.1f}"
            for r in pts
        )
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f77b4"/>')
    for r in pts:
        cx, cy = xy(r["mean_predicted"], r["fraction_positive"])
        rad = 2.0 + 6.0 * (r["n"] / n_max) ** 0.5
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{rad:.1f}" fill="#1f77b4">'
            f"<title>{r['lo']:.1f}-{r['hi']:.1f}: n={r['n']}</title></circle>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_model_card(
    card: dict, out_dir: str | Path, stem: str = "model_card"
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pj = out_dir / f"{stem}.json"
    pm = out_dir / f"{stem}.md"
    pj.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    pm.write_text(card_markdown(card), encoding="utf-8")
    return pj, pm
