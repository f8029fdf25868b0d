"""Batch rescoring and model evaluation on Dask (issue 18), against the serial run.

The batch folder holds >= 40 real recordings: the 20 Muse sessions of the shared data (muse-lsl
CSV) plus two windows of each (first and second half of the file's own rows, so every window is
a real recording too), a third of them paired with real 24-h RR windows (PhysioNet NSR, via
``--rr-dir``) so that rows with an index exist, and one malformed file. Dask runs on a
``LocalCluster`` of 2 worker processes. No timing is asserted.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed", reason="the 'cluster' extra (dask[distributed]) is missing")
pytest.importorskip("pyarrow", reason="the 'cluster' extra (pyarrow) is missing")

ROOT = Path(__file__).resolve().parents[1]
# the shared real recordings (ADDICTIDX_SHARED, else ../shared beside the checkout)
SHARED = Path(os.environ.get("ADDICTIDX_SHARED") or ROOT.parent / "shared") / "data"
MUSE = SHARED / "muse-eeg-notebooks-v0.1-subset"
NSR = SHARED / "physionet-rr-24h-nsr2db-chf2db-healthy" / "nsr2db_normal"
needs_data = pytest.mark.skipif(
    not (MUSE.is_dir() and NSR.is_dir()),
    reason="needs ../shared/data (Muse sessions and PhysioNet RR); absent in a fresh clone",
)


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cli(*args, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "addictidx", *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=900,
    )
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}: {r.stderr[-2000:]}")
    return r


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A folder of >= 40 real recordings, an RR folder, and the expected row order."""
    if not (MUSE.is_dir() and NSR.is_dir()):
        pytest.skip("needs ../shared/data (Muse sessions and PhysioNet RR)")
    root = tmp_path_factory.mktemp("batch")
    rec, rr_dir = root / "recordings", root / "rr"
    rec.mkdir()
    rr_dir.mkdir()
    sessions = sorted(p for p in MUSE.glob("*.csv.gz"))
    assert len(sessions) >= 14
    nsr = sorted(NSR.glob("*_rr_secs.txt.gz"))
    names = []
    for i, src in enumerate(sessions):
        stem = f"s{i:02d}"
        (rec / f"{stem}.csv.gz").write_bytes(src.read_bytes())
        lines = gzip.decompress(src.read_bytes()).decode().splitlines(keepends=True)
        head, body = lines[0], lines[1:]
        half = len(body) // 2
        for part, rows in (("a", body[:half]), ("b", body[half:])):
            (rec / f"{stem}{part}.csv").write_text(head + "".join(rows))
        names += [f"{stem}.csv.gz", f"{stem}a.csv", f"{stem}b.csv"]
        if i % 3 == 0:  # real RR (another person's): 300 beats of a 24-h NSR recording
            values = gzip.decompress(nsr[i % len(nsr)].read_bytes()).decode().split()
            rr = [float(v) for v in values[1 + 1000 * (i + 1) : 1 + 1000 * (i + 1) + 300]]
            (rr_dir / f"{stem}a_rr.txt").write_text("\n".join(repr(v) for v in rr) + "\n")
    (rec / "zz_truncated.csv").write_text("timestamps,TP9,AF7,AF8,TP10,Right AUX\n1.0,2.0,x\n")
    names.append("zz_truncated.csv")
    order = sorted(names)
    assert len(order) >= 40
    return {"rec": rec, "rr": rr_dir, "order": order, "root": root}


def _rows(path: Path) -> list[dict]:
    from addictidx.cluster.table import read_table

    return read_table(path)


