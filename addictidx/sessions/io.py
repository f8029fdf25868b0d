"""Recordings in and out: export a session as BDF (EEG) and EDF+ (RR), read other tools' files.

Export (:func:`export_session`) writes, per session::

    <out>/<subject>_ses-<id>_eeg.bdf     EEG, 24-bit BDF+ (µV), phases/events/gaps as annotations
    <out>/<subject>_ses-<id>_rr.edf      EDF+: RR tachogram (ms) and HR (bpm) at 4 Hz for viewing,
                                         every beat as a ``beat rr_ms=...`` annotation, phases
    <out>/<subject>_ses-<id>_rr.tsv      every beat exactly: beat time (s), RR (ms)

through ``edfio`` (MNE's own EDF backend). Missing EEG samples (gaps) are written as 0 µV and
marked by a ``gap`` annotation, since EDF has no NaN. Optional BIDS output goes through
``mne-bids`` (:func:`write_bids`).

Readers (:func:`read_recording`): muse-lsl CSV, Mind Monitor CSV, XDF (``pyxdf``, optional),
EDF/EDF+/BDF and our own exports. Each returns a :class:`Recording`; a malformed file raises one
:class:`~addictidx._core.errors.DataFormatError` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from addictidx._core.errors import DataFormatError

__all__ = [
    "Recording",
    "export_session",
    "read_recording",
    "read_mind_monitor_csv",
    "read_xdf",
    "read_edf",
    "write_bids",
    "RR_TACHOGRAM_SFREQ",
]

#: Sampling frequency of the RR tachogram and HR signals in the EDF+ export (Hz).
RR_TACHOGRAM_SFREQ = 4.0
MUSE_CHANNELS = ("TP9", "AF7", "AF8", "TP10")
EEG_PHYSICAL_RANGE = (-1000.0, 1000.0)  # the classic Muse's 12-bit range in µV


@dataclass(frozen=True)
class Recording:
    """A recording read from a file.

    Attributes
    ----------
    eeg : ndarray, shape (n_channels, n_times) | None
        EEG in µV (``NaN`` = missing).
    sfreq : float | None
    ch_names : tuple of str
    rr_s : ndarray | None
        RR intervals in seconds.
    source : str
        File name and format, for messages and reports.
    annotations : list of (onset_s, duration_s, text)
    """

    eeg: np.ndarray | None
    sfreq: float | None
    ch_names: tuple[str, ...]
    rr_s: np.ndarray | None
    source: str
    annotations: list = field(default_factory=list)


# -- export ------------------------------------------------------------------------------------
def _safe_name(code: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in code)


def _start(detail: dict) -> _dt.datetime:
    try:
        return _dt.datetime.strptime(detail["started_utc"], "%Y-%m-%dT%H:%M:%SZ")
    except (KeyError, TypeError, ValueError):
        return _dt.datetime(2000, 1, 1)


def _annotations(detail: dict, *, until_s: float) -> list[tuple[float, float | None, str]]:
    """Phases (with duration), events and safety events as (onset, duration, text)."""
    out: list[tuple[float, float | None, str]] = []
    for p in detail.get("phases", []):
        a = max(0.0, float(p["t_start_s"]))
        b = float(p["t_end_s"]) if p.get("t_end_s") is not None else until_s
        if a < until_s:
            out.append((a, max(0.0, min(b, until_s) - a), f"phase:{p['name']}"))
    for key in ("events", "safety_events"):
        for e in detail.get(key, []):
            if e["kind"] in ("phase", "research_probability"):  # not a time event
                continue
            t = max(0.0, float(e["t_s"]))
            if t <= until_s:
                label = e["detail"].get("label") if isinstance(e.get("detail"), dict) else None
                text = e["kind"] if label is None else f"{e['kind']}:{label}"
                out.append((t, None, ("safety:" if key == "safety_events" else "") + text))
    return sorted(out, key=lambda a: a[0])


def _gap_annotations(missing: np.ndarray, sfreq: float) -> list[tuple[float, float, str]]:
    if not missing.any():
        return []
    m = np.concatenate(([False], missing, [False])).astype(np.int8)
    starts = np.flatnonzero(np.diff(m) == 1)
    ends = np.flatnonzero(np.diff(m) == -1)
    return [(s / sfreq, (e - s) / sfreq, "gap") for s, e in zip(starts, ends)]


def _edf_annotations(items):
    """EDF+ annotations from ``(onset_s, duration_s | None, text)``, in time order.

    Sorted by onset then text only: a point event (duration ``None``) and a phase starting at
    the same instant must not be compared by duration (issue 17.1).
    """
    import edfio

    return [
        edfio.EdfAnnotation(round(a, 4), None if d is None else round(d, 4), t)
        for a, d, t in sorted(items, key=lambda x: (x[0], x[2]))
    ]


@contextlib.contextmanager
def staged_dir(final: Path):
    """A hidden folder beside ``final`` to write into; its files move into ``final`` only when
    the block ends without an error (each by an atomic rename), otherwise it is removed.

    So an export that fails half-way leaves nothing behind (issue 17.1).
    """
    import shutil
    import tempfile

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    created = not final.exists()
    try:
        if created:
            stage.replace(final)
            return
        for item in sorted(stage.rglob("*")):
            if item.is_file():
                dest = final / item.relative_to(stage)
                dest.parent.mkdir(parents=True, exist_ok=True)
                item.replace(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def export_session(
    store: Any,
    session_id: int,
    out_dir: str | Path,
    *,
    subject_label: str | None = None,
    anonymize_dates: bool = False,
    audit: bool = True,
) -> dict[str, Path]:
    """Export one stored session's raw recording as BDF + EDF+ (+ a beat-exact TSV).

    The files are plaintext (the raw files in the store are decrypted); the export is logged to
    the store's audit trail.

    Parameters
    ----------
    store : SessionStore
        The store holding the session.
    session_id : int
        The session.
    out_dir : path-like
        Destination directory (created).
    subject_label : str | None
        Name used for the subject in file names and the EDF patient field (default: the code;
        research exports pass a keyed hash).
    anonymize_dates : bool
        Write the EDF+ anonymous start date (1 Jan 1985) and 00:00:00 instead of the real ones.
    audit : bool
        Append an ``export`` entry to the audit log (callers that log one entry for a batch
        pass False).

    Returns
    -------
    paths : dict
        ``{"eeg_bdf": Path, "rr_edf": Path | None, "rr_tsv": Path | None}``.
    """
    from addictidx._core.errors import StoreError
    from addictidx.store.raw import read_raw

    detail = store.session_detail(session_id)
    rec = store.recording(session_id)
    if rec is None or not Path(rec["raw_dir"]).is_dir():
        raise StoreError(f"Session {session_id} has no raw recording to export.")
    raw = read_raw(rec["raw_dir"], keyring=store.keyring)
    final = Path(out_dir)
    with staged_dir(final) as stage:
        written = _write_export(stage, detail, raw, subject_label, anonymize_dates, session_id)
    paths = {k: (None if v is None else final / v.name) for k, v in written.items()}
    if audit:
        store.audit_event(
            "export",
            subject=detail["subject"],
            session=session_id,
            detail={
                "what": "recording",
                "files": sorted(k for k, v in paths.items() if v is not None),
            },
        )
    return paths


def _write_export(
    out: Path, detail: dict, raw, subject_label, anonymize_dates: bool, session_id: int
) -> dict[str, Path | None]:
    """Write one session's BDF, EDF+ and TSV into ``out`` (see :func:`export_session`)."""
    import edfio

    label = _safe_name(detail["subject"] if subject_label is None else subject_label)
    stem = f"{label}_ses-{session_id:04d}"
    start = _dt.datetime(1985, 1, 1) if anonymize_dates else _start(detail)
    # The recording starts at session time 0 = the first sample's time on the session clock.
    t_first = float(raw.eeg_times[0]) if raw.eeg_times.size else 0.0
    patient = edfio.Patient(code=label)
    recording = edfio.Recording(
        startdate=start.date(),
        equipment_code=_safe_name(
            "-".join(str(v) for v in detail.get("devices", {}).values()) or "X"
        ),
    )
    paths: dict[str, Path | None] = {"eeg_bdf": None, "rr_edf": None, "rr_tsv": None}

    if raw.eeg.shape[1]:
        sfreq = raw.sfreq
        n = raw.eeg.shape[1]
        n_pad = int(math.ceil(n / sfreq) * sfreq) - n  # whole 1-s data records
        missing = ~np.isfinite(raw.eeg).all(axis=0)
        data = np.where(np.isfinite(raw.eeg), raw.eeg, 0.0)
        data = np.clip(data, *EEG_PHYSICAL_RANGE)
        if n_pad:
            data = np.concatenate([data, np.zeros((data.shape[0], n_pad))], axis=1)
        dur = data.shape[1] / sfreq
        ann = [(a - t_first, d, t) for a, d, t in _annotations(detail, until_s=dur + t_first)]
        ann = [(max(a, 0.0), d, t) for a, d, t in ann]
        ann += _gap_annotations(missing, sfreq)
        if n_pad:
            ann.append((n / sfreq, n_pad / sfreq, "no_data"))
        signals = [
            edfio.BdfSignal(
                data[i],
                sfreq,
                label=ch,
                transducer_type="Muse dry electrode",
                physical_dimension="uV",
                physical_range=EEG_PHYSICAL_RANGE,
            )
            for i, ch in enumerate(raw.ch_names)
        ]
        bdf = edfio.Bdf(
            signals,
            patient=patient,
            recording=recording,
            starttime=start.time(),
            data_record_duration=1.0,
            annotations=_edf_annotations(ann),
        )
        p = out / f"{stem}_eeg.bdf"
        bdf.write(p)
        paths["eeg_bdf"] = p

    if raw.rr_s.size:
        t = raw.rr_times - t_first
        p = out / f"{stem}_rr.tsv"
        with open(p, "w") as f:
            f.write("beat_time_s\trr_ms\n")
            for ti, ri in zip(t, raw.rr_s):
                f.write(f"{ti:.4f}\t{ri * 1000.0:.3f}\n")
        paths["rr_tsv"] = p
        fs = RR_TACHOGRAM_SFREQ
        dur = max(1.0, math.ceil(max(float(t[-1]), 0.0) + 1.0))
        grid = np.arange(int(dur * fs)) / fs
        k = np.searchsorted(t, grid, side="right") - 1  # the last beat at or before each instant
        rr_ms = np.where(k >= 0, raw.rr_s[np.clip(k, 0, None)] * 1000.0, 0.0)
        hr = np.where(rr_ms > 0, 60000.0 / np.where(rr_ms > 0, rr_ms, 1.0), 0.0)
        ann = [
            (max(a - t_first, 0.0), d, txt)
            for a, d, txt in _annotations(detail, until_s=dur + t_first)
        ]
        # Every beat, exactly, as an annotation (the tachogram is for viewing).
        ann += [
            (max(float(ti), 0.0), None, f"beat rr_ms={ri * 1000.0:.3f}")
            for ti, ri in zip(t, raw.rr_s)
        ]
        edf = edfio.Edf(
            [
                edfio.EdfSignal(
                    rr_ms, fs, label="RR", physical_dimension="ms", physical_range=(0.0, 3000.0)
                ),
                edfio.EdfSignal(
                    hr, fs, label="HR", physical_dimension="bpm", physical_range=(0.0, 250.0)
                ),
            ],
            patient=patient,
            recording=recording,
            starttime=start.time(),
            data_record_duration=1.0,
            annotations=_edf_annotations(ann),
        )
        p = out / f"{stem}_rr.edf"
        edf.write(p)
        paths["rr_edf"] = p
    return paths


