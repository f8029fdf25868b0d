"""EEG frequency bands and band-power features computed from a PSD.

All functions work on the output of :func:`addictidx.features.compute_psd` (any leading shape,
frequency last) and are pure numpy.

Integration rule (used everywhere here)
---------------------------------------
A band ``(lo, hi)`` is **closed**: it takes the PSD bins with ``lo <= f <= hi`` and integrates
them with the trapezoid rule (``np.trapezoid(psd[..., mask], freqs[mask])``), no interpolation at
the edges. Adjacent bands that share an edge frequency both include that bin (as in YASA and
the MNE band-power tutorial). A band holding fewer than 2 bins has no trapezoid area and
gives ``NaN``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "EEG_BANDS",
    "EMG_DOMINATED_BANDS",
    "band_weights",
    "apply_band_weights",
    "band_power",
    "band_ratio",
    "frontal_alpha_asymmetry",
    "individual_alpha_frequency",
]

#: The EEG bands used by addictidx, in Hz (closed intervals). ``beta`` is capped at 25 Hz for
#: index use (EVIDENCE §7(i): limits EMG); ``total`` (1-25 Hz) is the reference of relative
#: powers. ``gamma`` is available for logging but EMG-dominated on dry frontal/temporal
#: electrodes (see :data:`EMG_DOMINATED_BANDS`) and never used by the index.
EEG_BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 12.0),
    "beta": (13.0, 25.0),
    "gamma": (30.0, 45.0),
    "total": (1.0, 25.0),
}

#: Bands whose power on Muse-type electrodes is dominated by muscle (EMG) activity.
EMG_DOMINATED_BANDS: frozenset[str] = frozenset({"gamma"})


def _resolve_band(band, bands: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    if isinstance(band, str):
        if band not in bands:
            raise KeyError(f"Unknown band {band!r}; known bands are {sorted(bands)}.")
        lo, hi = bands[band]
    else:
        try:
            lo, hi = (float(v) for v in band)
        except (TypeError, ValueError):
            raise ValueError(
                f"A band must be a name or a (lo, hi) pair in Hz, got {band!r}."
            ) from None
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        raise ValueError(f"Band {band!r} must have hi > lo, got ({lo}, {hi}).")
    return lo, hi


def band_weights(freqs, bands) -> np.ndarray:
    """Trapezoid weights such that ``psd @ W`` integrates each closed band.

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Increasing frequencies in Hz.
    bands : sequence of (lo, hi)
        Band edges in Hz.

    Returns
    -------
    W : ndarray, shape (n_freqs, n_bands)
        ``psd @ W[:, b]`` equals ``np.trapezoid(psd[..., m], freqs[m])`` with
        ``m = (freqs >= lo) & (freqs <= hi)``. Columns of bands with < 2 bins are NaN.
    """
    f = np.asarray(freqs, dtype=np.float64)
    if f.ndim != 1 or f.size < 2 or np.any(np.diff(f) <= 0):
        raise ValueError("freqs must be a 1D increasing array with at least 2 values.")
    W = np.zeros((f.size, len(bands)), dtype=np.float64)
    for b, (lo, hi) in enumerate(bands):
        idx = np.flatnonzero((f >= lo) & (f <= hi))
        if idx.size < 2:
            W[:, b] = np.nan
            continue
        d = np.diff(f[idx]) / 2.0
        W[idx[:-1], b] += d
        W[idx[1:], b] += d
    return W


def apply_band_weights(psd: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``psd @ W`` as weighted sums over each band's bins (NaN columns stay NaN).

    Elementwise on purpose: ``@`` dispatches to a threaded BLAS gemm, which on these small
    shapes is up to 100x slower when the 2-core machine is busy.
    """
    out = np.empty(psd.shape[:-1] + (W.shape[1],), dtype=np.float64)
    for b in range(W.shape[1]):
        if np.isnan(W[0, b]):
            out[..., b] = np.nan
            continue
        nz = np.flatnonzero(W[:, b])
        if nz.size == 0:
            out[..., b] = 0.0
            continue
        i0, i1 = int(nz[0]), int(nz[-1]) + 1
        out[..., b] = np.sum(psd[..., i0:i1] * W[i0:i1, b], axis=-1)
    return out


