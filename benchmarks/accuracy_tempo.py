"""Tempo accuracy table: ours vs librosa's default estimator on rendered tracks with known tempo.

The same renders as ``tests/test_music_tempo.py`` (drums, bass, chords; straight, triplet swing,
+4 % and -4 % drift; 55-160 bpm, 8 s each), scored with mir_eval's tempo detection at a 2-bpm
tolerance, against :func:`librosa.feature.tempo` (default log-normal prior at 120 bpm) in the
same run. Also CPU seconds per track. Prints a Markdown table and writes
``benchmarks/results/tempo_accuracy.json``.

    python benchmarks/accuracy_tempo.py [--seconds 8] [--n-tempi 11]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--n-tempi", type=int, default=11)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "tempo_accuracy.json")
    args = ap.parse_args(argv)
    import librosa
    import mir_eval

    from addictidx.music.render import render_track
    from addictidx.music.tempo import estimate_tempo

    cases = [("straight", 0.5, 0.0), ("swing", 2 / 3, 0.0), ("drift+4%", 0.5, 4.0)]
    cases.append(("swing, drift-4%", 2 / 3, -4.0))

    def hit(ref, est):
        p, _o, _b = mir_eval.tempo.detection(
            np.array([ref, ref]), 1.0, np.array([est, est]), tol=2.0 / ref
        )
        return p

    estimate_tempo(render_track(100.0, args.seconds).audio)  # warm-up (imports, FFT plans)
    librosa.feature.tempo(y=render_track(100.0, args.seconds).audio, sr=22050)
    rows, k = [], 0
    for bpm in np.linspace(55.0, 160.0, args.n_tempi):
        for name, swing, drift in cases:
            tr = render_track(float(bpm), args.seconds, swing=swing, drift_pct=drift, seed=k,
                              key_hz=50.0 + k % 7)  # fmt: skip
            k += 1
            c0 = time.process_time()
            ours = estimate_tempo(tr.audio, tr.sfreq).tempo_bpm
            c1 = time.process_time()
            ref = float(librosa.feature.tempo(y=tr.audio, sr=int(tr.sfreq))[0])
            c2 = time.process_time()
            rows.append(
                {
                    "bpm": round(float(bpm), 1),
                    "case": name,
                    "true_bpm": round(tr.tempo_bpm, 2),
                    "ours_bpm": round(ours, 2),
                    "librosa_bpm": round(ref, 2),
                    "ours_hit": hit(tr.tempo_bpm, ours),
                    "librosa_hit": hit(tr.tempo_bpm, ref),
                    "ours_cpu_s": c1 - c0,
                    "librosa_cpu_s": c2 - c1,
                }
            )
    print(
        f"{len(rows)} rendered tracks, {args.seconds:g} s each; hit = |error| <= 2 bpm (mir_eval)"
    )
    print("| case | n | ours hit | librosa hit | ours median abs err | librosa median abs err |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for name, *_ in cases + [("all", 0, 0)]:
        rs = [r for r in rows if name == "all" or r["case"] == name]
        e1 = np.median([abs(r["ours_bpm"] - r["true_bpm"]) for r in rs])
        e2 = np.median([abs(r["librosa_bpm"] - r["true_bpm"]) for r in rs])
        h1 = np.mean([r["ours_hit"] for r in rs])
        h2 = np.mean([r["librosa_hit"] for r in rs])
        summary[name] = {
            "n": len(rs),
            "ours_hit": h1,
            "librosa_hit": h2,
            "ours_median_abs_err_bpm": e1,
            "librosa_median_abs_err_bpm": e2,
        }
        print(f"| {name} | {len(rs)} | {h1:.1%} | {h2:.1%} | {e1:.2f} | {e2:.2f} |")
    cpu1 = float(np.mean([r["ours_cpu_s"] for r in rows]))
    cpu2 = float(np.mean([r["librosa_cpu_s"] for r in rows]))
    print(f"CPU per track: ours {cpu1 * 1e3:.0f} ms, librosa {cpu2 * 1e3:.0f} ms "
          f"(ratio {cpu1 / cpu2:.2f}; loaded machine, CPU time)")  # fmt: skip
    misses = [r for r in rows if not r["ours_hit"]]
    for r in misses:
        print(f"miss: {r['case']} {r['true_bpm']} bpm -> {r['ours_bpm']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"summary": summary, "rows": rows, "librosa": librosa.__version__,
           "mir_eval": mir_eval.__version__, "seconds": args.seconds,
           "cpu_s_per_track": {"ours": cpu1, "librosa": cpu2}}  # fmt: skip
    args.out.write_text(json.dumps(doc, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
