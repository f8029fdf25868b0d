"""Nonlinear HRV: Poincaré SD1/SD2, sample entropy and DFA, in O(n log n) for long recordings.

Definitions are NeuroKit2 0.2.13's (``nk.entropy_sample``, ``nk.fractal_dfa``; see the
:mod:`addictidx.features.hrv` docstring); what this module adds is the speed to run them on a
24-h recording (about 100,000 beats):

* :func:`sample_entropy` counts template matches exactly. Short series (<= 800 templates)
  sort the templates' first samples, take as candidates the pairs within r on that sample
  (a searchsorted range per template) and test every coordinate of the candidates with the
  exact rule ``|x_i - x_j| <= r``. Longer series group identical templates
  (RR intervals lie on the recorder's sampling grid, so a day holds a few thousand distinct
  2-beat templates) and count the matching pairs with a k-d tree in the Chebyshev metric
  (``scipy.spatial.cKDTree.count_neighbors``, weighted by template multiplicity), which
  counts whole groups of matching pairs at once instead of visiting every pair.
* :func:`dfa_alpha` computes each segment's residual variance after the linear detrend from sums
  over the segment. Scales up to 11 beats (alpha1) gather their segments (each re-centred on its
  first value); longer scales use prefix sums inside overlapping blocks of 4x the scale group's
  base length, each block first detrended by its own least-squares line (a segment's residual
  variance does not change when a line is subtracted), so the sums stay small and the cancellation
  in ``S2 - S1²/s - Sty²/Stt`` costs at most a few hundred ulps. All scales of a group are
  evaluated in one vectorized pass: O(n) per group, O(n log n) overall.

Both equal the direct per-segment computation (NeuroKit2's algorithm) to about 1e-13
relative on real RR; tests hold them to 1e-12 against NeuroKit2, nolds and a direct
reference implementation.
"""

from __future__ import annotations

import math

import numpy as np

from .welch_plan import PlanCache

__all__ = ["dfa_alpha", "poincare_nonlinear", "sample_entropy"]

#: Up to this many templates (and candidate pairs), sample entropy tests candidate pairs.
_PAIR_MAX_TEMPLATES = 800
_PAIR_MAX_CANDIDATES = 1 << 21
#: Scales up to this length are evaluated by gathering their segments.
_DFA_GATHER_MAX_SCALE = 11
#: Elements gathered per batch of small scales (bounds the temporaries to a few MB).
_DFA_GATHER_BATCH = 1 << 17
#: DFA index plans by (n, scales); the live path repeats the same window length.
_DFA_PLANS = PlanCache(maxsize=16)
_DFA_PLAN_CACHE_MAX_N = 20000


def poincare_nonlinear(out: dict, ms, nn, d, pair_ok, n: int, nk: bool) -> None:
    """Fill SD1, SD2, SD1/SD2, SampEn and DFA alpha1/alpha2 of ``out`` (see ``compute_hrv``).

    Parameters
    ----------
    out : dict
        Feature dict of :func:`~addictidx.features.compute_hrv`; needs ``hrv_sdnn_ms`` and
        ``hrv_sdsd_ms`` already set.
    ms : ndarray
        All RR in ms (``NaN`` = missing).
    nn : ndarray
        The valid RR in ms.
    d : ndarray
        Successive differences over adjacent valid pairs (ms).
    pair_ok : ndarray of bool
        Which adjacent pairs of ``ms`` are successive valid intervals.
    n : int
        ``nn.size``.
    nk : bool
        NeuroKit2 convention (pair-wise SD2) instead of Kubios' (Brennan identity).
    """
    if d.size > 1:
        a = ms[:-1][pair_ok]
        b = ms[1:][pair_ok]
        sd1 = float(np.std((a - b) / np.sqrt(2), ddof=1))
        out["hrv_sd1_ms"] = sd1
        if nk:
            sd2 = float(np.std((a + b) / np.sqrt(2), ddof=1))
        else:
            sdnn, sdsd = out["hrv_sdnn_ms"], out["hrv_sdsd_ms"]
            v = 2.0 * sdnn * sdnn - 0.5 * sdsd * sdsd
            sd2 = math.sqrt(v) if v >= 0 else math.nan
        out["hrv_sd2_ms"] = sd2
        out["hrv_sd1_sd2"] = sd1 / sd2 if sd2 > 0 else math.nan
    if n >= 12:
        out["hrv_sampen"] = sample_entropy(nn, dimension=2, tolerance=0.2 * out["hrv_sdnn_ms"])
        y = np.cumsum(nn - np.mean(nn))
        max_beats = int((n + 1) / 10)
        scales = np.arange(4, max(max_beats, 11) + 1)
        fl = _fluctuations(y, scales)
        out["hrv_dfa_alpha1"] = _alpha(scales[:8], fl[:8])
        if max_beats >= 13:
            out["hrv_dfa_alpha2"] = _alpha(scales[8:], fl[8:])


