"""Real recordings as the notifications the devices sent: Polar H10 CSV, Muse S Athena packet logs.

* :class:`PolarH10Recording` turns the detectPVC Polar H10 export (read by
  :func:`addictidx.readers.read_polar_h10_csv`) (``time_ns, ecg_mV, hr_bpm,
  rr_ms``; ``../shared/data/polar-h10-ecg-130hz-detectPVC``) back into what the strap sends:
  PMD ECG data frames on ``fb005c82`` (73 int24 µV samples each, the device timestamp of the last
  sample in ns since 2000-01-01) and Heart Rate Measurement notifications on 0x2A37 (one per HR
  row, carrying the RR intervals reported until the next HR row, in 1/1024 s).
* :func:`read_athena_log` reads the OpenMuse packet logs (``ISO time<TAB>UUID<TAB>hex``) as
  recorded notifications, byte-exact.

Both are notification sources for :class:`~addictidx.acquire.replay.ReplayTransport` and
:class:`~addictidx.acquire.faults.FaultInjector`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx.acquire.decoders.hrs import encode_heart_rate_measurement
from addictidx.acquire.decoders.polar_pmd import PMD_EPOCH_UNIX_NS
from addictidx.acquire.notification import Notification
from addictidx.devices import DeviceProfile, load_profile
from addictidx.readers import read_polar_h10_csv, read_text_lines

__all__ = ["PolarH10Recording", "encode_pmd_ecg_frame", "read_athena_log"]


def encode_pmd_ecg_frame(timestamp_ns: int, uv) -> bytes:
    """Encode a PMD ECG data frame (measurement 0, frame type 0, int24 LE µV).

    Inverse of :func:`~addictidx.acquire.decoders.polar_pmd.decode_pmd_ecg`.

    Parameters
    ----------
    timestamp_ns : int
        Device time of the last sample, ns since 2000-01-01.
    uv : array-like of int
        Samples in µV, each in ``-2**23 .. 2**23 - 1``.
    """
    v = np.asarray(uv)
    if v.ndim != 1 or not np.all(v == np.round(v)):
        raise ValueError("uv must be a 1D array of integer µV values.")
    v = v.astype(np.int64)
    if v.size and (v.min() < -(1 << 23) or v.max() >= 1 << 23):
        raise ValueError("uv values must fit in int24.")
    if not 0 <= int(timestamp_ns) < 1 << 64:
        raise ValueError(f"timestamp_ns must fit in uint64, got {timestamp_ns!r}.")
    u = (v & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
    return b"\x00" + int(timestamp_ns).to_bytes(8, "little") + b"\x00" + u.tobytes()


class PolarH10Recording:
    """A recorded Polar H10 replayed as PMD ECG frames and HRS notifications.

    Parameters
    ----------
    path : str | path-like
        The CSV (``polar_h10_ecg.csv.gz``).
    samples_per_frame : int | None
        ECG samples per PMD frame; default: the profile's ``samples_per_packet`` of its ``ecg``
        stream (73 for the H10: they fill MTU 232).
    profile : str | DeviceProfile
        Profile naming the characteristics (default ``polar-h10``).
    name : str | None
        Device name (default: the profile name).

    Attributes
    ----------
    ecg_uv : ndarray of int64
        ECG in µV (``round(ecg_mV * 1000)``, the H10's native resolution).
    rr_1024 : ndarray of int64
        Every RR interval of the file in 1/1024 s (``round(rr_ms * 1.024)``), in file order.

    Notes
    -----
    Notification times are the file's timestamps (s from its first row): an ECG frame at its last
    sample, an HR notification at its HR row. RR values that precede the first HR row ride on the
    first HR notification. The ECG's device timestamp is the row's Unix time minus the PMD epoch.
    """

    def __init__(
        self,
        path,
        *,
        samples_per_frame: int | None = None,
        profile: str | DeviceProfile = "polar-h10",
        name: str | None = None,
    ) -> None:
        cols = read_polar_h10_csv(path)
        self.profile = profile if isinstance(profile, DeviceProfile) else load_profile(profile)
        self.name = self.profile.name if name is None else str(name)
        s_ecg, s_hr = self.profile.stream("ecg"), self.profile.stream("hr")
        if samples_per_frame is None:
            samples_per_frame = s_ecg.samples_per_packet or 0
        self.samples_per_frame = int(samples_per_frame)
        # characteristics from the profile (PMD data, Heart Rate Measurement)
        self._ecg_uuid, self._hr_uuid = s_ecg.characteristics[0], s_hr.characteristics[0]
        if self.samples_per_frame < 1:
            raise ValueError("samples_per_frame must be >= 1.")
        self.time_ns = cols.time_ns
        self.ecg_uv = np.rint(cols.ecg_mv * 1000.0).astype(np.int64)
        hr, rr = cols.hr_bpm, cols.rr_ms
        self.rr_1024 = np.rint(rr[np.isfinite(rr)] * 1.024).astype(np.int64)
        self._hr_rows = np.flatnonzero(np.isfinite(hr))
        self._hr = hr
        self._rr = rr

    def _t(self, row: int) -> float:
        return (int(self.time_ns[row]) - int(self.time_ns[0])) / 1e9

    def _ecg(self) -> Iterator[Notification]:
        k = self.samples_per_frame
        for start in range(0, self.ecg_uv.size - k + 1, k):
            last = start + k - 1
            ts = int(self.time_ns[last]) - PMD_EPOCH_UNIX_NS
            yield Notification(
                self._t(last),
                self._ecg_uuid,
                encode_pmd_ecg_frame(ts, self.ecg_uv[start : last + 1]),
            )

    def _hrs(self) -> Iterator[Notification]:
        rows = self._hr_rows
        rr_rows = np.flatnonzero(np.isfinite(self._rr))
        for i, row in enumerate(rows):
            lo = -1 if i == 0 else row
            hi = rows[i + 1] if i + 1 < rows.size else math.inf
            sel = rr_rows[(rr_rows >= lo) & (rr_rows < hi)]
            rr = [int(round(self._rr[r] * 1.024)) for r in sel]
            for j in range(0, max(len(rr), 1), 9):  # at most 9 RR per 20-byte notification
                payload = encode_heart_rate_measurement(int(self._hr[row]), rr[j : j + 9])
                yield Notification(self._t(row), self._hr_uuid, payload)

    def notifications(self, until_s: float | None = None) -> Iterator[Notification]:
        """ECG frames and HRS notifications in time order (HRS first on ties)."""
        import heapq

        merged = heapq.merge(self._hrs(), self._ecg(), key=lambda n: n.t)
        for n in merged:
            if until_s is not None and n.t > until_s:
                return
            yield n

    def __iter__(self) -> Iterator[Notification]:
        return self.notifications()


def read_athena_log(path) -> list[Notification]:
    """Read an OpenMuse Athena packet log as recorded notifications.

    Each line is ``<ISO-8601 time>\\t<characteristic UUID>\\t<hex payload>``; ``t`` is seconds
    from the first line. Raises :class:`DataFormatError` naming the file and line.
    """
    lines, name = read_text_lines(path)
    out: list[Notification] = []
    t0 = None
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        f = line.rstrip("\n").split("\t")
        if len(f) != 3:
            raise DataFormatError(
                f"{name}, line {i}: expected 3 TAB-separated fields, got {len(f)}."
            )
        try:
            t = datetime.fromisoformat(f[0].strip().replace("Z", "+00:00")).timestamp()
            payload = bytes.fromhex(f[2].strip())
        except ValueError as err:
            raise DataFormatError(f"{name}, line {i}: {err}.") from None
        t0 = t if t0 is None else t0
        out.append(Notification(t - t0, f[1].strip().lower(), payload))
    if not out:
        raise DataFormatError(f"{name}: no notifications found.")
    return out
