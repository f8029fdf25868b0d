"""Research classifiers: UCI features, metrics, nested subject-wise CV, ONNX export, CLI.

Independent references: MNE's ``psd_array_welch`` + ``np.trapezoid`` for the features, SciPy's
Mann-Whitney U for the AUC, hand calculations for ECE/Brier/bootstrap units, scikit-learn's own
``predict_proba`` for the ONNX parity, ``hashlib`` for the data hash, and the original UCI
``.rd.gz`` text files for the test excerpt.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from addictidx._core.errors import DataFormatError, ModelMismatchError
from addictidx.models.metrics import (
    auc_score,
    evaluate_predictions,
    expected_calibration_error,
    reliability_table,
    subject_units,
)
from addictidx.models.runtime import IndexModel
from addictidx.models.training import (
    FeatureTable,
    _grouped_splits,
    fit_final_model,
    load_feature_table,
    nested_cross_validation,
    uci_feature_table,
)
from addictidx.models.uci import (
    UCI_CHANNELS,
    load_uci_alcoholism,
    uci_feature_names,
    uci_trial_features,
)

EXCERPT = Path(__file__).parent / "data" / "uci_alcoholism_excerpt.npz"
FAST = dict(outer_folds=2, inner_folds=2, repeats=1, n_boot=200, Cs=(0.01, 1.0))


def _shared_root() -> Path:
    env = os.environ.get("ADDICTIDX_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def _uci_dir() -> Path:
    d = _shared_root() / "data" / "uci-eeg-alcoholism-smni-train"
    if not (d / "smni_cmi_train.npz").is_file():
        pytest.skip(f"UCI alcoholism set not found at {d} (set ADDICTIDX_SHARED)")
    return d


@pytest.fixture(scope="module")
def excerpt_table() -> FeatureTable:
    return uci_feature_table(EXCERPT)


# --------------------------------------------------------------------------- data and features


def test_excerpt_is_small_and_loads():
    assert EXCERPT.stat().st_size < 200_000
    d = load_uci_alcoholism(EXCERPT)
    assert d.data.shape == (72, 4, 256)
    assert d.sfreq == 256.0
    assert sorted(set(d.subject[d.y == 1])) == [
        "co2a0000364",
        "co2a0000365",
        "co2a0000368",
        "co2a0000369",
    ]
    assert d.sha256 == hashlib.sha256(EXCERPT.read_bytes()).hexdigest()


def test_uci_features_equal_mne_welch_and_trapezoid():
    from mne.time_frequency import psd_array_welch

    d = load_uci_alcoholism(EXCERPT)
    feats = uci_trial_features(d.data[:5], d.sfreq)
    names, units = uci_feature_names()
    assert feats.shape == (5, 16) and len(names) == 16 and set(units) == {"log10(uV^2)"}
    bands = {"delta": (1, 4), "theta": (4, 8), "alpha": (8, 12), "beta": (13, 25)}
    for t in range(5):
        psd, freqs = psd_array_welch(
            d.data[t],
            256.0,
            fmin=0,
            fmax=np.inf,
            n_fft=256,
            n_per_seg=128,
            n_overlap=64,
            window="hamming",
            average="mean",
            verbose=False,
        )
        for c, ch in enumerate(UCI_CHANNELS):
            for band, (lo, hi) in bands.items():
                m = (freqs >= lo) & (freqs <= hi)
                want = np.log10(np.trapezoid(psd[c, m], freqs[m]))
                got = feats[t, names.index(f"eeg_{ch}_{band}_log10_uv2")]
                assert got == pytest.approx(want, rel=1e-10)


def test_load_uci_errors_name_file_and_key(tmp_path):
    p = tmp_path / "bad.npz"
    np.savez(
        p,
        X=np.zeros((2, 4, 256)),
        y=np.array([0, 2]),
        subject=np.array(["a", "b"]),
        channels=np.array(list(UCI_CHANNELS)),
        fs=256.0,
    )
    with pytest.raises(DataFormatError, match=r"bad\.npz: 'y' must hold 0/1 labels, found \[2\]"):
        load_uci_alcoholism(p)
    np.savez(
        p,
        X=np.zeros((2, 4, 256)),
        y=np.array([0, 1]),
        subject=np.array(["a", "b"]),
        channels=np.array(["AF7", "AF8", "T7", "T8"]),
        fs=256.0,
    )
    with pytest.raises(DataFormatError, match=r"channel\(s\) \['TP7', 'TP8'\]"):
        load_uci_alcoholism(p)
    with pytest.raises(DataFormatError, match="not found"):
        load_uci_alcoholism(tmp_path)


@pytest.mark.shared_data
def test_excerpt_values_equal_the_original_rd_text_file():
    """The excerpt's first trial equals the untouched UCI text file co2a0000364.rd.000."""
    src = _uci_dir() / "original_rd_subset" / "co2a0000364" / "co2a0000364.rd.000.gz"
    want = {ch: np.zeros(256) for ch in UCI_CHANNELS}
    with gzip.open(src, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            _, ch, i, v = line.split()
            if ch in want:
                want[ch][int(i)] = float(v)
    d = load_uci_alcoholism(EXCERPT)
    for c, ch in enumerate(UCI_CHANNELS):
        np.testing.assert_allclose(d.data[0, c], want[ch], atol=5e-6)


# --------------------------------------------------------------------------- metrics


def test_auc_equals_mann_whitney_u_with_ties():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random(200) + 0.3 * y, 1)  # rounded: many ties
    u = mannwhitneyu(p[y == 1], p[y == 0]).statistic
    assert auc_score(y, p) == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()), abs=1e-12)
    assert np.isnan(auc_score(np.ones(4), np.arange(4.0)))