def write_bids(
    bdf_path: str | Path,
    bids_root: str | Path,
    *,
    subject: str,
    session: int,
    line_freq: float = 50.0,
    manufacturer: str | None = None,
    model_name: str | None = None,
) -> Path:
    """Write an exported BDF into a BIDS-EEG dataset (``task-assessment``) with ``mne-bids``.

    The BDF's phase/event annotations become ``*_events.tsv`` (``trial_type`` =
    ``phase:eyes_closed_rest`` ...); the channels (TP9, AF7, AF8, TP10 at 256 Hz for a Muse) and
    sampling rate are kept; :func:`mne_bids.read_raw_bids` reads the result back. The subject
    label is the code without ``-``/``_`` (BIDS labels are alphanumeric), the session label the
    session id on 4 digits.

    Parameters
    ----------
    bdf_path : path-like
        A BDF written by :func:`export_session`.
    bids_root : path-like
        Root of the BIDS dataset (created or added to).
    subject : str
        Pseudonymous subject code.
    session : int
        Session id.
    line_freq : float
        Mains frequency in Hz (``PowerLineFrequency``).
    manufacturer, model_name : str | None
        ``Manufacturer`` / ``ManufacturersModelName`` of the sidecar (mne-bids would otherwise
        guess "Biosemi" from the BDF format).

    Returns
    -------
    Path
        ``bids_root``.

    Raises
    ------
    DataFormatError
        If ``mne-bids`` is not installed (``pip install mne-bids``).
    """
    try:
        import mne
        from mne_bids import BIDSPath, write_raw_bids
    except ModuleNotFoundError:
        raise DataFormatError(
            "BIDS export needs mne-bids: pip install mne-bids (optional extra)."
        ) from None
    raw = mne.io.read_raw_bdf(bdf_path, preload=False, verbose="error")
    raw.info["line_freq"] = line_freq
    bp = BIDSPath(
        subject=_safe_name(subject).replace("-", "").replace("_", ""),
        session=f"{int(session):04d}",
        task="assessment",
        root=bids_root,
    )
    write_raw_bids(raw, bp, overwrite=True, verbose=False, allow_preload=False, format="auto")
    from mne_bids import update_sidecar_json

    sidecar = bp.copy().update(suffix="eeg", extension=".json", datatype="eeg")
    update_sidecar_json(
        sidecar,
        {
            "Manufacturer": manufacturer or "n/a",
            "ManufacturersModelName": model_name or "n/a",
        },
        verbose=False,
    )
    return Path(bids_root)


