"""End-to-end real-time benchmark: notification -> decode -> buffers -> features -> ONNX index ->
prescription, for one session and for many concurrent sessions in one process.

What is simulated and what is real
----------------------------------
Every session has a classic Muse (4 EEG characteristics, 256 Hz, 12 samples per 20-byte
notification), a Heart Rate Service strap (0x2A37, RR about once a second) and the Polar H10
ECG stream (PMD ``fb005c82`` frames of 73 int24 samples at 130 Hz). The byte-exact
notifications come from :class:`~addictidx.acquire.SimulatedHeadband`,
:class:`~addictidx.acquire.SimulatedStrap` (real recordings) and :func:`ecg_notifications` (a
synthetic QRS pulse train on the strap's beats, framed by
:func:`~addictidx.acquire.h10_replay.encode_pmd_ecg_frame`), merged by
:func:`~addictidx.acquire.iter_notifications`. Everything after the radio is the production
code: :class:`~addictidx.acquire.MuseEegAssembler`, :class:`~addictidx.acquire.HrsAssembler`,
``decode_pmd_ecg``, :class:`~addictidx.acquire.RingBuffer` / :class:`~addictidx.acquire.EventBuffer`,
:func:`~addictidx.features.eeg_epoch_checks`, :func:`~addictidx.features.band_power`,
:func:`~addictidx.features.rr_quality`, :func:`~addictidx.models.score_indices` (one onnxruntime
call per tick for every session due) and :func:`~addictidx.prescribe.prescribe`.

Server model (how latency and real time are defined)
----------------------------------------------------
One thread serves all sessions. Time advances in ticks of ``tick_s`` (25 ms, a typical BLE
connection interval): the notifications whose device time falls in a tick are handed over at the
tick's end ``T_k`` (a connection event). Processing tick ``k`` = dispatching its notifications to
the sessions' assemblers and buffers (the EEG notifications of all sessions decoded in one
vectorized ``decode_muse_eeg_batch`` call when the tick holds at least 8), running the 2-s EEG
epoch checks of every epoch that became complete (one batched ``eeg_epoch_checks`` call, one
FFT batch, for all sessions), then
for every session whose index is due (each session every ``hop_s`` = 1 s of its own clock; the
sessions' clocks are staggered evenly over a hop) the rolling features, one batched ONNX call and
the prescriptions. The replay runs as fast as possible and measures the service time ``S_k`` of
every tick; the real-time schedule is then replayed exactly: tick ``k`` starts at
``max(T_k, end_{k-1})`` and ends ``S_k`` later.

* **notification-to-index latency** of an index update = ``end_k - T_k`` (from the hand-over of
  the notifications that complete its data to the prescription being ready; queueing included);
* **overrun** = a tick still running when the next one is handed over (``end_k > T_{k+1}``);
* **real time holds** at ``N`` sessions when overruns are at most ``max_overrun_rate`` (1 %) of
  ticks, p99 latency is at most ``latency_limit_ms`` (100 ms) and the final backlog is below one
  tick.

Service times are measured twice, with :func:`time.perf_counter` (wall) and
:func:`time.thread_time` (CPU of this thread). Latency percentiles are reported on the wall
clock. The capacity decision uses the CPU clock by default (``BenchConfig.clock``): on a shared
machine the wall clock also counts time the OS gave to other processes, which is not a property
of the pipeline; the wall-clock verdict is reported next to it.

Rolling index features
----------------------
The index features are those of :func:`~addictidx.features.compute_index_features` over the last
``eeg_window_s`` of EEG (consecutive 2-s epochs on the session clock) and ``rr_window_s`` of RR,
computed incrementally: each 2-s epoch is checked and transformed once when it completes, and its
band powers (alpha, beta, total per channel) and pass flag are kept; an update sums the passing
epochs in the window. Band power is linear in the PSD, so this equals the mean-periodogram
definition (tests hold the two to 1e-12). Sessions are pre-filled with ``rr_window_s`` of RR and
``eeg_window_s`` of EEG epochs (a session that has been running for a while), so the index is
defined from the first update.

Reference pipeline
------------------
The same windows computed the way a user would with the libraries: per update
``mne.time_frequency.psd_array_welch`` over the EEG window (2-s Hamming segments, no overlap)
with trapezoid band powers, ``neurokit2.hrv`` over the RR window (peaks at 1 kHz) and an
scikit-learn ``Pipeline`` doing the index arithmetic, plus the same ingest and prescription.
A lean variant uses ``neurokit2.hrv_time`` instead of ``neurokit2.hrv``.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from addictidx._core.types import Chunk, QualityReport, StreamSpec
from addictidx.acquire import (
    EventBuffer,
    HrsAssembler,
    MuseEegAssembler,
    Notification,
    RingBuffer,
    SimulatedHeadband,
    SimulatedStrap,
    iter_notifications,
)
from addictidx.acquire.decoders.muse_classic import decode_muse_eeg, decode_muse_eeg_batch
from addictidx.acquire.decoders.polar_pmd import decode_pmd_ecg
from addictidx.acquire.h10_replay import encode_pmd_ecg_frame

__all__ = [
    "BenchConfig",
    "RunResult",
    "BenchSources",
    "ecg_notifications",
    "make_sources",
    "rr_index_features",
    "rolling_eeg_features",
    "run_sessions",
    "run_reference",
    "session_memory_bytes",
    "find_capacity",
    "run_benchmark",
    "machine_info",
    "latency_summary",
]

EEG_SFREQ = 256.0
EEG_EPOCH_S = 2.0
ECG_SFREQ = 130.0
ECG_SAMPLES_PER_FRAME = 73  # H10 at MTU 232: 10-byte header + 73 x int24 = 229 bytes
PMD_ECG_CHARACTERISTIC = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
PMD_EPOCH_OFFSET_NS = 599_616_000_000_000_000  # an arbitrary device time (2019) for frame stamps

_KIND_EEG, _KIND_HRS, _KIND_ECG = 0, 1, 2
_MIN_BATCH_DECODE = 8  # EEG notifications per tick from which one vectorized decode pays off
_BANDS = ("alpha", "beta", "total")


@dataclass(frozen=True)
class BenchConfig:
    """Parameters of the benchmark (defaults are the documented ones).

    Parameters
    ----------
    tick_s : float
        Server tick = BLE connection interval (s).
    hop_s : float
        Index update period per session (s of session time).
    eeg_window_s, rr_window_s : float
        Rolling windows of the index features (s).
    latency_limit_ms : float
        Real-time criterion: p99 notification-to-index latency at most this.
    max_overrun_rate : float
        Real-time criterion: share of ticks overrunning at most this.
    clock : {"cpu", "wall"}
        Service-time clock used for the capacity verdict.
    n_variants : int
        Distinct recordings offsets (sessions cycle through them).
    age : int
        Age passed to the prescription (HRmax by Tanaka).
    seed : int
        Seed of the simulated devices.
    """

    tick_s: float = 0.025
    hop_s: float = 1.0
    eeg_window_s: float = 30.0
    rr_window_s: float = 120.0
    latency_limit_ms: float = 100.0
    max_overrun_rate: float = 0.01
    clock: str = "cpu"
    n_variants: int = 8
    age: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        if self.clock not in ("cpu", "wall"):
            raise ValueError(f"clock must be 'cpu' or 'wall', got {self.clock!r}.")
        for name in ("tick_s", "hop_s", "eeg_window_s", "rr_window_s", "latency_limit_ms"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}.")
        if self.eeg_window_s < EEG_EPOCH_S:
            raise ValueError(f"eeg_window_s must be >= {EEG_EPOCH_S} s (one epoch).")

    @property
    def n_epochs(self) -> int:
        """EEG epochs in the rolling window."""
        return int(math.floor(self.eeg_window_s / EEG_EPOCH_S + 1e-9))


# ------------------------------------------------------------------------------- H10 ECG frames


def ecg_notifications(
    beat_times_s,
    duration_s: float,
    *,
    sfreq: float = ECG_SFREQ,
    per_frame: int = ECG_SAMPLES_PER_FRAME,
    seed: int = 0,
) -> list[Notification]:
    """Minimal H10 ECG stream: a QRS-like pulse at every beat, framed as PMD notifications.

    Parameters
    ----------
    beat_times_s : array
        Beat times (s) of the strap's RR series.
    duration_s : float
        Stream length (s).
    sfreq, per_frame : float, int
        130 Hz, 73 samples per frame (the H10 at MTU 232).
    seed : int
        Seed of the small baseline noise.

    Returns
    -------
    list of Notification
        One per frame, sent at the time of its last sample.
    """
    n = int(duration_s * sfreq)
    t = np.arange(n) / sfreq
    beats = np.asarray(beat_times_s, dtype=np.float64)
    uv = np.random.default_rng(seed).normal(0.0, 20.0, n)
    if beats.size:
        j = np.clip(np.searchsorted(beats, t), 1, beats.size - 1)
        d = np.minimum(np.abs(t - beats[j - 1]), np.abs(t - beats[j]))
        uv += 1200.0 * np.exp(-0.5 * (d / 0.012) ** 2)
    uv = np.rint(uv).astype(np.int64)
    out = []
    for a in range(0, n - per_frame + 1, per_frame):
        b = a + per_frame
        t_last = (b - 1) / sfreq
        ts = PMD_EPOCH_OFFSET_NS + int(round(t_last * 1e9))
        out.append(Notification(t_last, PMD_ECG_CHARACTERISTIC, encode_pmd_ecg_frame(ts, uv[a:b])))
    return out


# ------------------------------------------------------------------------------- sources


@dataclass
class _Variant:
    kinds: np.ndarray  # (n_notes,) int8
    t: np.ndarray  # (n_notes,) device time, s
    chars: list
    payloads: list
    rr_prefill: np.ndarray  # RR (s) of the rr_window before t = 0, oldest first
    ep_ok: np.ndarray  # (K, n_ch) prefill epochs -K..-1
    ep_pow: np.ndarray  # (K, 3, n_ch)
    eeg_spec: StreamSpec
    channel_by_uuid: dict
    rr_spec: StreamSpec
    hr_spec: StreamSpec
    thresholds: dict | None
    kinds_l: list = field(default_factory=list)  # kinds and t as Python objects, as a BLE
    t_l: list = field(default_factory=list)  # callback hands them over (no numpy scalars)


@dataclass
class BenchSources:
    """Pre-generated notification streams (shared by all sessions of a run)."""

    variants: list
    duration_s: float
    ecg_spec: StreamSpec
    ch_names: tuple


def _epoch_features(data: np.ndarray, ch_names: Sequence[str], thresholds) -> tuple:
    """Checks + band powers of stacked 2-s epochs, shape (n_rows, 512) -> (ok, pow (3, n_rows))."""
    from addictidx.features import band_power, eeg_epoch_checks

    checks = eeg_epoch_checks(data, EEG_SFREQ, ch_names, thresholds=thresholds)
    p = band_power(checks.freqs, checks.psd[0], _BANDS)
    return checks.ok[0], np.stack([p[b] for b in _BANDS])


def make_sources(
    duration_s: float, cfg: BenchConfig = BenchConfig(), n_variants: int | None = None
) -> BenchSources:
    """Generate the notification streams of ``n_variants`` device sets and their pre-fill.

    Variant ``v`` plays the bundled Muse recording and RR series from a different offset (and
    channel order / jitter seed), so sessions do not all carry identical bytes.
    """
    from addictidx.readers import bundled_muse_eeg, bundled_rr

    n_variants = cfg.n_variants if n_variants is None else max(1, int(n_variants))
    rec = bundled_muse_eeg()
    eeg, names, sfreq = rec.data, list(rec.ch_names), rec.sfreq
    eeg = np.asarray(eeg, dtype=np.float64)
    rr0 = np.asarray(bundled_rr(), dtype=np.float64)
    K = cfg.n_epochs
    nep = int(EEG_EPOCH_S * EEG_SFREQ)
    variants = []
    for v in range(n_variants):
        off = (v * 7919 * 12) % eeg.shape[1]
        data = np.roll(eeg, -off, axis=1)
        hb = SimulatedHeadband(
            data,
            sfreq,
            ch_names=names,
            duration_s=duration_s + 1.0,
            seed=cfg.seed + v,
            name="muse",
        )
        rr = np.roll(rr0, -(v * 37) % rr0.size)
        st = SimulatedStrap(rr, duration_s=duration_s + 1.0, seed=cfg.seed + v, name="strap")
        beat_t, _ = st.beats()
        ecg = ecg_notifications(beat_t, duration_s + 1.0, seed=cfg.seed + v)
        kinds, ts, chars, pays = [], [], [], []
        code = {"muse": _KIND_EEG, "strap": _KIND_HRS, "h10-ecg": _KIND_ECG}
        for name, note in iter_notifications({"muse": hb, "strap": st, "h10-ecg": ecg}):
            kinds.append(code[name])
            ts.append(note.t)
            chars.append(note.characteristic)
            pays.append(note.payload)
        # pre-fill: the RR of the last rr_window before t = 0 (the series looped) ...
        reps = int(math.ceil((cfg.rr_window_s + 10.0) / rr.sum())) + 1
        tail = np.tile(rr, reps)
        k = int(np.searchsorted(np.cumsum(tail[::-1]), cfg.rr_window_s + 5.0)) + 1
        rr_prefill = tail[-k:]
        # ... and the EEG epochs -K..-1 (the recording looped), checked once per variant
        idx = np.arange(-K * nep, 0) % data.shape[1]
        pre = data[:, idx].reshape(len(names), K, nep).transpose(1, 0, 2)
        thresholds = hb.profile.stream("eeg").quality or None
        ok, pw = _epoch_features(pre.reshape(K * len(names), nep), list(names) * K, thresholds)
        variants.append(
            _Variant(
                kinds=np.asarray(kinds, dtype=np.int8),
                t=np.asarray(ts),
                chars=chars,
                payloads=pays,
                rr_prefill=rr_prefill,
                ep_ok=ok.reshape(K, len(names)),
                ep_pow=pw.reshape(3, K, len(names)).transpose(1, 0, 2),
                eeg_spec=hb.stream_spec,
                channel_by_uuid=hb.channel_by_uuid,
                rr_spec=st.rr_spec,
                hr_spec=st.hr_spec,
                thresholds=thresholds,
                kinds_l=list(kinds),
                t_l=list(ts),
            )
        )
    ecg_spec = StreamSpec("h10", "ecg", "ecg", ("ECG",), ECG_SFREQ, "uV", ECG_SAMPLES_PER_FRAME)
    return BenchSources(variants, float(duration_s), ecg_spec, tuple(names))


# ------------------------------------------------------------------------------- features


def rr_index_features(rr_s) -> tuple[float, float, QualityReport]:
    """``hrv_ln_rmssd`` and ``hr_mean_bpm`` of an RR window, as ``compute_index_features``.

    The RR part of :func:`~addictidx.features.compute_index_features` without the HRV features the
    index does not use: :func:`~addictidx.features.rr_quality` screening, then (Kubios
    convention, as ``compute_hrv``) RMSSD over successive differences of adjacent accepted
    intervals and ``60 / mean(accepted RR)``; tests hold these two values equal to
    ``compute_index_features``. ``compute_index_features`` calls ``compute_hrv`` with SampEn
    and DFA (O(n²), about 1 ms per 2-min window). The library's lean call
    ``compute_hrv(..., frequency=False, nonlinear=False, geometric=False)`` still computes the
    other statistical time-domain features (median, SDNN, pNN50, ...), about 70 µs more per
    update than these two lines (about 145 vs 72 µs with ``rr_quality``), so they are kept.

    Returns
    -------
    ln_rmssd, hr_mean_bpm : float
        NaN when the RR gate fails.
    report : QualityReport
        The RR report of ``rr_quality``.
    """
    from addictidx.features import rr_quality

    rr = np.asarray(rr_s, dtype=np.float64)
    ok, report = rr_quality(rr)
    if not report.usable:
        return math.nan, math.nan, report
    ms = np.where(ok, rr * 1000.0, np.nan)
    valid = ok
    d = np.diff(ms)[valid[:-1] & valid[1:]]
    if d.size == 0:
        return math.nan, math.nan, report
    rmssd = math.sqrt(float(np.mean(d * d)))
    ln_rmssd = math.log(rmssd) if rmssd > 0 else math.nan
    return ln_rmssd, 60000.0 / float(np.mean(ms[valid])), report


def rolling_eeg_features(ep_ok, ep_pow, in_window, i_af, i_tp, min_pass: float = 0.6):
    """EEG index features of many sessions from their per-epoch results (vectorized).

    Parameters
    ----------
    ep_ok : ndarray of bool, shape (D, K, n_ch)
        Epoch passed the gap/flatline/amplitude checks.
    ep_pow : ndarray, shape (D, K, 3, n_ch)
        Alpha, beta and total (1-25 Hz) band power of each epoch's periodogram.
    in_window : ndarray of bool, shape (D, K)
        Epochs inside each session's rolling window.
    i_af, i_tp : list of int
        Channel indices of AF7/AF8 and TP9/TP10.
    min_pass : float
        Per-channel gate on the share of passing epochs.

    Returns
    -------
    frac : ndarray, shape (D, n_ch)
        Share of passing epochs per channel.
    beta_rel_frontal, alpha_beta_temporal : ndarray, shape (D,)
        ``eeg_beta_rel_frontal`` and ``eeg_alpha_beta_ratio_temporal`` (NaN when gated), equal to
        :func:`~addictidx.features.compute_index_features` on the window (band power is linear
        in the PSD, so the ratio of summed band powers equals that of the mean periodogram).
    """
    n_ep = in_window.sum(axis=1)
    okw = ep_ok & in_window[:, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = okw.sum(axis=1) / n_ep[:, None]
        sums = (ep_pow * okw[:, :, None, :]).sum(axis=1)
        alpha, beta, total = sums[:, 0], sums[:, 1], sums[:, 2]
        fr = np.where(
            (frac[:, i_af] >= min_pass).all(axis=1),
            (beta[:, i_af] / total[:, i_af]).mean(axis=1),
            np.nan,
        )
        tp = np.where(
            (frac[:, i_tp] >= min_pass).all(axis=1),
            (alpha[:, i_tp] / beta[:, i_tp]).mean(axis=1),
            np.nan,
        )
    return frac, fr, tp


class _Session:
    __slots__ = (
        "v",
        "phase",
        "eeg_asm",
        "hrs_asm",
        "eeg_buf",
        "rr_buf",
        "ecg_buf",
        "next_epoch",
        "n_index",
        "last_index",
        "ecg_t0",
    )

    def __init__(self, var: _Variant, phase: float, ecg_spec: StreamSpec, rr_capacity: int):
        self.v = var
        self.phase = phase
        self.eeg_asm = MuseEegAssembler(var.eeg_spec, var.channel_by_uuid)
        self.hrs_asm = HrsAssembler(var.rr_spec, var.hr_spec)
        self.eeg_buf = RingBuffer(var.eeg_spec, capacity_s=3 * EEG_EPOCH_S)
        self.rr_buf = EventBuffer(var.rr_spec, capacity=rr_capacity)
        self.ecg_buf = RingBuffer(ecg_spec, capacity_s=10.0)
        pre = var.rr_prefill
        times = -(np.cumsum(pre[::-1])[::-1] - pre)
        self.rr_buf.write(Chunk(var.rr_spec, pre[None, :].copy(), times))
        self.next_epoch = 0
        self.n_index = 0
        self.last_index = None
        self.ecg_t0 = None

    def feed(self, kind: int, char: str, payload: bytes, t: float) -> None:
        if kind == _KIND_EEG:
            buf = self.eeg_buf
            for c in self.eeg_asm.feed(char, payload, t):
                buf.write(c)
        elif kind == _KIND_HRS:
            for c in self.hrs_asm.feed(payload, t):
                if c.spec.name == "rr":
                    self.rr_buf.write(c)
        else:
            ts_ns, uv = decode_pmd_ecg(payload)
            if self.ecg_t0 is None:
                self.ecg_t0 = ts_ns - int(round(t * 1e9))
            t_last = (ts_ns - self.ecg_t0) * 1e-9
            times = t_last - np.arange(uv.size - 1, -1, -1) / ECG_SFREQ
            self.ecg_buf.write(Chunk(self.ecg_buf.spec, uv[None, :], times, received_at=t))

    def feed_eeg_decoded(self, char: str, seq: int, uv: np.ndarray, t: float) -> None:
        buf = self.eeg_buf
        for c in self.eeg_asm.feed_decoded(char, seq, uv, t):
            buf.write(c)

    def epoch_data(self, e: int) -> np.ndarray:
        """Samples of epoch ``e`` (run coordinates) from the ring buffer, (n_ch, 512)."""
        nep = int(EEG_EPOCH_S * EEG_SFREQ)
        n = self.eeg_buf.total_written - nep * e
        return self.eeg_buf.latest(n / EEG_SFREQ).data[:, :nep]


@dataclass
class RunResult:
    """Measurements of one run of ``n_sessions`` concurrent sessions.

    Latencies are on the wall clock (``latency_ms``) and on the CPU clock
    (``latency_cpu_ms``); see the module docstring for the server model.
    """

    n_sessions: int
    duration_s: float
    tick_s: float
    n_ticks: int
    n_notifications: int
    n_index_updates: int
    n_with_index: int
    latency_ms: np.ndarray = field(repr=False)
    latency_cpu_ms: np.ndarray = field(repr=False)
    overrun_rate_wall: float
    overrun_rate_cpu: float
    backlog_wall_s: float
    backlog_cpu_s: float
    cpu_s: float
    wall_s: float
    stage_cpu_s: dict
    rss_growth_per_session_bytes: float  # RSS growth / N (allocator reuse makes it noisy)
    held_wall: bool
    held_cpu: bool
    held: bool
    last_index: float | None

    @property
    def cpu_s_per_session_s(self) -> float:
        """CPU seconds per session-second of data."""
        return self.cpu_s / (self.n_sessions * self.duration_s)

    def summary(self) -> dict:
        """JSON-ready dict (latency percentiles instead of the raw arrays)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("latency_ms", "latency_cpu_ms")}
        d.update({f"{k}": v for k, v in latency_summary(self.latency_ms).items()})
        d["latency_cpu"] = latency_summary(self.latency_cpu_ms)
        d["cpu_s_per_session_s"] = self.cpu_s_per_session_s
        d["cpu_load"] = self.cpu_s / self.duration_s
        return d