def test_ece_brier_and_reliability_hand_calculated():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.05, 0.15, 0.55, 0.65, 1.0])
    rows = reliability_table(y, p, n_bins=2)
    # bin [0, .5): p .05, .15 -> mean .10, frac .5; bin [.5, 1]: .55, .65, 1.0 -> .7333, .6667
    assert [r["n"] for r in rows] == [2, 3]
    assert rows[0]["mean_predicted"] == pytest.approx(0.10)
    assert rows[1]["fraction_positive"] == pytest.approx(2 / 3)
    want = 2 / 5 * abs(0.5 - 0.10) + 3 / 5 * abs(2 / 3 - 2.2 / 3)
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(want)
    m = evaluate_predictions(y, p, np.array(list("abcde")), n_boot=50)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_subject_units_average_trials_per_subject_and_label():
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.2, 0.6, 0.1, 0.3, 0.8])
    g = np.array(["s1", "s1", "s2", "s2", "s1"])  # s1 has one label-0 trial
    uy, up, _ = subject_units(y, p, g)
    got = sorted(zip(uy.tolist(), np.round(up, 12).tolist()))
    assert got == [(0, 0.2), (0, 0.8), (1, 0.4)]


def test_subject_bootstrap_ci_brackets_the_auc_and_is_seeded():
    rng = np.random.default_rng(0)
    g = np.repeat([f"s{i}" for i in range(12)], 5)
    y = np.repeat(np.arange(12) % 2, 5)
    p = np.clip(0.5 + 0.15 * (y - 0.5) + 0.2 * rng.standard_normal(60), 0, 1)
    a = evaluate_predictions(y, p, g, n_boot=300, seed=1)
    b = evaluate_predictions(y, p, g, n_boot=300, seed=1)
    assert a["auc_ci95"] == b["auc_ci95"]
    assert a["auc_ci95"][0] <= a["auc"] <= a["auc_ci95"][1]
    assert a["auc_trial_ci95"][0] <= a["auc_trial"] <= a["auc_trial_ci95"][1]
    assert a["n_subjects"] == 12 and a["n_units"] == 12 and a["n_trials"] == 60


# --------------------------------------------------------------------------- cross-validation


