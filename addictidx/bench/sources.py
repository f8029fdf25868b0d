"""The benchmark's notification streams: byte-exact BLE notifications of simulated devices.

Every session has a classic Muse headband (EEG characteristics per electrode) and a Polar H10
strap (Heart Rate Measurement 0x2A37 with RR about once a second, and PMD ECG frames). The
notifications come from :class:`~addictidx.acquire.SimulatedHeadband` and
:class:`~addictidx.acquire.SimulatedStrap` replaying real recordings, plus
:func:`ecg_notifications` (a synthetic QRS pulse train on the strap's beats, framed by
:func:`~addictidx.acquire.h10_replay.encode_pmd_ecg_frame`), merged in time order by
:func:`~addictidx.acquire.iter_notifications`. Rates and characteristics come from the device
profiles (:func:`~addictidx.acquire.load_profile`); nothing here hard-codes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from addictidx.acquire import (
    Notification,
    SimulatedHeadband,
    SimulatedStrap,
    iter_notifications,
    load_profile,
)
from addictidx.acquire.h10_replay import encode_pmd_ecg_frame
from addictidx.bench.config import BenchConfig

__all__ = [
    "BenchSources",
    "DeviceStreams",
    "ecg_notifications",
    "make_sources",
    "HEADBAND",
    "STRAP",
]

#: Device names of every session's headband and strap (one hub per session).
HEADBAND, STRAP = "muse", "strap"
PMD_EPOCH_OFFSET_NS = 599_616_000_000_000_000  # an arbitrary device time (2019) for frame stamps


def ecg_notifications(
    beat_times_s,
    duration_s: float,
    *,
    profile: str = "polar-h10",
    seed: int = 0,
) -> list[Notification]:
    """Minimal H10 ECG stream: a QRS-like pulse at every beat, framed as PMD notifications.

    Parameters
    ----------
    beat_times_s : array
        Beat times (s) of the strap's RR series.
    duration_s : float
        Stream length (s).
    profile : str
        Device profile whose ``ecg`` stream gives the rate, the samples per frame and the
        characteristic (the H10: 130 Hz, 73 samples per frame at MTU 232).
    seed : int
        Seed of the small baseline noise.

    Returns
    -------
    list of Notification
        One per frame, sent at the time of its last sample.
    """
    sp = load_profile(profile).stream("ecg")
    sfreq, per_frame = float(sp.sfreq), int(sp.samples_per_packet)
    char = sp.characteristics[0]
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
        out.append(Notification(t_last, char, encode_pmd_ecg_frame(ts, uv[a:b])))
    return out


@dataclass
class DeviceStreams:
    """One device set's notifications in time order, and what sessions need to start."""

    headband: SimulatedHeadband
    strap: SimulatedStrap
    devices: list  # device name per notification
    t: np.ndarray  # (n_notes,) device time, s
    chars: list
    payloads: list
    t_l: list  # t as Python floats, as a BLE callback hands them over
    rr_prefill: np.ndarray  # RR (s) of the rr_window before t = 0, oldest first
    eeg_prefill: np.ndarray  # (K, n_ch, n_per_epoch) EEG epochs -K..-1


@dataclass
class BenchSources:
    """Pre-generated notification streams (shared by all sessions of a run)."""

    variants: list
    duration_s: float
    ch_names: tuple
    sfreq: float


def make_sources(
    duration_s: float, cfg: BenchConfig = BenchConfig(), n_variants: int | None = None
) -> BenchSources:
    """Generate the notification streams of ``n_variants`` device sets and their pre-fill.

    Variant ``v`` plays the bundled Muse recording and RR series from a different offset (and
    jitter seed), so sessions do not all carry identical bytes.
    """
    from addictidx.readers import bundled_muse_eeg, bundled_rr

    n_variants = cfg.n_variants if n_variants is None else max(1, int(n_variants))
    rec = bundled_muse_eeg()
    eeg = np.asarray(rec.data, dtype=np.float64)
    names, sfreq = tuple(rec.ch_names), float(rec.sfreq)
    rr0 = np.asarray(bundled_rr(), dtype=np.float64)
    from addictidx.features import DEFAULT_EEG_THRESHOLDS

    eeg_profile = load_profile(cfg.headband).stream("eeg")
    epoch_s = float({**DEFAULT_EEG_THRESHOLDS, **(eeg_profile.quality or {})}["epoch_s"])
    K = int(math.floor(cfg.eeg_window_s / epoch_s + 1e-9))
    nep = int(round(epoch_s * sfreq))
    spp = int(eeg_profile.samples_per_packet or 1)
    variants = []
    for v in range(n_variants):
        off = (v * 7919 * spp) % eeg.shape[1]
        data = np.roll(eeg, -off, axis=1)
        hb = SimulatedHeadband(
            data,
            sfreq,
            ch_names=names,
            duration_s=duration_s + 1.0,
            seed=cfg.seed + v,
            name=HEADBAND,
            profile=cfg.headband,
        )
        rr = np.roll(rr0, -(v * 37) % rr0.size)
        st = SimulatedStrap(
            rr, duration_s=duration_s + 1.0, seed=cfg.seed + v, name=STRAP, profile=cfg.strap
        )
        beat_t, _ = st.beats()
        ecg = ecg_notifications(beat_t, duration_s + 1.0, profile=cfg.strap, seed=cfg.seed + v)
        devs, ts, chars, pays = [], [], [], []
        for name, note in iter_notifications({HEADBAND: hb, STRAP: st, "ecg": ecg}):
            devs.append(STRAP if name == "ecg" else name)
            ts.append(note.t)
            chars.append(note.characteristic)
            pays.append(note.payload)
        # pre-fill: the RR of the last rr_window before t = 0 (the series looped) ...
        reps = int(math.ceil((cfg.rr_window_s + 10.0) / rr.sum())) + 1
        tail = np.tile(rr, reps)
        k = int(np.searchsorted(np.cumsum(tail[::-1]), cfg.rr_window_s + 5.0)) + 1
        # ... and the EEG epochs -K..-1 (the recording looped)
        idx = np.arange(-K * nep, 0) % data.shape[1]
        pre = data[:, idx].reshape(len(names), K, nep).transpose(1, 0, 2)
        variants.append(
            DeviceStreams(
                headband=hb,
                strap=st,
                devices=devs,
                t=np.asarray(ts),
                chars=chars,
                payloads=pays,
                t_l=list(ts),
                rr_prefill=tail[-k:],
                eeg_prefill=np.ascontiguousarray(pre),
            )
        )
    return BenchSources(variants, float(duration_s), names, sfreq)