# -- readers -----------------------------------------------------------------------------------
def read_recording(path: str | Path) -> Recording:
    """Read a recording by its extension and header (see :func:`_read_recording`).

    Whatever goes wrong inside a reader ends as one :class:`DataFormatError` naming the file.
    """
    p = Path(path)
    try:
        return _read_recording(p)
    except DataFormatError:
        raise
    except MemoryError:
        raise DataFormatError(
            f"{p}: too large or malformed (out of memory while reading)."
        ) from None
    except Exception as exc:  # noqa: BLE001 - a reader's unexpected failure on a malformed file
        msg = str(exc).strip().splitlines()
        raise DataFormatError(
            f"{p}: malformed or unreadable ({type(exc).__name__}: {msg[0] if msg else ''})."
        ) from None


def _read_recording(path: str | Path) -> Recording:
    """Read a recording by its extension and header.

    ``.csv``/``.csv.gz``: a muse-lsl CSV (``timestamps,TP9,...``) or a Mind Monitor CSV
    (``TimeStamp,...,RAW_TP9,...``); ``.xdf``: XDF via ``pyxdf``; ``.edf``/``.bdf``: EDF(+)/BDF(+)
    (an RR channel, as in our exports, is read as RR); ``.tsv``: our beat-exact RR export.

    Raises
    ------
    DataFormatError
        Unknown extension, unreadable or malformed file (one line naming the file).
    """
    p = Path(path)
    name = p.name.lower()
    if not p.exists():
        raise DataFormatError(f"{p}: no such file.")
    if name.endswith((".csv", ".csv.gz")):
        header = _first_line(p)
        if "RAW_TP9" in header or header.startswith("TimeStamp"):
            return read_mind_monitor_csv(p)
        from addictidx.acquire import read_muse_csv

        data, _t, ch, sfreq = read_muse_csv(p)
        return Recording(data, sfreq, tuple(ch), None, f"{p.name} (muse-lsl CSV)")
    if name.endswith(".xdf"):
        return read_xdf(p)
    if name.endswith((".edf", ".bdf")):
        return read_edf(p)
    if name.endswith(".tsv"):
        return _read_rr_tsv(p)
    raise DataFormatError(
        f"{p}: unknown recording type; expected .csv (muse-lsl or Mind Monitor), .xdf, .edf, "
        ".bdf or an exported _rr.tsv."
    )


