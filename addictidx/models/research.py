"""Train, export, evaluate and load research classifiers (``addictidx train`` / ``evaluate``).

Everything goes through one code path: a :class:`~addictidx.models.training.FeatureTable`
(from the UCI alcoholism set or any CSV feature table) -> nested subject-wise CV (the honest
estimate) -> the final Platt-calibrated model on all subjects -> ONNX with metadata -> model
card. The research classifier's output is labelled "research" and is never fused into the
addiction index (EVIDENCE.md §7(ii) step 6).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from addictidx._core.tasks import TaskMap
from addictidx.models.training import (
    DEFAULT_CS,
    FeatureTable,
    Progress,
    fit_final_model,
    nested_cross_validation,
)

__all__ = [
    "MODEL_VERSION_RESEARCH",
    "RESEARCH_MODEL_FILENAME",
    "RESEARCH_CARD_STEM",
    "SUMMARY_METRIC_KEYS",
    "train_research_model",
    "evaluate_research_model",
    "load_research_model",
    "research_model_card",
    "research_onnx_metadata",
    "RESEARCH_EVENT_KIND",
    "research_disclaimer",
    "research_block",
]

MODEL_VERSION_RESEARCH = "1.0.0"
#: The shipped default research classifier (trained on the UCI alcoholism set) and its card.
RESEARCH_MODEL_FILENAME = "research_uci_alcoholism_v1.onnx"
RESEARCH_CARD_STEM = "research_uci_alcoholism_v1.card"
#: Metric keys copied into the command's JSON and the model's metadata.
SUMMARY_METRIC_KEYS = (
    "auc",
    "auc_ci95",
    "auc_trial",
    "auc_trial_ci95",
    "balanced_accuracy",
    "balanced_accuracy_subject",
    "brier",
    "brier_subject",
    "ece",
    "n_subjects",
    "n_units",
    "n_trials",
)


def _model_id(table: FeatureTable) -> str:
    if table.dataset == "uci-alcoholism":
        return "addictidx.research.uci_alcoholism"
    return "addictidx.research.table"


def _limits(table: FeatureTable) -> list[str]:
    from addictidx.models.card import LIMITS_COMMON, UCI_LIMITS

    extra = (
        UCI_LIMITS
        if table.dataset == "uci-alcoholism"
        else (
            "User-supplied feature table: population, recording conditions and label quality are "
            "whatever the table's author says they are; check them before reading the metrics.",
        )
    )
    return list(LIMITS_COMMON) + list(extra)


def _feature_description(table: FeatureTable) -> str:
    if table.dataset == "uci-alcoholism":
        from addictidx.models.uci import UCI_FEATURE_DESCRIPTION

        return UCI_FEATURE_DESCRIPTION
    return (
        "Every numeric column of the table except the label and group columns, in file order; "
        "units inferred from the name suffix where possible."
    )


def research_model_card(
    table: FeatureTable,
    cv_metrics: dict,
    *,
    chosen_C: Sequence[float],
    final_C: float,
    seed: int,
    Cs: Sequence[float],
    files: dict | None = None,
) -> dict:
    """The model card as a JSON-ready dict (rendered to Markdown by
    :mod:`~addictidx.models.card`)."""
    from addictidx.models.card import INTENDED_USE_RESEARCH, RESEARCH_LABEL
    from addictidx.models.runtime import library_versions

    pos = int(np.unique(table.groups[table.y == 1]).size)
    neg = int(np.unique(table.groups[table.y == 0]).size)
    return {
        "model_id": _model_id(table),
        "model_version": MODEL_VERSION_RESEARCH,
        "label": RESEARCH_LABEL,
        "intended_use": INTENDED_USE_RESEARCH,
        "data": {
            "dataset": table.dataset,
            "source": table.source,
            "sha256": table.data_sha256,
            "classes": list(table.classes),
            "n_positive_subjects": pos,
            "n_negative_subjects": neg,
        },
        "population": table.population,
        "features": {
            "names": list(table.feature_names),
            "units": list(table.feature_units),
            "description": _feature_description(table),
        },
        "training": {
            "pipeline": (
                "StandardScaler -> CalibratedClassifierCV(LogisticRegression(C), method='sigmoid' "
                "(Platt), grouped inner folds, ensemble=False)"
            ),
            "validation": (
                f"nested subject-wise CV repeated {cv_metrics.get('repeats', 1)} times: outer "
                f"StratifiedGroupKFold({cv_metrics.get('outer_folds')}) by subject for the "
                f"estimate; inner StratifiedGroupKFold({cv_metrics.get('inner_folds')}) by "
                "subject inside each outer training part to choose C (AUC) and fit the Platt "
                "sigmoid; no subject's trials on both sides of any split; held-out "
                "probabilities averaged over repeats"
            ),
            "seed": int(seed),
            "C_grid": [float(c) for c in Cs],
            "chosen_C_outer": [float(c) for c in chosen_C],
            "final_C": float(final_C),
        },
        "metrics": cv_metrics,
        "limits": _limits(table),
        "library_versions": library_versions(),
        "files": dict(files or {}),
    }


def research_onnx_metadata(card: dict, table: FeatureTable, *, metrics: dict, training: dict):
    """The metadata a research model's ONNX file carries (its card's identity, data, units).

    Parameters
    ----------
    card : dict
        The model card (:func:`research_model_card`): ``model_id`` and ``intended_use``.
    table : FeatureTable
        The training table: dataset, population, data hash, feature units and classes.
    metrics : dict
        The validation figures to embed.
    training : dict
        How the model was trained (seed, regularisation, ...).

    Returns
    -------
    dict
        Plain JSON-able values, stored as the ONNX file's metadata.
    """
    from addictidx.models.card import RESEARCH_LABEL
    from addictidx.models.runtime import library_versions

    return {
        "model_id": card["model_id"],
        "model_version": MODEL_VERSION_RESEARCH,
        "label": RESEARCH_LABEL,
        "intended_use": card["intended_use"],
        "dataset": table.dataset,
        "population": table.population,
        "training_data_sha256": table.data_sha256,
        "feature_units": list(table.feature_units),
        "classes": list(table.classes),
        "output": f"probabilities[:, 1] = P({table.classes[1]})",
        "metrics": metrics,
        "library_versions": library_versions(),
        "training": training,
    }


def _summary(table: FeatureTable, metrics: dict) -> dict:
    out = {k: metrics.get(k) for k in SUMMARY_METRIC_KEYS}
    out["n_subjects"] = int(metrics["n_subjects"])
    return out


def train_research_model(
    table: FeatureTable,
    out_dir: str | Path,
    *,
    seed: int = 0,
    outer_folds: int = 5,
    inner_folds: int = 4,
    repeats: int = 10,
    n_boot: int = 2000,
    Cs: Sequence[float] = DEFAULT_CS,
    on_progress: Progress | None = None,
    model_filename: str = "model.onnx",
    card_stem: str = "model_card",
    task_map: TaskMap | None = None,
) -> dict:
    """Validate, fit, export and document a research classifier.

    ``task_map`` runs the outer CV folds of every repeat and the bootstrap chunks as tasks
    (:mod:`addictidx._core.tasks`; a Dask cluster with :mod:`addictidx.cluster`); the result is
    the serial one bit for bit.

    Writes into ``out_dir``: ``model.onnx``, ``model_card.md``, ``model_card.json``,
    ``reliability.svg`` and ``cv_predictions.csv`` (held-out probability of every row).

    Returns
    -------
    dict
        The ``addictidx train --json`` output: ``auc`` (subject level), ``auc_ci95``,
        ``auc_trial``, ``n_subjects`` and the other metrics, the research label, data hash and
        the paths written.
    """
    from addictidx.models.card import RESEARCH_LABEL, reliability_svg, write_model_card
    from addictidx.models.runtime import export_classifier

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cv = nested_cross_validation(
        table,
        outer_folds=outer_folds,
        inner_folds=inner_folds,
        repeats=repeats,
        Cs=Cs,
        seed=seed,
        n_boot=n_boot,
        on_progress=on_progress,
        task_map=task_map,
    )
    if on_progress is not None:
        on_progress("final model", 0, 1)
    model, final_C, _ = fit_final_model(table, inner_folds=inner_folds, Cs=Cs, seed=seed)
    if on_progress is not None:
        on_progress("final model", 1, 1)
    platt = model.named_steps["calibrated"].calibrated_classifiers_[0].calibrators[0]
    platt_a, platt_b = float(platt.a_), float(platt.b_)
    warnings_ = []
    if not platt_a < 0:  # p = 1 / (1 + exp(a d + b)): a >= 0 flattens or inverts the ranking
        warnings_.append(
            f"Platt slope a = {platt_a:.4g} >= 0: calibration flattens or inverts the base "
            "model's ranking; do not use this model."
        )

    files = {
        "model": model_filename,
        "model_card_md": f"{card_stem}.md",
        "model_card_json": f"{card_stem}.json",
        "reliability_plot": "reliability.svg",
        "cv_predictions": "cv_predictions.csv",
    }
    card = research_model_card(
        table, cv.metrics, chosen_C=cv.chosen_C, final_C=final_C, seed=seed, Cs=Cs, files=files
    )
    card["training"]["platt_sigmoid"] = {"a": platt_a, "b": platt_b}
    card["warnings"] = warnings_
    summary = _summary(table, cv.metrics)
    meta = research_onnx_metadata(
        card,
        table,
        metrics=summary,
        training={k: card["training"][k] for k in ("seed", "final_C", "C_grid", "validation")},
    )
    onx = export_classifier(model, table.feature_names, metadata=meta)
    (out_dir / model_filename).write_bytes(onx.SerializeToString())
    write_model_card(card, out_dir, card_stem)
    (out_dir / "reliability.svg").write_text(
        reliability_svg(cv.metrics["reliability"]), encoding="utf-8"
    )
    with open(out_dir / "cv_predictions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "group", "label", "proba_heldout"])
        for i, (g, yy, p) in enumerate(zip(table.groups, table.y, cv.proba)):
            w.writerow([i, g, int(yy), repr(float(p))])

    # The exported model must reproduce the sklearn model it was converted from.
    from addictidx.models.runtime import IndexModel

    loaded = IndexModel.load(out_dir / model_filename, feature_names=table.feature_names)
    parity = float(
        np.max(np.abs(loaded.predict_proba(table.X) - model.predict_proba(table.X)[:, 1]))
    )

    result = dict(summary)
    result.update(
        {
            "label": RESEARCH_LABEL,
            "model_id": card["model_id"],
            "model_version": MODEL_VERSION_RESEARCH,
            "dataset": table.dataset,
            "training_data_sha256": table.data_sha256,
            "n_features": len(table.feature_names),
            "feature_names": list(table.feature_names),
            "seed": int(seed),
            "auc_repeats": cv.metrics["auc_repeats"],
            "chosen_C_outer": [float(c) for c in cv.chosen_C],
            "final_C": float(final_C),
            "onnx_sklearn_max_abs_diff": parity,
            "platt_sigmoid": {"a": platt_a, "b": platt_b},
            "warnings": warnings_,
            "reliability": cv.metrics["reliability"],
            "out": str(out_dir),
            "files": {k: str(out_dir / v) for k, v in files.items()},
        }
    )
    return result


def evaluate_research_model(
    model_path: str | Path,
    table: FeatureTable,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    task_map: TaskMap | None = None,
) -> dict:
    """Re-score a saved model on a table (no retraining) and compute the same metrics.

    The table's features must match the model's names and order exactly. Scores on the data the
    model was trained on are optimistic (the command says so in ``"note"``). ``task_map`` runs
    the bootstrap resamples in chunks (same CIs as serial).
    """
    from addictidx.models.metrics import evaluate_predictions
    from addictidx.models.runtime import IndexModel

    model = IndexModel.load(model_path, feature_names=table.feature_names)
    p = model.predict_proba(table.X)
    metrics = evaluate_predictions(
        table.y, p, table.groups, n_boot=n_boot, seed=seed, task_map=task_map
    )
    out = _summary(table, metrics)
    same = model.metadata.get("training_data_sha256") == table.data_sha256
    out.update(
        {
            "label": model.label,
            "model_id": model.model_id,
            "model_version": model.model_version,
            "dataset": table.dataset,
            "data_sha256": table.data_sha256,
            "same_data_as_training": same,
            "note": (
                "scored on the model's own training data: optimistic, not a validation"
                if same
                else "scored on data the model was not trained on"
            ),
            "reliability": metrics["reliability"],
            "model": str(model_path),
        }
    )
    return out


def load_research_model(**kwargs):
    """Load the shipped default research classifier (UCI alcoholism, labelled "research").

    Keyword arguments go to :meth:`addictidx.models.runtime.IndexModel.load`.
    """
    from importlib import resources  # here: importing it costs ~8 ms at every start

    from addictidx.models.runtime import IndexModel

    ref = resources.files("addictidx.models").joinpath(RESEARCH_MODEL_FILENAME)
    with resources.as_file(ref) as path:
        return IndexModel.load(path, **kwargs)


def write_default_research_model(
    data_dir: str | Path, dest: str | Path | None = None
) -> list[Path]:
    """Retrain the shipped default research classifier on the UCI set (seed 0, defaults).

    Copies the model and its card (``.json`` + ``.md``) into ``dest`` (default: this package).
    """
    import shutil
    import tempfile

    from addictidx.models.training import uci_feature_table

    dest = Path(dest) if dest is not None else Path(__file__).parent
    table = uci_feature_table(data_dir)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        train_research_model(
            table,
            tmp,
            seed=0,
            model_filename=RESEARCH_MODEL_FILENAME,
            card_stem=RESEARCH_CARD_STEM,
        )
        for name in (
            RESEARCH_MODEL_FILENAME,
            f"{RESEARCH_CARD_STEM}.json",
            f"{RESEARCH_CARD_STEM}.md",
        ):
            shutil.copyfile(Path(tmp) / name, dest / name)
            written.append(dest / name)
    return written


#: Store event kind under which a session's research output is kept (never in the index tables).
RESEARCH_EVENT_KIND = "research_probability"


def research_disclaimer(metrics: dict | None = None) -> str:
    """The sentence shown with every research probability (numbers from the model's metrics)."""
    m = metrics or {}
    auc, ci, n = m.get("auc"), m.get("auc_ci95"), m.get("n_subjects")
    perf = "subject-wise AUC unknown"
    if auc is not None:
        perf = f"subject-wise AUC {float(auc):.2f}"
        if ci:
            perf += f" (95 % CI {float(ci[0]):.2f}-{float(ci[1]):.2f}"
            perf += f", {int(n)} subjects)" if n else ")"
    return (
        "Research output, NOT part of the addiction index and never combined with it. A "
        "classifier "
        "trained on the UCI alcoholism ERP data set (lab EEG of a visual task; AF7/AF8, with "
        f"TP7/TP8 as proxy electrodes for TP9/TP10), {perf}. A pipeline demonstration, not a "
        "screen: it must not be used to decide anything about a person."
    )


def research_block(eeg, sfreq: float, ch_names, *, model=None) -> dict:
    """Score the default research classifier on eyes-closed EEG: a JSON-ready block.

    The EEG is cut into 1-s epochs (:func:`addictidx.models.uci.muse_research_features`);
    epochs with a gap or a non-finite feature are dropped; ``probability`` is the mean over
    the remaining epochs of P(class 1) (``None`` with a ``reason`` when none remain).

    Parameters
    ----------
    eeg : array, shape (n_channels, n_times) | None
        EEG in µV (``NaN`` = missing).
    sfreq : float
        Sampling frequency in Hz.
    ch_names : sequence of str
        Must include TP9, AF7, AF8 and TP10.
    model : IndexModel | None
        Default: :func:`load_research_model`.

    Returns
    -------
    dict
        ``{"label": "research", "probability", "n_epochs", "positive_class", "model_id",
        "model_version", "auc", "auc_ci95", "n_subjects", "source", "disclaimer", "reason"}``.
    """
    from addictidx.models.uci import muse_research_features

    model = load_research_model() if model is None else model
    metrics = model.metadata.get("metrics") or {}
    classes = model.metadata.get("classes") or ["0", "1"]
    prob, n, reason = None, 0, None
    if eeg is None or np.asarray(eeg).size == 0:
        reason = "no eyes-closed EEG"
    else:
        X = muse_research_features(eeg, sfreq, list(ch_names))
        X = X[np.all(np.isfinite(X), axis=1)]
        n = int(X.shape[0])
        if n == 0:
            reason = "no clean 1-s epoch of eyes-closed EEG"
        else:
            prob = float(np.mean(model.predict_proba(X)))
    return {
        "label": model.label,
        "probability": prob,
        "n_epochs": n,
        "positive_class": str(classes[-1]),
        "model_id": model.model_id,
        "model_version": model.model_version,
        "auc": metrics.get("auc"),
        "auc_ci95": metrics.get("auc_ci95"),
        "n_subjects": metrics.get("n_subjects"),
        "source": "eyes-closed EEG, mean over 1-s epochs",
        "disclaimer": research_disclaimer(metrics),
        "reason": reason,
    }


if __name__ == "__main__":  # pragma: no cover - regeneration helper
    import sys

    for p in write_default_research_model(sys.argv[1]):
        print(f"wrote {p}")
