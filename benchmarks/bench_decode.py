"""How many notifications per second one core decodes with ``addictidx.acquire.decode``.

Cases (real bytes where they exist):

* ``muse_eeg``: the muse-js TP10 vector through ``decode("muse-2", 273e0006, ...)`` (20 bytes,
  12 samples); a headband sends 4 x 21.3 = 85 such notifications/s.
* ``hrs``: the Polar H7 capture ``16 3c 11 04`` through ``decode("polar-h10", "2a37", ...)``
  (~1 notification/s per strap).
* ``pmd_ecg``: the real H10 ECG frame (229 bytes, 73 samples; ~1.8 frames/s).
* ``athena``: the real OpenMuse p1041 notifications bundled in tests/data (EEG8 + optics16 +
  ACC/GYRO + battery blocks, ~36 notifications/s from a headband), cycled.

Each case also reports the pure decoder alone (no profile routing, scaling or packet objects).
Timings are medians of repeated runs in one process on one core; the VM is noisy, so compare
within a run. Prints a table and writes ``benchmarks/results/decode.json``.
Run: ``python benchmarks/bench_decode.py``.
"""

from __future__ import annotations

import gc
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from addictidx.acquire import decode
from addictidx.acquire.decoders import (
    decode_athena_block,
    decode_heart_rate_measurement,
    decode_muse_eeg,
    decode_pmd_ecg,
    split_athena_notification,
)

ROOT = Path(__file__).resolve().parents[1]
MUSE = "-4c4d-454d-96be-f03bac821358"
RATE_PER_DEVICE = {"muse_eeg": 4 * 256 / 12, "hrs": 1.0, "pmd_ecg": 130 / 73, "athena": 36.0}


def _vectors() -> dict:
    data = json.loads((ROOT / "tests" / "data" / "ble_test_vectors.json").read_text())
    return {v["id"]: bytes.fromhex(v["hex"]) for v in data["vectors"] if "hex" in v}


def _athena_payloads() -> list[bytes]:
    text = (ROOT / "tests" / "data" / "athena_openmuse_p1041.txt").read_text()
    return [bytes.fromhex(ln.split("\t")[2]) for ln in text.splitlines()]


def _rate(fn, payloads: list[bytes], *, repeats: int = 9, min_s: float = 0.2) -> dict:
    """Median notifications/s of ``fn(payload)`` cycling over ``payloads``."""
    for p in payloads:
        fn(p)  # warm-up (profile load, route cache)
    n = len(payloads)
    loops = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(loops):
            for p in payloads:
                fn(p)
        dt = time.perf_counter() - t0
        if dt >= min_s:
            break
        loops *= 2
    rates = []
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(loops):
                for p in payloads:
                    fn(p)
            rates.append(loops * n / (time.perf_counter() - t0))
    finally:
        gc.enable()
    r = np.array(rates)
    return {
        "notifications_per_s": float(np.median(r)),
        "p10": float(np.percentile(r, 10)),
        "p90": float(np.percentile(r, 90)),
        "us_per_notification": float(1e6 / np.median(r)),
        "repeats": repeats,
        "notifications_per_repeat": loops * n,
    }


def main() -> dict:
    v = _vectors()
    athena = _athena_payloads()
    cases = {
        "muse_eeg": (
            [v["muse.eeg.notification_tp10"]],
            lambda p: decode("muse-2", "273e0006" + MUSE, p),
            decode_muse_eeg,
        ),
        "hrs": (
            [v["hrs.2a37.polar_h7_capture_163c1104"]],
            lambda p: decode("polar-h10", "00002a37-0000-1000-8000-00805f9b34fb", p),
            decode_heart_rate_measurement,
        ),
        "pmd_ecg": (
            [v["pmd.data.ecg_h10_real_frame"]],
            lambda p: decode("polar-h10", "fb005c82-02e7-f387-1cad-8acd2d8df0c8", p),
            decode_pmd_ecg,
        ),
        "athena": (
            athena,
            lambda p: decode("muse-s-athena", "273e0013" + MUSE, p),
            lambda p: [decode_athena_block(b) for b in split_athena_notification(p)],
        ),
    }
    out: dict = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "cases": {},
    }
    print(
        f"{'case':<10} {'decode() notif/s':>18} {'us/notif':>9} {'raw decoder notif/s':>20} "
        f"{'x real-time (1 device)':>23}"
    )
    for name, (payloads, api, raw) in cases.items():
        a = _rate(api, payloads)
        b = _rate(raw, payloads)
        headroom = a["notifications_per_s"] / RATE_PER_DEVICE[name]
        out["cases"][name] = {
            "payload_bytes": [len(p) for p in payloads[:1]]
            if len(payloads) == 1
            else [min(map(len, payloads)), max(map(len, payloads))],
            "n_distinct_payloads": len(payloads),
            "decode_api": a,
            "raw_decoder": b,
            "device_notifications_per_s": RATE_PER_DEVICE[name],
            "realtime_headroom": headroom,
        }
        print(
            f"{name:<10} {a['notifications_per_s']:>18,.0f} {a['us_per_notification']:>9.1f} "
            f"{b['notifications_per_s']:>20,.0f} {headroom:>23,.0f}"
        )
    dest = ROOT / "benchmarks" / "results" / "decode.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {dest.relative_to(ROOT)}")
    return out


if __name__ == "__main__":
    main()
    sys.exit(0)