def _first_line(p: Path) -> str:
    import gzip

    try:
        opener = gzip.open if p.name.lower().endswith(".gz") else open
        with opener(p, "rt", encoding="utf-8", errors="replace") as f:
            return f.readline().strip()
    except (OSError, EOFError) as exc:
        raise DataFormatError(f"{p}: cannot read ({exc}).") from None


def read_mind_monitor_csv(path: str | Path) -> Recording:
    """Read the raw EEG of a Mind Monitor CSV export (columns found by name).

    ``TimeStamp`` (local time ``yyyy-MM-dd HH:mm:ss.SSS``) and ``RAW_TP9, RAW_AF7, RAW_AF8,
    RAW_TP10`` (µV) are used; marker rows (an ``Elements`` value and blank data columns) become
    annotations. The sampling rate is estimated from the time stamps (Mind Monitor writes 256 Hz
    raw when "recording interval" is "constant").
    """
    import csv
    import gzip

    p = Path(path)
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise DataFormatError(f"{p}: cannot read as CSV ({exc}).") from None
    if not rows:
        raise DataFormatError(f"{p}: empty file, expected a Mind Monitor CSV header.")
    header = [h.strip() for h in rows[0]]
    want = ["TimeStamp"] + [f"RAW_{c}" for c in MUSE_CHANNELS]
    missing = [c for c in want if c not in header]
    if missing:
        raise DataFormatError(f"{p}, line 1: missing Mind Monitor column(s) {missing}.")
    cols = [header.index(c) for c in want]
    el = header.index("Elements") if "Elements" in header else None
    stamps: list[float] = []
    values: list[list[float]] = []
    marks: list[tuple[float, str]] = []
    for i, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        try:
            ts = _dt.datetime.strptime(row[cols[0]].strip(), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        except ValueError:
            raise DataFormatError(
                f"{p}, line {i}, column 'TimeStamp': {row[cols[0]]!r} is not "
                "'yyyy-MM-dd HH:mm:ss.SSS'."
            ) from None
        cells = [row[c].strip() for c in cols[1:]]
        if el is not None and row[el].strip() and not any(cells):
            marks.append((ts, row[el].strip()))
            continue
        try:
            values.append([float(c) if c else math.nan for c in cells])
        except ValueError:
            bad = next(c for c in cells if c and not _is_float(c))
            j = cells.index(bad)
            raise DataFormatError(
                f"{p}, line {i}, column {want[j + 1]!r}: {bad!r} is not a number."
            ) from None
        stamps.append(ts)
    if len(values) < 2:
        raise DataFormatError(f"{p}: needs at least 2 EEG rows, got {len(values)}.")
    st = np.asarray(stamps)
    span = st[-1] - st[0]
    if not span > 0:
        raise DataFormatError(f"{p}: time stamps do not advance.")
    sfreq = (st.size - 1) / span
    if abs(sfreq - 256.0) < 0.05 * 256.0:
        sfreq = 256.0
    data = np.asarray(values, dtype=np.float64).T
    ann = [(t - st[0], 0.0, text) for t, text in marks]
    return Recording(data, float(sfreq), MUSE_CHANNELS, None, f"{p.name} (Mind Monitor CSV)", ann)


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_xdf(path: str | Path) -> Recording:
    """Read the first EEG stream (and an RR/ECG-derived RR stream if present) of an XDF file.

    Needs ``pyxdf`` (optional). EEG channels are matched by label (TP9, AF7, AF8, TP10 when
    present, else all channels).
    """
    p = Path(path)
    try:
        import pyxdf
    except ModuleNotFoundError:
        raise DataFormatError(f"{p}: reading XDF needs pyxdf (pip install pyxdf).") from None
    import logging

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
            str(p), synchronize_clocks=True, dejitter_timestamps=True
        )
    except Exception as exc:  # pyxdf raises many types on malformed files
        raise DataFormatError(
            f"{p}: not a readable XDF file ({type(exc).__name__}: {exc})."
        ) from None
    finally:
        lg.removeHandler(keep)
        lg.propagate = propagate
    if not streams and notes:
        raise DataFormatError(f"{p}: not a readable XDF file ({notes[0]}).")
    eeg = rr = None
    sfreq = None
    names: tuple[str, ...] = ()
    for s in streams:
        info = s.get("info", {})
        typ = (info.get("type") or [""])[0]
        if typ.upper() == "EEG" and eeg is None:
            x = np.asarray(s["time_series"], dtype=np.float64).T
            labels = _xdf_labels(info, x.shape[0])
            idx = [labels.index(c) for c in MUSE_CHANNELS if c in labels] or list(
                range(len(labels))
            )
            eeg = x[idx]
            names = tuple(labels[i] for i in idx)
            sfreq = float((info.get("nominal_srate") or ["0"])[0]) or None
        elif typ.upper() == "RR" and rr is None:
            v = np.asarray(s["time_series"], dtype=np.float64).ravel()
            rr = v / 1000.0 if np.nanmedian(v) > 10 else v
    if eeg is None and rr is None:
        raise DataFormatError(f"{p}: no stream of type EEG or RR in this XDF file.")
    return Recording(eeg, sfreq, names, rr, f"{p.name} (XDF)")