def test_grouped_splits_never_share_a_subject(excerpt_table):
    t = excerpt_table
    for k in (2, 4):
        splits = _grouped_splits(t.y, t.groups, k, 0, "test")
        assert len(splits) == k
        covered = np.zeros(t.y.size, int)
        for tr, te in splits:
            assert not set(t.groups[tr]) & set(t.groups[te])
            covered[te] += 1
        assert np.all(covered == 1)


def test_too_few_subjects_is_a_clear_error(excerpt_table):
    t = excerpt_table
    keep = np.isin(t.groups, ["co2a0000364", "co2c0000337", "co2c0000338"])
    small = FeatureTable(
        t.X[keep], t.y[keep], t.groups[keep], t.feature_names, t.feature_units, "x", "d", "s"
    )
    with pytest.raises(
        ValueError, match="at least 2 subjects with each label; got 2 with label 0 and 1"
    ):
        nested_cross_validation(small, **FAST)


def test_nested_cv_is_reproducible_and_seed_dependent(excerpt_table):
    a = nested_cross_validation(excerpt_table, seed=5, **FAST)
    b = nested_cross_validation(excerpt_table, seed=5, **FAST)
    c = nested_cross_validation(excerpt_table, seed=6, **FAST)
    np.testing.assert_array_equal(a.proba, b.proba)
    assert a.metrics == b.metrics
    assert not np.array_equal(a.proba, c.proba)
    assert np.all((a.proba > 0) & (a.proba < 1))


def _identity_table(seed: int, n_subjects: int = 40, n_trials: int = 5) -> FeatureTable:
    """Features that identify the subject strongly; labels random per subject (no signal)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_subjects, 6)) * 3.0
    X = np.repeat(centers, n_trials, axis=0) + 0.3 * rng.standard_normal(
        (n_subjects * n_trials, 6)
    )
    labels = rng.permutation(np.arange(n_subjects) % 2)
    y = np.repeat(labels, n_trials)
    g = np.repeat([f"p{i:02d}" for i in range(n_subjects)], n_trials)
    names = tuple(f"f{i}" for i in range(6))
    return FeatureTable(X, y, g, names, ("unspecified",) * 6, "sha", "synthetic", "identity")


def test_labels_permuted_between_subjects_give_chance_auc():
    """Subject-wise CV cannot learn who a person is; a trial-wise split does (the leak)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    aucs, leaky = [], []
    for seed in range(5):
        t = _identity_table(seed)
        r = nested_cross_validation(
            t, outer_folds=5, inner_folds=2, repeats=1, n_boot=10, Cs=(1.0,), seed=seed
        )
        aucs.append(r.metrics["auc"])
        p = cross_val_predict(
            KNeighborsClassifier(5),
            t.X,
            t.y,
            cv=StratifiedKFold(5, shuffle=True, random_state=seed),
            method="predict_proba",
        )[:, 1]
        leaky.append(auc_score(t.y, p))
    assert abs(np.mean(aucs) - 0.5) < 0.12, aucs
    assert min(leaky) > 0.95, leaky


# --------------------------------------------------------------------------- training, export


@pytest.fixture(scope="module")
def trained(tmp_path_factory, excerpt_table):
    from addictidx.models.research import train_research_model

    out = tmp_path_factory.mktemp("uci_model")
    result = train_research_model(excerpt_table, out, seed=0, **FAST)
    return out, result