def latency_summary(lat_ms) -> dict:
    """``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``, ``mean_ms`` and ``n`` of latencies."""
    a = np.asarray(lat_ms, dtype=np.float64)
    if a.size == 0:
        return {
            "p50_ms": None,
            "p95_ms": None,
            "p99_ms": None,
            "max_ms": None,
            "mean_ms": None,
            "n": 0,
        }
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(a.max()),
        "mean_ms": float(a.mean()),
        "n": int(a.size),
    }


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _schedule(service: np.ndarray, tick_s: float, tick_of_update: np.ndarray):
    """Replay the real-time schedule: latencies of updates, overrun rate, final backlog."""
    n = service.size
    end = np.empty(n)
    prev = 0.0
    for k in range(n):
        T = (k + 1) * tick_s
        prev = max(T, prev) + service[k]
        end[k] = prev
    T = (np.arange(n) + 1) * tick_s
    lat = (end - T)[tick_of_update] * 1000.0
    overrun = float(np.mean(end > T + tick_s)) if n else 0.0
    backlog = float(end[-1] - T[-1]) if n else 0.0
    return lat, overrun, backlog


def run_sessions(
    n_sessions: int,
    duration_s: float,
    cfg: BenchConfig = BenchConfig(),
    sources: BenchSources | None = None,
) -> RunResult:
    """Run ``n_sessions`` concurrent simulated sessions for ``duration_s`` of session time.

    Parameters
    ----------
    n_sessions : int
        Concurrent sessions served by this thread.
    duration_s : float
        Session time streamed per session (s).
    cfg : BenchConfig
        Benchmark parameters.
    sources : BenchSources | None
        Pre-generated streams (at least ``duration_s`` long); generated when omitted.

    Returns
    -------
    RunResult
    """
    from addictidx.models import population_baseline, score_indices
    from addictidx.prescribe import prescribe

    n_sessions = int(n_sessions)
    if n_sessions < 1:
        raise ValueError(f"n_sessions must be >= 1, got {n_sessions!r}.")
    if not duration_s >= cfg.hop_s:
        raise ValueError(f"duration_s must be >= hop_s ({cfg.hop_s} s), got {duration_s!r}.")
    if sources is None or sources.duration_s < duration_s:
        sources = make_sources(duration_s, cfg)
    baseline = population_baseline()
    screening = {"medically_screened": True}
    V = len(sources.variants)
    ch = sources.ch_names
    i_af = [ch.index("AF7"), ch.index("AF8")]
    i_tp = [ch.index("TP9"), ch.index("TP10")]
    n_ch = len(ch)
    K = cfg.n_epochs
    nep = int(EEG_EPOCH_S * EEG_SFREQ)
    tick = cfg.tick_s
    thresholds = sources.variants[0].thresholds
    min_pass = 0.6
    if thresholds and "min_pass_fraction" in thresholds:
        min_pass = float(thresholds["min_pass_fraction"])
    from addictidx.features import INDEX_EEG_CHANNELS

    gc.collect()
    rss0 = _rss_bytes()
    phases = np.arange(n_sessions) * (cfg.hop_s / n_sessions)
    rr_cap = int((cfg.rr_window_s + duration_s + 30.0) * 220 / 60) + 16
    sessions = [
        _Session(sources.variants[i % V], float(phases[i]), sources.ecg_spec, rr_cap)
        for i in range(n_sessions)
    ]
    # rolling epoch results, slot = epoch % K; prefill epochs -K..-1
    ep_num = np.empty((n_sessions, K), dtype=np.int64)
    ep_ok = np.empty((n_sessions, K, n_ch), dtype=bool)
    ep_pow = np.empty((n_sessions, K, 3, n_ch))
    slots = np.arange(-K, 0) % K
    for i, s in enumerate(sessions):
        ep_num[i, slots] = np.arange(-K, 0)
        ep_ok[i, slots] = s.v.ep_ok
        ep_pow[i, slots] = s.v.ep_pow
    # delivery plan: notes of session i in tick k are [bounds[i, k], bounds[i, k + 1])
    n_ticks = int(math.ceil((duration_s + cfg.hop_s) / tick))
    T = np.arange(n_ticks + 1) * tick
    bounds = np.empty((n_sessions, n_ticks + 1), dtype=np.int64)
    for i, s in enumerate(sessions):
        t = s.v.t
        lim = np.minimum(T - s.phase, duration_s)
        bounds[i] = np.searchsorted(t, lim, side="right")
        bounds[i, 0] = np.searchsorted(t, 0.0, side="left")
    bounds_l = bounds.tolist()
    # index updates: session time m * hop, m = 1..floor(duration / hop), at server time + phase
    n_hops = int(math.floor(duration_s / cfg.hop_s + 1e-9))
    due: list[list[tuple[int, float]]] = [[] for _ in range(n_ticks)]
    for i, s in enumerate(sessions):
        for m in range(1, n_hops + 1):
            st = m * cfg.hop_s
            k = int(math.ceil((st + s.phase) / tick - 1e-9)) - 1  # tick index (0-based)
            due[min(max(k, 0), n_ticks - 1)].append((i, st))
    epoch_end_samples = [nep * (s.next_epoch + 1) for s in sessions]

    svc_wall = np.zeros(n_ticks)
    svc_cpu = np.zeros(n_ticks)
    stage = {"ingest": 0.0, "epochs": 0.0, "features": 0.0, "onnx_index": 0.0, "prescribe": 0.0}
    tick_of_update: list[int] = []
    n_notes = n_updates = n_with_index = 0
    last_index = None
    perf, tcpu = time.perf_counter, time.thread_time
    names_rep_cache: dict[int, list] = {}
    wall0, cpu0 = perf(), tcpu()
    for k in range(n_ticks):
        w0, c0 = perf(), tcpu()
        # 1. ingest: every session's notifications of this connection interval; the EEG
        # notifications of all sessions are decoded in one vectorized call
        touched, eeg_s, eeg_j, eeg_p = [], [], [], []
        for i in range(n_sessions):
            b = bounds_l[i]
            a, z = b[k], b[k + 1]
            if a == z:
                continue
            s = sessions[i]
            v = s.v
            kinds, ts, chars, pays = v.kinds_l, v.t_l, v.chars, v.payloads
            for j in range(a, z):
                if kinds[j] == _KIND_EEG:
                    eeg_s.append(s)
                    eeg_j.append(j)
                    eeg_p.append(pays[j])
                else:
                    s.feed(kinds[j], chars[j], pays[j], ts[j])
            n_notes += z - a
            touched.append(i)
        if eeg_p:
            if len(eeg_p) >= _MIN_BATCH_DECODE:
                seqs, uvs = decode_muse_eeg_batch(eeg_p)
                decoded = zip(seqs.tolist(), uvs)
            else:  # a few notifications: the single-payload path has less overhead
                decoded = map(decode_muse_eeg, eeg_p)
            for s, j, (sq, uv) in zip(eeg_s, eeg_j, decoded):
                s.feed_eeg_decoded(s.v.chars[j], sq, uv, s.v.t_l[j])
        ready = [i for i in touched if sessions[i].eeg_buf.total_written >= epoch_end_samples[i]]
        c1 = tcpu()
        stage["ingest"] += c1 - c0
        # 2. EEG epochs that became complete: one batched check + FFT for all sessions
        if ready:
            rows, owners = [], []
            for i in ready:
                s = sessions[i]
                while s.eeg_buf.total_written >= nep * (s.next_epoch + 1):
                    rows.append(s.epoch_data(s.next_epoch))
                    owners.append((i, s.next_epoch))
                    s.next_epoch += 1
                epoch_end_samples[i] = nep * (s.next_epoch + 1)
            m = len(owners)
            names_rep = names_rep_cache.get(m)
            if names_rep is None:
                names_rep = names_rep_cache[m] = list(ch) * m
            ok, pw = _epoch_features(np.concatenate(rows), names_rep, thresholds)
            ok = ok.reshape(m, n_ch)
            pw = pw.reshape(3, m, n_ch).transpose(1, 0, 2)
            for r, (i, e) in enumerate(owners):
                slot = e % K
                ep_num[i, slot] = e
                ep_ok[i, slot] = ok[r]
                ep_pow[i, slot] = pw[r]
        c2 = tcpu()
        stage["epochs"] += c2 - c1
        # 3. index updates due in this tick: rolling features, one ONNX call, prescriptions
        upd = due[k]
        if upd:
            idx = np.fromiter((i for i, _ in upd), dtype=np.int64, count=len(upd))
            st_arr = np.fromiter((t for _, t in upd), dtype=np.float64, count=len(upd))
            num = ep_num[idx]  # (D, K)
            inwin = (num * EEG_EPOCH_S >= (st_arr - cfg.eeg_window_s)[:, None] - 1e-9) & (
                (num + 1) * EEG_EPOCH_S <= st_arr[:, None] + 1e-9
            )
            frac, fr, tp = rolling_eeg_features(
                ep_ok[idx], ep_pow[idx], inwin, i_af, i_tp, min_pass
            )
            rows_f, quals = [], []
            frac_l = frac.tolist()
            for r, (i, st) in enumerate(upd):
                s = sessions[i]
                rr = s.rr_buf.latest(cfg.rr_window_s, now=st).data[0]
                ln_rmssd, hr, rr_rep = rr_index_features(rr)
                pc = dict(zip(ch, frac_l[r]))
                bad = [c for c in INDEX_EEG_CHANNELS if not pc.get(c, 0.0) >= min_pass]
                eeg_rep = QualityReport(
                    per_channel=pc,
                    flags=tuple(f"epochs<{min_pass:.0%}:{c}" for c in bad),
                    usable=not bad,
                    reasons=tuple(f"Too few passing EEG epochs on {c}." for c in bad),
                )
                rows_f.append(
                    {
                        "hrv_ln_rmssd": ln_rmssd,
                        "hr_mean_bpm": hr,
                        "eeg_beta_rel_frontal": float(fr[r]),
                        "eeg_alpha_beta_ratio_temporal": float(tp[r]),
                    }
                )
                quals.append(eeg_rep.merge(rr_rep))
            c3 = tcpu()
            stage["features"] += c3 - c2
            results = score_indices(rows_f, baseline, qualities=quals)
            c4 = tcpu()
            stage["onnx_index"] += c4 - c3
            for r, (i, _) in enumerate(upd):
                res = results[r]
                hr = rows_f[r]["hr_mean_bpm"]
                if math.isfinite(hr):  # index None -> the safe default suggestion
                    prescribe(res, age=cfg.age, resting_hr=hr, screening=screening)
                if res.index is not None:
                    n_with_index += 1
                    last_index = res.index
                sessions[i].n_index += 1
            stage["prescribe"] += tcpu() - c4
            n_updates += len(upd)
            tick_of_update.extend([k] * len(upd))
        svc_wall[k] = perf() - w0
        svc_cpu[k] = tcpu() - c0
    wall = perf() - wall0
    cpu = tcpu() - cpu0
    rss1 = _rss_bytes()
    tou = np.asarray(tick_of_update, dtype=np.int64)
    lat_w, ov_w, bl_w = _schedule(svc_wall, tick, tou)
    lat_c, ov_c, bl_c = _schedule(svc_cpu, tick, tou)

    def held(lat, ov, bl):
        p99 = float(np.percentile(lat, 99)) if lat.size else 0.0
        return bool(ov <= cfg.max_overrun_rate and p99 <= cfg.latency_limit_ms and bl < tick)

    hw, hc = held(lat_w, ov_w, bl_w), held(lat_c, ov_c, bl_c)
    del sessions
    return RunResult(
        n_sessions=n_sessions,
        duration_s=float(duration_s),
        tick_s=tick,
        n_ticks=n_ticks,
        n_notifications=n_notes,
        n_index_updates=n_updates,
        n_with_index=n_with_index,
        latency_ms=lat_w,
        latency_cpu_ms=lat_c,
        overrun_rate_wall=ov_w,
        overrun_rate_cpu=ov_c,
        backlog_wall_s=bl_w,
        backlog_cpu_s=bl_c,
        cpu_s=cpu,
        wall_s=wall,
        stage_cpu_s=stage,
        rss_growth_per_session_bytes=max(rss1 - rss0, 0) / n_sessions,
        held_wall=hw,
        held_cpu=hc,
        held=hc if cfg.clock == "cpu" else hw,
        last_index=last_index,
    )


