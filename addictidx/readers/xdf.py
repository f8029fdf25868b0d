"""XDF files (Lab Streaming Layer recordings): the first EEG stream and an RR stream.

Stream headers are scanned first (:func:`read_xdf_stream_headers`: chunk lengths and tags
only, the XML of stream headers parsed, sample chunks skipped), and every EEG/RR stream's
declared rate and channel count is checked against
:class:`~addictidx.readers.limits.ReaderLimits` before ``pyxdf`` (optional dependency) decodes
anything. Sample times are kept (``Recording.times``) and jumps longer than 0.1 s are gaps.
"""

from __future__ import annotations

import logging
import os
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx.devices import stream_profile
from addictidx.readers.limits import DEFAULT_LIMITS, ReaderLimits, check_rate, check_samples
from addictidx.readers.recording import Recording, timestamp_gaps
from addictidx.readers.rr import rr_unit_from_values

__all__ = ["XdfStreamHeader", "read_xdf_stream_headers", "read_xdf"]

MUSE_CHANNELS = stream_profile("muse-2", "eeg").channels  # the Muse electrodes, from the profile
_MAX_CHANNELS = 4096
_UNIT_TO_UV = {
    "microvolts": 1.0,
    "microvolt": 1.0,
    "uv": 1.0,
    "µv": 1.0,
    "millivolts": 1e3,
    "mv": 1e3,
    "volts": 1e6,
    "v": 1e6,
}


@dataclass(frozen=True)
class XdfStreamHeader:
    """What an XDF stream header declares."""

    stream_id: int
    name: str
    type: str
    channel_count: int
    nominal_srate: float
    channel_format: str


def _varlen(f, name: str) -> int:
    b = f.read(1)
    if not b:
        raise EOFError
    n = b[0]
    if n not in (1, 4, 8):
        raise DataFormatError(f"{name}: not a readable XDF file (bad chunk length byte {n}).")
    raw = f.read(n)
    if len(raw) < n:
        raise EOFError
    return int.from_bytes(raw, "little")


def read_xdf_stream_headers(
    path, *, limits: ReaderLimits = DEFAULT_LIMITS
) -> list[XdfStreamHeader]:
    """Scan an XDF file's chunks and return its stream headers, checked.

    Raises
    ------
    DataFormatError
        Not an XDF file, a chunk longer than the file, a malformed stream header, or an EEG/RR
        stream whose rate or channel count is implausible.
    """
    name = os.fspath(path)
    out: list[XdfStreamHeader] = []
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if f.read(4) != b"XDF:":
                raise DataFormatError(f"{name}: not an XDF file (no 'XDF:' magic).")
            while True:
                try:
                    length = _varlen(f, name)
                except EOFError:
                    break
                if length < 2 or f.tell() + length > size:
                    break  # a truncated last chunk: pyxdf reads what precedes it
                tag = struct.unpack("<H", f.read(2))[0]
                if tag == 2:
                    body = f.read(length - 2)
                    out.append(_stream_header(name, body, limits))
                else:
                    f.seek(length - 2, os.SEEK_CUR)
    except OSError as err:
        raise DataFormatError(f"Cannot open {name!r}: {err.strerror or err}.") from None
    return out


def _stream_header(name: str, body: bytes, limits: ReaderLimits) -> XdfStreamHeader:
    if len(body) < 4:
        raise DataFormatError(f"{name}: malformed XDF stream header.")
    sid = struct.unpack("<I", body[:4])[0]
    try:
        root = ET.fromstring(body[4:])
    except ET.ParseError as err:
        raise DataFormatError(f"{name}: malformed XDF stream header XML ({err}).") from None

    def text(tag: str, default: str = "") -> str:
        el = root.find(tag)
        return (el.text or default).strip() if el is not None and el.text else default

    try:
        count = int(text("channel_count", "0"))
        srate = float(text("nominal_srate", "0"))
    except ValueError:
        raise DataFormatError(
            f"{name}: XDF stream {sid} has a non-numeric channel_count or nominal_srate."
        ) from None
    typ = text("type")
    h = XdfStreamHeader(sid, text("name"), typ, count, srate, text("channel_format"))
    if typ.upper() in ("EEG", "RR", "ECG"):
        if not 0 < count <= _MAX_CHANNELS:
            raise DataFormatError(
                f"{name}: XDF stream {sid} ({typ}) declares {count} channels "
                f"(expected 1-{_MAX_CHANNELS})."
            )
        if typ.upper() != "RR" and srate != 0:
            check_rate(name, srate, limits, f"nominal rate of XDF stream {sid} ({typ})")
    return h