def test_training_writes_model_card_and_plot(trained, excerpt_table):
    out, r = trained
    for name in (
        "model.onnx",
        "model_card.md",
        "model_card.json",
        "reliability.svg",
        "cv_predictions.csv",
    ):
        assert (out / name).is_file(), name
    card = json.loads((out / "model_card.json").read_text())
    assert card["label"] == "research"
    assert card["data"]["sha256"] == hashlib.sha256(EXCERPT.read_bytes()).hexdigest()
    assert card["metrics"]["auc"] == r["auc"]
    assert card["metrics"]["auc_ci95"] == r["auc_ci95"]
    assert "4 alcoholic and 4 control adults" in card["population"]
    md = (out / "model_card.md").read_text()
    for needle in (
        "RESEARCH",
        "never fused into the index",
        "95 % CI",
        "Brier",
        "ECE",
        "Training population",
        "Limits",
        "Intended use",
        "Reliability diagram",
    ):
        assert needle in md, needle
    svg = (out / "reliability.svg").read_text()
    n_nonempty = sum(1 for b in r["reliability"] if b["n"])
    assert svg.count("<circle") == n_nonempty
    with open(out / "cv_predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 72
    # the subject-level AUC recomputed from the written held-out predictions
    p = np.array([float(x["proba_heldout"]) for x in rows])
    yy = np.array([int(x["label"]) for x in rows])
    gg = np.array([x["group"] for x in rows])
    uy, up, _ = subject_units(yy, p, gg)
    assert r["auc"] == pytest.approx(auc_score(uy, up))


def test_training_json_contract(trained):
    _, r = trained
    assert {"auc", "auc_ci95", "auc_trial", "n_subjects"} <= set(r)
    assert r["n_subjects"] == 8 and r["n_trials"] == 72
    assert len(r["auc_ci95"]) == 2 and r["auc_ci95"][0] <= r["auc"] <= r["auc_ci95"][1]
    assert 0.0 <= r["auc_trial"] <= 1.0
    assert {"balanced_accuracy", "brier", "ece", "reliability"} <= set(r)
    assert r["label"] == "research"
    # the warning fires exactly when Platt scaling would flatten or invert the ranking
    assert (r["warnings"] == []) == (r["platt_sigmoid"]["a"] < 0)


def test_onnx_metadata_and_parity_with_sklearn(trained, excerpt_table):
    out, r = trained
    m = IndexModel.load(out / "model.onnx", feature_names=excerpt_table.feature_names)
    assert m.feature_names == excerpt_table.feature_names
    assert m.feature_units == ("log10(uV^2)",) * 16
    assert m.metadata["training_data_sha256"] == excerpt_table.data_sha256
    assert m.metadata["label"] == "research"
    assert m.metadata["metrics"]["auc"] == r["auc"]
    assert {"scikit-learn", "skl2onnx", "onnx", "numpy"} <= set(m.metadata["library_versions"])
    assert m.opset[""] == 17
    # independent refit with the same seed: sklearn probabilities vs the ONNX file
    model, C, _ = fit_final_model(excerpt_table, inner_folds=2, seed=0, Cs=FAST["Cs"])
    assert C == r["final_C"]
    want = model.predict_proba(excerpt_table.X)[:, 1]
    np.testing.assert_allclose(m.predict_proba(excerpt_table.X), want, atol=1e-5)
    # batch scoring and thread settings do not change the numbers
    m2 = IndexModel.load(out / "model.onnx", intra_op_threads=2)
    np.testing.assert_array_equal(
        m2.predict_proba(excerpt_table.X, batch_size=7), m.predict_proba(excerpt_table.X)
    )
    cols = {n: excerpt_table.X[:, i] for i, n in enumerate(excerpt_table.feature_names)}
    np.testing.assert_array_equal(m.predict_proba_named(cols), m.predict_proba(excerpt_table.X))


def test_same_seed_gives_identical_model_bytes(trained, excerpt_table, tmp_path):
    from addictidx.models.research import train_research_model

    out, _ = trained
    train_research_model(excerpt_table, tmp_path, seed=0, **FAST)
    assert (tmp_path / "model.onnx").read_bytes() == (out / "model.onnx").read_bytes()


def test_index_model_load_says_what_mismatches(trained, excerpt_table, tmp_path):
    out, _ = trained
    path = out / "model.onnx"
    names = list(excerpt_table.feature_names)
    swapped = names.copy()
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(
        ModelMismatchError,
        match=r"different order \(position 0: model expects "
        r"'eeg_AF7_delta_log10_uv2', got 'eeg_AF7_theta",
    ):
        IndexModel.load(path, feature_names=swapped)
    with pytest.raises(
        ModelMismatchError,
        match=r"missing \['eeg_TP8_beta_log10_uv2'\]; "
        r"unexpected \['hr_mean_bpm'\]",
    ):
        IndexModel.load(path, feature_names=names[:-1] + ["hr_mean_bpm"])
    with pytest.raises(
        ModelMismatchError, match="model uses opset 17, the caller expects opset 13"
    ):
        IndexModel.load(path, opset=13)
    m = IndexModel.load(path)
    with pytest.raises(ModelMismatchError, match=r"X must be shaped \(N, 16\)"):
        m.predict_proba(np.zeros((3, 15)))
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(DataFormatError, match="not an ONNX model"):
        IndexModel.load(bad)
    from addictidx.models.index_graph import MODEL_FILENAME

    index_graph = Path(__file__).resolve().parents[1] / "addictidx" / "models" / MODEL_FILENAME
    with pytest.raises(ModelMismatchError, match="feature_names"):
        IndexModel.load(index_graph)  # the index graph is not a research classifier


def test_evaluate_rescoring_matches_the_model(trained, excerpt_table):
    from addictidx.models.research import evaluate_research_model

    out, _ = trained
    ev = evaluate_research_model(out / "model.onnx", excerpt_table, n_boot=100)
    p = IndexModel.load(out / "model.onnx").predict_proba(excerpt_table.X)
    assert ev["auc_trial"] == pytest.approx(auc_score(excerpt_table.y, p))
    assert ev["same_data_as_training"] is True and "optimistic" in ev["note"]


# --------------------------------------------------------------------------- tables and the CLI


def _write_table(path: Path, t: FeatureTable, extra_text_col: bool = True) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["subject", "note", *t.feature_names, "group_label"])
        for i in range(t.y.size):
            w.writerow(
                [
                    t.groups[i],
                    "free text" if extra_text_col else "",
                    *[repr(float(v)) for v in t.X[i]],
                    ["ctrl", "alc"][t.y[i]],
                ]
            )