def band_power(freqs, psd, bands, *, relative_to=None) -> dict[str, np.ndarray]:
    """Absolute (or relative) power per band, by trapezoid integration over closed bands.

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Frequencies of the PSD in Hz.
    psd : array, shape (..., n_freqs)
        Power spectral density (e.g. µV²/Hz from :func:`compute_psd`).
    bands : mapping of name -> (lo, hi), or sequence of names of :data:`EEG_BANDS`
        Bands to integrate, closed ``lo <= f <= hi``.
    relative_to : str | (lo, hi) | None
        If given, every band power is divided by the power of this band (a name in ``bands``
        or :data:`EEG_BANDS`, or explicit edges), e.g. ``"total"`` for 1-25 Hz.

    Returns
    -------
    powers : dict of str -> ndarray, shape (...)
        Power per band (µV² for µV²/Hz input), or the unitless ratio when ``relative_to`` is
        set. NaN where the PSD row is NaN (a gap) or the band has < 2 bins.
    """
    if isinstance(bands, Mapping):
        named = {str(k): _resolve_band(v, EEG_BANDS) for k, v in bands.items()}
    else:
        named = {str(k): _resolve_band(k, EEG_BANDS) for k in bands}
    psd = np.asarray(psd, dtype=np.float64)
    f = np.asarray(freqs, dtype=np.float64)
    if psd.shape[-1:] != f.shape:
        raise ValueError(f"psd's last axis ({psd.shape}) must match freqs ({f.shape}).")
    edges = list(named.values())
    if relative_to is not None:
        ref_src = named if isinstance(relative_to, str) and relative_to in named else EEG_BANDS
        edges.append(_resolve_band(relative_to, ref_src))
    W = band_weights(f, edges)
    P = apply_band_weights(psd, W)
    if relative_to is not None:
        P = P[..., :-1] / P[..., -1:]
    return {name: P[..., i] for i, name in enumerate(named)}


def band_ratio(freqs, psd, numerator="theta", denominator="beta") -> np.ndarray:
    """Ratio of two absolute band powers, e.g. theta/beta or alpha/beta.

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Frequencies in Hz.
    psd : array, shape (..., n_freqs)
        Power spectral density.
    numerator, denominator : str | (lo, hi)
        Bands (names of :data:`EEG_BANDS` or edges in Hz).

    Returns
    -------
    ratio : ndarray, shape (...)
        ``P(numerator) / P(denominator)``.
    """
    p = band_power(
        freqs,
        psd,
        {"num": _resolve_band(numerator, EEG_BANDS), "den": _resolve_band(denominator, EEG_BANDS)},
    )
    return p["num"] / p["den"]


def frontal_alpha_asymmetry(freqs, psd, ch_names, *, left="AF7", right="AF8", band="alpha"):
    """Frontal alpha asymmetry ``ln a(right) - ln a(left)`` (default ln a(AF8) - ln a(AF7)).

    Positive values mean more right-frontal alpha, i.e. relatively more left-frontal
    activity. Exploratory feature (weight 0 in the index, EVIDENCE §7(i)).

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Frequencies in Hz.
    psd : array, shape (..., n_channels, n_freqs)
        Power spectral density with channels on the second-to-last axis.
    ch_names : sequence of str
        Channel names in PSD order.
    left, right : str
        Channel names.
    band : str | (lo, hi)
        Alpha band.

    Returns
    -------
    faa : ndarray, shape (...)
        Asymmetry score (natural log of absolute band powers).
    """
    names = list(ch_names)
    for ch in (left, right):
        if ch not in names:
            raise KeyError(f"Channel {ch!r} not in ch_names {names}.")
    a = band_power(freqs, psd, {"a": _resolve_band(band, EEG_BANDS)})["a"]
    return np.log(a[..., names.index(right)]) - np.log(a[..., names.index(left)])


def individual_alpha_frequency(freqs, psd, *, fmin=7.0, fmax=13.0) -> np.ndarray:
    """Individual alpha frequency: the frequency of the largest PSD bin in ``[fmin, fmax]``.

    Peak picking on the PSD grid (resolution ``sfreq / n_fft``; 0.25 Hz for 4-s FFTs at
    256 Hz). No peak-prominence test: on a spectrum without an alpha peak the result is the
    band's largest bin (often an edge). Exploratory feature.

    Parameters
    ----------
    freqs : array, shape (n_freqs,)
        Frequencies in Hz.
    psd : array, shape (..., n_freqs)
        Power spectral density.
    fmin, fmax : float
        Search range in Hz (closed), 7-13 Hz by default.

    Returns
    -------
    iaf : ndarray, shape (...)
        Peak frequency in Hz; NaN where the PSD row is NaN.
    """
    f = np.asarray(freqs, dtype=np.float64)
    psd = np.asarray(psd, dtype=np.float64)
    m = (f >= fmin) & (f <= fmax)
    if not m.any():
        raise ValueError(f"No PSD bin between fmin={fmin} and fmax={fmax} Hz.")
    sub = psd[..., m]
    nan_rows = np.isnan(sub).any(axis=-1)
    iaf = f[m][np.argmax(np.where(np.isnan(sub), -np.inf, sub), axis=-1)]
    return np.where(nan_rows, np.nan, iaf)