def sample_entropy(x, *, dimension: int = 2, tolerance: float | None = None) -> float:
    """Sample entropy with NeuroKit2's semantics (``nk.entropy_sample``, delay 1).

    Parameters
    ----------
    x : array, shape (n,)
        Series (e.g. RR in ms).
    dimension : int
        Template length m.
    tolerance : float | None
        Radius r; ``None`` means ``0.2 * std(x, ddof=1)``.

    Returns
    -------
    sampen : float
        ``-ln(A / B)``: B = matching pairs among the first N-m templates of length m, A = matching
        pairs among the N-m templates of length m+1 (Chebyshev distance <= r, no self-matches).
        ``inf`` when no (m+1)-match exists, ``-inf`` when no m-match exists (NeuroKit2's
        ``np.isclose`` tests on the match rates are reproduced).

    Notes
    -----
    Exact counts (see the module docstring): candidate pairs up to 800 templates
    (about 0.1 ms for a 5-min RR series), then a k-d tree over the distinct templates (about
    0.5 s for 24 h of RR on a 1/128-s grid; series without repeated values cost more).
    """
    x = np.asarray(x, dtype=np.float64)
    m = int(dimension)
    n = x.size
    if tolerance is None:
        tolerance = 0.2 * float(np.std(x, ddof=1))
    r = float(tolerance)
    n_t = n - m  # templates at both lengths
    if n_t < 2:
        return math.nan
    counts = _match_counts_sorted(x, m, r, n_t) if n_t <= _PAIR_MAX_TEMPLATES else None
    if counts is None:
        counts = _match_counts_tree(x, m, r, n_t)
    count_m, count_m1 = counts
    # remove self-matches (distance 0 <= r always)
    phi0 = (count_m - n_t) / (n_t * (n_t - 1))
    phi1 = (count_m1 - n_t) / (n_t * (n_t - 1))
    # np.isclose(v, 0) with its default tolerances is |v| <= 1e-08 (scalar test, same result)
    if abs(phi0) <= 1e-08:
        return -math.inf
    ratio = phi1 / phi0
    if abs(ratio) <= 1e-08:
        return math.inf
    return -math.log(ratio)


def _match_counts_sorted(x: np.ndarray, m: int, r: float, n_t: int):
    """Ordered matching pairs (self included) at lengths m and m+1, or ``None`` if too many.

    Candidates are the pairs whose first samples are within r, found by sorting; every
    coordinate of every candidate is then tested with the exact rule ``|x_i - x_j| <= r``.
    """
    v = x[:n_t]
    order = np.argsort(v, kind="stable")
    vs = v[order]
    # widen the search by a few ulps so that no pair within r is missed by the rounding of
    # vs -/+ r; the exact test below removes the extra candidates
    pad = r + 4.0 * np.finfo(np.float64).eps * (abs(r) + float(np.max(np.abs(vs))))
    lo = np.searchsorted(vs, vs - pad, side="left")
    hi = np.searchsorted(vs, vs + pad, side="right")
    c = hi - lo
    total = int(c.sum())
    if total > _PAIR_MAX_CANDIDATES:
        return None
    first = np.repeat(lo - (np.cumsum(c) - c), c)
    i = np.repeat(order, c)
    j = order[np.arange(total, dtype=np.int64) + first]
    match = np.abs(x[i] - x[j]) <= r
    for k in range(1, m):
        match &= np.abs(x[i + k] - x[j + k]) <= r
    count_m = int(np.count_nonzero(match))
    match &= np.abs(x[i + m] - x[j + m]) <= r
    return count_m, int(np.count_nonzero(match))


