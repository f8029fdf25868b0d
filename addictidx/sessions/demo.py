"""The demo's simulated person: visits replayed from several real recordings (issue 17.3).

A personal baseline needs spread: five visits replaying the same stretch of one recording give
almost identical features, so a sixth visit scored against them swings to the extremes on tiny
differences. The demo person's visits therefore replay **different real recordings**:

* EEG: three task recordings of eeg-notebooks ``subject1`` (visual N170 and auditory P300 on
  13 Sep 2017, visual SSVEP on 14 Sep 2017; the data set numbers them as one subject), the
  first 60, 40 and 20 s, cut into 20-s parts - one part per visit (each loops over the visit);
* RR: six 6-min windows of one person's 24-h Holter RR series (PhysioNet nsr2db, record
  nsr004), taken 1, 3, 4, 5, 6 and 7 h into the recording.

The EEG and the heart are two different people's real signals; the demo person is a composite
and says so. Sources and licences: ``addictidx/data/README.md``. These are task recordings, not
rest: the demo shows the pipeline, not a normative resting physiology.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["DemoVisit", "DEMO_VISITS", "demo_visit", "demo_devices"]


@dataclass(frozen=True)
class DemoVisit:
    """Where one demo visit's signals come from.

    Attributes
    ----------
    eeg_file : str
        Bundled excerpt (``addictidx/data``).
    eeg_part : int
        Which 20-s part of the excerpt (0 = its first 20 s).
    rr_hour : int
        The nsr004 window starting this many hours into the 24-h recording.
    label : str
        One line for the demo's output.
    """

    eeg_file: str
    eeg_part: int
    rr_hour: int
    label: str


_N170 = "muse_eeg_notebooks_subject1_n170_60s.csv.gz"
_P300 = "muse_eeg_notebooks_subject1_auditory_p300_40s.csv.gz"
_SSVEP = "muse_eeg_notebooks_subject1_ssvep_20s.csv.gz"
RR_WINDOWS = "nsr2db_nsr004_rr_6min_windows.tsv.gz"
PART_S = 20.0

#: The demo person's visits: five for the baseline, the sixth scored against it.
DEMO_VISITS: tuple[DemoVisit, ...] = (
    DemoVisit(_N170, 0, 3, "EEG subject1 N170 0-20 s, RR nsr004 hour 3"),
    DemoVisit(_P300, 0, 4, "EEG subject1 auditory P300 0-20 s, RR nsr004 hour 4"),
    DemoVisit(_SSVEP, 0, 5, "EEG subject1 SSVEP 0-20 s, RR nsr004 hour 5"),
    DemoVisit(_N170, 2, 6, "EEG subject1 N170 40-60 s, RR nsr004 hour 6"),
    DemoVisit(_P300, 1, 7, "EEG subject1 auditory P300 20-40 s, RR nsr004 hour 7"),
    DemoVisit(_N170, 1, 1, "EEG subject1 N170 20-40 s, RR nsr004 hour 1"),
)


@functools.lru_cache(maxsize=4)
def _eeg(name: str) -> tuple[np.ndarray, list[str], float]:
    from addictidx.readers import read_muse_csv

    with resources.files("addictidx.data").joinpath(name).open("rb") as f:
        rec = read_muse_csv(gzip.GzipFile(fileobj=f, filename=name))
    data = np.array(rec.data)
    data.setflags(write=False)
    return data, list(rec.ch_names), float(rec.sfreq)


@functools.lru_cache(maxsize=1)
def _rr_windows() -> dict[int, np.ndarray]:
    with resources.files("addictidx.data").joinpath(RR_WINDOWS).open("rb") as f:
        rows = gzip.decompress(f.read()).decode("ascii").split("\n")[1:]
    hours, rr = [], []
    for line in rows:
        if line.strip():
            h, v = line.split("\t")
            hours.append(int(h))
            rr.append(float(v))
    h, v = np.asarray(hours), np.asarray(rr)
    return {int(k): v[h == k] for k in np.unique(h)}


def demo_visit(k: int, n_history: int) -> DemoVisit:
    """The visit replayed as session ``k`` (0-based) of a demo with ``n_history`` earlier ones.

    The last session always replays :data:`DEMO_VISITS` [-1]; earlier ones cycle through the
    first five.
    """
    if k >= n_history:
        return DEMO_VISITS[-1]
    return DEMO_VISITS[k % (len(DEMO_VISITS) - 1)]


def demo_devices(visit: DemoVisit, duration_s: float, seed: int = 0):
    """The simulated headband and strap replaying one visit's recordings (both loop).

    Returns
    -------
    headband : SimulatedHeadband
    strap : SimulatedStrap
    """
    from addictidx.acquire import SimulatedHeadband, SimulatedStrap

    data, ch, sfreq = _eeg(visit.eeg_file)
    n = int(PART_S * sfreq)
    part = np.array(data[:, visit.eeg_part * n : (visit.eeg_part + 1) * n])
    rr = _rr_windows()[visit.rr_hour].copy()
    return (
        SimulatedHeadband(part, sfreq, ch_names=ch, duration_s=duration_s, seed=seed),
        SimulatedStrap(rr, duration_s=duration_s, seed=seed),
    )
