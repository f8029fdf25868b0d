"""Beat files for the closed-loop controller: CSV with columns ``t_s,rr_s``, one row per beat.

``t_s`` is the time of the beat in seconds, ``rr_s`` the RR interval ending at it in seconds.
Missing beats mean silence (no rows). Other columns are ignored on purpose: in particular a strap
HR column is never read, because the controller works on RR-derived HR only. Reading is
:func:`addictidx.readers.read_beat_csv` (re-exported here); ``loop-sim`` also takes the other RR
formats through :func:`addictidx.readers.read_rr_file`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from addictidx.readers import read_beat_csv

__all__ = ["read_beat_csv", "write_beat_csv"]


def write_beat_csv(path: str | Path, t_s, rr_s) -> None:
    """Write ``t_s,rr_s`` rows (6 decimals), the format :func:`read_beat_csv` reads."""
    t = np.asarray(t_s, dtype=np.float64)
    rr = np.asarray(rr_s, dtype=np.float64)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("t_s,rr_s\n")
        for a, b in zip(t, rr):
            f.write(f"{a:.6f},{b:.6f}\n")