# -- discovery rules (no data needed) --------------------------------------------------------
def test_find_recordings_rules(tmp_path):
    from addictidx.cluster.discover import find_recordings

    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    for name in ("b.csv", "a.edf", "README.txt", "notes.json", ".hidden.csv", "x_eeg.bdf"):
        (d / name).write_text("x")
    (d / "x_rr.tsv").write_text("x")
    (d / "sub" / "c.csv.gz").write_bytes(b"x")
    got = [Path(t.path).name for t in find_recordings([d])]
    assert got == ["a.edf", "b.csv", "x_eeg.bdf"]  # sorted; export pair is one row
    (t_x,) = [t for t in find_recordings([d]) if t.path.endswith("x_eeg.bdf")]
    assert t_x.rr_path.endswith("x_rr.tsv")
    assert [Path(t.path).name for t in find_recordings([d], recursive=True)][-1] == "c.csv.gz"
    # a file argument is taken whatever its name; duplicates once, at the first place
    got = [Path(t.path).name for t in find_recordings([d / "README.txt", d, d / "b.csv"])]
    assert got == ["README.txt", "a.edf", "b.csv", "x_eeg.bdf"]
    # --rr-dir: NAME_rr.* or NAME.*; two candidates are the row's error
    rr = tmp_path / "rr"
    rr.mkdir()
    (rr / "a_rr.txt").write_text("1")
    (rr / "b.txt").write_text("1")
    (rr / "b_rr.csv").write_text("1")
    by = {Path(t.path).name: t for t in find_recordings([d], rr_dir=rr)}
    assert by["a.edf"].rr_path.endswith("a_rr.txt") and by["a.edf"].problem is None
    assert by["b.csv"].rr_path is None and "two or more RR files" in by["b.csv"].problem
    # BIDS: *_eeg.* under sub-*/, derivatives skipped
    bids = tmp_path / "bids"
    (bids / "sub-01" / "eeg").mkdir(parents=True)
    (bids / "derivatives" / "sub-01").mkdir(parents=True)
    (bids / "dataset_description.json").write_text("{}")
    (bids / "sub-01" / "eeg" / "sub-01_task-rest_eeg.bdf").write_text("x")
    (bids / "sub-01" / "eeg" / "sub-01_task-rest_events.tsv").write_text("x")
    (bids / "derivatives" / "sub-01" / "sub-01_eeg.edf").write_text("x")
    assert [Path(t.path).name for t in find_recordings([bids])] == ["sub-01_task-rest_eeg.bdf"]
    with pytest.raises(ValueError, match="No recordings found"):
        find_recordings([bids / "derivatives"])
    with pytest.raises(FileNotFoundError):
        find_recordings([tmp_path / "missing"])


# -- the "Done when" runs ----------------------------------------------------------------------
@needs_data
@pytest.mark.slow
def test_two_workers_equal_serial_bit_for_bit(batch, tmp_path):
    serial, dist = tmp_path / "serial.parquet", tmp_path / "w2.parquet"
    r1 = _cli("rescore", batch["rec"], "--rr-dir", batch["rr"], "--out", serial, "--json")
    r2 = _cli(
        "rescore", batch["rec"], "--rr-dir", batch["rr"], "--out", dist, "--workers", 2, "--json"
    )
    assert serial.read_bytes() == dist.read_bytes()  # same table, same order, same bytes
    s1, s2 = json.loads(r1.stdout), json.loads(r2.stdout)
    assert s1 == {**s2, "out": s1["out"]}
    rows = _rows(serial)
    assert [Path(r["source_path"]).name for r in rows] == batch["order"]
    assert len(rows) >= 40
    by = {Path(r["source_path"]).name: r for r in rows}
    # a bad file is one row with its error, the batch goes on
    bad = by["zz_truncated.csv"]
    assert bad["status"] == "error" and "zz_truncated.csv" in bad["error"]
    assert "\n" not in bad["error"] and bad["sha256"] is not None
    # rows with an index exist (EEG + paired RR); their numbers equal a one-file rescore
    scored = [r for r in rows if r["status"] == "scored"]
    assert scored and all(r["rr_path"] for r in scored)
    one = scored[0]
    out = json.loads(_cli("rescore", one["source_path"], "--rr", one["rr_path"], "--json").stdout)
    assert out["index"] == one["index"] and out["confidence"] == one["confidence"]
    assert out["features"]["hrv_ln_rmssd"] == one["hrv_ln_rmssd"]
    # content hash and versions on every row
    import hashlib

    p = Path(one["source_path"])
    assert one["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert {r["model_sha256"] for r in rows} == {s1["versions"]["model_sha256"]}
    assert s1["n_recordings"] == len(rows) and s1["n_errors"] == 1
    # the CSV table of the same run equals the Parquet one, value for value
    csv_out = tmp_path / "serial.csv"
    _cli("rescore", batch["rec"], "--rr-dir", batch["rr"], "--out", csv_out)
    assert _rows(csv_out) == rows


@needs_data
@pytest.mark.slow
def test_a_killed_worker_is_recovered_and_the_table_is_complete(batch):
    from distributed import Client, LocalCluster

    from addictidx.cluster.discover import find_recordings
    from addictidx.cluster.engine import DaskTaskMap
    from addictidx.cluster.rescore import rescore_batch
    from addictidx.models.index_graph import model_bytes

    tasks = find_recordings([batch["rec"]], rr_dir=batch["rr"])
    model = model_bytes()
    serial = rescore_batch(tasks, model=model).rows
    killed = {}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)

        def kill_one(n: int) -> None:
            if not killed:  # mid-run: the first results in, the others pending
                addr, pid = sorted(pids.items())[0]
                killed.update(addr=addr, pid=pid, done=n)
                os.kill(pid, signal.SIGKILL)

        dist = rescore_batch(
            tasks, model=model, task_map=DaskTaskMap(client), on_done=kill_one
        ).rows
        after = client.run(os.getpid)
    assert killed and killed["done"] < len(tasks)
    assert killed["pid"] not in after.values()  # that process is gone (the nanny replaced it)
    assert list(dist) == list(serial)  # complete, same rows, same order


