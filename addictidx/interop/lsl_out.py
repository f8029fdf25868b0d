"""Lab Streaming Layer outlets for a live session (``addictidx assess|dashboard --lsl``).

One outlet per stream, named ``addictidx <device> <stream>``:

=============  =========================  ==========  =============================================
LSL type       content                    rate        channels (unit)
=============  =========================  ==========  =============================================
``EEG``        headband EEG               256 Hz      TP9, AF7, AF8, TP10 (microvolts)
``PPG``        optics / PPG where decoded nominal     per profile (raw counts)
``ECG``        chest-strap ECG            130 Hz      ecg (microvolts)
``RR``         RR intervals               irregular   rr (ms), one sample per beat at its time
``HR``         heart rate from RR (the    irregular   hr (bpm), at each valid beat
               display's definition)
``Index``      the index                  irregular   index (0-100), Z (1), confidence (1)
``Markers``    phases, staff marks,       irregular   one string per event
               safety events
=============  =========================  ==========  =============================================

LSL has no official RR or index content type; ``RR`` follows the common irregular-rate
convention (unit in the channel metadata) and ``Index`` is the project's own type (the index is
not a mental state, so ``MentalState`` is not used). Every outlet carries channel labels, units
and types under ``desc/channels`` and ``desc/manufacturer`` / ``desc/device`` (the profile's
vendor and model).

**Time stamps.** Sample times on the session clock (the assemblers already correct the device
clocks onto it: least-squares host clock for the Muse, the PMD device clock for the H10) are
mapped to ``local_clock`` by one offset taken when the publisher starts, so every stream shares
one time base and recorders (LabRecorder, ``mne-lsl``) align them without jitter. A simulated
session replayed faster than real time keeps its own time scale.

**Privacy.** LSL outlets are discoverable by any host on the network: no subject code, name or
free text is ever put in a stream's name, source id, metadata or markers. Markers carry the event
kind and its fixed vocabulary only (phase name, mark kind, safety rule and reason).

Needs ``mne-lsl`` (extra ``lsl``), whose wheels bundle liblsl.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from addictidx._core.types import Chunk, StreamSpec

__all__ = ["LSL_TYPES", "LslPublisher", "import_lsl", "publisher_for_devices", "stream_info"]

#: StreamSpec.kind -> LSL content type.
LSL_TYPES = {
    "eeg": "EEG",
    "ppg": "PPG",
    "optics": "PPG",
    "ecg": "ECG",
    "rr": "RR",
    "hr": "HR",
}
#: Units written in the metadata (LSL convention: microvolts, not "uV").
_UNITS = {"uV": "microvolts", "µV": "microvolts", "s": "ms", "bpm": "bpm"}
_MARKER_KEYS = (
    "phase",
    "kind",
    "rule",
    "reason",
    "state",
    "rule_id",
    "symptom",
    "action",
    "label",
)
# marker values are a fixed vocabulary: identifier-like words only, never free text
_WORD = re.compile(r"[A-Za-z0-9_:.+-]{1,48}")
# safety/loop reasons are sentences the code writes (no free text from people)
_SENTENCE = re.compile(r"[A-Za-z0-9 _:.,;%()<>=+/-]{1,160}")


def import_lsl():
    """Import ``mne_lsl.lsl`` or raise a one-line error naming the extra to install."""
    from addictidx._core.errors import AddictIdxError

    try:
        from mne_lsl import lsl
    except ModuleNotFoundError:
        raise AddictIdxError(
            "LSL needs mne-lsl (it bundles liblsl): pip install 'addictidx[lsl]'."
        ) from None
    return lsl


def stream_info(
    spec: StreamSpec,
    *,
    session_token: str,
    device_info: Mapping[str, str] | None = None,
    prefix: str = "addictidx",
):
    """An ``mne_lsl`` StreamInfo for one stream, with full channel metadata.

    Parameters
    ----------
    spec : StreamSpec
        The stream (its kind, channels, rate and unit).
    session_token : str
        A random per-launch token making ``source_id`` unique (never a subject code).
    device_info : mapping | None
        ``{"vendor": ..., "label": ..., "profile": ...}`` of the device's profile.
    prefix : str
        First word of the stream name (``"<prefix> <device> <stream>"``).
    """
    lsl = import_lsl()
    stype = LSL_TYPES.get(spec.kind, spec.kind.upper())
    sfreq = float(spec.sfreq) if spec.sfreq else 0.0
    info = lsl.StreamInfo(
        f"{prefix} {spec.device} {spec.name}",
        stype,
        spec.n_channels,
        sfreq,
        "float64",
        f"addictidx-{session_token}-{spec.key}",
    )
    info.set_channel_names(list(spec.channels))
    info.set_channel_types([stype.lower()] * spec.n_channels)
    info.set_channel_units([_UNITS.get(spec.unit, spec.unit)] * spec.n_channels)
    desc = info.desc
    desc.append_child_value("manufacturer", (device_info or {}).get("vendor", "n/a"))
    desc.append_child_value("device", (device_info or {}).get("label", spec.device))
    desc.append_child_value("software", "addictidx")
    if (device_info or {}).get("profile"):
        desc.append_child_value("profile", str(device_info["profile"]))
    return info


class LslPublisher:
    """Publish a session's assembled chunks and events on LSL outlets.

    Parameters
    ----------
    session_now : float | None
        The chunks' clock's current time; ``local_clock() - session_now`` becomes the offset of
        every time stamp. ``None``: taken from the first chunk's ``received_at``.
    device_info : mapping | None
        ``{profile name: {"vendor": ..., "label": ...}}`` for the metadata.
    prefix : str
        First word of every stream name (default ``"addictidx"``; e.g. a site or room name when
        several stations share a network).
    """

    def __init__(
        self,
        session_now: float | None = None,
        *,
        device_info: Mapping[str, Mapping] | None = None,
        prefix: str = "addictidx",
    ):
        self.prefix = str(prefix)
        self._lsl = import_lsl()
        self.offset = (
            None if session_now is None else float(self._lsl.local_clock()) - float(session_now)
        )
        self._event_origin = lambda: 0.0
        self.token = uuid.uuid4().hex[:12]
        self._device_info = dict(device_info or {})
        self._outlets: dict[str, Any] = {}
        self._index = None
        self._markers = None
        self.n_pushed: dict[str, int] = {}
        self._hr: dict[str, tuple[Any, StreamSpec]] = {}

    def open(self, specs) -> None:
        """Create the outlets of ``specs`` (and the index and marker outlets) now, so recorders
        can subscribe before the first sample (outlets are otherwise made on first data)."""
        for spec in specs:
            if spec.kind in LSL_TYPES:
                self._outlet(spec)
        self._index_outlet()
        self._marker_outlet()

    def wait_for_consumers(self, timeout: float) -> bool:
        """Wait until every open outlet has a consumer (a recorder), at most ``timeout`` s."""
        import time

        end = time.monotonic() + float(timeout)
        outs = [*self._outlets.values(), self._index, self._markers]
        for out in (o for o in outs if o is not None):
            left = end - time.monotonic()
            if left <= 0 or not out.wait_for_consumers(timeout=left):
                return False
        return True

    def bind(self, live) -> None:
        """Follow a live session: its events are timed from its first sample (``live.t0``) on the
        clock of its chunks, so both are put on one LSL time base (pass as ``on_start``)."""
        self._event_origin = lambda: float(live.t0 or 0.0)

    def _outlet(self, spec: StreamSpec):
        out = self._outlets.get(spec.key)
        if out is None:
            info = stream_info(
                spec,
                session_token=self.token,
                device_info=self._device_info.get(spec.device),
                prefix=self.prefix,
            )
            out = self._lsl.StreamOutlet(info, chunk_size=spec.samples_per_packet or 1)
            self._outlets[spec.key] = out
        return out

    def on_chunk(self, chunk: Chunk) -> None:
        """Push one assembled chunk (NaN gap fill is pushed as NaN, at its expected times).

        The strap's own HR field is not published: ``HR`` is derived from the RR intervals with
        the one heart-rate definition (:class:`~addictidx.features.heart_rate.HeartRateTracker`).
        """
        spec = chunk.spec
        if spec.kind not in LSL_TYPES or spec.kind == "hr" or chunk.n_times == 0:
            return
        if spec.kind == "rr":
            self._push_heart_rate(chunk)
        data = np.asarray(chunk.data, dtype=np.float64)
        if spec.kind == "rr" and spec.unit == "s":
            data = data * 1000.0  # published in ms, the unit RR streams use
        if self.offset is None:
            now = chunk.received_at if np.isfinite(chunk.received_at) else chunk.times[-1]
            self.offset = float(self._lsl.local_clock()) - float(now)
        out = self._outlet(spec)
        stamps = np.asarray(chunk.times, dtype=np.float64) + self.offset
        if spec.sfreq:
            out.push_chunk(np.ascontiguousarray(data.T), timestamp=float(stamps[-1]))
        else:
            for k in range(chunk.n_times):
                out.push_sample(np.ascontiguousarray(data[:, k]), timestamp=float(stamps[k]))
        self.n_pushed[spec.key] = self.n_pushed.get(spec.key, 0) + chunk.n_times

    def _push_heart_rate(self, chunk: Chunk) -> None:
        from addictidx.features.heart_rate import HeartRateTracker

        key = f"{chunk.spec.device}/hr"
        if key not in self._hr:
            spec = StreamSpec(chunk.spec.device, "hr", "hr", ("hr",), None, "bpm")
            self._hr[key] = (HeartRateTracker(), spec)
        tracker, spec = self._hr[key]
        if self.offset is None:
            self.offset = float(self._lsl.local_clock()) - float(chunk.times[-1])
        out = self._outlet(spec)
        for rr, t in zip(chunk.data[0].tolist(), chunk.times.tolist(), strict=True):
            if tracker.push(rr) and tracker.hr_bpm is not None:
                out.push_sample(np.array([tracker.hr_bpm]), timestamp=float(t) + self.offset)

    def on_event(self, kind: str, t: float, detail: Mapping[str, Any] | None = None) -> None:
        """Publish one session event: the index on ``Index``, everything else as a marker."""
        detail = dict(detail or {})
        if self.offset is None:
            self.offset = float(self._lsl.local_clock()) - float(t)
        stamp = float(t) + self._event_origin() + self.offset
        if kind in ("index", "scored"):
            self._index_outlet()
            x = np.array(
                [
                    detail.get("index", np.nan),
                    detail.get("z", np.nan),
                    detail.get("confidence", np.nan),
                ],
                dtype=np.float64,
            )
            x = np.where([v is None for v in x.tolist()], np.nan, x.astype(float))
            self._index.push_sample(x, timestamp=stamp)
            return
        self._marker_outlet()
        safe = {
            k: detail[k]
            for k in _MARKER_KEYS
            if isinstance(detail.get(k), (int, float, bool))
            or (
                isinstance(detail.get(k), str)
                and (_SENTENCE if k == "reason" else _WORD).fullmatch(detail[k])
            )
        }
        self._markers.push_sample(
            [json.dumps({"event": kind, **safe}, sort_keys=True)], timestamp=stamp
        )

    def _index_outlet(self):
        if self._index is None:
            info = self._lsl.StreamInfo(
                f"{self.prefix} index", "Index", 3, 0.0, "float64", f"addictidx-{self.token}-index"
            )
            info.set_channel_names(["index", "Z", "confidence"])
            info.set_channel_units(["score", "1", "1"])
            info.set_channel_types(["index", "z", "confidence"])
            info.desc.append_child_value("software", "addictidx")
            self._index = self._lsl.StreamOutlet(info)
        return self._index

    def _marker_outlet(self):
        if self._markers is None:
            info = self._lsl.StreamInfo(
                f"{self.prefix} markers",
                "Markers",
                1,
                0.0,
                "string",
                f"addictidx-{self.token}-markers",
            )
            info.desc.append_child_value("software", "addictidx")
            self._markers = self._lsl.StreamOutlet(info)
        return self._markers

    def close(self) -> None:
        """Close every outlet (recorders see the streams end)."""
        self._outlets.clear()
        self._index = self._markers = None


def publisher_for_devices(headband, strap, *, prefix: str = "addictidx") -> LslPublisher:
    """A publisher for a session's devices, with their EEG and RR outlets already open.

    Parameters
    ----------
    headband, strap : device | None
        Objects with ``name`` and ``profile`` (simulated or Bluetooth devices); their profiles
        give the metadata (vendor, model, profile name) and the streams opened up front, so a
        recorder can subscribe before the first sample.
    prefix : str
        First word of the stream names.
    """
    info = {}
    specs = []
    for dev, stream in ((headband, "eeg"), (strap, "rr")):
        p = getattr(dev, "profile", None)
        if p is None:
            continue
        info[dev.name] = {"vendor": p.vendor, "label": p.label, "profile": p.name}
        if stream in p.stream_names:
            specs.append(p.stream(stream).spec(dev.name))
    pub = LslPublisher(device_info=info, prefix=prefix)
    pub.open(specs)
    return pub
