"""Readers of every file format the tool takes in, one room (below acquire and features).

Each reader returns a frozen :class:`Recording` -- ``data`` shaped (n_channels, n_times) with
``sfreq``, ``units``, ``gaps`` (never hidden: missing samples are NaN and listed) -- or, for the
replay formats, a frozen table. Headers are checked against :class:`ReaderLimits` before
anything large is allocated; bad input raises one :class:`~addictidx._core.errors.DataFormatError`
line naming the file.

========================  ===================================================================
module                    formats
========================  ===================================================================
``dispatch``              :func:`read_recording`: any of the below, recognised by content
``muse_csv``              muse-lsl CSV, Mind Monitor CSV
``edf``                   EDF, EDF+C/D, BDF, BDF+ (header-checked, memory-mapped)
``xdf``                   XDF (pyxdf, optional; stream headers checked first)
``rr``                    RR lists (s or ms, detected), the tool's ``_rr.tsv``, beat CSVs
``polar_h10``             Polar H10 CSV (``time_ns,ecg_mV,hr_bpm,rr_ms``)
``bundled``               the real excerpts shipped in ``addictidx/data``
``textfile``, ``tables``  gzip-aware bounded file reading, vectorized CSV number parsing
``limits``                :class:`ReaderLimits` (header sanity bounds)
``recording``             :class:`Recording`, :class:`Gap`, :class:`Annotation`
========================  ===================================================================
"""

from addictidx.readers.bundled import BUNDLED_MUSE_EEG, BUNDLED_RR, bundled_muse_eeg, bundled_rr
from addictidx.readers.dispatch import read_recording, sniff_format
from addictidx.readers.limits import (
    DEFAULT_LIMITS,
    ReaderLimits,
    limits_for_rates,
    limits_from_profiles,
)
from addictidx.readers.muse_csv import MUSE_EEG_CHANNELS, read_mind_monitor_csv, read_muse_csv
from addictidx.readers.polar_h10 import PolarH10Csv, polar_h10_recording, read_polar_h10_csv
from addictidx.readers.recording import Annotation, Gap, Recording
from addictidx.readers.rr import read_beat_csv, read_rr_file, read_rr_text, rr_unit_from_values
from addictidx.readers.textfile import read_bytes, read_text, read_text_lines

__all__ = [
    "Annotation",
    "BUNDLED_MUSE_EEG",
    "BUNDLED_RR",
    "DEFAULT_LIMITS",
    "Gap",
    "MUSE_EEG_CHANNELS",
    "PolarH10Csv",
    "ReaderLimits",
    "Recording",
    "bundled_muse_eeg",
    "bundled_rr",
    "limits_for_rates",
    "limits_from_profiles",
    "polar_h10_recording",
    "read_beat_csv",
    "read_bytes",
    "read_mind_monitor_csv",
    "read_muse_csv",
    "read_polar_h10_csv",
    "read_recording",
    "read_rr_file",
    "read_rr_text",
    "read_text",
    "read_text_lines",
    "rr_unit_from_values",
    "sniff_format",
]