def _xdf_labels(info: dict, n: int) -> list[str]:
    try:
        chans = info["desc"][0]["channels"][0]["channel"]
        labels = [c["label"][0] for c in chans]
        if len(labels) == n:
            return labels
    except (KeyError, IndexError, TypeError):
        pass
    return [f"ch{i + 1}" for i in range(n)]


def read_edf(path: str | Path) -> Recording:
    """Read EEG (and an ``RR`` tachogram channel, as in our exports) from EDF(+)/BDF(+).

    Raises
    ------
    DataFormatError
        Malformed header, signals or annotations (edfio decodes some fields lazily, so every
        access is covered).
    """
    p = Path(path)
    try:
        return _read_edf(p)
    except DataFormatError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, EOFError, OSError, OverflowError) as exc:
        msg = str(exc).strip().splitlines()
        raise DataFormatError(
            f"{p}: not a readable {p.suffix[1:].upper()} file ({type(exc).__name__}: "
            f"{msg[0] if msg else ''})."
        ) from None


def _read_edf(p: Path) -> Recording:
    import edfio

    try:
        f = edfio.read_bdf(p) if p.suffix.lower() == ".bdf" else edfio.read_edf(p)
    except Exception as exc:  # edfio raises ValueError/EOFError/... on malformed headers
        raise DataFormatError(
            f"{p}: not a readable {p.suffix[1:].upper()} file ({exc})."
        ) from None
    eeg_sig = [s for s in f.signals if s.label.strip().upper() not in ("RR", "HR")]
    rr_sig = [s for s in f.signals if s.label.strip().upper() == "RR"]
    eeg = sfreq = None
    names: tuple[str, ...] = ()
    if eeg_sig:
        rates = {s.sampling_frequency for s in eeg_sig}
        if len(rates) > 1:
            eeg_sig = [s for s in eeg_sig if s.sampling_frequency == max(rates)]
        names = tuple(s.label.strip() for s in eeg_sig)
        eeg = np.vstack([s.data for s in eeg_sig]).astype(np.float64)
        sfreq = float(eeg_sig[0].sampling_frequency)
        units = {s.physical_dimension.strip().lower() for s in eeg_sig}
        if units & {"v"}:
            eeg = eeg * 1e6
        elif units & {"mv"}:
            eeg = eeg * 1e3
    rr = None
    beats = [a.text for a in f.annotations if a.text.startswith("beat rr_ms=")]
    if beats:  # our export: every beat exactly
        try:
            rr = np.array([float(b.split("=", 1)[1]) for b in beats]) / 1000.0
        except ValueError:
            raise DataFormatError(f"{p}: malformed beat annotation.") from None
    elif rr_sig:
        # The tachogram holds the last RR at each instant: its changes are the beats (two equal
        # RR in a row read as one; the _rr.tsv export keeps every beat exactly).
        x = rr_sig[0].data
        change = np.flatnonzero(np.diff(x) != 0) + 1
        vals = x[change]
        rr = vals[vals > 0] / 1000.0
    ann = [
        (a.onset, a.duration or 0.0, a.text)
        for a in f.annotations
        if not a.text.startswith("beat rr_ms=")
    ]
    if eeg is not None and eeg.size == 0:
        raise DataFormatError(f"{p}: no samples.")
    return Recording(eeg, sfreq, names, rr, f"{p.name} ({p.suffix[1:].upper()})", ann)


def _read_rr_tsv(p: Path) -> Recording:
    try:
        arr = np.loadtxt(p, delimiter="\t", skiprows=1, ndmin=2)
    except (ValueError, OSError) as exc:
        raise DataFormatError(f"{p}: not a beat TSV (beat_time_s, rr_ms): {exc}.") from None
    if arr.shape[1] != 2 or arr.shape[0] == 0:
        raise DataFormatError(f"{p}: expected 2 columns beat_time_s, rr_ms.")
    return Recording(None, None, (), arr[:, 1] / 1000.0, f"{p.name} (RR TSV)")
