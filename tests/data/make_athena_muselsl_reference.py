"""Regenerate tests/data/athena_muselsl_reference.json (run by hand; not a test).

Decodes the Athena capture excerpts ``athena_openmuse_*.txt`` with muse-lsl 2.5.3's
``muselsl/athena.py`` (BSD-3-Clause; a port of BrainFlow PR #779) -- an implementation
independent of addictidx -- and stores, per notification, every block as
``[stream, package_num, values]`` with ``package_num = (packet_counter << 8) | block_index`` and
``values`` shaped (n_channels, n_samples) as muse-lsl returns them (float32; optics reordered
to the 0x34/0x35/0x36 channel order).

Usage: ``pip download muselsl==2.5.3 --no-deps`` and unzip the wheel into DIR, then
``python tests/data/make_athena_muselsl_reference.py DIR``. The import of ``muselsl/athena.py``
stubs its BLE/LSL dependencies (pygatt, pylsl), which the decoding functions do not use.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ["athena_openmuse_p21.txt", "athena_openmuse_p1041.txt", "athena_openmuse_seqwrap.txt"]


def _load_muselsl(root: str):
    sys.modules["pygatt"] = types.ModuleType("pygatt")
    pkg = types.ModuleType("muselsl")
    pkg.__path__ = [str(Path(root) / "muselsl")]
    sys.modules["muselsl"] = pkg
    for m in ("muselsl.backends", "muselsl.helper", "muselsl.stream_descriptor"):
        mod = types.ModuleType(m)
        mod.StreamDescriptor = object
        sys.modules[m] = mod
    import muselsl.athena as ml

    return ml


def _r(a) -> list:
    """float32 array -> nested lists rounded to 1e-6 (float32 resolution at 725 uV is 6e-5)."""
    return [[round(float(v), 6) for v in row] for row in a]


def main(root: str) -> None:
    ml = _load_muselsl(root)
    out = {"source": "muselsl 2.5.3 muselsl/athena.py (BSD-3-Clause)", "files": {}}
    for name in FILES:
        notes = []
        for line in (HERE / name).read_text().splitlines():
            payload = bytes.fromhex(line.split("\t")[2])
            blocks = []
            for pk in ml.split_packets(payload):
                for tag, num, blk in ml.iter_sensor_blocks(pk):
                    if tag in (0x11, 0x12):
                        nch, ns = (4, 4) if tag == 0x11 else (8, 2)
                        blocks.append(["eeg", num, _r(ml.decode_eeg(blk, nch, ns))])
                    elif tag in (0x34, 0x35, 0x36):
                        nch, ns = {0x34: (4, 3), 0x35: (8, 2), 0x36: (16, 1)}[tag]
                        full = ml.decode_optics(blk, tag, nch, ns)
                        idx = [ml.optics_canonical_index(tag, c) for c in range(nch)]
                        blocks.append(["optics", num, _r(full[idx])])
                    elif tag == 0x47:
                        acc, gyro = ml.decode_acc_gyro(blk, 3)
                        blocks.append(["acc", num, _r(acc)])
                        blocks.append(["gyro", num, _r(gyro)])
                    elif tag in (0x98, 0x88):
                        blocks.append(["battery", num, [[ml.decode_battery(blk)]]])
            notes.append(blocks)
        out["files"][name] = notes
    (HERE / "athena_muselsl_reference.json").write_text(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv[1])
