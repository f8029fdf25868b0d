"""Training research classifiers with honest, subject-wise nested cross-validation.

One code path serves every data source (the UCI alcoholism set, any feature table): a
:class:`FeatureTable` goes through :func:`nested_cross_validation` (the honest estimate) and
:func:`fit_final_model` (the exported model).

Scheme
------
* **Outer loop** (the estimate): ``StratifiedGroupKFold`` over subjects. A subject's trials are
  always on one side only.
* **Inner loop** (inside each outer training part only): ``StratifiedGroupKFold`` over the
  training subjects chooses the inverse regularisation ``C`` of the logistic regression by AUC,
  then Platt scaling (``CalibratedClassifierCV(method="sigmoid")``) is fitted on grouped
  out-of-fold decision values of the same inner folds (``ensemble=False``: one base model fitted
  on the whole training part plus one sigmoid).
* The held-out subjects' probabilities of all outer folds are pooled and scored by
  :func:`addictidx.models.metrics.evaluate_predictions`.
* The exported model repeats the inner procedure on all subjects.

Pipeline: ``StandardScaler -> CalibratedClassifierCV(LogisticRegression(C), sigmoid)``. The
logistic regression uses ``class_weight="balanced"`` so its intercept does not follow the class mix
of a fold: with few subjects and strong regularisation an unweighted intercept swings with the
fold's class balance, anti-correlates with the held-out labels, and the Platt sigmoid fitted on
those out-of-fold values can invert the ranking (seen on the full UCI set before this fix). Every
random choice derives from one ``seed``; the same data and seed give bit-identical predictions and
model files. Platt scaling, not isotonic: isotonic needs >= 1,000 calibration samples (EVIDENCE.md
§7(ii) 6).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx._core.tasks import TaskMap

__all__ = [
    "DEFAULT_CS",
    "FeatureTable",
    "CVResult",
    "load_feature_table",
    "uci_feature_table",
    "nested_cross_validation",
    "outer_fold",
    "fit_final_model",
    "unit_from_name",
]

#: Grid of the logistic regression's inverse regularisation strength.
DEFAULT_CS: tuple[float, ...] = (0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)

_UNIT_SUFFIXES = (
    ("_log10_uv2", "log10(uV^2)"),
    ("_uv2", "uV^2"),
    ("_uv", "uV"),
    ("_ms", "ms"),
    ("_bpm", "bpm"),
    ("_hz", "Hz"),
    ("_s", "s"),
    ("_ratio", "ratio"),
)

Progress = Callable[[str, int, int], None]


def unit_from_name(name: str) -> str:
    """Unit implied by a feature name's suffix (``hrv_rmssd_ms`` -> ``ms``), else
    ``unspecified``."""
    low = name.lower()
    if low == "hrv_ln_rmssd":
        return "ln(ms)"
    for suffix, unit in _UNIT_SUFFIXES:
        if low.endswith(suffix):
            return unit
    return "unspecified"


@dataclass(frozen=True, slots=True)
class FeatureTable:
    """A labelled, grouped feature matrix ready for training.

    Parameters
    ----------
    X : ndarray, shape (n_rows, n_features)
        Finite feature values.
    y : ndarray of int64, shape (n_rows,)
        Binary labels (1 = positive class).
    groups : ndarray of str, shape (n_rows,)
        Subject per row; cross-validation never splits a group.
    feature_names, feature_units : tuple of str
        Column names and units.
    data_sha256 : str
        SHA-256 of the source file's bytes.
    dataset : str
        Short name of the source (``"uci-alcoholism"`` or ``"table:<file name>"``).
    source : str
        Where the data came from, in words.
    classes : tuple of str
        Original label values for class 0 and class 1.
    population : str
        Who the data were recorded from.
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    feature_names: tuple[str, ...]
    feature_units: tuple[str, ...]
    data_sha256: str
    dataset: str
    source: str
    classes: tuple[str, str] = ("0", "1")
    population: str = "not stated"
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.X.shape[0]
        if self.X.ndim != 2 or self.X.shape[1] != len(self.feature_names):
            raise ValueError(f"X must be (n_rows, {len(self.feature_names)}), got {self.X.shape}.")
        if self.y.shape != (n,) or self.groups.shape != (n,):
            raise ValueError("y and groups need one entry per row of X.")
        if len(self.feature_units) != len(self.feature_names):
            raise ValueError("feature_units needs one unit per feature.")

    @property
    def n_subjects(self) -> int:
        """Number of distinct groups."""
        return int(np.unique(self.groups).size)