def read_xdf(path, *, limits: ReaderLimits = DEFAULT_LIMITS, gap_s: float = 0.1) -> Recording:
    """Read the first EEG stream (and an RR stream if present) of an XDF file.

    Needs ``pyxdf`` (optional). EEG channels are matched by label (TP9, AF7, AF8, TP10 when
    present, else all channels) and converted to µV from the channel unit (µV when absent).

    Parameters
    ----------
    path : str | path-like
        The file.
    limits : ReaderLimits
        Header sanity bounds, checked on the stream headers before any sample is decoded.
    gap_s : float
        EEG time-stamp jumps longer than this are reported as gaps.

    Returns
    -------
    recording : Recording
    """
    name = os.fspath(path)
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    headers = read_xdf_stream_headers(path, limits=limits)
    wanted = [h.stream_id for h in headers if h.type.upper() in ("EEG", "RR")]
    if headers and not wanted:
        raise DataFormatError(f"{name}: no stream of type EEG or RR in this XDF file.")
    try:
        import pyxdf
    except ModuleNotFoundError:
        raise DataFormatError(f"{name}: reading XDF needs pyxdf (pip install pyxdf).") from None

    # pyxdf logs (with a traceback) and carries on when a chunk is corrupt; keep its words for
    # our one-line message instead of letting them reach the terminal.
    notes: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                notes.append(record.getMessage())

    lg = logging.getLogger("pyxdf")
    keep, propagate = _Keep(), lg.propagate
    lg.addHandler(keep)
    lg.propagate = False
    try:
        streams, _header = pyxdf.load_xdf(
            name,
            select_streams=wanted or None,
            synchronize_clocks=True,
            dejitter_timestamps=True,
        )
    except Exception as exc:  # noqa: BLE001 - pyxdf raises many types on malformed files
        raise DataFormatError(
            f"{name}: not a readable XDF file ({type(exc).__name__}: {exc})."
        ) from None
    finally:
        lg.removeHandler(keep)
        lg.propagate = propagate
    if not streams and notes:
        raise DataFormatError(f"{name}: not a readable XDF file ({notes[0]}).")
    eeg = rr = times = None
    sfreq = None
    names: tuple[str, ...] = ()
    rec_notes: list[str] = []
    for s in streams:
        info = s.get("info", {})
        typ = (info.get("type") or [""])[0]
        if typ.upper() == "EEG" and eeg is None:
            x = np.asarray(s["time_series"], dtype=np.float64)
            if x.ndim != 2:
                continue
            x = x.T
            check_samples(name, x.shape[0], x.shape[1], limits)
            labels, units = _xdf_channels(info, x.shape[0])
            idx = [labels.index(c) for c in MUSE_CHANNELS if c in labels] or list(
                range(len(labels))
            )
            scale = np.array([_UNIT_TO_UV.get(units[i].lower(), 1.0) for i in idx])
            eeg = x[idx] * scale[:, None]
            names = tuple(labels[i] for i in idx)
            sfreq = float((info.get("nominal_srate") or ["0"])[0]) or None
            ts = np.asarray(s.get("time_stamps", []), dtype=np.float64)
            if ts.size == eeg.shape[1] and ts.size:
                times = ts - ts[0]
            if sfreq is None and times is not None and times[-1] > 0:
                sfreq = check_rate(
                    name,
                    (times.size - 1) / times[-1],
                    limits,
                    "sampling rate from the time stamps",
                )
        elif typ.upper() == "RR" and rr is None:
            v = np.asarray(s["time_series"], dtype=np.float64).ravel()
            if v.size:
                unit = rr_unit_from_values(v)
                if unit == "ms":
                    rec_notes.append(f"{base}: RR stream read as milliseconds (median > 3).")
                rr = v / 1000.0 if unit == "ms" else v
    if eeg is None and rr is None:
        raise DataFormatError(f"{name}: no stream of type EEG or RR in this XDF file.")
    if eeg is not None and sfreq is None:
        raise DataFormatError(f"{name}: the EEG stream has no usable sampling rate.")
    gaps = (
        ()
        if times is None or sfreq is None
        else timestamp_gaps(times, sfreq, gap_s, "time stamps jump")
    )
    return Recording(
        data=eeg,
        sfreq=sfreq,
        ch_names=names,
        units=("uV",) * len(names),
        rr_s=rr,
        source=f"{base} (XDF)",
        times=times,
        gaps=gaps,
        notes=tuple(rec_notes),
    )


def _xdf_channels(info: dict, n: int) -> tuple[list[str], list[str]]:
    try:
        chans = info["desc"][0]["channels"][0]["channel"]
        labels = [c["label"][0] for c in chans]
        units = [(c.get("unit") or ["microvolts"])[0] or "microvolts" for c in chans]
        if len(labels) == n:
            return labels, units
    except (KeyError, IndexError, TypeError):
        pass
    return [f"ch{i + 1}" for i in range(n)], ["microvolts"] * n