def test_load_feature_table_uses_numeric_columns_only(excerpt_table, tmp_path):
    p = tmp_path / "t.csv"
    _write_table(p, excerpt_table)
    t = load_feature_table(p, label="group_label", group="subject")
    assert t.feature_names == excerpt_table.feature_names  # "note" (text) is not a feature
    assert t.classes == ("alc", "ctrl")  # alphabetical: class 1 = "ctrl"
    np.testing.assert_array_equal(t.y, 1 - excerpt_table.y)
    np.testing.assert_array_equal(t.X, excerpt_table.X)
    assert t.data_sha256 == hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "text, kwargs, pattern",
    [
        ("s,a,y\n1,2,0\n", dict(label="lab", group="s"), r"--label column 'lab' not in header"),
        (
            "s,a,y\n1,2,0\n2,3,1\n3,4,2\n",
            dict(label="y", group="s"),
            r"exactly 2 classes, found 3",
        ),
        (
            "s,a,y\n1,2,0\n2,inf,1\n",
            dict(label="y", group="s"),
            r"column 'a', line 3: value 'inf'",
        ),
        ("s,a,y\n1,2,0\n2,3\n", dict(label="y", group="s"), r"line 3 has 2 fields"),
        ("s,t,y\n1,x,0\n2,y,1\n", dict(label="y", group="s"), r"no numeric feature column"),
    ],
)
def test_load_feature_table_errors(tmp_path, text, kwargs, pattern):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataFormatError, match=pattern):
        load_feature_table(p, **kwargs)


