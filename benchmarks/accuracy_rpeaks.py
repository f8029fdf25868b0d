"""R-peak accuracy table: ours vs NeuroKit2 on MIT-BIH 100 rate-scaled to 40-220 bpm.

Same signals, same one-to-one scoring at +-75 ms (the helpers of ``tests/test_ecg_peaks.py``),
both leads (MLII, V5), declared at 130 and 360 Hz. Prints a Markdown table and writes
``benchmarks/results/rpeaks_accuracy.json``. Needs ``../shared/data`` (or ADDICTIDX_SHARED).

    python benchmarks/accuracy_rpeaks.py [--duration 300]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of record 100 (<=1805)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "rpeaks_accuracy.json")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE.parent / "tests"))
    import neurokit2
    import test_ecg_peaks as t  # the scoring and rate scaling the tests use

    rows = t.rate_table(duration_s=args.duration)
    print(f"MIT-BIH 100, first {args.duration:.0f} s, one-to-one at +-75 ms")
    print("| fs (Hz) | lead | rate (bpm) | beats | Se | PPV | NK Se | NK PPV |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['sfreq']} | {r['lead']} | {r['rate_bpm']:.0f} | {r['n_beats']} | "
            f"{r['se']:.4f} | {r['ppv']:.4f} | {r['nk_se']:.4f} | {r['nk_ppv']:.4f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"record": "MIT-BIH 100", "duration_s": args.duration, "tolerance_s": 0.075}
    meta["neurokit2"] = neurokit2.__version__
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
