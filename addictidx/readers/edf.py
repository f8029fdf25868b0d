"""EDF, EDF+ and BDF(+) files, read by their header (not their extension), memory bounded.

The fixed-width header is parsed and checked first (:func:`read_edf_header`): type (``0`` =
EDF, ``\\xffBIOSEMI`` = BDF, whatever the file is called), header size, signal count, record
duration, samples per record and sampling rates against
:class:`~addictidx.readers.limits.ReaderLimits`, and the declared record count against the file
size. Only then are the data records decoded, signal by signal, from a memory map (EDF int16,
BDF int24), each into its float64 output.

What is not signal is never read as signal:

* ``BAD_ACQ_SKIP`` (the padding ``mne.export.export_raw`` appends to fill the last record),
  ``BAD_ACQ`` and this tool's own ``gap``/``no_data`` annotations become ``NaN`` samples and
  :class:`~addictidx.readers.recording.Gap` records;
* in an EDF+D/BDF+D file each data record starts at the time of its time-keeping annotation;
  the time between records is ``NaN`` and a gap record (an EDF+D file is a set of pieces, not
  one run of samples).

Reading the format is written here rather than through ``edfio`` (which the exporter uses)
because ``edfio`` 0.4 neither exposes EDF+D record onsets nor memory-maps BDF.
Reference: the EDF+ specification (Kemp & Olivan 2003, edfplus.info/specs/edfplus.html) and the
BDF notes of BioSemi (biosemi.com/faq/file_format.htm).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx.readers.limits import DEFAULT_LIMITS, ReaderLimits, check_rate, check_samples
from addictidx.readers.recording import Annotation, Gap, Recording, gaps_from_missing

__all__ = ["EdfHeader", "EdfSignalHeader", "GAP_ANNOTATIONS", "read_edf_header", "read_edf"]

#: Annotation texts (case-insensitive) that mark samples that are not signal.
GAP_ANNOTATIONS = ("bad_acq_skip", "bad_acq", "gap", "no_data")

_VOLT_SCALE = {"uv": 1.0, "µv": 1.0, "\u03bcv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
_TAL = re.compile(rb"([+-]\d+(?:\.\d*)?)(?:\x15(\d+(?:\.\d*)?))?\x14(.*?)\x14\x00", re.DOTALL)
_MAX_SIGNALS = 4096


@dataclass(frozen=True)
class EdfSignalHeader:
    """One signal's header fields (stripped), as the file declares them."""

    label: str
    physical_dimension: str
    physical_min: float
    physical_max: float
    digital_min: int
    digital_max: int
    samples_per_record: int

    @property
    def is_annotation(self) -> bool:
        """True for the ``EDF Annotations``/``BDF Annotations`` signal."""
        return self.label in ("EDF Annotations", "BDF Annotations")


@dataclass(frozen=True)
class EdfHeader:
    """A checked EDF/BDF header.

    Attributes
    ----------
    kind : {"EDF", "BDF"}
        The real type, from the first 8 bytes.
    plus : {"", "C", "D"}
        EDF+/BDF+ continuity (``""`` for plain EDF/BDF).
    header_bytes : int
    n_records : int
        Whole data records present in the file (the declared count when it is consistent).
    record_s : float
        Data-record duration in seconds.
    signals : tuple of EdfSignalHeader
    bytes_per_sample : int
        2 (EDF) or 3 (BDF).
    notes : tuple of str
        Header inconsistencies that were resolved (e.g. a truncated last record).
    """

    kind: str
    plus: str
    header_bytes: int
    n_records: int
    record_s: float
    signals: tuple[EdfSignalHeader, ...]
    bytes_per_sample: int
    notes: tuple[str, ...]

    @property
    def record_bytes(self) -> int:
        """Bytes of one data record."""
        return sum(s.samples_per_record for s in self.signals) * self.bytes_per_sample


def _field(raw: bytes, name: str, what: str) -> str:
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise DataFormatError(f"{name}: header field {what} is not ASCII.") from None


