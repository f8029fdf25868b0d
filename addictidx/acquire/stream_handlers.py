"""Per-device stream handlers of :class:`~addictidx.acquire.hub.StreamHub`.

One handler per assembled stream group of a device, built from the device's decoder routes
(:func:`~addictidx.acquire.routing.decoder_routes`): classic Muse EEG, Muse S Athena, Heart Rate
Measurement (``rr`` + ``hr``), battery level and Polar PMD ECG. A handler feeds its assembler,
writes the chunks into the hub's buffers (NaN fill where samples were due but never came) and
records every gap through the hub's :meth:`~addictidx.acquire.hub.StreamHub.emit` and
:meth:`~addictidx.acquire.hub.StreamHub.record_gap`.
"""

from __future__ import annotations

import itertools
from typing import Any, Protocol

import numpy as np

from addictidx._core.types import Chunk
from addictidx.acquire.assemble import HrsAssembler, MuseEegAssembler
from addictidx.acquire.athena_assemble import (
    AthenaEegAssembler,
    athena_eeg_tag_channels,
    athena_session_profile,
)
from addictidx.acquire.buffers import EventBuffer, RingBuffer
from addictidx.acquire.decoders.hrs import (
    HeartRateMeasurement,
    decode_battery_level,
    heart_rate_fields,
)
from addictidx.acquire.decoders.muse_athena import (
    ATHENA_TAGS,
    decode_athena_block,
    split_athena_notification,
)
from addictidx.acquire.decoders.polar_pmd import decode_pmd_ecg
from addictidx.acquire.events import GapRecord, SkinContact
from addictidx.devices import DeviceProfile, load_profile, scaler


class HubOutput(Protocol):
    """What a handler needs from its hub (:class:`~addictidx.acquire.hub.StreamHub` is one):
    the hub's settings and where chunks, gaps and counters go."""

    capacity_s: float
    event_capacity: int
    eeg_clock: str
    athena_clock: str
    max_lag_blocks: int
    silence_s: float | None
    dedupe_window_s: float
    publishing: bool  # someone subscribed to the chunks
    ring_pool: Any  # storage of the ring buffers (a RingPool, or None: their own)

    def add_buffer(self, buf: Any) -> Any: ...

    def emit(self, chunk: Chunk, buf: Any) -> None: ...

    def record_gap(self, gap: GapRecord) -> None: ...

    def count(self, device: str, key: str) -> None: ...


__all__ = [
    "HubOutput",
    "Handler",
    "EegHandler",
    "AthenaHandler",
    "IrregularHandler",
    "HrsHandler",
    "BatteryHandler",
    "PmdHandler",
]


_SERIALS = itertools.count(1)


class Handler:
    """Base: one assembler fed by one or more characteristics of one device."""

    streams: tuple[str, ...] = ()

    def __init__(self, hub: HubOutput, device: str) -> None:
        self.hub = hub
        self.device = device
        self.serial = next(_SERIALS)  # unique in the process (batched feeds group by it)
        self.pending_gap = False  # a disconnect happened; resolve at the next data

    def feed(self, characteristic: str, payload: bytes, t: float) -> None:
        raise NotImplementedError

    def on_disconnect(self, t: float) -> None:
        self.pending_gap = True

    def close(self, t_end: float) -> None:
        """Record a gap left open by a disconnect that never came back."""


