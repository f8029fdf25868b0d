"""Score live LSL streams (``addictidx assess --source lsl --eeg-stream NAME --rr-stream NAME``).

Any LSL source works: muse-lsl, BlueMuse, Petal Metrics, Mind Monitor bridges, another addictidx.
:class:`LslSource` resolves the named streams, pulls what has arrived and turns it into the same
:class:`~addictidx._core.types.Chunk` objects the BLE assemblers produce, on one session clock,
so the session runs the one production pipeline.

Clock: an LSL time stamp ``t`` (the source's ``local_clock``) becomes session time
``t + time_correction() - t0``, where ``time_correction`` is liblsl's running estimate of the
offset between the source host's clock and ours (0 on the same host; applied by the inlet's
``clocksync`` post-processing) and ``t0`` our local clock when the source opened. Time stamps
are not dejittered: dejittering assumes a regular rate and would hide the gaps found below.

Gaps are found from the time stamps and counted like BLE gaps (a
:class:`~addictidx.acquire.GapRecord` with ``reason="loss"``):

* regular streams (EEG): a step between consecutive stamps longer than 1.5 sample periods means
  ``round(step x sfreq) - 1`` missing samples, which are inserted as NaN at their expected
  times (never interpolated);
* RR streams: a beat whose stamp follows the previous one by more than 1.5 x its own RR + 0.2 s
  means beats were lost; the gap is the unexplained time.

RR units come from the channel metadata (``ms``/``milliseconds`` or ``s``/``seconds``); when
absent, a median above 3 means milliseconds (no human RR interval is 3 s or more).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from addictidx._core.types import Chunk, StreamSpec
from addictidx.acquire import GapRecord
from addictidx.devices import stream_profile
from addictidx.interop.lsl_out import import_lsl

__all__ = ["LslSource", "LslStreamNotFound", "rr_unit_scale"]

_MS = {"ms", "millisecond", "milliseconds", "msec"}
_S = {"s", "sec", "second", "seconds"}


class LslStreamNotFound(LookupError):
    """A named LSL stream was not found on the network within the timeout."""


def rr_unit_scale(unit: str | None, values) -> tuple[float, str]:
    """Factor that converts RR values to seconds, and how it was decided.

    Parameters
    ----------
    unit : str | None
        The stream's channel unit, if any.
    values : array
        Some RR values (for detection when the unit is absent or unknown).

    Returns
    -------
    (float, str)
        ``(1e-3, "ms (metadata)")``, ``(1.0, "s (detected)")``...
    """
    u = (unit or "").strip().lower()
    if u in _MS:
        return 1e-3, "ms (metadata)"
    if u in _S:
        return 1.0, "s (metadata)"
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size and float(np.median(v)) > 3.0:
        return 1e-3, "ms (detected: median > 3)"
    return 1.0, "s (detected)"


@dataclass
class _Inlet:
    inlet: object
    spec: StreamSpec
    keep: np.ndarray | None  # channel indices kept, in spec order
    scale: float
    last_t: float | None = None
    last_rr_decided: bool = False
    unit: str | None = None


class LslSource:
    """Pull EEG and RR from named LSL streams as session-clock chunks.

    Parameters
    ----------
    eeg_stream, rr_stream : str | None
        LSL stream names (at least one).
    eeg_channels : sequence of str | None
        The EEG channels the pipeline needs, in order (from the headband's profile); other
        channels of the stream (``Right AUX``...) are ignored. A missing one is an error.
    headband, strap : str
        Profile names stamped on the chunks' specs (the session's quality thresholds and
        reports use them).
    timeout : float
        Seconds to wait for each stream to appear.
    """

    def __init__(
        self,
        *,
        eeg_stream: str | None,
        rr_stream: str | None,
        eeg_channels: Sequence[str] | None = None,
        headband: str = "muse-2",
        strap: str = "generic-hrs",
        timeout: float = 10.0,
    ) -> None:
        if not eeg_stream and not rr_stream:
            raise ValueError("An LSL source needs --eeg-stream and/or --rr-stream.")
        if eeg_channels is None:  # the headband profile's electrodes
            eeg_channels = stream_profile(headband, "eeg").channels
        self._lsl = import_lsl()
        self.gaps: list[GapRecord] = []
        self.rr_unit_note: str | None = None
        self._inlets: list[_Inlet] = []
        self.t0 = float(self._lsl.local_clock())
        if eeg_stream:
            self._inlets.append(self._open_eeg(eeg_stream, tuple(eeg_channels), headband, timeout))
        if rr_stream:
            self._inlets.append(self._open_rr(rr_stream, strap, timeout))

    # -- opening ---------------------------------------------------------------------------------
    def _resolve(self, name: str, timeout: float):
        found = [s for s in self._lsl.resolve_streams(timeout=timeout, name=name)]
        if not found:
            raise LslStreamNotFound(
                f"No LSL stream named {name!r} was found within {timeout:g} s "
                "(is the source running on this network?)."
            )
        inlet = self._lsl.StreamInlet(found[0], max_buffered=360, processing_flags=["clocksync"])
        inlet.open_stream(timeout=timeout)
        return inlet

    def _open_eeg(self, name, channels, headband, timeout) -> _Inlet:
        inlet = self._resolve(name, timeout)
        info = inlet.get_sinfo()
        labels = [str(c) for c in (info.get_channel_names() or [])]
        if not labels:  # no metadata: assume the Muse order muse-lsl publishes
            labels = list(channels) + [f"ch{i}" for i in range(len(channels), info.n_channels)]
        missing = [c for c in channels if c not in labels]
        if missing:
            raise ValueError(
                f"LSL stream {name!r} lacks the channel(s) {missing} (it has {labels})."
            )
        if not info.sfreq or info.sfreq <= 0:
            raise ValueError(f"LSL stream {name!r} is irregular; EEG needs a nominal rate.")
        units = info.get_channel_units() or []
        unit0 = str(units[labels.index(channels[0])] if units else "microvolts").lower()
        scale = {"volts": 1e6, "v": 1e6, "millivolts": 1e3, "mv": 1e3}.get(unit0, 1.0)
        spec = StreamSpec(headband, "eeg", "eeg", tuple(channels), float(info.sfreq), "uV")
        keep = np.array([labels.index(c) for c in channels])
        return _Inlet(inlet, spec, keep, scale)

    def _open_rr(self, name, strap, timeout) -> _Inlet:
        inlet = self._resolve(name, timeout)
        info = inlet.get_sinfo()
        units = info.get_channel_units() or [None]
        spec = StreamSpec(strap, "rr", "rr", ("rr",), None, "s")
        return _Inlet(inlet, spec, np.array([0]), 1.0, unit=units[0])

    def now(self) -> float:
        """The current time on this source's session clock (s since it opened)."""
        return float(self._lsl.local_clock()) - self.t0

    # -- pulling ---------------------------------------------------------------------------------
    def poll(self) -> list[Chunk]:
        """Everything that arrived since the last call, as chunks (gaps filled with NaN)."""
        out: list[Chunk] = []
        for s in self._inlets:
            data, stamps = s.inlet.pull_chunk(timeout=0.0, max_samples=4096)
            stamps = np.asarray(stamps, dtype=np.float64)
            if stamps.size == 0:
                continue
            x = np.asarray(data, dtype=np.float64)[:, s.keep].T  # (n_channels, n_times)
            t = stamps - self.t0  # clocksync: liblsl already added time_correction()
            if s.spec.kind == "rr":
                out.extend(self._rr_chunk(s, x[0], t))
            else:
                out.extend(self._eeg_chunk(s, x * s.scale, t))
        return out

    def _eeg_chunk(self, s: _Inlet, x: np.ndarray, t: np.ndarray) -> list[Chunk]:
        sf = float(s.spec.sfreq)
        first = s.last_t if s.last_t is not None else t[0] - 1.0 / sf
        prev = np.concatenate([[first], t[:-1]])
        s.last_t = float(t[-1])
        step = t - prev
        n_miss = np.where(step > 1.5 / sf, np.rint(step * sf).astype(np.int64) - 1, 0)
        if not n_miss.any():
            return [Chunk(s.spec, x, t)]
        pieces_x, pieces_t, total = [], [], 0
        for k in range(t.size):
            m = int(n_miss[k])
            if m > 0:
                tt = prev[k] + np.arange(1, m + 1) / sf
                pieces_x.append(np.full((x.shape[0], m), np.nan))
                pieces_t.append(tt)
                total += m
                self.gaps.append(GapRecord(s.spec.device, "eeg", float(tt[0]), m / sf, "loss", m))
            pieces_x.append(x[:, k : k + 1])
            pieces_t.append(t[k : k + 1])
        return [
            Chunk(
                s.spec, np.concatenate(pieces_x, axis=1), np.concatenate(pieces_t), n_missing=total
            )
        ]

    def _rr_chunk(self, s: _Inlet, v: np.ndarray, t: np.ndarray) -> list[Chunk]:
        if not s.last_rr_decided:
            s.scale, self.rr_unit_note = rr_unit_scale(s.unit, v)
            s.last_rr_decided = True
        rr = v * s.scale
        first = s.last_t if s.last_t is not None else t[0] - rr[0]
        prev = np.concatenate([[first], t[:-1]])
        s.last_t = float(t[-1])
        step = t - prev
        for k in np.flatnonzero(step > 1.5 * rr + 0.2):
            self.gaps.append(
                GapRecord(s.spec.device, "rr", float(prev[k]), float(step[k] - rr[k]), "loss", 0)
            )
        return [Chunk(s.spec, rr[None, :], t)]

    def close(self) -> None:
        """Close the inlets."""
        for s in self._inlets:
            try:
                s.inlet.close_stream()
            except Exception:  # noqa: BLE001 - closing a stream whose source already went away
                pass
        self._inlets.clear()