def uci_feature_table(data_dir: str | Path) -> FeatureTable:
    """The UCI alcoholism set (see :mod:`addictidx.models.uci`) as a :class:`FeatureTable`."""
    from addictidx.models.uci import (
        UCI_CHANNELS,
        UCI_DATASET,
        UCI_MUSE_PROXY,
        load_uci_alcoholism,
        uci_feature_names,
        uci_trial_features,
    )

    d = load_uci_alcoholism(data_dir)
    names, units = uci_feature_names()
    X = uci_trial_features(d.data, d.sfreq)
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataFormatError(
            f"{d.path}: trial {r} gives a non-finite feature {names[c]!r} (flat channel?)."
        )
    proxies = ", ".join(f"{k} for {v}" for k, v in UCI_MUSE_PROXY.items() if k != v)
    n_pos = int(np.unique(d.subject[d.y == 1]).size)
    n_neg = int(np.unique(d.subject[d.y == 0]).size)
    return FeatureTable(
        X=X,
        y=d.y,
        groups=d.subject,
        feature_names=names,
        feature_units=units,
        data_sha256=d.sha256,
        dataset=UCI_DATASET,
        source=(
            "UCI ML Repository #121 'EEG Database' (Begleiter, SUNY Brooklyn; L. Ingber 1997), "
            f"SMNI_CMI_TRAIN, file {d.path.name}, CC BY 4.0; channels {', '.join(UCI_CHANNELS)} "
            f"({proxies} as Muse proxies)"
        ),
        classes=("control", "alcoholic"),
        population=(
            f"{n_pos} alcoholic and {n_neg} control adults (UCI EEG Database, Neurodynamics "
            "Laboratory, SUNY Brooklyn, 1990s); 64-channel wet-electrode lab EEG, 1-s epochs of "
            "a visual object-matching ERP task (not resting state); sex and age not given in the "
            f"set; {X.shape[0]} trials"
        ),
        extras={"condition": d.condition},
    )


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def load_feature_table(path: str | Path, *, label: str, group: str) -> FeatureTable:
    """Read a CSV feature table: every numeric column except ``label`` and ``group`` is a feature.

    Parameters
    ----------
    path : str | Path
        CSV file with a header row.
    label : str
        Column with exactly two distinct values; the larger (numerically, else alphabetically)
        is class 1.
    group : str
        Column with the subject of each row.

    Raises
    ------
    DataFormatError
        Naming the file, column and line when a column is missing, a label column does not hold
        two classes, no numeric feature column is found, or a feature value is empty or not
        finite in an otherwise numeric column.
    """
    from addictidx.models.uci import sha256_file

    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read table ({err.strerror or err}).") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not UTF-8 text at byte {err.start}.") from None
    if len(rows) < 2:
        raise DataFormatError(f"{path}: needs a header row and at least one data row.")
    header = [h.strip() for h in rows[0]]
    for col, what in ((label, "--label"), (group, "--group")):
        if col not in header:
            raise DataFormatError(f"{path}: {what} column {col!r} not in header {header}.")
    if label == group:
        raise DataFormatError(f"{path}: the label and group columns must differ (both {label!r}).")
    body = rows[1:]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise DataFormatError(
                f"{path}: line {i + 2} has {len(r)} fields, the header has {len(header)}."
            )
    cols = {h: [r[j].strip() for r in body] for j, h in enumerate(header)}
    features = []
    for h in header:
        if h in (label, group):
            continue
        vals = cols[h]
        non_empty = [v for v in vals if v != ""]
        if non_empty and all(_is_float(v) for v in non_empty):
            features.append(h)
    if not features:
        raise DataFormatError(
            f"{path}: no numeric feature column besides {label!r} and {group!r}."
        )
    X = np.empty((len(body), len(features)))
    for j, h in enumerate(features):
        for i, v in enumerate(cols[h]):
            x = float(v) if v != "" else math.nan
            if not math.isfinite(x):
                raise DataFormatError(
                    f"{path}: column {h!r}, line {i + 2}: value {v!r} is empty or not finite "
                    "(fill or drop such rows before training)."
                )
            X[i, j] = x
    raw = cols[label]
    if any(v == "" for v in raw):
        i = raw.index("")
        raise DataFormatError(f"{path}: label column {label!r} is empty on line {i + 2}.")
    values = sorted(set(raw), key=lambda v: (0, float(v), v) if _is_float(v) else (1, 0.0, v))
    if len(values) != 2:
        raise DataFormatError(
            f"{path}: label column {label!r} must hold exactly 2 classes, found {len(values)} "
            f"({values[:5]})."
        )
    y = np.array([values.index(v) for v in raw], dtype=np.int64)
    groups = np.array(cols[group], dtype=str)
    if any(g == "" for g in cols[group]):
        i = cols[group].index("")
        raise DataFormatError(f"{path}: group column {group!r} is empty on line {i + 2}.")
    return FeatureTable(
        X=X,
        y=y,
        groups=groups,
        feature_names=tuple(features),
        feature_units=tuple(unit_from_name(f) for f in features),
        data_sha256=sha256_file(path),
        dataset=f"table:{path.name}",
        source=f"feature table {path.name} (label column {label!r}, group column {group!r})",
        classes=(values[0], values[1]),
        population="not stated (user-supplied feature table)",
    )