class EegHandler(Handler):
    def __init__(self, hub, device, profile: DeviceProfile, stream: str) -> None:
        super().__init__(hub, device)
        sp = profile.stream(stream)
        self.streams = (stream,)
        self.spec = sp.spec(device)
        chan = {u: chans[0] for u, chans in sp.routes.items()}
        self.asm = MuseEegAssembler(
            self.spec, chan, clock=hub.eeg_clock, max_lag_blocks=hub.max_lag_blocks
        )
        self.sfreq = float(self.spec.sfreq)
        self.buf = hub.add_buffer(RingBuffer(self.spec, hub.capacity_s, pool=hub.ring_pool))
        self.last_time: float | None = None
        self.block_shape = (self.spec.n_channels, self.asm.spp)  # (electrodes, samples)

    def feed(self, characteristic, payload, t):
        if self.pending_gap or self.hub.publishing:
            chunks = self.asm.feed(characteristic, payload, t)
            if chunks:
                self._write(chunks)
            return
        # nobody sees the chunks, no gap to resolve: a completed steady block straight into
        # the buffer (what _write does with its one chunk)
        out = self.asm.feed_block(characteristic, payload, t)
        if type(out) is tuple:
            data, times = out
            self.buf.write_arrays(data, times)
            self.last_time = float(times[-1])
        elif out:
            self._write(out)

    def feed_decoded(self, characteristic, sequence, uv, t):
        """:meth:`feed` for a notification decoded already (a batched decode)."""
        chunks = self.asm.feed_decoded(characteristic, sequence, uv, t)
        if chunks:
            self._write(chunks)

    def write_whole_blocks(self, data, times, first_seq: int, received) -> None:
        """Write whole blocks assembled by :mod:`~addictidx.acquire.eeg_runs` (no gap pending).

        One ring-buffer write for all of them; the hub's subscribers get one chunk per block,
        as from :meth:`feed`.
        """
        hub = self.hub
        if hub.publishing:
            spp = times.size // len(received)
            for k, r in enumerate(received.tolist()):
                sl = slice(k * spp, (k + 1) * spp)
                ch = Chunk(
                    self.spec, data[:, sl].copy(), times[sl], seq=first_seq + k, received_at=r
                )
                hub.emit(ch, self.buf)
        else:
            self.buf.write_arrays(data, times)
        self.last_time = float(times[-1])

    def _write(self, chunks: list[Chunk]) -> None:
        dt = 1.0 / self.sfreq
        hub, buf = self.hub, self.buf
        for ch in chunks:
            times = ch.times
            if times.size == 0:
                continue
            if self.pending_gap:
                self.pending_gap = False
                if self.last_time is not None:
                    n_fill = int(round((times[0] - self.last_time) * self.sfreq)) - 1
                    start = self.last_time + dt
                    if n_fill > 0:
                        fill_t = start + np.arange(n_fill) * dt
                        data = np.full((self.spec.n_channels, n_fill), np.nan)
                        hub.emit(Chunk(self.spec, data, fill_t, n_missing=data.size), buf)
                    hub.record_gap(
                        GapRecord(
                            self.device,
                            self.spec.name,
                            float(start),
                            max(n_fill, 0) * dt,
                            "disconnect",
                            max(n_fill, 0),
                        )
                    )
            if ch.n_missing and ch.n_missing == ch.data.size:
                n = times.size
                hub.record_gap(
                    GapRecord(self.device, self.spec.name, float(times[0]), n * dt, "loss", n)
                )
            if hub.publishing:
                hub.emit(ch, buf)
            else:  # nobody sees the chunk (the assembler's own spec): straight into the buffer
                buf.write_arrays(ch.data, times, ch.n_missing)
            self.last_time = float(times[-1])

    def on_disconnect(self, t):
        self._write(self.asm.flush())
        self.asm.reset()
        self.pending_gap = True

    def close(self, t_end):
        self._write(self.asm.flush())
        if self.pending_gap and self.last_time is not None:
            start = self.last_time + 1.0 / self.sfreq
            self.hub.record_gap(
                GapRecord(
                    self.device, self.spec.name, start, max(0.0, t_end - start), "disconnect", 0
                )
            )
            self.pending_gap = False


class AthenaHandler(EegHandler):
    """Both Athena characteristics of one device: EEG assembled, battery buffered, rest counted."""

    def __init__(self, hub, device, profile: DeviceProfile) -> None:
        Handler.__init__(self, hub, device)
        profile = athena_session_profile(profile)
        self.last_time = None
        self.asm = None
        self.spec = None
        streams: list[str] = []
        if "eeg" in profile.stream_names and profile.stream("eeg").decoder == "athena.packet":
            sp = profile.stream("eeg")
            self.spec = sp.spec(device)
            self.asm = AthenaEegAssembler(
                self.spec,
                athena_eeg_tag_channels(profile),
                scale=sp.scale,
                offset=sp.offset,
                clock=hub.athena_clock,
                max_lag_blocks=hub.max_lag_blocks,
            )
            self.sfreq = float(self.spec.sfreq)
            self.buf = hub.add_buffer(RingBuffer(self.spec, hub.capacity_s, pool=hub.ring_pool))
            streams.append("eeg")
        self.battery_spec = None
        self.battery_buf = None
        for sp in profile.streams:
            if sp.decoder == "athena.packet" and sp.kind == "battery":
                self.battery_spec = sp.spec(device)
                self.battery_conv = scaler(sp.scale, sp.offset)  # as decode() converts
                self.battery_buf = hub.add_buffer(
                    EventBuffer(self.battery_spec, hub.event_capacity)
                )
                streams.append(sp.name)
                break
        self.streams = tuple(streams)

    def feed(self, characteristic, payload, t):
        blocks = split_athena_notification(payload)  # DecodeError before any state changes
        if self.battery_buf is not None:
            for b in blocks:
                if ATHENA_TAGS[b.tag].sensor == "battery":
                    pct = self.battery_conv(decode_athena_block(b)[:1, :1])
                    self.hub.emit(
                        Chunk(self.battery_spec, pct, np.array([t]), received_at=t),
                        self.battery_buf,
                    )
        if self.asm is not None:
            self._write(self.asm.feed_blocks(blocks, t))

    def on_disconnect(self, t):
        if self.asm is not None:
            super().on_disconnect(t)
        else:
            self.pending_gap = True

    def close(self, t_end):
        if self.asm is not None:
            super().close(t_end)


