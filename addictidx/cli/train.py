"""``addictidx train`` and ``addictidx evaluate``: research classifiers with subject-wise
validation.

Both commands read either the UCI alcoholism set (``--dataset uci-alcoholism --data DIR``) or
any CSV feature table (``--table T.csv --label COL --group COL``) and share one training and
scoring path (:mod:`addictidx.models.research`). Progress bars go to stderr, JSON to stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from addictidx.cli.app import app, clean_errors

DATASETS = ("uci-alcoholism",)
_WORKERS_HELP = (
    "Run the CV folds/repeats and bootstrap chunks on a new Dask LocalCluster of N worker "
    "processes (1 thread each); same result as serial. Needs the 'cluster' extra."
)
_SCHEDULER_HELP = "Run them on an existing Dask cluster (tcp://host:8786) instead."


def _load_table(dataset, data, table, label, group):
    """Resolve the data options into a FeatureTable, with one clear error for bad combinations."""
    from addictidx._core.validate import check_option

    if (dataset is None) == (table is None):
        raise ValueError(
            "Give exactly one of --dataset (with --data) or --table (with --label, --group)."
        )
    if dataset is not None:
        check_option("--dataset", dataset, DATASETS)
        if data is None:
            raise ValueError(
                "--dataset uci-alcoholism needs --data DIR (the folder holding "
                "smni_cmi_train.npz)."
            )
        if label is not None or group is not None:
            raise ValueError("--label and --group apply to --table only.")
        from addictidx.models.training import uci_feature_table

        return uci_feature_table(data)
    if label is None or group is None:
        raise ValueError("--table needs --label COL and --group COL.")
    if data is not None:
        raise ValueError("--data applies to --dataset only.")
    from addictidx.models.training import load_feature_table

    return load_feature_table(table, label=label, group=group)


def _progress(quiet: bool):
    """(context manager, callback(stage, done, total)) for a progress bar on stderr."""
    from addictidx.cli.progress import count_progress

    return count_progress(not quiet)


def _print(result: dict, json_out: bool, *, verb: str) -> None:
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return

    def ci(v):
        return "n/a" if not v or v[0] is None else f"[{v[0]:.2f}, {v[1]:.2f}]"

    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    typer.echo(
        f"{verb} {result['model_id']} (label: {result['label'].upper()}, never fused into the "
        "index)"
    )
    typer.echo(
        f"  AUC by subject {f(result['auc'])} 95% CI {ci(result['auc_ci95'])}   "
        f"by trial {f(result['auc_trial'])} 95% CI {ci(result['auc_trial_ci95'])}"
    )
    typer.echo(
        f"  balanced accuracy {f(result['balanced_accuracy'])}   Brier {f(result['brier'])}   "
        f"ECE {f(result['ece'])}   subjects {result['n_subjects']}   trials {result['n_trials']}"
    )
    if "files" in result:
        for k, v in result["files"].items():
            typer.echo(f"  {k:<16} {v}")
    if "note" in result:
        typer.echo(f"  note: {result['note']}")


@app.command("train")
@clean_errors
def train_cmd(
    out: Path = typer.Option(
        ..., "--out", help="Output folder (model.onnx, model_card.md/.json, ...)."
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Named labelled set: uci-alcoholism."
    ),
    data: Path | None = typer.Option(None, "--data", help="Folder of the named data set."),
    table: Path | None = typer.Option(None, "--table", help="CSV feature table."),
    label: str | None = typer.Option(None, "--label", help="Label column of --table (2 classes)."),
    group: str | None = typer.Option(None, "--group", help="Subject column of --table."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    outer_folds: int = typer.Option(
        5, "--outer-folds", help="Outer (estimate) folds, by subject."
    ),
    inner_folds: int = typer.Option(
        4, "--inner-folds", help="Inner (C, calibration) folds, by subject."
    ),
    repeats: int = typer.Option(10, "--repeats", help="Repeats of the nested CV."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples for the 95% CIs."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    workers: int | None = typer.Option(None, "--workers", help=_WORKERS_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help=_SCHEDULER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Train a research classifier with nested subject-wise CV, export ONNX and a model card."""
    from addictidx.cluster.engine import check_cluster_options, open_task_map
    from addictidx.models.research import train_research_model

    where = check_cluster_options(workers, scheduler)
    tbl = _load_table(dataset, data, table, label, group)
    progress_cm, on_progress = _progress(quiet)
    with open_task_map(where) as task_map, progress_cm:
        result = train_research_model(
            tbl,
            out,
            seed=seed,
            outer_folds=outer_folds,
            inner_folds=inner_folds,
            repeats=repeats,
            n_boot=n_boot,
            on_progress=on_progress,
            task_map=task_map,
        )
    _print(result, json_out, verb="Trained")


@app.command("evaluate")
@clean_errors
def evaluate_cmd(
    model: Path = typer.Argument(..., help="model.onnx written by `addictidx train`."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Named labelled set: uci-alcoholism."
    ),
    data: Path | None = typer.Option(None, "--data", help="Folder of the named data set."),
    table: Path | None = typer.Option(None, "--table", help="CSV feature table."),
    label: str | None = typer.Option(None, "--label", help="Label column of --table."),
    group: str | None = typer.Option(None, "--group", help="Subject column of --table."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples for the 95% CIs."),
    workers: int | None = typer.Option(None, "--workers", help=_WORKERS_HELP),
    scheduler: str | None = typer.Option(None, "--scheduler", help=_SCHEDULER_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Re-score a saved research model on a data set (no retraining)."""
    from addictidx.cluster.engine import check_cluster_options, open_task_map
    from addictidx.models.research import evaluate_research_model

    where = check_cluster_options(workers, scheduler)
    tbl = _load_table(dataset, data, table, label, group)
    with open_task_map(where) as task_map:
        result = evaluate_research_model(model, tbl, n_boot=n_boot, seed=seed, task_map=task_map)
    _print(result, json_out, verb="Evaluated")