def _match_counts_tree(x: np.ndarray, m: int, r: float, n_t: int) -> tuple[int, int]:
    """As :func:`_match_counts_dense`, with a k-d tree over the distinct templates."""
    from scipy.spatial import cKDTree  # lazy: only long series need it

    values, code = np.unique(x, return_inverse=True)
    k = values.size
    cols = np.lib.stride_tricks.sliding_window_view(code, m + 1)[:n_t]  # (n_t, m+1)
    counts = []
    for dim in (m, m + 1):
        if k**dim < 2**62:  # one int64 key per template
            key = np.zeros(n_t, dtype=np.int64)
            for j in range(dim):
                key = key * k + cols[:, j]
            uniq, mult = np.unique(key, return_counts=True)
            pts = np.empty((uniq.size, dim), dtype=np.int64)
            for j in range(dim - 1, -1, -1):
                pts[:, j] = uniq % k
                uniq = uniq // k
        else:
            pts, mult = np.unique(cols[:, :dim], axis=0, return_counts=True)
        w = mult.astype(np.float64)
        tree = cKDTree(values[pts], leafsize=16)
        total = tree.count_neighbors(tree, r, p=np.inf, weights=(w, w))
        counts.append(int(round(float(total))))  # integer-valued, exact below 2**53
    return counts[0], counts[1]


