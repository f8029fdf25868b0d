"""The report's plots, each drawn onto a given matplotlib ``Axes`` (no pyplot, no global state).

Used by both :mod:`addictidx.report.pdf` (pages) and :mod:`addictidx.report.html` (PNG images).
"""

from __future__ import annotations

import numpy as np

from addictidx.report.content import FEATURE_LABELS, ReportContent

__all__ = [
    "draw_tachogram",
    "draw_poincare",
    "draw_rr_histogram",
    "draw_hrv_spectrum",
    "draw_spectra",
    "draw_eeg_quality",
    "draw_band_bars",
    "draw_contributions",
    "draw_trend",
    "draw_intervention",
    "trend_segments",
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


def draw_rr_histogram(ax, rc: ReportContent) -> None:
    """Histogram of the accepted RR intervals (8-ms bins, Kubios' TINN/HTI bin width)."""
    if rc.rr_ms is None or rc.rr_ok is None or not rc.rr_ok.any():
        _empty(ax, "no RR intervals")
        return
    rr = rc.rr_ms[rc.rr_ok]
    lo, hi = np.floor(rr.min() / 8) * 8, np.ceil(rr.max() / 8) * 8 + 8
    ax.hist(rr, bins=np.arange(lo, hi + 1, 8.0), color="#1f4e79", alpha=0.8)
    ax.set_xlabel("RR (ms)", fontsize=7)
    ax.set_ylabel("beats", fontsize=7)
    ax.set_title(f"RR histogram ({rr.size} accepted beats)", fontsize=8, loc="left")
    ax.tick_params(labelsize=6)


#: Kubios' HRV bands (Hz) and their shading.
HRV_BANDS = (
    ("VLF", 0.0, 0.04, "#e8e8e8"),
    ("LF", 0.04, 0.15, "#d6e4f2"),
    ("HF", 0.15, 0.4, "#f6e3cf"),
)


def draw_hrv_spectrum(ax, rc: ReportContent) -> None:
    """HRV power spectrum (Kubios convention: 4 Hz spline, Welch) with VLF/LF/HF shaded."""
    if rc.hrv_psd is None or rc.hrv_freqs is None:
        _empty(ax, "no HRV spectrum (too few beats)")
        return
    f, p = rc.hrv_freqs, rc.hrv_psd
    m = f <= 0.5
    for name, lo, hi, col in HRV_BANDS:
        sel = m & (f >= lo) & (f <= hi)
        ax.fill_between(f[sel], p[sel], color=col, lw=0)
        key = {"VLF": "hrv_vlf_ms2", "LF": "hrv_lf_ms2", "HF": "hrv_hf_ms2"}[name]
        v = rc.hrv.get(key)
        ax.text(
            (lo + hi) / 2,
            0.97,
            name + ("" if v is None else f"\n{v:.0f} ms²"),
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=6,
        )
    ax.plot(f[m], p[m], color="#1f4e79", lw=0.9)
    ax.set_xlim(0, 0.5)
    ax.set_ylim(0, float(np.nanmax(p[m])) * 1.35 if np.any(p[m] > 0) else 1)
    ax.set_xlabel("frequency (Hz)", fontsize=7)
    ax.set_ylabel("PSD (ms²/Hz)", fontsize=7)
    ax.set_title("HRV spectrum (Welch, Kubios convention)", fontsize=8, loc="left")
    ax.tick_params(labelsize=6)


def draw_eeg_quality(ax, rc: ReportContent) -> None:
    """Per-channel EEG quality (share of good 2-s epochs) against the 60 % pass line."""
    pc = {k: v for k, v in ((rc.quality or {}).get("per_channel") or {}).items() if k != "rr"}
    if not pc:
        _empty(ax, "no EEG")
        return
    names = list(pc)
    vals = [0.0 if pc[n] is None else 100.0 * float(pc[n]) for n in names]
    y = np.arange(len(names))[::-1]
    cols = ["#4c9a5b" if v >= 60 else "#c8453c" for v in vals]
    ax.barh(y, vals, color=cols, height=0.6)
    ax.axvline(60, color="#333333", lw=0.7, ls="--")
    for yi, v in zip(y, vals):
        ax.text(min(v, 100) + 1.5, yi, f"{v:.0f} %", va="center", fontsize=6)
    ax.set_xlim(0, 115)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=6.5)
    ax.set_xlabel("good 2-s epochs (%); dashed = 60 % needed", fontsize=6)
    ax.set_title("EEG quality per channel", fontsize=8, loc="left")
    ax.tick_params(axis="x", labelsize=6)


def draw_band_bars(ax, rc: ReportContent) -> None:
    """Relative band power (share of 1-25 Hz) per channel and band, eyes closed."""
    if not rc.band_powers:
        _empty(ax, "no usable EEG")
        return
    chans = list(rc.band_powers)
    bands = ("delta", "theta", "alpha", "beta")
    colors = ("#8c9fb3", "#6b8fb3", "#2f6b9a", "#c8743c")
    w = 0.8 / len(chans)
    x = np.arange(len(bands))
    for i, ch in enumerate(chans):
        vals = [100.0 * rc.band_powers[ch][b][1] for b in bands]
        ax.bar(x - 0.4 + w * (i + 0.5), vals, width=w, color=colors[i % 4], label=ch)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{b}\n{lo:g}-{hi:g} Hz" for (b, lo, hi) in _BAND_HZ], fontsize=6)
    ax.set_ylabel("% of 1-25 Hz power", fontsize=7)
    ax.legend(fontsize=6, ncol=len(chans), loc="upper right", frameon=False)
    ax.set_ylim(0, 100)
    ax.set_title("EEG band power, eyes closed (relative)", fontsize=8, loc="left")
    ax.tick_params(axis="y", labelsize=6)