def session_memory_bytes(
    n_sessions: int = 50,
    cfg: BenchConfig = BenchConfig(),
    sources: BenchSources | None = None,
    feed_s: float = 4.0,
) -> float:
    """Python + numpy memory held per session (tracemalloc), after ``feed_s`` of notifications.

    Counts each session's assemblers, ring/event buffers (pre-filled RR window) and rolling
    epoch results; the shared pre-generated notification streams are not counted.
    """
    import tracemalloc

    if sources is None or sources.duration_s < feed_s:
        sources = make_sources(max(feed_s, cfg.hop_s), cfg)
    V = len(sources.variants)
    rr_cap = int((cfg.rr_window_s + sources.duration_s + 30.0) * 220 / 60) + 16
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        sess = [
            _Session(sources.variants[i % V], 0.0, sources.ecg_spec, rr_cap)
            for i in range(n_sessions)
        ]
        epochs = np.empty((n_sessions, cfg.n_epochs, 1 + 4 * len(sources.ch_names)))
        for s in sess:
            v = s.v
            for j in range(int(np.searchsorted(v.t, feed_s, side="right"))):
                s.feed(v.kinds[j], v.chars[j], v.payloads[j], v.t[j])
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del sess, epochs
    return used / n_sessions


# ------------------------------------------------------------------------------- capacity