class IrregularHandler(Handler):
    """Shared gap logic of event streams: silence while connected, disconnect gaps."""

    def __init__(self, hub, device, streams: tuple[str, ...], silence_s: float | None):
        super().__init__(hub, device)
        self.streams = streams
        self.silence_s = silence_s
        self.last_rx: float | None = None

    def _check_gap(self, t: float) -> None:
        if self.last_rx is None:
            self.pending_gap = False
            return
        if self.pending_gap:
            reason = "disconnect"
        elif self.silence_s is not None and t - self.last_rx > self.silence_s:
            reason = "silence"
        else:
            return
        self.pending_gap = False
        for s in self.streams:
            self.hub.record_gap(
                GapRecord(self.device, s, self.last_rx, t - self.last_rx, reason, 0)
            )

    def close(self, t_end):
        if self.pending_gap and self.last_rx is not None:
            for s in self.streams:
                self.hub.record_gap(
                    GapRecord(
                        self.device,
                        s,
                        self.last_rx,
                        max(0.0, t_end - self.last_rx),
                        "disconnect",
                        0,
                    )
                )
            self.pending_gap = False


class HrsHandler(IrregularHandler):
    """Heart Rate Measurement: each notification decoded once, into ``rr``, ``hr`` and contact."""

    def __init__(self, hub, device, profile: DeviceProfile, rr: str | None, hr: str | None):
        streams = tuple(s for s in (hr, rr) if s is not None)
        super().__init__(hub, device, streams, hub.silence_s)
        # a profile with only one of the two streams: the other is the standard Heart Rate
        # Service's (the generic-hrs profile), assembled but not buffered
        std = load_profile("generic-hrs")
        s_rr = profile.stream(rr) if rr else std.stream("rr")
        s_hr = profile.stream(hr) if hr else std.stream("hr")
        spec_rr, spec_hr = s_rr.spec(device), s_hr.spec(device)
        self.asm = HrsAssembler(spec_rr, spec_hr, rr_scale=s_rr.scale, rr_offset=s_rr.offset)
        pool = hub.ring_pool  # a server's straps: written together (acquire.hrs_runs)
        cap = hub.event_capacity
        self.buf_rr = hub.add_buffer(EventBuffer(spec_rr, cap, pool=pool)) if rr else None
        self.buf_hr = hub.add_buffer(EventBuffer(spec_hr, cap, pool=pool)) if hr else None
        self.last_payload: bytes | None = None
        #: skin contact of the last notification (None: not reported / none yet) and the
        #: notifications, repeats included, that reported "supported, not detected"
        self.contact_detected: bool | None = None
        self.n_no_contact = 0

    @property
    def contact(self) -> SkinContact:
        """Skin contact as the notifications report it."""
        return SkinContact(self.contact_detected, self.n_no_contact)

    def _note_contact(self, supported: bool, detected: bool | None) -> None:
        detected = bool(detected) if supported else None
        self.contact_detected = detected
        self.n_no_contact += detected is False

    def feed(self, characteristic, payload, t):
        last = self.last_rx
        hub = self.hub
        if payload == self.last_payload and last is not None and t - last < hub.dedupe_window_s:
            hub.count(self.device, "n_duplicates")
            # the bytes decoded last time (no second decode): the contact it reported again
            self.n_no_contact += self.contact_detected is False
            return
        m = heart_rate_fields(payload)  # DecodeError before any state changes
        self._note_contact(m[1], m[2])
        if not hub.publishing:  # nobody sees the chunks: the values straight into the buffers
            rr, times, tf, hr = self.asm.feed_fields(m, t)
            self._check_gap(t)
            self.last_payload = payload
            self.last_rx = t
            if rr and self.buf_rr is not None:
                self.buf_rr.write_values(rr, times)
            if self.buf_hr is not None:
                self.buf_hr.write_values((hr,), (tf,), 0 if hr == hr else 1)  # NaN: missing
            return
        chunks = self.asm.feed_measurement(HeartRateMeasurement(*m), t)
        self._check_gap(t)
        self.last_payload = payload
        self.last_rx = t
        for ch in chunks:
            buf = self.buf_rr if ch.spec is self.asm.spec_rr else self.buf_hr
            if buf is None:
                continue
            self.hub.emit(ch, buf)


