"""The small real recordings shipped in ``addictidx/data`` (see its README for sources/licences).

The simulated devices replay them; the demo and many tests use them. Each call returns fresh
arrays (the parsed file is cached once per process).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from addictidx._core.package_data import package_files
from addictidx.readers.muse_csv import read_muse_csv
from addictidx.readers.recording import Recording
from addictidx.readers.rr import read_rr_text

__all__ = ["BUNDLED_MUSE_EEG", "BUNDLED_RR", "bundled_muse_eeg", "bundled_rr"]

#: File name of the bundled Muse excerpt in ``addictidx.data``.
BUNDLED_MUSE_EEG = "muse_eeg_notebooks_n170_subject2.csv.gz"
#: File name of the bundled RR excerpt in ``addictidx.data``.
BUNDLED_RR = "nsr2db_nsr004_rr_15min.txt.gz"


@functools.lru_cache(maxsize=1)
def _bundled_muse_cached() -> Recording:
    with package_files("addictidx.data").joinpath(BUNDLED_MUSE_EEG).open("rb") as f:
        rec = read_muse_csv(f)
    rec.data.setflags(write=False)
    rec.times.setflags(write=False)
    return rec


def bundled_muse_eeg() -> Recording:
    """Return the bundled 120 s of real Muse EEG (eeg-notebooks N170, subject 2; BSD-3).

    Returns
    -------
    recording : Recording
        ``data`` shape (4, 30732): TP9, AF7, AF8, TP10 in µV (a fresh copy on every call);
        ``times`` seconds from the first sample (the file's timestamps, 1 ms resolution);
        ``sfreq`` 256.0 Hz.
    """
    rec = _bundled_muse_cached()
    return dataclasses.replace(rec, data=rec.data.copy(), times=rec.times.copy())


@functools.lru_cache(maxsize=1)
def _bundled_rr_cached() -> np.ndarray:
    with package_files("addictidx.data").joinpath(BUNDLED_RR).open("rb") as f:
        rr = read_rr_text(f)
    rr.setflags(write=False)
    return rr


def bundled_rr() -> np.ndarray:
    """Return the bundled 15 min of real RR intervals (PhysioNet nsr2db nsr004; ODC-By 1.0).

    Returns
    -------
    rr_s : ndarray, shape (1019,)
        RR intervals in seconds (on the 1/128 s grid of the source; a fresh copy).
    """
    return _bundled_rr_cached().copy()