def find_capacity(
    duration_s: float,
    cfg: BenchConfig = BenchConfig(),
    *,
    sweep_duration_s: float | None = None,
    start: int = 100,
    max_sessions: int = 3200,
    sources: BenchSources | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[int, list[dict]]:
    """Largest ``N`` for which real time holds (doubling, then bisection, then a full-length check).

    Returns
    -------
    max_sessions : int
        0 when even ``start`` did not hold (then the search continues downwards to 1).
    curve : list of dict
        One entry per run: sessions, duration, p50/p99 (wall and CPU), overrun rates, CPU load,
        CPU per session-second, verdicts.
    """
    sweep = min(duration_s, 6.0) if sweep_duration_s is None else sweep_duration_s
    if sources is None or sources.duration_s < duration_s:
        sources = make_sources(duration_s, cfg)
    curve: list[dict] = []
    cache: dict[tuple[int, float], RunResult] = {}

    def run(n: int, d: float) -> RunResult:
        if (n, d) not in cache:
            r = run_sessions(n, d, cfg, sources)
            cache[(n, d)] = r
            e = r.summary()
            curve.append(
                {
                    k: e[k]
                    for k in (
                        "n_sessions",
                        "duration_s",
                        "p50_ms",
                        "p99_ms",
                        "max_ms",
                        "overrun_rate_wall",
                        "overrun_rate_cpu",
                        "cpu_load",
                        "cpu_s_per_session_s",
                        "held_wall",
                        "held_cpu",
                        "held",
                    )
                }
                | {"p99_cpu_ms": e["latency_cpu"]["p99_ms"]}
            )
            if progress:
                progress(
                    f"capacity: N={n} ({d:g} s): p99 {e['p99_ms']:.1f} ms wall / "
                    f"{e['latency_cpu']['p99_ms']:.1f} ms cpu, load {e['cpu_load']:.2f}, "
                    f"{'held' if r.held else 'broke'}"
                )
        return cache[(n, d)]

    lo, hi = 0, None
    n = start
    while n <= max_sessions:
        if run(n, sweep).held:
            lo, n = n, n * 2
        else:
            hi = n
            break
    if lo == 0:  # even `start` broke: search below it
        hi, n = start, max(1, start // 2)
        while n >= 1 and not run(n, sweep).held:
            hi, n = n, n // 2
        lo = n if n >= 1 else 0
    if hi is None:
        hi = max_sessions + 1
    while lo and hi - lo > max(2, lo // 10):  # bisect to ~10 %
        mid = (lo + hi) // 2
        if run(mid, sweep).held:
            lo = mid
        else:
            hi = mid
    # confirm at the full duration, stepping down by 10 % if needed
    for _ in range(4):
        if lo < 1 or run(lo, duration_s).held:
            break
        lo = int(lo * 0.9)
    return lo, curve


# ------------------------------------------------------------------------------- reference


def _sklearn_index_pipeline(baseline):
    """The index arithmetic as a scikit-learn Pipeline (robust z -> signed clip -> mean -> Phi)."""
    from scipy.special import ndtr
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from addictidx.models import FEATURE_SIGNS, MAD_SCALE, MIN_FEATURES, Z_CLIP

    med, mad = baseline.arrays()
    scaler = StandardScaler().fit(np.zeros((2, med.size)))
    scaler.mean_ = np.asarray(med, dtype=np.float64)
    scaler.scale_ = MAD_SCALE * np.asarray(mad, dtype=np.float64)
    scaler.var_ = scaler.scale_**2
    signs = np.asarray(FEATURE_SIGNS)

    def index(z):
        zc = np.clip(np.asarray(z) * signs, -Z_CLIP, Z_CLIP)
        n = np.isfinite(zc).sum(axis=1)
        with np.errstate(invalid="ignore"):
            Z = np.where(n >= MIN_FEATURES, np.nansum(zc, axis=1) / np.maximum(n, 1), np.nan)
        return 100.0 * ndtr(Z)

    return make_pipeline(scaler, FunctionTransformer(index))


def run_reference(
    n_updates: int = 5,
    cfg: BenchConfig = BenchConfig(),
    *,
    lean: bool = False,
    sources: BenchSources | None = None,
) -> dict:
    """Time the reference pipeline (MNE + NeuroKit2 + scikit-learn) on the same windows.

    Each update recomputes the EEG window with ``mne.time_frequency.psd_array_welch`` (2-s
    Hamming segments, no overlap = the 2-s epochs) and trapezoid band powers, the RR window with
    ``neurokit2.hrv`` (``neurokit2.hrv_time`` when ``lean``), the index with the scikit-learn
    pipeline, and the prescription. Quality checks are not run (in the reference's favour).

    Returns
    -------
    dict
        ``cpu_s_per_update`` (median), ``wall_s_per_update``, ``n_updates``, ``hrv`` (function
        used) and ``index`` of the last update.
    """
    import warnings

    import mne
    import neurokit2 as nk

    from addictidx.features import EEG_BANDS
    from addictidx.models import population_baseline
    from addictidx.prescribe import prescribe

    if sources is None:
        sources = make_sources(max(cfg.eeg_window_s, 10.0), cfg, n_variants=1)
    var = sources.variants[0]
    from addictidx.readers import bundled_muse_eeg

    rec = bundled_muse_eeg()
    eeg, names, sfreq = rec.data, list(rec.ch_names), rec.sfreq
    eeg = np.asarray(eeg, dtype=np.float64)
    n_win = int(cfg.eeg_window_s * EEG_SFREQ)
    rr = var.rr_prefill
    pipe = _sklearn_index_pipeline(population_baseline())
    i_af = [names.index("AF7"), names.index("AF8")]
    i_tp = [names.index("TP9"), names.index("TP10")]
    hrv_fn = nk.hrv_time if lean else nk.hrv

    def one(u: int) -> float:
        a = (u * int(cfg.hop_s * EEG_SFREQ)) % (eeg.shape[1] - n_win)
        x = eeg[:, a : a + n_win]
        psd, freqs = mne.time_frequency.psd_array_welch(
            x, sfreq, n_fft=512, n_per_seg=512, n_overlap=0, window="hamming", verbose=False
        )
        bp = {}
        for b in ("alpha", "beta", "total"):
            lo, hi = EEG_BANDS[b]
            msk = (freqs >= lo) & (freqs <= hi)
            bp[b] = np.trapezoid(psd[:, msk], freqs[msk], axis=-1)
        fr = float(np.mean(bp["beta"][i_af] / bp["total"][i_af]))
        tp = float(np.mean(bp["alpha"][i_tp] / bp["beta"][i_tp]))
        r = np.roll(rr, u)
        peaks = np.rint(np.concatenate(([0.0], np.cumsum(r))) * 1000.0).astype(np.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = hrv_fn(peaks, sampling_rate=1000, show=False)
        rmssd = float(h["HRV_RMSSD"].iloc[0])
        hr = 60000.0 / float(h["HRV_MeanNN"].iloc[0])
        xrow = np.array([[math.log(rmssd), hr, fr, tp]])
        idx = float(pipe.transform(xrow)[0])
        prescribe(idx, age=cfg.age, resting_hr=hr, screening={"medically_screened": True})
        return idx

    one(0)  # warm-up (imports, caches)
    cpu, wall = [], []
    idx = math.nan
    for u in range(1, n_updates + 1):
        w0, c0 = time.perf_counter(), time.thread_time()
        idx = one(u)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {
        "cpu_s_per_update": float(np.median(cpu)),
        "wall_s_per_update": float(np.median(wall)),
        "n_updates": n_updates,
        "hrv": "neurokit2.hrv_time" if lean else "neurokit2.hrv",
        "psd": "mne.time_frequency.psd_array_welch",
        "model": "sklearn Pipeline",
        "index": idx,
    }


# ------------------------------------------------------------------------------- report


def machine_info() -> dict:
    """Python, numpy/onnxruntime versions, CPU model, cores, affinity."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
    }
    try:
        info["affinity"] = sorted(os.sched_getaffinity(0))
    except AttributeError:
        info["affinity"] = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["loadavg_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    for mod in ("scipy", "onnxruntime", "mne", "neurokit2", "sklearn"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", None)
    from addictidx import __version__

    info["addictidx"] = __version__
    return info


def run_benchmark(
    *,
    sessions: int = 1,
    duration_s: float = 30.0,
    cfg: BenchConfig = BenchConfig(),
    capacity: bool = True,
    reference: bool = True,
    reference_updates: int = 5,
    sweep_duration_s: float | None = None,
    capacity_start: int = 100,
    progress: Callable[[str], None] | None = None,
    keep_raw: bool = False,
) -> dict:
    """The whole benchmark: latency run, capacity search, reference pipeline; one JSON dict.

    Parameters
    ----------
    sessions : int
        Concurrent sessions of the latency run (``p50_ms`` ... ``max_ms``).
    duration_s : float
        Session time per run (s); the capacity sweep uses ``min(duration_s, 6)`` and confirms
        the result at ``duration_s``.
    cfg : BenchConfig
        Parameters and real-time criterion.
    capacity, reference : bool
        Run the capacity search / the reference pipeline.
    reference_updates : int
        Timed updates of the reference pipeline (``neurokit2.hrv`` costs about 0.1-0.5 s each).
    keep_raw : bool
        Also return the latency arrays (``_raw``, not JSON) for plots.

    Returns
    -------
    dict
        Keys ``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``, ``overrun_rate``,
        ``cpu_s_per_session_s``, ``memory_per_session_mb``, ``max_realtime_sessions``,
        ``cpu_ratio_vs_reference``, ``machine`` and details.
    """
    say = progress or (lambda _m: None)
    say(f"generating notification streams ({cfg.n_variants} device sets, {duration_s:g} s)")
    sources = make_sources(duration_s, cfg)
    run_sessions(1, min(duration_s, 2.0), cfg, sources)  # warm-up: imports, ONNX session
    say(f"latency run: {sessions} session(s) x {duration_s:g} s")
    main = run_sessions(sessions, duration_s, cfg, sources)
    ms = main.summary()
    out: dict = {
        "p50_ms": ms["p50_ms"],
        "p95_ms": ms["p95_ms"],
        "p99_ms": ms["p99_ms"],
        "max_ms": ms["max_ms"],
        "mean_ms": ms["mean_ms"],
        "sessions": sessions,
        "duration_s": float(duration_s),
        "n_index_updates": main.n_index_updates,
        "n_with_index": main.n_with_index,
        "n_notifications": main.n_notifications,
        "overrun_rate": main.overrun_rate_wall,
        "overrun_rate_cpu": main.overrun_rate_cpu,
        "latency_cpu": ms["latency_cpu"],
        "cpu_s_per_session_s": main.cpu_s_per_session_s,
        "stage_cpu_s_per_session_s": {
            k: v / (sessions * duration_s) for k, v in main.stage_cpu_s.items()
        },
        "memory_per_session_mb": session_memory_bytes(20, cfg, sources, feed_s=2.0) / 1e6,
        "memory_note": "tracemalloc over 20 sessions after 2 s of notifications (buffers, "
        "assemblers, rolling epochs); shared notification streams excluded",
        "realtime_held": main.held,
    }
    raw = {"latency_ms": main.latency_ms}
    cap_run = None
    if capacity:
        n_max, curve = find_capacity(
            duration_s,
            cfg,
            sweep_duration_s=sweep_duration_s,
            start=capacity_start,
            sources=sources,
            progress=say,
        )
        out["max_realtime_sessions"] = n_max
        out["capacity_curve"] = curve
        full = [c for c in curve if c["n_sessions"] == n_max and c["duration_s"] == duration_s]
        if full:
            cap_run = full[-1]
            out["capacity_run"] = cap_run
        held_wall = [c["n_sessions"] for c in curve if c["held_wall"]]
        out["max_realtime_sessions_wall_clock_sweep"] = max(held_wall) if held_wall else 0
    else:
        out["max_realtime_sessions"] = None
    if reference:
        say(
            f"reference pipeline: {reference_updates} updates with neurokit2.hrv, "
            f"{4 * reference_updates} with neurokit2.hrv_time"
        )
        ingest = main.stage_cpu_s["ingest"] / (sessions * duration_s)
        ref = run_reference(reference_updates, cfg, sources=None)
        lean = run_reference(4 * reference_updates, cfg, lean=True, sources=None)
        per_s = 1.0 / cfg.hop_s
        ref_cpu = ingest + ref["cpu_s_per_update"] * per_s
        lean_cpu = ingest + lean["cpu_s_per_update"] * per_s
        ours = main.cpu_s_per_session_s
        ours_cap = cap_run["cpu_s_per_session_s"] if cap_run else ours
        ref["cpu_s_per_session_s"] = ref_cpu
        lean["cpu_s_per_session_s"] = lean_cpu
        out["reference"] = ref
        out["reference_lean"] = lean
        out["cpu_ratio_vs_reference"] = ref_cpu / max(ours, ours_cap)
        out["cpu_ratio_vs_reference_at_capacity"] = ref_cpu / ours_cap
        out["cpu_ratio_vs_lean_reference"] = lean_cpu / max(ours, ours_cap)
        out["reference_note"] = (
            "Reference and ours both include the same ingest (decode + assemble + buffers, "
            "measured in the latency run); the reference recomputes every window per update. "
            "cpu_ratio_vs_reference uses the larger of our CPU/session-s at `sessions` and at "
            "capacity (conservative)."
        )
    else:
        out["cpu_ratio_vs_reference"] = None
    out["criterion"] = {
        "tick_s": cfg.tick_s,
        "hop_s": cfg.hop_s,
        "latency_limit_ms": cfg.latency_limit_ms,
        "max_overrun_rate": cfg.max_overrun_rate,
        "clock": cfg.clock,
        "text": (
            f"real time holds when <= {cfg.max_overrun_rate:.0%} of {cfg.tick_s * 1000:g}-ms "
            f"ticks overrun, p99 notification-to-index latency <= {cfg.latency_limit_ms:g} ms "
            f"and the final backlog is < 1 tick ({cfg.clock} clock service times)"
        ),
    }
    out["config"] = asdict(cfg)
    out["machine"] = machine_info()
    if keep_raw:
        out["_raw"] = raw
    return out