class BatteryHandler(IrregularHandler):
    def __init__(self, hub, device, profile: DeviceProfile, stream: str):
        super().__init__(hub, device, (stream,), None)
        self.spec = profile.stream(stream).spec(device)
        self.buf = hub.add_buffer(EventBuffer(self.spec, hub.event_capacity))

    def feed(self, characteristic, payload, t):
        pct = decode_battery_level(payload)
        self._check_gap(t)
        self.last_rx = t
        self.hub.emit(
            Chunk(self.spec, np.array([[float(pct)]]), np.array([t]), received_at=t), self.buf
        )


class PmdHandler(Handler):
    """PMD data characteristic: ECG frames assembled on the device clock; others counted."""

    def __init__(self, hub, device, profile: DeviceProfile, ecg: str | None):
        super().__init__(hub, device)
        self.streams = (ecg,) if ecg else ()
        self.spec = profile.stream(ecg).spec(device) if ecg else None
        self.buf = (
            hub.add_buffer(RingBuffer(self.spec, hub.capacity_s, pool=hub.ring_pool))
            if ecg
            else None
        )
        self.nominal_dt = 1.0 / float(self.spec.sfreq) if ecg else 0.0
        self.dt = self.nominal_dt
        self.host_offset: float | None = None  # session time - device time (s)
        self.prev_ts: float | None = None

    def feed(self, characteristic, payload, t):
        if not payload or payload[0] & 0x3F != 0 or self.spec is None:
            self.hub.count(self.device, "n_unhandled")
            return
        # a cut frame (fewer samples than a whole one) raises: its samples would be placed at
        # wrong times; the hole it leaves is NaN-filled from the next frame's timestamp
        ts_ns, uv = decode_pmd_ecg(payload, n_samples=self.spec.samples_per_packet)
        ts = ts_ns / 1e9
        n = uv.size
        if self.host_offset is None:
            self.host_offset = t - ts
        spacing = self.dt
        if self.prev_ts is not None:
            step = ts - self.prev_ts
            if step <= 0:  # repeated or out-of-order frame (device time does not go back)
                self.hub.count(self.device, "n_duplicates")
                return
            missing = int(round(step / self.dt)) - n
            if missing > n // 2:
                start = self.host_offset + self.prev_ts + self.dt
                times = start + np.arange(missing) * self.dt
                data = np.full((1, missing), np.nan)
                self.hub.emit(Chunk(self.spec, data, times, n_missing=missing), self.buf)
                reason = "disconnect" if self.pending_gap else "loss"
                self.hub.record_gap(
                    GapRecord(
                        self.device,
                        self.spec.name,
                        float(start),
                        missing * self.dt,
                        reason,
                        missing,
                    )
                )
            else:
                spacing = step / n
                if abs(spacing / self.nominal_dt - 1.0) < 0.1:
                    self.dt = 0.9 * self.dt + 0.1 * spacing
        self.pending_gap = False
        self.prev_ts = ts
        times = self.host_offset + ts - spacing * np.arange(n - 1, -1, -1, dtype=np.float64)
        if self.hub.publishing:
            self.hub.emit(Chunk(self.spec, uv[None, :], times, received_at=t), self.buf)
        else:  # nobody sees the chunk: its samples straight into the buffer
            self.buf.write_arrays(uv[None, :], times)