# --------------------------------------------------------------------------- cross-validation


def _check_trainable(y: np.ndarray, groups: np.ndarray, n_folds: int, where: str) -> int:
    """Number of folds that fit; needs >= 2 subjects of each class."""
    per_class = [np.unique(groups[y == c]).size for c in (0, 1)]
    k = min(n_folds, *per_class)
    if k < 2:
        raise ValueError(
            f"{where}: grouped cross-validation needs at least 2 subjects with each label; "
            f"got {per_class[0]} with label 0 and {per_class[1]} with label 1."
        )
    return k


def _grouped_splits(y, groups, n_folds, seed, where):
    from sklearn.model_selection import StratifiedGroupKFold

    k = _check_trainable(y, groups, n_folds, where)
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros((y.size, 1)), y, groups))


def _base_pipeline(C: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "logreg",
                LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=seed),
            ),
        ]
    )


def _fit_inner(X, y, groups, *, Cs, inner_folds, seed):
    """Choose C by grouped inner CV (AUC), then Platt-calibrate on the same grouped folds.

    The returned model is ``Pipeline([("scale", StandardScaler), ("calibrated",
    CalibratedClassifierCV(LogisticRegression(C), method="sigmoid", ensemble=False))])``: the
    scaler sits outside the calibrator (it is unsupervised and fitted on the training part only)
    because skl2onnx's calibrator converter needs a bare classifier to read its decision values.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    splits = _grouped_splits(y, groups, inner_folds, seed, "inner loop")
    search = GridSearchCV(
        _base_pipeline(1.0, seed),
        {"logreg__C": list(Cs)},
        scoring="roc_auc",
        cv=splits,
        refit=False,
    )
    search.fit(X, y)
    C = float(search.best_params_["logreg__C"])
    calibrated = CalibratedClassifierCV(
        LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=seed),
        method="sigmoid",
        cv=splits,
        ensemble=False,
    )
    model = Pipeline([("scale", StandardScaler()), ("calibrated", calibrated)])
    model.fit(X, y)
    return model, C, float(search.best_score_)


@dataclass(frozen=True, slots=True)
class CVResult:
    """Held-out predictions of the outer loop and the metrics computed from them.

    Parameters
    ----------
    proba : ndarray, shape (n_rows,)
        Held-out probability of class 1 per row, averaged over the repeats (every repeat's
        prediction of a row comes from a model that never saw that row's subject).
    proba_repeats : ndarray, shape (n_repeats, n_rows)
        Held-out probabilities of each repeat.
    chosen_C : tuple of float
        C chosen by the inner loop of each outer fold of each repeat.
    metrics : dict
        :func:`addictidx.models.metrics.evaluate_predictions` of ``proba``, plus
        ``auc_repeats`` (subject-level AUC of each repeat), ``outer_folds``, ``inner_folds``,
        ``repeats``.
    """

    proba: np.ndarray
    proba_repeats: np.ndarray
    chosen_C: tuple[float, ...]
    metrics: dict


def nested_cross_validation(
    table: FeatureTable,
    *,
    outer_folds: int = 5,
    inner_folds: int = 4,
    repeats: int = 10,
    Cs: Sequence[float] = DEFAULT_CS,
    seed: int = 0,
    n_boot: int = 2000,
    on_progress: Progress | None = None,
    task_map: TaskMap | None = None,
) -> CVResult:
    """Subject-wise nested cross-validation, repeated with different fold assignments.

    Parameters
    ----------
    table : FeatureTable
        Data; groups are subjects.
    outer_folds, inner_folds : int
        Folds of the outer (estimate) and inner (C and calibration) loops; reduced to the number
        of subjects in the smaller class when that is lower. The folds are stratified by class
        so each training part keeps the class balance (leave-one-subject-out is avoided on
        purpose: with a strongly regularised model it shifts the training prior against the
        held-out subject and biases the AUC towards 0).
    repeats : int
        Independent repetitions of the whole nested CV with different fold assignments; the
        held-out probabilities are averaged per row (with 20 subjects a single repeat's AUC
        moves by +-0.1 with the fold assignment).
    Cs : sequence of float
        Grid of the logistic regression's C.
    seed : int
        Seed of the fold assignments, the solver and the bootstrap.
    n_boot : int
        Bootstrap resamples of the CIs.
    on_progress : callable(stage, done, total) | None
        Called after each outer fold.
    task_map : TaskMap | None
        Runs the outer folds of all repeats (one task each) and the bootstrap chunks
        (:mod:`addictidx._core.tasks`); default serial. Any task map gives the serial result
        bit for bit (each fold is a pure single-threaded task with its own seed).

    Returns
    -------
    CVResult
    """
    from threadpoolctl import threadpool_limits

    if int(repeats) < 1:
        raise ValueError(f"'repeats' must be >= 1, got {repeats!r}.")
    # Many tiny fits: BLAS/OpenMP thread pools only add overhead (and oversubscribe busy CPUs).
    with threadpool_limits(limits=1):
        return _nested_cv(
            table, outer_folds, inner_folds, repeats, Cs, seed, n_boot, on_progress, task_map
        )


def outer_fold(X, y, groups, train, test, *, Cs, inner_folds, seed):
    """One outer fold of the nested CV: inner C choice + Platt on ``train``, predict ``test``.

    A pure task (module-level, single-threaded BLAS) so that a task map may run it anywhere
    and get the serial result bit for bit.

    Returns
    -------
    proba : ndarray, shape (len(test),)
        Held-out probability of class 1.
    C : float
        The C the inner loop chose.
    """
    import warnings

    from threadpoolctl import threadpool_limits

    if set(groups[train]) & set(groups[test]):  # pragma: no cover - StratifiedGroupKFold
        raise RuntimeError("a subject is on both sides of an outer split")
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", category=UserWarning)  # tiny inner folds
        model, C, _ = _fit_inner(
            X[train], y[train], groups[train], Cs=Cs, inner_folds=inner_folds, seed=seed
        )
        return model.predict_proba(X[test])[:, 1], C


def _nested_cv(table, outer_folds, inner_folds, repeats, Cs, seed, n_boot, on_progress, task_map):
    from addictidx._core.tasks import serial_map
    from addictidx.models.metrics import auc_score, evaluate_predictions, subject_units

    X, y, g = table.X, table.y, table.groups
    plans = [
        _grouped_splits(y, g, outer_folds, seed + 1000 * r, "outer loop") for r in range(repeats)
    ]
    tasks = [
        {"train": tr, "test": te, "seed": seed + 1000 * r + 1 + k}
        for r, outer in enumerate(plans)
        for k, (tr, te) in enumerate(outer)
    ]
    total = len(tasks)

    def done(n: int) -> None:
        if on_progress is not None:
            on_progress("nested CV folds", n, total)

    shared = {"X": X, "y": y, "groups": g, "Cs": tuple(Cs), "inner_folds": int(inner_folds)}
    results = (task_map or serial_map)(outer_fold, tasks, shared, done)
    proba = np.full((repeats, y.size), np.nan)
    chosen = []
    i = 0
    for r, outer in enumerate(plans):
        for _, te in outer:
            p_te, C = results[i]
            proba[r, te] = p_te
            chosen.append(C)
            i += 1
    mean_p = proba.mean(axis=0)
    metrics = evaluate_predictions(y, mean_p, g, n_boot=n_boot, seed=seed, task_map=task_map)
    per_repeat = []
    for r in range(repeats):
        uy, up, _ = subject_units(y, proba[r], g)
        per_repeat.append(float(auc_score(uy, up)))
    metrics["auc_repeats"] = per_repeat
    metrics["outer_folds"] = len(plans[0])
    metrics["inner_folds"] = int(inner_folds)
    metrics["repeats"] = int(repeats)
    return CVResult(proba=mean_p, proba_repeats=proba, chosen_C=tuple(chosen), metrics=metrics)


def fit_final_model(
    table: FeatureTable,
    *,
    inner_folds: int = 4,
    Cs: Sequence[float] = DEFAULT_CS,
    seed: int = 0,
):
    """Fit the exported model on all subjects with the inner procedure.

    Returns
    -------
    model : sklearn.pipeline.Pipeline
        Fitted ``StandardScaler -> CalibratedClassifierCV(LogisticRegression, sigmoid)``.
    C : float
        The chosen C.
    inner_auc : float
        Mean grouped inner-CV AUC at that C (optimistic: it chose C).
    """
    import warnings

    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", category=UserWarning)
        return _fit_inner(
            table.X, table.y, table.groups, Cs=Cs, inner_folds=inner_folds, seed=seed
        )