def dfa_alpha(x, *, scales=range(4, 12)) -> float:
    """Monofractal DFA exponent with NeuroKit2's ``fractal_dfa`` semantics (overlap, order 1).

    Parameters
    ----------
    x : array, shape (n,)
        Series (e.g. RR in ms); integrated as ``cumsum(x - mean(x))``.
    scales : iterable of int
        Window sizes in samples (4..11 for alpha1).

    Returns
    -------
    alpha : float
        Slope of ``log2 F(s)`` on ``log2 s``; NaN if a scale is >= n or every segment of a scale
        has variance <= 1e-8.

    Notes
    -----
    F(s) for every scale in O(n) per doubling of the scale (module docstring): about 0.3 s
    for alpha2 over 24 h of RR (scales 12..10,000 beats).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    scales = np.asarray(list(scales), dtype=np.int64)
    if scales.size < 2 or scales.max() >= n:
        return math.nan
    y = np.cumsum(x - np.mean(x))
    return _alpha(scales, _fluctuations(y, scales))


def _alpha(scales: np.ndarray, fl: np.ndarray) -> float:
    if np.isnan(fl).any():
        return math.nan
    lx = np.log2(scales.astype(np.float64))
    ly = np.log2(fl)
    lxc = lx - lx.mean()
    return float(np.dot(lxc, ly - ly.mean()) / np.dot(lxc, lxc))


def _fluctuations(y: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """F(s) = sqrt(mean residual variance > 1e-8) per scale (NaN when no segment is left)."""
    n = y.size
    if n <= _DFA_PLAN_CACHE_MAX_N:
        key = (n, scales.tobytes(), _DFA_GATHER_BATCH)
        plan = _DFA_PLANS.get(key, lambda: tuple(_dfa_parts(n, scales)))
    else:  # long recordings: each part's index arrays are built, used and dropped in turn
        plan = _dfa_parts(n, scales)
    var_sum = np.zeros(scales.size)
    var_cnt = np.zeros(scales.size)
    for part in plan:
        var, idx = part.variances(y)
        keep = var > 1e-08  # NeuroKit2 drops (near-)constant segments
        var_sum += np.bincount(idx[keep], weights=var[keep], minlength=scales.size)
        var_cnt += np.bincount(idx[keep], minlength=scales.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var_cnt > 0, np.sqrt(var_sum / var_cnt), np.nan)


def _dfa_parts(n: int, scales: np.ndarray):
    """Yield the parts (index arrays of every segment of every scale; they depend on n and
    the scales only): batches of gathered small scales, then one part per doubling."""
    if 2 * n * scales.size <= 4 * _DFA_GATHER_BATCH:  # short series: gather every scale
        small = np.arange(scales.size)
    else:
        small = np.flatnonzero(scales <= _DFA_GATHER_MAX_SCALE)
    i = 0
    while i < small.size:  # batches of small scales, gathered segments
        j, size = i, 0
        while j < small.size and (j == i or size < _DFA_GATHER_BATCH):
            size += 2 * n
            j += 1
        yield _Gathered(n, scales, small[i:j])
        i = j
    is_small = np.zeros(scales.size, dtype=bool)
    is_small[small] = True
    large = np.flatnonzero(~is_small)
    if large.size:
        group = np.floor(np.log2(scales[large])).astype(np.int64)
        for g in np.unique(group):
            yield _Blocked(n, scales, large[group == g], int(g))


def _segments(n: int, scales: np.ndarray, which: np.ndarray):
    """Start, length and scale index of every segment of the scales ``which``."""
    starts = [np.arange(0, n - s, s // 2, dtype=np.int64) for s in scales[which]]
    count = np.array([a.size for a in starts], dtype=np.int64)
    a = np.concatenate(starts)
    idx = np.repeat(which, count)
    return a, scales[idx], idx


class _Gathered:
    """Residual variance of each segment of small scales, from its gathered samples."""

    def __init__(self, n: int, scales: np.ndarray, which: np.ndarray) -> None:
        a, s, self.idx = _segments(n, scales, which)
        self.offsets = np.concatenate([[0], np.cumsum(s)[:-1]])
        self.seg_of = np.repeat(np.arange(a.size), s)
        k = np.arange(int(s.sum()), dtype=np.int64) - self.offsets[self.seg_of]
        self.first = a[self.seg_of]
        self.take = self.first + k
        sf = s.astype(np.float64)
        self.sf = sf
        self.tc = k - ((sf - 1.0) / 2.0)[self.seg_of]  # centred index inside the segment
        self.stt = sf * (sf * sf - 1.0) / 12.0

    def variances(self, y: np.ndarray):
        z = y[self.take] - y[self.first]  # re-centred on the segment's first sample
        mean = np.add.reduceat(z, self.offsets) / self.sf
        slope = np.add.reduceat(z * self.tc, self.offsets) / self.stt
        resid = z - mean[self.seg_of] - slope[self.seg_of] * self.tc
        return np.add.reduceat(resid * resid, self.offsets) / self.sf, self.idx


class _Blocked:
    """Residual variances of the scales in [2^g, 2^(g+1)) from block-local prefix sums."""

    def __init__(self, n: int, scales: np.ndarray, which: np.ndarray, g: int) -> None:
        self.hop = hop = 1 << (g + 1)  # segments shorter than hop fit in one block of 2*hop
        self.length = length = 2 * hop
        self.n_blocks = n_blocks = max(1, -(-(n - 1) // hop))
        valid = np.minimum(n - hop * np.arange(n_blocks), length)  # samples of y per block
        self.t = t = np.arange(length, dtype=np.float64)
        self.mask = t[np.newaxis, :] < valid[:, np.newaxis]
        cnt = valid.astype(np.float64)
        self.cnt = cnt
        # least-squares line of each block (its precision does not matter: any line will do)
        self.tc = np.where(self.mask, t - ((cnt - 1.0) / 2.0)[:, np.newaxis], 0.0)
        self.stt_block = np.maximum(np.sum(self.tc * self.tc, axis=1), 1.0)
        a, s, self.idx = _segments(n, scales, which)
        self.b = a // hop
        self.o = a - self.b * hop
        self.e = self.o + s
        sf = s.astype(np.float64)
        self.sf = sf
        self.tbar = (sf - 1.0) / 2.0
        self.stt = sf * (sf * sf - 1.0) / 12.0

    def variances(self, y: np.ndarray):
        n, hop, length, mask = y.size, self.hop, self.length, self.mask
        pad = np.zeros(self.n_blocks * hop + hop)
        pad[:n] = y
        blocks = np.lib.stride_tricks.sliding_window_view(pad, length)[::hop][: self.n_blocks]
        mean_y = np.sum(np.where(mask, blocks, 0.0), axis=1) / self.cnt
        dev = blocks - mean_y[:, np.newaxis]
        slope = np.sum(self.tc * np.where(mask, dev, 0.0), axis=1) / self.stt_block
        z = np.where(mask, dev - slope[:, np.newaxis] * self.tc, 0.0)
        p1 = np.zeros((self.n_blocks, length + 1))
        p2 = np.zeros((self.n_blocks, length + 1))
        pk = np.zeros((self.n_blocks, length + 1))
        np.cumsum(z, axis=1, out=p1[:, 1:])
        np.cumsum(z * z, axis=1, out=p2[:, 1:])
        np.cumsum(z * self.t, axis=1, out=pk[:, 1:])
        b, o, e, sf = self.b, self.o, self.e, self.sf
        s1 = p1[b, e] - p1[b, o]
        s2 = p2[b, e] - p2[b, o]
        sk = pk[b, e] - pk[b, o] - o * s1  # sum of (local index) * z over the segment
        sty = sk - self.tbar * s1
        return (s2 - s1 * s1 / sf - sty * sty / self.stt) / sf, self.idx