def _num(raw: bytes, name: str, what: str, kind=float):
    s = _field(raw, name, what)
    try:
        v = kind(s) if kind is float else int(s)
    except ValueError:
        raise DataFormatError(f"{name}: header field {what} {s!r} is not a number.") from None
    if kind is float and not math.isfinite(v):
        raise DataFormatError(f"{name}: header field {what} {s!r} is not finite.")
    return v


def read_edf_header(path, *, limits: ReaderLimits = DEFAULT_LIMITS) -> EdfHeader:
    """Read and check the header of an EDF/EDF+/BDF/BDF+ file before any data is read.

    Parameters
    ----------
    path : str | path-like
        The file.
    limits : ReaderLimits
        Plausible sampling rates, record durations and output size.

    Returns
    -------
    header : EdfHeader

    Raises
    ------
    DataFormatError
        One line naming the file and the first implausible or inconsistent field.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(256)
            if len(head) < 256:
                raise DataFormatError(
                    f"{name}: not a readable EDF/BDF file (header shorter than 256 bytes)."
                )
            if head[:8] == b"0       ":
                kind, bps = "EDF", 2
            elif head[:8] == b"\xffBIOSEMI":
                kind, bps = "BDF", 3
            else:
                raise DataFormatError(
                    f"{name}: not a readable EDF/BDF file (first bytes {head[:8]!r}, expected "
                    "b'0       ' or b'\\xffBIOSEMI')."
                )
            header_bytes = _num(head[184:192], name, "'header bytes'", int)
            reserved = head[192:236].decode("ascii", "replace").strip()
            n_rec_decl = _num(head[236:244], name, "'number of data records'", int)
            record_s = _num(head[244:252], name, "'duration of a data record'")
            ns = _num(head[252:256], name, "'number of signals'", int)
            if not 0 < ns <= _MAX_SIGNALS:
                raise DataFormatError(
                    f"{name}: header declares {ns} signals (expected 1-{_MAX_SIGNALS})."
                )
            if header_bytes != 256 * (ns + 1):
                raise DataFormatError(
                    f"{name}: header size {header_bytes} bytes does not match {ns} signals "
                    f"({256 * (ns + 1)} bytes expected)."
                )
            if size < header_bytes:
                raise DataFormatError(
                    f"{name}: file ({size} bytes) is shorter than its header ({header_bytes})."
                )
            sh = f.read(256 * ns)
    except OSError as err:
        raise DataFormatError(f"Cannot open {name!r}: {err.strerror or err}.") from None

    def col(offset: int, width: int) -> list[bytes]:
        base = offset * ns
        return [sh[base + i * width : base + (i + 1) * width] for i in range(ns)]

    labels = [_field(b, name, "'label'") for b in col(0, 16)]
    dims = [b.decode("latin-1").strip() for b in col(16 + 80, 8)]
    pmin = [
        _num(b, name, f"'physical minimum' of {labels[i]!r}") for i, b in enumerate(col(104, 8))
    ]
    pmax = [
        _num(b, name, f"'physical maximum' of {labels[i]!r}") for i, b in enumerate(col(112, 8))
    ]
    dmin = [
        _num(b, name, f"'digital minimum' of {labels[i]!r}", int)
        for i, b in enumerate(col(120, 8))
    ]
    dmax = [
        _num(b, name, f"'digital maximum' of {labels[i]!r}", int)
        for i, b in enumerate(col(128, 8))
    ]
    spr = [
        _num(b, name, f"'samples per record' of {labels[i]!r}", int)
        for i, b in enumerate(col(216, 8))
    ]
    lo, hi = (-(1 << 15), (1 << 15) - 1) if kind == "EDF" else (-(1 << 23), (1 << 23) - 1)
    signals = []
    for i in range(ns):
        s = EdfSignalHeader(labels[i], dims[i], pmin[i], pmax[i], dmin[i], dmax[i], spr[i])
        if not 1 <= s.samples_per_record <= 1 << 24:
            raise DataFormatError(
                f"{name}: signal {s.label!r} declares {s.samples_per_record} samples per record."
            )
        if not s.is_annotation:
            if not (lo <= s.digital_min < s.digital_max <= hi):
                raise DataFormatError(
                    f"{name}: signal {s.label!r} has digital range {s.digital_min}.."
                    f"{s.digital_max} (must increase within {lo}..{hi} for {kind})."
                )
            if s.physical_min == s.physical_max:
                raise DataFormatError(
                    f"{name}: signal {s.label!r} has an empty physical range "
                    f"({s.physical_min}..{s.physical_max})."
                )
        signals.append(s)
    has_data = any(not s.is_annotation for s in signals)
    if has_data and not limits.min_record_s <= record_s <= limits.max_record_s:
        raise DataFormatError(
            f"{name}: data-record duration {record_s:g} s is outside the plausible range "
            f"{limits.min_record_s:g}-{limits.max_record_s:g} s (malformed header?)."
        )
    if not has_data and record_s < 0:
        raise DataFormatError(f"{name}: negative data-record duration {record_s:g} s.")
    for s in signals:
        if s.is_annotation:
            continue
        rate = s.samples_per_record / record_s
        what = f"sampling rate of signal {s.label!r}"
        if s.physical_dimension.lower() in _VOLT_SCALE or not s.physical_dimension:
            check_rate(name, rate, limits, what)
        elif rate > limits.max_sfreq_hz:  # other signals (RR/HR tachograms at 4 Hz ...)
            check_rate(name, rate, limits, what)
    record_bytes = sum(spr) * bps
    n_fit = (size - header_bytes) // record_bytes
    notes: list[str] = []
    plus = ""
    if reserved.startswith(("EDF+", "BDF+")):
        plus = reserved[4:5]
    if n_rec_decl == -1 or n_rec_decl > n_fit:
        if n_rec_decl != -1:
            notes.append(
                f"header declares {n_rec_decl} data records, the file holds {n_fit} "
                "(truncated); the records present are read"
            )
        n_records = int(n_fit)
    elif n_rec_decl < 0:
        raise DataFormatError(f"{name}: header declares {n_rec_decl} data records.")
    else:
        if n_rec_decl < n_fit:
            notes.append(f"{n_fit - n_rec_decl} data records beyond the declared count ignored")
        n_records = int(n_rec_decl)
    rest = size - header_bytes - n_records * record_bytes
    if 0 < rest < record_bytes and n_records == n_fit:
        notes.append(f"an incomplete last data record ({rest} bytes) was not read")
    if has_data and n_records * record_s > limits.max_duration_s:
        raise DataFormatError(
            f"{name}: {n_records} records of {record_s:g} s exceed the longest recording "
            f"accepted ({limits.max_duration_s:g} s)."
        )
    return EdfHeader(
        kind, plus, header_bytes, n_records, float(record_s), tuple(signals), bps, tuple(notes)
    )


def _records(path, hdr: EdfHeader) -> np.ndarray:
    """The data records as a read-only (n_records, record_bytes) uint8 memory map."""
    if hdr.n_records == 0:
        return np.empty((0, hdr.record_bytes), dtype=np.uint8)
    return np.memmap(
        path,
        dtype=np.uint8,
        mode="r",
        offset=hdr.header_bytes,
        shape=(hdr.n_records, hdr.record_bytes),
    )


def _digital(block: np.ndarray, bps: int) -> np.ndarray:
    """Decode (n_records, spr * bps) little-endian int16/int24 bytes to int32, record-major."""
    if bps == 2:
        return np.ascontiguousarray(block).view("<i2").reshape(-1).astype(np.int32)
    b = np.ascontiguousarray(block).reshape(-1, 3).astype(np.int32)
    v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    v -= (v & 0x800000) << 1
    return v


def _annotation_bytes(rec: np.ndarray, hdr: EdfHeader) -> list[bytes]:
    out = []
    off = 0
    for s in hdr.signals:
        n = s.samples_per_record * hdr.bytes_per_sample
        if s.is_annotation:
            out.append(rec[:, off : off + n])
        off += n
    if not out:
        return []
    block = np.concatenate(out, axis=1) if len(out) > 1 else out[0]
    return [bytes(r) for r in block]


def _parse_tals(name: str, per_record: list[bytes], plus: str):
    """Annotations and, per record, the time-keeping onset (EDF+)."""
    anns: list[Annotation] = []
    onsets: list[float | None] = []
    for r, raw in enumerate(per_record):
        first = True
        onset_r = None
        for m in _TAL.finditer(raw):
            onset = float(m.group(1))
            dur = float(m.group(2)) if m.group(2) else 0.0
            texts = m.group(3).split(b"\x14")
            if first:
                first = False
                if texts and texts[0] == b"":  # the time-keeping TAL of this record
                    onset_r = onset
                    texts = texts[1:]
            for t in texts:
                if t:
                    anns.append(Annotation(onset, dur, t.decode("utf-8", "replace")))
        if plus == "D" and onset_r is None:
            raise DataFormatError(
                f"{name}: data record {r} of an EDF+D file has no time-keeping annotation."
            )
        onsets.append(onset_r)
    return anns, onsets


def read_edf(path, *, limits: ReaderLimits = DEFAULT_LIMITS) -> Recording:
    """Read EEG (and an ``RR`` tachogram or beat annotations, as in our exports) from EDF/BDF.

    Parameters
    ----------
    path : str | path-like
        An EDF, EDF+, BDF or BDF+ file; its type is taken from its header.
    limits : ReaderLimits
        Header sanity bounds (checked before anything is allocated).

    Returns
    -------
    recording : Recording
        ``data`` in µV for voltage channels (rows of the highest sampling rate), ``NaN`` where
        an annotation marks skipped/bad acquisition or an EDF+D file has no record; ``gaps``
        lists them; ``rr_s`` from ``beat rr_ms=`` annotations or an ``RR`` channel.

    Raises
    ------
    DataFormatError
        One line naming the file and the problem.
    """
    name = os.fspath(path)
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    hdr = read_edf_header(path, limits=limits)
    rec = _records(path, hdr)
    bps = hdr.bytes_per_sample
    anns, onsets = _parse_tals(name, _annotation_bytes(rec, hdr), hdr.plus)
    if hdr.plus == "D" and len(onsets) != hdr.n_records:
        raise DataFormatError(
            f"{name}: an EDF+D file needs an annotation signal with the start of every record."
        )

    offsets = np.cumsum([0] + [s.samples_per_record * bps for s in hdr.signals])
    sig = [(i, s) for i, s in enumerate(hdr.signals) if not s.is_annotation]
    rr_sig = [(i, s) for i, s in sig if s.label.upper() == "RR"]
    volt = []
    skipped = []
    for i, s in sig:
        lab = s.label.upper()
        dim = s.physical_dimension.lower()
        if lab in ("RR", "HR"):
            continue
        if dim in _VOLT_SCALE or dim == "":
            volt.append((i, s))
        else:
            skipped.append(s.label)
    notes = list(hdr.notes)
    if skipped:
        notes.append(f"non-voltage signals not read as EEG: {', '.join(skipped)}")
    data = sfreq = None
    names: tuple[str, ...] = ()
    gaps: list[Gap] = []
    # time 0 of the output is the first record's start (an EDF+ sub-second start offset)
    t0 = 0.0 if not onsets or onsets[0] is None else float(onsets[0])
    if volt:
        rates = {s.samples_per_record for _, s in volt}
        spr = max(rates)
        if len(rates) > 1:
            dropped = [s.label for _, s in volt if s.samples_per_record != spr]
            notes.append(f"signals at a lower rate not read: {', '.join(dropped)}")
            volt = [(i, s) for i, s in volt if s.samples_per_record == spr]
        sfreq = spr / hdr.record_s
        n_rec = hdr.n_records
        # where each record goes on the output time grid
        if hdr.plus == "D" and n_rec:
            t_on = np.asarray(onsets, dtype=np.float64)
            if (np.diff(t_on) < hdr.record_s * (1 - 1e-9)).any():
                raise DataFormatError(f"{name}: EDF+D data records overlap or go back in time.")
            start_idx = np.rint((t_on - t0) * sfreq).astype(np.int64)
        else:
            start_idx = np.arange(n_rec, dtype=np.int64) * spr
        n_out = int(start_idx[-1] + spr) if n_rec else 0
        if n_out / sfreq > limits.max_duration_s:
            raise DataFormatError(
                f"{name}: the EDF+D records span {n_out / sfreq:g} s, longer than the longest "
                f"recording accepted ({limits.max_duration_s:g} s)."
            )
        check_samples(name, len(volt), n_out, limits)
        data = np.full((len(volt), n_out), np.nan)
        covered = np.zeros(n_out, dtype=bool)
        pos = (start_idx[:, None] + np.arange(spr)).reshape(-1)
        covered[pos] = True
        for row, (i, s) in enumerate(volt):
            dig = _digital(rec[:, offsets[i] : offsets[i + 1]], bps)
            gain = (s.physical_max - s.physical_min) / (s.digital_max - s.digital_min)
            phys = dig * gain + (s.physical_min - s.digital_min * gain)
            phys *= _VOLT_SCALE.get(s.physical_dimension.lower(), 1.0)
            data[row, pos] = phys
        if hdr.plus == "D":
            gaps += list(gaps_from_missing(~covered, sfreq, "EDF+D discontinuity"))
        # annotations that mark samples that are not signal (padding, skipped acquisition)
        for a in anns:
            if a.text.strip().lower() in GAP_ANNOTATIONS and a.duration_s > 0:
                i0 = max(0, int(math.floor((a.onset_s - t0) * sfreq + 1e-6)))
                i1 = min(n_out, int(math.ceil((a.onset_s - t0 + a.duration_s) * sfreq - 1e-6)))
                if i1 > i0:
                    data[:, i0:i1] = np.nan
                    gaps.append(Gap(i0 / sfreq, (i1 - i0) / sfreq, f"{a.text.strip()} annotation"))
        names = tuple(_clean_label(s.label) for _, s in volt)
        if n_out == 0:
            raise DataFormatError(f"{name}: no samples.")
    rr = rr_times = None
    beats = [a for a in anns if a.text.startswith("beat rr_ms=")]
    if beats:  # our export: every beat exactly, at its time
        try:
            rr = np.array([float(b.text.split("=", 1)[1]) for b in beats]) / 1000.0
        except ValueError:
            raise DataFormatError(f"{name}: malformed beat annotation.") from None
        rr_times = np.array([b.onset_s for b in beats]) - t0
    elif rr_sig:
        # The tachogram holds the last RR at each instant: its changes are the beats (two equal
        # RR in a row read as one; the _rr.tsv export keeps every beat exactly).
        i, s = rr_sig[0]
        dig = _digital(rec[:, offsets[i] : offsets[i + 1]], bps)
        gain = (s.physical_max - s.physical_min) / (s.digital_max - s.digital_min)
        x = dig * gain + (s.physical_min - s.digital_min * gain)
        change = np.flatnonzero(np.diff(x) != 0) + 1
        vals = x[change]
        rr = vals[vals > 0] / (1000.0 if s.physical_dimension.lower() == "ms" else 1.0)
    if data is None and rr is None:
        raise DataFormatError(f"{name}: no EEG signal and no RR in this {hdr.kind} file.")
    other = tuple(
        Annotation(a.onset_s - t0, a.duration_s, a.text)
        for a in anns
        if not a.text.startswith("beat rr_ms=") and a.text.strip().lower() not in GAP_ANNOTATIONS
    )
    kind = hdr.kind + (f"+{hdr.plus}" if hdr.plus else "")
    return Recording(
        data=data,
        sfreq=None if sfreq is None else float(sfreq),
        ch_names=names,
        units=("uV",) * len(names),
        rr_s=rr,
        source=f"{base} ({kind})",
        rr_times_s=rr_times,
        gaps=tuple(sorted(gaps, key=lambda g: g.onset_s)),
        annotations=other,
        notes=tuple(notes),
    )


def _clean_label(label: str) -> str:
    s = label.strip()
    return s[4:].strip() if s.upper().startswith("EEG ") else s