@needs_data
@pytest.mark.slow
def test_resume_skips_recordings_with_the_same_hash_and_versions(batch, tmp_path):
    import shutil

    src = tmp_path / "rec"
    shutil.copytree(batch["rec"], src)
    out = tmp_path / "t.csv"
    _cli("rescore", src, "--rr-dir", batch["rr"], "--out", out)
    first = _rows(out)
    # change one recording, add one, and mark one row as made by another model
    changed = src / "s01a.csv"
    changed.write_text(changed.read_text() + changed.read_text().splitlines()[-1] + "\n")
    (src / "s99.csv").write_text((src / "s02b.csv").read_text())
    import csv

    with open(out, newline="") as f:
        table = list(csv.reader(f))
    k = next(i for i, row in enumerate(table) if row[0].endswith("/s03b.csv"))
    table[k][table[0].index("model_sha256")] = "0" * 64
    with open(out, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(table)
    r = json.loads(
        _cli("rescore", src, "--rr-dir", batch["rr"], "--out", out, "--resume", "--json").stdout
    )
    # reused: all rows but the changed file, the other-model row, the error row and the new file
    # (whose content equals s02b.csv: reused under its own path)
    assert r["n_recordings"] == len(first) + 1
    assert r["n_reused"] == len(first) - 3 + 1
    fresh = tmp_path / "fresh.csv"
    _cli("rescore", src, "--rr-dir", batch["rr"], "--out", fresh)
    assert _rows(out) == _rows(fresh)


@pytest.mark.slow
def test_evaluate_and_train_with_two_workers_equal_serial(tmp_path):
    uci = SHARED / "uci-eeg-alcoholism-smni-train"
    if not uci.is_dir():
        pytest.skip("needs ../shared/data/uci-eeg-alcoholism-smni-train")
    common = ["--dataset", "uci-alcoholism", "--data", uci, "--json"]
    small = ["--repeats", 2, "--outer-folds", 3, "--inner-folds", 3, "--n-boot", 600, "--quiet"]
    t1 = json.loads(_cli("train", "--out", tmp_path / "s", *small, *common).stdout)
    t2 = json.loads(_cli("train", "--out", tmp_path / "w", *small, "--workers", 2, *common).stdout)
    for key in ("auc", "auc_ci95", "auc_trial_ci95", "auc_repeats", "chosen_C_outer", "brier"):
        assert t1[key] == t2[key], key
    assert (tmp_path / "s" / "cv_predictions.csv").read_bytes() == (
        tmp_path / "w" / "cv_predictions.csv"
    ).read_bytes()
    assert (tmp_path / "s" / "model.onnx").read_bytes() == (
        tmp_path / "w" / "model.onnx"
    ).read_bytes()
    model = tmp_path / "s" / "model.onnx"
    e1 = json.loads(_cli("evaluate", model, *common, "--n-boot", 1000).stdout)
    e2 = json.loads(_cli("evaluate", model, *common, "--n-boot", 1000, "--workers", 2).stdout)
    assert e1 == e2 and e1["auc_ci95"][0] is not None


def test_bootstrap_chunks_equal_one_serial_pass():
    """The chunked bootstrap draws exactly the resamples of one serial pass (hand-written loop
    of the documented scheme: unit draws stratified by class, then subject draws)."""
    from addictidx._core.tasks import serial_map
    from addictidx.models.metrics import auc_score, evaluate_predictions, subject_units

    rng = np.random.default_rng(1)
    g = np.repeat([f"s{i}" for i in range(11)], 7)
    y = (np.arange(g.size) // 7 % 2).astype(int)
    p = rng.random(g.size) * 0.8 + 0.2 * y
    n_boot = 613  # not a multiple of the chunk
    calls = []

    def counting_map(fn, tasks, shared=None, on_done=None):
        calls.append(len(tasks))
        return serial_map(fn, list(reversed(tasks)), shared, on_done)[::-1]

    m = evaluate_predictions(y, p, g, n_boot=n_boot, seed=7, task_map=counting_map)
    uy, up, _ = subject_units(y, p, g)
    ref = np.random.default_rng(7)
    pos, neg = np.flatnonzero(uy == 1), np.flatnonzero(uy == 0)
    unit = [
        auc_score(uy[s], up[s])
        for s in (
            np.concatenate([ref.choice(pos, pos.size), ref.choice(neg, neg.size)])
            for _ in range(n_boot)
        )
    ]
    subj, inv = np.unique(g, return_inverse=True)
    rows_of = [np.flatnonzero(inv == s) for s in range(subj.size)]
    trial = []
    for _ in range(n_boot):
        sel = np.concatenate([rows_of[s] for s in ref.integers(0, subj.size, subj.size)])
        trial.append(auc_score(y[sel], p[sel]))
    assert m["auc_ci95"] == [float(np.percentile(unit, 2.5)), float(np.percentile(unit, 97.5))]
    assert m["auc_trial_ci95"] == [
        float(np.percentile(trial, 2.5)),
        float(np.percentile(trial, 97.5)),
    ]
    assert calls == [3, 3]  # 613 resamples = chunks of 250, 250, 113, twice


def test_cluster_options_are_checked(tmp_path):
    for args, words in (
        (["--workers", "0"], "--workers must be an integer >= 1"),
        (["--workers", "2", "--scheduler", "tcp://h:1"], "not both"),
        (["--scheduler", "h:8786"], "Dask scheduler address"),
        (["--out", str(tmp_path / "t.xlsx")], "must end in .parquet"),
        (["--resume"], "--resume needs --out"),
    ):
        r = _cli("rescore", tmp_path, *args, check=False)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_foreign_index_model_is_refused():
    from addictidx._core.errors import ModelMismatchError
    from addictidx.models import using_index_model

    with pytest.raises(ModelMismatchError, match="not a loadable ONNX model"):
        with using_index_model(b"not onnx"):
            pass


@needs_data
@pytest.mark.slow
def test_workers_log_no_codes_or_values_and_spill_nothing(batch, tmp_path):
    """A recording named after a subject code: no worker or scheduler log line carries it or
    a value of its row; each worker builds one ONNX session; nothing is spilled to disk."""
    import dask
    from distributed import Client, LocalCluster

    from addictidx.cluster.discover import find_recordings
    from addictidx.cluster.engine import DASK_WORKER_CONFIG, DaskTaskMap
    from addictidx.cluster.rescore import rescore_batch
    from addictidx.models.index_graph import model_bytes

    d = tmp_path / "coded"
    d.mkdir()
    code = "P7Q31"
    for i, name in enumerate(("s00a.csv", "s03a.csv", "zz_truncated.csv")):
        (d / f"{code}_{i}_{name}").write_bytes((batch["rec"] / name).read_bytes())
    (batch["root"] / "rr2").mkdir(exist_ok=True)
    rr = batch["root"] / "rr2"
    (rr / f"{code}_0_s00a_rr.txt").write_bytes((batch["rr"] / "s00a_rr.txt").read_bytes())
    tasks = find_recordings([d], rr_dir=rr)
    local = tmp_path / "dask-local"
    with dask.config.set(DASK_WORKER_CONFIG):
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                local_directory=str(local),
            ) as cluster,
            Client(cluster) as client,
        ):
            rows = rescore_batch(tasks, model=model_bytes(), task_map=DaskTaskMap(client)).rows
            logs = json.dumps(client.get_worker_logs()) + json.dumps(client.get_scheduler_logs())

            def sessions_built():
                from addictidx.models.index_graph import _session_for

                return _session_for.cache_info().currsize

            built = client.run(sessions_built)
    assert rows[0]["status"] == "scored" and code in rows[0]["source_path"]
    assert code not in logs
    for v in (rows[0]["index"], rows[0]["hrv_ln_rmssd"], rows[0]["hr_mean_bpm"]):
        assert repr(v) not in logs and f"{v:.2f}" not in logs
    assert all(n <= 1 for n in built.values())  # one session per worker process, at most
    spilled = [p for p in local.rglob("*") if p.is_file() and "storage" in p.parts]
    assert spilled == []


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line(tmp_path):
    (tmp_path / "rr.txt").write_text("\n".join(["0.8", "0.82", "0.79"] * 50) + "\n")
    r = _cli("rescore", tmp_path, "--scheduler", "tcp://127.0.0.1:9", check=False)
    assert r.returncode == 2
    assert "Cannot reach the Dask scheduler" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
