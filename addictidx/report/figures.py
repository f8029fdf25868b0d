"""The report's plots, each drawn onto a given matplotlib ``Axes`` (no pyplot, no global state).

Used by both :mod:`addictidx.report.pdf` (pages) and :mod:`addictidx.report.html` (PNG images).
"""

from __future__ import annotations

import numpy as np

from addictidx.report.content import FEATURE_LABELS, ReportContent

__all__ = [
    "draw_tachogram",
    "draw_poincare",
    "draw_spectra",
    "draw_contributions",
    "draw_trend",
    "BAND_COLORS",
]

BAND_COLORS = {"low": "#4c9a5b", "elevated": "#e0a030", "high": "#c8453c"}
_PHASE_COLORS = {
    "device_check": "#dddddd",
    "eyes_closed_rest": "#dbe8f6",
    "eyes_open_rest": "#f6eedb",
}
_EEG_BANDS = (("δ", 1, 4), ("θ", 4, 8), ("α", 8, 13), ("β", 13, 25))


def _empty(ax, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=8,
        color="#777777",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def draw_tachogram(ax, rc: ReportContent) -> None:
    """RR tachogram of the scored phases; rejected (corrected) beats marked in red."""
    if rc.rr_ms is None:
        _empty(ax, "no RR intervals")
        return
    t, rr, ok = rc.rr_times, rc.rr_ms, rc.rr_ok
    for p in rc.phases:
        if p["t_end_s"] is None:
            continue
        ax.axvspan(
            p["t_start_s"],
            p["t_end_s"],
            color=_PHASE_COLORS.get(p["name"], "#eeeeee"),
            lw=0,
            zorder=0,
        )
    ax.plot(t, rr, color="#1f4e79", lw=0.8, zorder=2)
    if (~ok).any():
        ax.plot(
            t[~ok],
            rr[~ok],
            "x",
            color="#c8453c",
            ms=5,
            mew=1.2,
            zorder=3,
            label=f"rejected ({(~ok).sum()})",
        )
        ax.legend(loc="upper right", fontsize=6, frameon=False)
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("session time (s)", fontsize=7)
    ax.set_ylabel("RR (ms)", fontsize=7)
    ax.set_title(
        "RR tachogram (scored rest phases; blue = eyes closed, sand = eyes open)",
        fontsize=8,
        loc="left",
    )
    ax.tick_params(labelsize=6)


def draw_poincare(ax, rc: ReportContent) -> None:
    """Poincaré plot of accepted successive RR pairs with the SD1/SD2 ellipse."""
    if rc.rr_ms is None or rc.rr_ok is None:
        _empty(ax, "no RR intervals")
        return
    rr = np.where(rc.rr_ok, rc.rr_ms, np.nan)
    x, y = rr[:-1], rr[1:]
    m = np.isfinite(x) & np.isfinite(y)
    ax.plot(x[m], y[m], "o", ms=2.2, color="#1f4e79", alpha=0.7)
    lo, hi = np.nanmin(rr), np.nanmax(rr)
    pad = 0.05 * (hi - lo + 1)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#999999", lw=0.6)
    sd1, sd2 = rc.hrv.get("hrv_sd1_ms"), rc.hrv.get("hrv_sd2_ms")
    if sd1 and sd2 and m.any():
        c = np.nanmean(rr)
        th = np.linspace(0, 2 * np.pi, 100)
        u, v = sd2 * np.cos(th), sd1 * np.sin(th)
        ax.plot(c + (u - v) / np.sqrt(2), c + (u + v) / np.sqrt(2), color="#c8453c", lw=0.9)
        ax.text(
            0.03,
            0.95,
            f"SD1 {sd1:.1f} ms\nSD2 {sd2:.1f} ms",
            transform=ax.transAxes,
            va="top",
            fontsize=6.5,
        )
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("RR$_n$ (ms)", fontsize=7)
    ax.set_ylabel("RR$_{n+1}$ (ms)", fontsize=7)
    ax.set_title("Poincaré plot", fontsize=8, loc="left")
    ax.tick_params(labelsize=6)


def draw_spectra(ax, rc: ReportContent) -> None:
    """EEG power spectra per channel (eyes-closed phase), log scale, bands shaded."""
    if rc.eeg_psd is None:
        _empty(ax, "no usable EEG")
        return
    f = rc.eeg_freqs
    m = (f >= 1) & (f <= 30)
    for i, (name, lo, hi) in enumerate(_EEG_BANDS):
        ax.axvspan(lo, hi, color="#f2f2f2" if i % 2 else "#e6e6e6", lw=0, zorder=0)
        ax.text(
            (lo + hi) / 2,
            1.0,
            name,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    colors = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
    for i, ch in enumerate(rc.eeg_channels):
        ax.semilogy(f[m], rc.eeg_psd[i, m], lw=0.9, color=colors[i % len(colors)], label=ch)
    ax.set_xlim(1, 30)
    ax.set_xlabel("frequency (Hz)", fontsize=7)
    ax.set_ylabel("PSD (µV²/Hz)", fontsize=7)
    ax.legend(fontsize=6, ncol=4, loc="upper right", frameon=False)
    ax.set_title("EEG spectra, eyes closed (Welch)", fontsize=8, loc="left", pad=12)
    ax.tick_params(labelsize=6)


def draw_contributions(ax, rc: ReportContent) -> None:
    """Each feature's signed share of the composite Z (positive = towards hyperarousal)."""
    idx = rc.index
    if not idx or idx.get("index") is None:
        _empty(ax, "index not computed (see the reason on the left)")
        return
    names = list(idx["z_features"])
    contrib = [idx["contributions"].get(n) for n in names]
    vals = [0.0 if c is None else float(c) for c in contrib]
    y = np.arange(len(names))[::-1]
    colors = ["#c8453c" if v > 0 else "#4c9a5b" for v in vals]
    ax.barh(y, vals, color=colors, height=0.6)
    ax.axvline(0, color="#333333", lw=0.6)
    lim = max(0.5, max(abs(v) for v in vals) * 1.3)
    ax.set_xlim(-lim, lim)
    ax.set_yticks(y)
    ax.set_yticklabels([FEATURE_LABELS.get(n, n) for n in names], fontsize=6.5)
    for yi, c, n in zip(y, contrib, names):
        z = idx["z_features"].get(n)
        txt = "n/a" if c is None else f"z {z:+.2f}"
        ax.text(
            1.03, yi, txt, va="center", ha="left", fontsize=6, transform=ax.get_yaxis_transform()
        )
    ax.set_xlabel("share of Z (→ hyperarousal / low regulation)", fontsize=6)
    ax.set_title("Contributions", fontsize=8, loc="left")
    ax.tick_params(axis="x", labelsize=6)


def draw_trend(ax, rc: ReportContent) -> None:
    """The person's index across their complete sessions (this one highlighted)."""
    rows = [r for r in rc.trend if r["index"] is not None]
    if not rows:
        _empty(ax, "no earlier sessions")
        return
    from addictidx.models.index import BAND_EDGES_INDEX

    lo, hi = BAND_EDGES_INDEX
    x = np.arange(1, len(rows) + 1)
    y = np.array([r["index"] for r in rows])
    ax.axhspan(0, lo, color="#eef5ef", lw=0)
    ax.axhspan(lo, hi, color="#fbf3e3", lw=0)
    ax.axhspan(hi, 100, color="#f8e5e3", lw=0)
    ax.plot(x, y, "-", color="#999999", lw=0.8)
    for xi, r in zip(x, rows):
        cur = r["id"] == rc.session["id"]
        mk = "s" if r["baseline"] == "population" else "o"
        ax.plot(
            xi,
            r["index"],
            mk,
            ms=6 if cur else 4,
            color=BAND_COLORS.get(r["band"], "#555555"),
            mec="black" if cur else "none",
            mew=1.0,
        )
    ax.set_ylim(0, 100)
    ax.set_xlim(0.5, len(rows) + 0.5)
    ax.set_xticks(x)
    ax.set_xticklabels([f"#{r['id']}" for r in rows], fontsize=6)
    ax.set_ylabel("index", fontsize=7)
    ax.set_title(
        "Trend across this person's sessions (■ population norms, ● own baseline)",
        fontsize=8,
        loc="left",
    )
    ax.tick_params(labelsize=6)
