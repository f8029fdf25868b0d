"""Federated training with Flower (issue 20): what the server receives, consent, DP, AUCs.

Needs the ``federated`` extra (``flwr``, Python >= 3.11); skipped with the reason otherwise. The
UCI alcoholism set comes from the shared data (``ADDICTIDX_SHARED`` or ``../shared``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
UCI = (
    Path(os.environ.get("ADDICTIDX_SHARED") or ROOT.parent / "shared")
    / "data"
    / "uci-eeg-alcoholism-smni-train"
)


def _table():
    if not UCI.is_dir():
        pytest.skip("needs ../shared/data/uci-eeg-alcoholism-smni-train")
    from addictidx.models.training import uci_feature_table

    return uci_feature_table(UCI)


def _sites(table, consent=(True, True, True), tmp=None):
    from addictidx.federated.evaluate import site_stores, split_sites
    from addictidx.federated.site import consenting_rows

    uniq = np.unique(table.groups.astype(str))
    code_of = {s: f"S{i + 1:03d}" for i, s in enumerate(uniq)}
    codes = np.array([code_of[s] for s in table.groups.astype(str)])
    parts = split_sites(codes, table.y, len(consent), 0)
    stores = site_stores(Path(tmp), [codes[ix] for ix in parts], consent)
    try:
        return [
            consenting_rows(st, table.X[ix], table.y[ix], codes[ix])
            for st, ix in zip(stores, parts)
        ], codes
    finally:
        for st in stores:
            st.close()


def test_the_commands_say_in_one_line_when_flower_is_unavailable(monkeypatch):
    import addictidx.federated as fed

    monkeypatch.setattr(fed.sys, "version_info", (3, 10, 14, "final", 0))
    why = fed.flower_unavailable()
    assert "Python >= 3.11" in why and "3.10" in why and "\n" not in why


def test_dp_epsilon_matches_the_hand_formula():
    """One Gaussian mechanism, z = 1, delta = 1e-5: the RDP bound alpha/2 + ln(1e5)/(alpha-1)
    is smallest at alpha = 1 + sqrt(2 ln 1e5) = 5.798, giving 0.5 + sqrt(2 ln 1e5) = 5.298;
    T rounds with z: the same with alpha T / (2 z^2)."""
    from addictidx.federated.server import dp_epsilon

    assert dp_epsilon(1.0, 1, 1e-5) == pytest.approx(0.5 + math.sqrt(2 * math.log(1e5)), rel=1e-3)
    # T = 21, z = 10: eps = T/(2 z^2) + sqrt(2 T ln(1/delta)) / z
    want = 21 / 200 + math.sqrt(2 * 21 * math.log(1e5)) / 10
    assert dp_epsilon(10.0, 21, 1e-5) == pytest.approx(want, rel=1e-3)
    assert dp_epsilon(0.0, 5, 1e-5) == math.inf


def test_server_receives_parameters_and_counts_only(tmp_path):
    pytest.importorskip("flwr", reason="the 'federated' extra (flwr, Python >= 3.11) is missing")
    from flwr.common import FitRes, GetParametersRes, parameters_to_ndarrays

    from addictidx.federated.server import train_in_process

    table = _table()
    sites, codes = _sites(table, tmp=tmp_path)
    received = []
    train_in_process(sites, rounds=3, C=1.0, record=lambda k, m: received.append(m))
    n_feat = table.X.shape[1]
    fits = [m for m in received if isinstance(m, FitRes)]
    assert len(fits) == 3 * 4  # 3 sites x (1 moments round + 3 training rounds)
    allowed_shapes = {(n_feat,), (1, n_feat), (1,), (n_feat + 1,), (n_feat + 1, n_feat + 1)}
    for m in received:
        assert isinstance(m, (FitRes, GetParametersRes))
        if isinstance(m, FitRes):
            assert m.metrics == {}
            assert isinstance(m.num_examples, int)
            assert m.num_examples in {s.n_rows for s in sites}  # a count of rows, nothing else
        arrays = parameters_to_ndarrays(m.parameters)
        d = n_feat
        assert [a.shape for a in arrays] == [(d,), (d,), (1, d), (1,), (d + 1,), (d + 1, d + 1)]
        for a in arrays:
            assert a.dtype == np.float64 and a.shape in allowed_shapes
        blob = b"".join(m.parameters.tensors)
        for code in set(codes):  # no subject code in any byte sent
            assert code.encode() not in blob
        for row in table.X:  # no feature row (a row would be an n_feat float vector)
            assert not any(np.array_equal(row, a.ravel()[: row.size]) for a in arrays)


def test_a_site_without_research_consent_contributes_nothing(tmp_path):
    pytest.importorskip("flwr", reason="the 'federated' extra (flwr, Python >= 3.11) is missing")
    from addictidx.federated.server import train_in_process
    from addictidx.store.audit import read_audit

    table = _table()
    sites, _ = _sites(table, consent=(True, True, False), tmp=tmp_path)
    assert sites[2].n_rows == 0 and sites[2].n_excluded > 0 and sites[2].n_subjects == 0
    with_site = train_in_process(sites, rounds=4, C=1.0)
    without = train_in_process(sites[:2], rounds=4, C=1.0)
    np.testing.assert_allclose(with_site.coef, without.coef, rtol=0, atol=1e-12)
    np.testing.assert_allclose(with_site.mean, without.mean, rtol=0, atol=1e-12)
    # the check is audited at the site, as counts (no code in the entry)
    entries = read_audit(tmp_path / "site2")
    (e,) = [x for x in entries if (x.get("detail") or {}).get("what") == "federated training"]
    assert e["detail"]["n_subjects_consenting"] == 0 and e["detail"]["n_rows"] == 0
    assert "S0" not in json.dumps(e)


@pytest.mark.slow
def test_simulate_federated_auc_within_003_of_pooled_and_export(tmp_path):
    pytest.importorskip("flwr", reason="the 'federated' extra (flwr, Python >= 3.11) is missing")
    _table()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(
        [sys.executable, "-m", "addictidx", "federated", "simulate", "--dataset",
         "uci-alcoholism", "--data", str(UCI), "--sites", "3", "--json", "--n-boot", "1000",
         "--out", str(tmp_path / "model")],
        capture_output=True, text=True, env=env, timeout=1800,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["label"] == "research" and out["consent_checked_and_audited"]
    assert abs(out["auc_difference"]) <= 0.03, out
    for key in ("federated_auc_ci95", "pooled_auc_ci95"):
        lo, hi = out[key]
        assert lo <= out[key.replace("_ci95", "")] <= hi
    assert out["auc_difference"] == pytest.approx(out["federated_auc"] - out["pooled_auc"])
    # the export: ONNX with the train metadata, labelled research; card says federated
    from addictidx.models.runtime import IndexModel

    m = IndexModel.load(tmp_path / "model" / "model.onnx")
    assert m.label == "research" and m.model_id.endswith(".federated")
    assert out["files"]["onnx_max_abs_diff"] < 1e-5
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["label"] == "research" and card["federated"]["n_sites"] == 3
    assert "federated averaging" in card["training"]["pipeline"]


def test_dp_noise_changes_the_model_and_reports_epsilon(tmp_path):
    pytest.importorskip("flwr", reason="the 'federated' extra (flwr, Python >= 3.11) is missing")
    from addictidx.federated.server import DPSettings, dp_epsilon, train_in_process

    table = _table()
    sites, _ = _sites(table, tmp=tmp_path)
    plain = train_in_process(sites, rounds=3, C=1.0)
    dp = DPSettings(noise_multiplier=0.05, clipping_norm=1.0)
    noisy = train_in_process(sites, rounds=3, C=1.0, dp=dp, seed=1)
    again = train_in_process(sites, rounds=3, C=1.0, dp=dp, seed=1)
    assert np.all(np.isfinite(noisy.coef)) and not np.allclose(noisy.coef, plain.coef)
    np.testing.assert_array_equal(noisy.coef, again.coef)  # seeded noise: reproducible
    # 4 Gaussian mechanisms (moments + 3 rounds), z = 0.05: eps = 4/(2 z^2) + sqrt(8 ln 1e5)/z
    assert dp_epsilon(0.05, 4, 1e-5) == pytest.approx(800 + math.sqrt(8 * math.log(1e5)) / 0.05)


@pytest.mark.slow
def test_serve_and_join_over_grpc_loopback(tmp_path):
    """`federated serve` and two `federated join` processes on 127.0.0.1: the sites train on
    their consenting subjects only (one subject per site has none) and the server ends with
    the federated model, equal to the in-process run on the same rows."""
    pytest.importorskip("flwr", reason="the 'federated' extra (flwr, Python >= 3.11) is missing")
    import csv
    import importlib.util

    from addictidx.federated.evaluate import split_sites
    from addictidx.federated.server import train_in_process
    from addictidx.federated.site import SiteData
    from addictidx.store import SessionStore

    table = _table()
    uniq = np.unique(table.groups.astype(str))
    code_of = {s: f"S{i + 1:03d}" for i, s in enumerate(uniq)}
    codes = np.array([code_of[s] for s in table.groups.astype(str)])
    parts = split_sites(codes, table.y, 2, 0)
    kept = []
    for k, ix in enumerate(parts):
        with open(tmp_path / f"site{k}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([*table.feature_names, "label", "subject"])
            for row, yy, g in zip(table.X[ix], table.y[ix], codes[ix]):
                w.writerow([repr(float(v)) for v in row] + [int(yy), g])  # 0/1 as in table.y
        subjects = sorted(set(codes[ix]))
        with SessionStore(tmp_path / f"store{k}") as st:
            for c in subjects[:-1]:
                st.consent.add(c, scope="research")
            st.subject_registry.ensure(subjects[-1])
        m = np.isin(codes[ix], subjects[:-1])
        kept.append(SiteData(table.X[ix][m], table.y[ix][m], codes[ix][m], len(subjects) - 1, 1))
    # a loopback port outside the kernel's ephemeral range (tests/netport.py says why)
    spec = importlib.util.spec_from_file_location(
        "addictidx_tests_netport", Path(__file__).with_name("netport.py")
    )
    netport = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(netport)
    port = netport.free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base = [sys.executable, "-m", "addictidx", "federated"]
    server = subprocess.Popen(
        [*base, "serve", "--rounds", "3", "--min-sites", "2", "--address", f"127.0.0.1:{port}",
         "--out", str(tmp_path / "final.npz"), "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # no head start for the server: the sites wait for it to listen (--wait bounds a hang only)
    joins = [
        subprocess.Popen(
            [
                *base,
                "join",
                "--server",
                f"127.0.0.1:{port}",
                "--store",
                str(tmp_path / f"store{k}"),
                "--table",
                str(tmp_path / f"site{k}.csv"),
                "--label",
                "label",
                "--group",
                "subject",
                "--wait",
                "600",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for k in range(2)
    ]
    try:
        out, err = server.communicate(timeout=900)
        assert server.returncode == 0, err[-2000:]
        for j in joins:
            _, jerr = j.communicate(timeout=120)
            assert "1 left out (no research consent)" in jerr
    finally:
        for p in (server, *joins):
            if p.poll() is None:
                p.kill()
    final = np.load(tmp_path / "final.npz")
    ref = train_in_process(kept, rounds=3, C=1.0)
    np.testing.assert_allclose(final["coef"], ref.coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(final["mean"], ref.mean, rtol=1e-12, atol=1e-12)
