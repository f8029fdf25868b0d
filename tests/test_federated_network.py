"""``federated serve`` and ``federated join`` over the network (loopback gRPC, subprocesses).

The same strategy and site client as ``simulate`` (:func:`train_in_process`) must give the same
model when the server and the sites are separate processes talking Flower's gRPC transport; a
site may start before the server (it waits, bounded by ``--wait``); a site that cannot reach a
server says so in one line (exit 2). Data: the UCI excerpt in tests/data (no ../shared needed).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the 'federated' extra (flwr, Python >= 3.11) is missing")

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = Path(__file__).parent / "data" / "uci_alcoholism_excerpt.npz"
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "addictidx", "federated", *args]


def _free_port() -> int:
    """A loopback port outside the kernel's ephemeral range (tests/netport.py says why)."""
    spec = importlib.util.spec_from_file_location(
        "addictidx_tests_netport", Path(__file__).with_name("netport.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.free_port()


def _site(tmp: Path, name: str, table, rows: np.ndarray, consent: bool) -> tuple[Path, Path]:
    """A site folder: its feature table (codes S00x) and its store with research consent."""
    from addictidx.store import SessionStore

    d = tmp / name
    d.mkdir()
    codes = np.array([f"S{int(s[-3:]) % 1000:03d}" for s in table.groups.astype(str)])
    path = d / "features.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["subject", "label", *table.feature_names])
        for i in np.flatnonzero(rows):
            w.writerow([codes[i], int(table.y[i]), *(repr(float(v)) for v in table.X[i])])
    with SessionStore(d / "store") as st:
        for c in sorted(set(codes[rows])):
            st.consent.add(c, scope="research" if consent else "assessment")
    return path, d / "store"


def test_serve_and_two_joins_over_loopback_grpc_equal_the_in_process_model(tmp_path):
    from addictidx.federated.server import train_in_process
    from addictidx.federated.site import consenting_rows
    from addictidx.models.training import load_feature_table, uci_feature_table
    from addictidx.store import SessionStore

    table = uci_feature_table(EXCERPT)
    subj = np.unique(table.groups)
    first = np.isin(table.groups, subj[::2])  # subjects dealt alternately: both classes each
    sites = [_site(tmp_path, "a", table, first, True), _site(tmp_path, "b", table, ~first, True)]
    addr = f"127.0.0.1:{_free_port()}"
    rounds = "3"
    # the sites start first: they must wait for the server, not fail
    joins = [
        subprocess.Popen(
            _cli(
                "join",
                "--server",
                addr,
                "--store",
                str(store),
                "--table",
                str(tab),
                "--label",
                "label",
                "--group",
                "subject",
                "--wait",
                "300",
            ),
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for tab, store in sites
    ]
    try:
        srv = subprocess.run(
            _cli("serve", "--rounds", rounds, "--min-sites", "2", "--address", addr,
                 "--n-features", str(table.X.shape[1]), "--out", str(tmp_path / "m.npz"),
                 "--json"),
            env=ENV, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        outs = [j.communicate(timeout=300) for j in joins]
    finally:
        for j in joins:
            if j.poll() is None:
                j.kill()
    assert srv.returncode == 0, srv.stderr[-2000:]
    for j, (_, err) in zip(joins, outs):
        assert j.returncode == 0, err[-2000:]
        assert "consenting subject" in err
    got = np.load(tmp_path / "m.npz")
    # the same consenting rows, trained by the in-process path
    data = []
    for tab, store in sites:
        tbl = load_feature_table(tab, label="label", group="subject")
        with SessionStore(store) as st:
            data.append(consenting_rows(st, tbl.X, tbl.y, tbl.groups))
    want = train_in_process(data, rounds=int(rounds), C=1.0)
    np.testing.assert_allclose(got["mean"], want.mean, rtol=1e-12)
    np.testing.assert_allclose(got["coef"], want.coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["intercept"], want.intercept, rtol=1e-9, atol=1e-12)


def test_join_without_a_server_says_so_in_one_line(tmp_path):
    table_path, store = _site(
        tmp_path,
        "a",
        __import__("addictidx.models.training", fromlist=["x"]).uci_feature_table(EXCERPT),
        np.ones(72, bool),
        True,
    )
    r = subprocess.run(
        _cli("join", "--server", f"127.0.0.1:{_free_port()}", "--store", str(store),
             "--table", str(table_path), "--label", "label", "--group", "subject",
             "--wait", "1"),
        env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 2
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("addictidx: error:")]
    assert len(errs) == 1 and "no federated server" in errs[0]
    assert "Traceback" not in r.stderr
