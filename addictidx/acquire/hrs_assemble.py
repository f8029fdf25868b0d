"""Heart Rate Measurement notifications -> RR and HR on the session clock.

:class:`HrsAssembler` turns Heart Rate Measurement (0x2A37) notifications into an RR stream
(beat times back-computed from the arrival time) and an HR stream, never dropping a value that
arrived. A plain synchronous object (no asyncio, no I/O), one per strap connection, not
thread-safe; :mod:`addictidx.acquire.assemble` re-exports it.
"""

from __future__ import annotations

from itertools import accumulate

import numpy as np

from addictidx._core.types import Chunk, StreamSpec
from addictidx.acquire.decoders.hrs import (
    HR_PLAUSIBLE_BPM,
    RR_PLAUSIBLE_S,
    HeartRateMeasurement,
    decode_heart_rate_measurement,
)
from addictidx.devices import DeviceProfile, load_profile, scalar_scaler

__all__ = ["HrsAssembler"]


class HrsAssembler:
    """Assemble Heart Rate Measurement (0x2A37) notifications into RR and HR chunks.

    Parameters
    ----------
    spec_rr : StreamSpec
        The RR stream (one channel, unit ``"s"``, ``sfreq=None``).
    spec_hr : StreamSpec
        The HR stream (one channel, unit ``"bpm"``, ``sfreq=None``).
    rr_scale, rr_offset : float | None
        RR conversion ``s = rr_scale * (raw + rr_offset)`` from the device profile's ``rr``
        stream (:meth:`from_profile` passes them). ``None``: the standard Heart Rate Service's
        (the ``generic-hrs`` profile, 1/1024 s).

    Attributes
    ----------
    n_notifications, n_beats : int
        Notifications and RR intervals seen.
    contact_detected : bool | None
        Skin contact reported by the last notification (``None``: not supported / none yet).
    n_no_contact : int
        Notifications that reported "contact supported but not detected".
    n_implausible_hr : int
        Heart-rate values outside 20-250 bpm, emitted as NaN (missing).
    n_implausible_rr : int
        RR intervals outside 0.2-3 s (emitted as sent; see Notes).

    Notes
    -----
    Straps send no device time, so beat times are back-computed from the arrival time (as
    bleakheart does): for the intervals ``rr_1..rr_n`` of one notification received at ``t``,
    beat ``k`` is at ``t - sum_{j>k} rr_j``, the last beat at ``t``. The values are kept exactly
    (``n / 1024`` s) and every interval that arrived is emitted, including implausible ones
    (counted in :attr:`n_implausible_rr`): dropping one would shift the beat times of the others,
    and artefact correction belongs to the feature layer. A heart rate outside 20-250 bpm
    (straps send 0 before the first beat and while they have no contact, see
    ``contact_detected``; a corrupted uint16 field reads up to 65535) is not a heart rate: the HR
    chunk carries NaN (``n_missing=1``) and :attr:`n_implausible_hr` counts it.
    """

    def __init__(
        self,
        spec_rr: StreamSpec,
        spec_hr: StreamSpec,
        *,
        rr_scale: float | None = None,
        rr_offset: float = 0.0,
    ) -> None:
        for s in (spec_rr, spec_hr):
            if s.n_channels != 1:
                raise ValueError(f"Stream {s.key!r} must have exactly one channel.")
        if rr_scale is None:
            std = load_profile("generic-hrs").stream("rr")
            rr_scale, rr_offset = std.scale, std.offset
        self.spec_rr = spec_rr
        self.spec_hr = spec_hr
        # scaler()'s floating-point operations on one value (acquire.hrs_runs uses scaler())
        self._rr_one = scalar_scaler(rr_scale, rr_offset)
        #: ``(scale, offset)`` of the RR conversion (equal pairs convert identically)
        self.rr_scaling = (float(rr_scale), float(rr_offset))
        self.n_notifications = 0
        self.n_beats = 0
        self.n_no_contact = 0
        self.n_implausible_hr = 0
        self.n_implausible_rr = 0
        self.contact_detected: bool | None = None

    @classmethod
    def from_profile(
        cls, profile: DeviceProfile, device: str, *, rr: str = "rr", hr: str = "hr"
    ) -> HrsAssembler:
        """The assembler of a profile's ``rr`` and ``hr`` streams (RR scale from the profile).

        Parameters
        ----------
        profile : DeviceProfile
            A profile with both streams (decoder ``hrs.measurement``).
        device : str
            Device name for the stream specs.
        rr, hr : str
            Stream names.
        """
        s_rr = profile.stream(rr)
        return cls(
            s_rr.spec(device),
            profile.stream(hr).spec(device),
            rr_scale=s_rr.scale,
            rr_offset=s_rr.offset,
        )

    def feed(self, payload: bytes, received_at: float) -> list[Chunk]:
        """Add one notification; return ``[rr_chunk, hr_chunk]`` (no RR chunk if it had none).

        Parameters
        ----------
        payload : bytes
            The 0x2A37 notification value.
        received_at : float
            Arrival time on the session clock (s).

        Returns
        -------
        chunks : list of Chunk
            An RR chunk ``(1, n_beats)`` in seconds with beat times (only when ``n_beats > 0``),
            then the HR chunk ``(1, 1)`` in bpm at ``received_at`` (NaN if implausible).

        Raises
        ------
        DecodeError
            Malformed payload (nothing is changed).
        """
        return self.feed_measurement(decode_heart_rate_measurement(payload), received_at)

    def feed_measurement(self, m: HeartRateMeasurement, received_at: float) -> list[Chunk]:
        """Like :meth:`feed` for a notification already decoded (decode once, use twice)."""
        fields = (m.hr_bpm, m.contact_supported, m.contact_detected, m.energy_kj, m.rr_1024)
        rr, times, t, hr = self.feed_fields(fields, received_at)
        out: list[Chunk] = []
        if rr:
            out.append(Chunk(self.spec_rr, np.array([rr]), np.array(times), received_at=t))
        out.append(
            Chunk(
                self.spec_hr,
                np.array([[hr]]),
                np.array([t]),
                received_at=t,
                n_missing=0 if hr == hr else 1,  # NaN: implausible
            )
        )
        return out

    def feed_fields(
        self, fields: tuple, received_at: float
    ) -> tuple[list[float], list[float], float, float]:
        """:meth:`feed_measurement` of a notification decoded by
        :func:`~addictidx.acquire.decoders.hrs.heart_rate_fields`, as Python floats, no chunks
        (for a buffer-only consumer).

        Returns
        -------
        rr_s, beat_times : list of float
            The RR intervals (s) and their beat times (empty without RR).
        t : float
            ``received_at`` as a float (the heart rate's time).
        hr_bpm : float
            The heart rate, NaN if implausible (counted in :attr:`n_implausible_hr`).
        """
        hr_bpm, supported, detected, _energy, rr_1024 = fields[:5]
        t = float(received_at)
        self.n_notifications += 1
        self.contact_detected = detected
        if supported and not detected:
            self.n_no_contact += 1
        rr: list[float] = []
        times: list[float] = []
        if len(rr_1024) == 1:  # one beat (the usual notification): its time is t itself
            # (t - (last - last) == t - 0.0 == t, the cumulative sum of one value is itself)
            v = self._rr_one(rr_1024[0])
            rr = [v]
            times = [t]
            self.n_beats += 1
            lo, hi = RR_PLAUSIBLE_S
            if not lo <= v <= hi:
                self.n_implausible_rr += 1
        elif rr_1024:
            conv = self._rr_one
            rr = [conv(v) for v in rr_1024]
            # running sums in order, as np.cumsum adds them; beat k at t - sum_{j>k} rr_j
            cs = list(accumulate(rr))
            last = cs[-1]
            times = [t - (last - c) for c in cs]
            self.n_beats += len(rr)
            lo, hi = RR_PLAUSIBLE_S
            self.n_implausible_rr += sum(not lo <= v <= hi for v in rr)  # 0-9 values
        lo_hr, hi_hr = HR_PLAUSIBLE_BPM
        if lo_hr <= hr_bpm <= hi_hr:  # HeartRateMeasurement.hr_plausible
            hr = float(hr_bpm)
        else:
            self.n_implausible_hr += 1
            hr = float("nan")
        return rr, times, t, hr