def test_cli_train_table_and_evaluate(excerpt_table, tmp_path):
    from typer.testing import CliRunner

    from addictidx.cli import app

    p = tmp_path / "t.csv"
    _write_table(p, excerpt_table)
    runner = CliRunner()
    args = [
        "train",
        "--table",
        str(p),
        "--label",
        "group_label",
        "--group",
        "subject",
        "--out",
        str(tmp_path / "out"),
        "--json",
        "--quiet",
        "--outer-folds",
        "2",
        "--inner-folds",
        "2",
        "--repeats",
        "1",
        "--n-boot",
        "100",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert list(r)[:4] == ["auc", "auc_ci95", "auc_trial", "auc_trial_ci95"]
    assert r["n_subjects"] == 8 and r["dataset"] == "table:t.csv"
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(tmp_path / "out" / "model.onnx"),
            "--table",
            str(p),
            "--label",
            "group_label",
            "--group",
            "subject",
            "--json",
            "--n-boot",
            "50",
        ],
    )
    assert res.exit_code == 0, res.output
    ev = json.loads(res.stdout)
    assert ev["same_data_as_training"] is True and ev["n_trials"] == 72
    # evaluating the table model on the UCI feature table: same names -> runs; a table
    # with a column dropped -> one clear error naming the missing feature
    q = tmp_path / "q.csv"
    q.write_text(
        "\n".join(
            ",".join(r.split(",")[:-2] + r.split(",")[-1:]) for r in p.read_text().splitlines()
        )
        + "\n"
    )
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(tmp_path / "out" / "model.onnx"),
            "--table",
            str(q),
            "--label",
            "group_label",
            "--group",
            "subject",
        ],
    )
    assert res.exit_code == 2
    assert "missing ['eeg_TP8_beta_log10_uv2']" in res.output