_BAND_HZ = (("delta", 1, 4), ("theta", 4, 8), ("alpha", 8, 13), ("beta", 13, 25))


def draw_contributions(ax, rc: ReportContent) -> None:
    """Each feature's contribution to Z (they add up to Z): right raises, left lowers."""
    idx = rc.index
    if not idx or idx.get("index") is None:
        _empty(ax, "index not computed (see the reason)")
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
    for yi, c in zip(y, contrib):
        txt = "n/a" if c is None else ("raises" if c > 0 else "lowers" if c < 0 else "0")
        txt += "" if c is None else f" {c:+.2f}"
        ax.text(
            1.03, yi, txt, va="center", ha="left", fontsize=6, transform=ax.get_yaxis_transform()
        )
    ax.set_xlabel("contribution to Z (sum = Z); right = raises the index", fontsize=6)
    ax.set_title("What moved the index", fontsize=8, loc="left")
    ax.tick_params(axis="x", labelsize=6)


def trend_segments(rows: list[dict]) -> list[list[dict]]:
    """Split a trend into runs with the same reference frame (population / personal)."""
    segs: list[list[dict]] = []
    for r in rows:
        if segs and segs[-1][-1]["baseline"] == r["baseline"]:
            segs[-1].append(r)
        else:
            segs.append([r])
    return segs


def draw_trend(ax, rc: ReportContent) -> None:
    """The person's index across sessions; a change of reference frame is a labelled break."""
    rows = [r for r in rc.trend if r["index"] is not None]
    if not rows:
        _empty(ax, "no earlier sessions")
        return
    from addictidx.models.index import BAND_EDGES_INDEX

    lo, hi = BAND_EDGES_INDEX
    pos = {r["id"]: i + 1 for i, r in enumerate(rows)}
    ax.axhspan(0, lo, color="#eef5ef", lw=0)
    ax.axhspan(lo, hi, color="#fbf3e3", lw=0)
    ax.axhspan(hi, 100, color="#f8e5e3", lw=0)
    segs = trend_segments(rows)
    for k, seg in enumerate(segs):
        x = [pos[r["id"]] for r in seg]
        pop = seg[0]["baseline"] == "population"
        ax.plot(x, [r["index"] for r in seg], ":" if pop else "-", color="#777777", lw=0.9)
        label = "vs population norms" if pop else "vs own baseline"
        ax.text((x[0] + x[-1]) / 2, 104, label, ha="center", va="bottom", fontsize=6.5)
        if k > 0:
            xb = x[0] - 0.5
            ax.axvline(xb, color="#333333", lw=1.0, ls="--")
            ax.text(
                xb + 0.05,
                50,
                "reference changed:\nnot comparable",
                rotation=90,
                ha="left",
                va="center",
                fontsize=5.5,
                color="#333333",
            )
        for r, xi in zip(seg, x):
            cur = r["id"] == rc.session["id"]
            ax.plot(
                xi,
                r["index"],
                "s" if pop else "o",
                ms=6 if cur else 4,
                color=BAND_COLORS.get(r["band"], "#555555"),
                mec="black" if cur else "none",
                mew=1.0,
            )
    ax.set_ylim(0, 100)
    ax.set_xlim(0.5, len(rows) + 0.5)
    ax.set_xticks(range(1, len(rows) + 1))
    ax.set_xticklabels([f"#{r['id']}" for r in rows], fontsize=6)
    ax.set_ylabel("index", fontsize=7)
    ax.tick_params(labelsize=6)


def draw_intervention(ax, rc: ReportContent) -> None:
    """Heart rate during the guided intervention and recovery against the target zone, with
    every safety event marked."""
    iv = rc.intervention
    if not iv or not len(iv["t"]):
        _empty(ax, "no guided intervention in this session")
        return
    t, hr = np.asarray(iv["t"]), np.asarray(iv["hr"])
    for name, a, b in iv["phases"]:
        if b is not None:
            ax.axvspan(a, b, color="#f4f4f4" if name == "recovery" else "#ffffff", lw=0)
    if iv.get("zone"):
        zlo, zhi = iv["zone"]
        ax.axhspan(zlo, zhi, color="#d9ecd9", lw=0, label=f"zone {zlo:.0f}-{zhi:.0f} bpm")
    if iv.get("stop_bpm") is not None:
        ax.axhline(float(iv["stop_bpm"]), color="#c8453c", lw=0.8, ls="--", label="stop HR")
    ax.plot(t, hr, color="#1f4e79", lw=0.8, label="HR (beat by beat)")
    for k, e in enumerate(rc.safety_events):
        ax.axvline(e["t_s"], color="#c8453c", lw=0.8)
        ax.text(
            e["t_s"],
            0.98,
            f"S{k + 1}",
            transform=ax.get_xaxis_transform(),
            fontsize=6,
            ha="left",
            va="top",
            color="#c8453c",
        )
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel(
        "session time (s); grey = recovery; S1, S2 ... = safety events listed below", fontsize=6
    )
    ax.set_ylabel("HR (bpm)", fontsize=7)
    ax.legend(fontsize=6, loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, ncol=3)
    ax.tick_params(labelsize=6)