def test_cli_train_dataset_and_option_errors(tmp_path):
    from typer.testing import CliRunner

    from addictidx.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            "uci-alcoholism",
            "--data",
            str(EXCERPT),
            "--out",
            str(tmp_path),
            "--json",
            "--outer-folds",
            "2",
            "--inner-folds",
            "2",
            "--repeats",
            "1",
            "--n-boot",
            "100",
        ],
    )
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["dataset"] == "uci-alcoholism" and r["n_subjects"] == 8
    assert r["onnx_sklearn_max_abs_diff"] <= 1e-5
    res = runner.invoke(
        app, ["train", "--dataset", "other", "--data", "x", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2 and "Allowed values are 'uci-alcoholism'" in res.output
    res = runner.invoke(app, ["train", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "exactly one of --dataset" in res.output


def test_index_cli_json_contract(tmp_path):
    """`addictidx index` prints {"index", "band", "z": {...}, "confidence", ...} (hand-checked)."""
    from math import erf, sqrt

    from typer.testing import CliRunner

    from addictidx.cli import app

    f = tmp_path / "f.json"
    b = tmp_path / "b.json"
    f.write_text(
        json.dumps(
            {
                "hrv_ln_rmssd": 3.5,
                "hr_mean_bpm": 72.0,
                "eeg_beta_rel_frontal": None,
                "eeg_alpha_beta_ratio_temporal": 0.7,
            }
        )
    )
    b.write_text(
        json.dumps(
            {
                "hrv_ln_rmssd": {"median": 3.7, "mad": 0.2},
                "hr_mean_bpm": {"median": 66.0, "mad": 4.0},
                "eeg_alpha_beta_ratio_temporal": {"median": 0.8, "mad": 0.1},
            }
        )
    )
    res = CliRunner().invoke(app, ["index", "--features", str(f), "--baseline", str(b), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert list(out)[:2] == ["index", "index_display"] or {
        "index",
        "band",
        "z",
        "confidence",
    } <= set(out)
    z = [-(3.5 - 3.7) / (1.4826 * 0.2), (72 - 66) / (1.4826 * 4), -(0.7 - 0.8) / (1.4826 * 0.1)]
    Z = sum(z) / 3
    assert out["z"]["hrv_ln_rmssd"] == pytest.approx(z[0], abs=1e-9)
    assert out["z"]["eeg_beta_rel_frontal"] is None
    assert out["index"] == pytest.approx(100 * 0.5 * (1 + erf(Z / sqrt(2))), abs=1e-9)
    assert out["band"] == "elevated" and 0 < out["confidence"] <= 1


# --------------------------------------------------------------------------- shipped model


def test_shipped_research_model_and_card():
    from importlib import resources

    from addictidx.models.research import RESEARCH_CARD_STEM, load_research_model

    m = load_research_model(feature_names=uci_feature_names()[0])
    assert m.label == "research" and m.model_id == "addictidx.research.uci_alcoholism"
    card = json.loads(
        resources.files("addictidx.models").joinpath(f"{RESEARCH_CARD_STEM}.json").read_text()
    )
    assert card["metrics"]["auc"] == m.metadata["metrics"]["auc"]
    assert card["metrics"]["n_subjects"] == 20 and card["metrics"]["n_trials"] == 600
    assert card["data"]["sha256"] == m.metadata["training_data_sha256"]
    lo, hi = card["metrics"]["auc_ci95"]
    assert lo <= card["metrics"]["auc"] <= hi
    md = resources.files("addictidx.models").joinpath(f"{RESEARCH_CARD_STEM}.md").read_text()
    assert f"| {card['metrics']['auc']:.3f} | [{lo:.3f}, {hi:.3f}] |" in md


@pytest.mark.shared_data
def test_full_uci_training_reproduces_the_shipped_model(tmp_path):
    from addictidx.models.research import load_research_model, train_research_model

    d = _uci_dir()
    table = uci_feature_table(d)
    assert table.data_sha256 == hashlib.sha256((d / "smni_cmi_train.npz").read_bytes()).hexdigest()
    r = train_research_model(table, tmp_path, seed=0)
    shipped = load_research_model()
    assert shipped.metadata["training_data_sha256"] == table.data_sha256
    assert r["auc"] == shipped.metadata["metrics"]["auc"]
    assert r["auc_ci95"] == shipped.metadata["metrics"]["auc_ci95"]
    fresh = IndexModel.load(tmp_path / "model.onnx")
    np.testing.assert_allclose(
        fresh.predict_proba(table.X), shipped.predict_proba(table.X), atol=1e-6
    )
    assert r["n_subjects"] == 20 and r["onnx_sklearn_max_abs_diff"] <= 1e-5


@pytest.mark.shared_data
def test_full_uci_labels_permuted_between_subjects_give_chance_auc():
    table = uci_feature_table(_uci_dir())
    subjects = np.unique(table.groups)
    label_of = {s: int(table.y[table.groups == s][0]) for s in subjects}
    aucs = []
    for seed in range(6):
        perm = np.random.default_rng(seed).permutation([label_of[s] for s in subjects])
        new = dict(zip(subjects, perm))
        y = np.array([new[g] for g in table.groups])
        t = FeatureTable(
            table.X,
            y,
            table.groups,
            table.feature_names,
            table.feature_units,
            "sha",
            "perm",
            "permuted",
        )
        aucs.append(nested_cross_validation(t, repeats=1, n_boot=10, seed=seed).metrics["auc"])
    assert abs(np.mean(aucs) - 0.5) < 0.15, aucs


def test_muse_research_features_map_tp9_tp10_and_drop_gap_epochs():
    from addictidx.models.uci import muse_research_features

    d = load_uci_alcoholism(EXCERPT)
    # two UCI trials laid end to end as a "Muse" recording, rows in Muse order TP9 AF7 AF8 TP10
    af7, af8, tp7, tp8 = (np.concatenate([d.data[0, c], d.data[1, c]]) for c in range(4))
    rec = np.vstack([tp7, af7, af8, tp8, np.zeros(512)])
    rec = np.concatenate([rec, np.full((5, 100), 1.0)], axis=1)  # a partial epoch: ignored
    got = muse_research_features(rec, 256.0, ["TP9", "AF7", "AF8", "TP10", "AUX"])
    np.testing.assert_allclose(got, uci_trial_features(d.data[:2], 256.0), rtol=1e-12)
    rec[1, 300] = np.nan  # a gap in AF7 during the second epoch
    got = muse_research_features(rec, 256.0, ["TP9", "AF7", "AF8", "TP10", "AUX"])
    assert got.shape == (1, 16)
    with pytest.raises(ValueError, match=r"lacks \['TP10'\]"):
        muse_research_features(rec[:3], 256.0, ["TP9", "AF7", "AF8"])
