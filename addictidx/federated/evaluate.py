"""Federated against pooled training on the same splits; the federated model's ONNX and card.

``federated simulate``: the data set's subjects are split into ``n_sites`` sites (stratified by
class, seeded); every site gets its own store with ``research`` consent for its subjects (or
none, to show that such a site contributes nothing). Leave-one-site-out: for each site, a model
is trained on the others -- federated (Flower FedAvg) and pooled (one logistic regression on
the same rows, the same standardisation and C) -- and predicts the held-out site. The held-out
probabilities of all folds give the subject-level AUC of each with a 95 % bootstrap CI
(:func:`addictidx.models.metrics.evaluate_predictions`) and their difference. The final model is
trained federatedly on all sites and exported to ONNX with a model card labelled research.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from addictidx.federated.server import DPSettings, FederatedModel, dp_epsilon, train_in_process
from addictidx.federated.site import SiteData, consenting_rows

__all__ = [
    "split_sites",
    "site_stores",
    "pooled_model",
    "leave_one_site_out",
    "simulate",
    "export_model",
]


def split_sites(groups, y, n_sites: int, seed: int) -> list[np.ndarray]:
    """Subjects -> sites, stratified by class, seeded; returns each site's row indices."""
    groups = np.asarray(groups).astype(str)
    rng = np.random.default_rng(seed)
    site_of: dict[str, int] = {}
    for label in (0, 1):
        subj = np.unique(groups[np.asarray(y) == label])
        subj = subj[rng.permutation(subj.size)]
        start = int(rng.integers(0, n_sites))
        for k, s in enumerate(subj):
            site_of.setdefault(str(s), (start + k) % n_sites)
    site = np.array([site_of[g] for g in groups])
    return [np.flatnonzero(site == k) for k in range(n_sites)]


def pooled_model(sites: Sequence[SiteData], *, C: float) -> FederatedModel:
    """The centralised comparator: one logistic regression on all the sites' rows together."""
    from sklearn.linear_model import LogisticRegression

    X = np.concatenate([s.X for s in sites if s.n_rows])
    y = np.concatenate([s.y for s in sites if s.n_rows])
    mean, std = X.mean(axis=0), np.sqrt(np.maximum(X.var(axis=0), 1e-12))
    lr = LogisticRegression(C=C, max_iter=10000, tol=1e-12).fit((X - mean) / std, y)
    return FederatedModel(mean, std, lr.coef_.copy(), lr.intercept_.copy(), 0)


def site_stores(root: Path, codes_per_site, consent: Sequence[bool]):
    """One new store per site under ``root``, with research consent for its subjects (or
    none where ``consent`` is False: the subjects are registered without it)."""
    from addictidx.store import SessionStore

    stores = []
    for k, codes in enumerate(codes_per_site):
        st = SessionStore(root / f"site{k}")
        for c in sorted(set(codes)):
            if consent[k]:
                st.consent.add(c, scope="research")
            else:
                st.subject_registry.ensure(c)
        stores.append(st)
    return stores


def leave_one_site_out(
    sites: Sequence[SiteData],
    *,
    rounds: int,
    C: float,
    dp: DPSettings | None,
    n_boot: int,
    seed: int,
) -> dict:
    """Federated vs pooled, each site held out in turn, on the same splits."""
    from addictidx.models.metrics import evaluate_predictions

    n = len(sites)
    p_fed, p_pool, ys, gs = [], [], [], []
    for k in range(n):
        train = [s for j, s in enumerate(sites) if j != k]
        test = sites[k]
        if test.n_rows == 0 or sum(s.n_rows for s in train) == 0:
            continue
        fed = train_in_process(train, rounds=rounds, C=C, dp=dp, seed=seed)
        pool = pooled_model(train, C=C)
        p_fed.append(fed.predict_proba(test.X))
        p_pool.append(pool.predict_proba(test.X))
        ys.append(test.y)
        gs.append(test.groups)
    y, g = np.concatenate(ys), np.concatenate(gs)
    fed_m = evaluate_predictions(y, np.concatenate(p_fed), g, n_boot=n_boot, seed=seed)
    pool_m = evaluate_predictions(y, np.concatenate(p_pool), g, n_boot=n_boot, seed=seed)
    return {"federated": fed_m, "pooled": pool_m}


def simulate(
    table,
    *,
    n_sites: int = 3,
    rounds: int = 20,
    C: float = 1.0,
    dp: DPSettings | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    consent: Sequence[bool] | None = None,
    out_dir: str | Path | None = None,
) -> dict:
    """``federated simulate``: sites from a data set, LOSO federated vs pooled, final export.

    Parameters
    ----------
    table : FeatureTable
        The labelled data (its subjects are split into sites).
    consent : sequence of bool | None
        Per site, whether its subjects gave research consent (default all).
    out_dir : path-like | None
        Where the final model (ONNX + model card) goes; None: not exported.
    """
    from addictidx.store.codes import check_subject_code

    if n_sites < 2:
        raise ValueError(f"'sites' must be >= 2, but got {n_sites!r} instead.")
    consent = [True] * n_sites if consent is None else list(consent)
    # pseudonymous site codes for the data set's subject ids (never sent anywhere)
    uniq = np.unique(table.groups.astype(str))
    code_of = {s: check_subject_code(f"S{i + 1:03d}") for i, s in enumerate(uniq)}
    codes = np.array([code_of[s] for s in table.groups.astype(str)])
    parts = split_sites(codes, table.y, n_sites, seed)
    with tempfile.TemporaryDirectory() as tmp:
        stores = site_stores(Path(tmp), [codes[ix] for ix in parts], consent)
        try:
            sites = [
                consenting_rows(st, table.X[ix], table.y[ix], codes[ix], audit_detail={"sim": 1})
                for st, ix in zip(stores, parts)
            ]
            audit_ok = [_audited(st) for st in stores]
        finally:
            for st in stores:
                st.close()
    loso = leave_one_site_out(sites, rounds=rounds, C=C, dp=dp, n_boot=n_boot, seed=seed)
    fed, pool = loso["federated"], loso["pooled"]
    out = {
        "label": "research",
        "dataset": table.dataset,
        "n_sites": n_sites,
        "rounds": int(rounds),
        "C": float(C),
        "sites": [
            {"n_subjects": s.n_subjects, "n_excluded": s.n_excluded, "n_rows": s.n_rows}
            for s in sites
        ],
        "consent_checked_and_audited": all(audit_ok),
        "federated_auc": fed["auc"],
        "federated_auc_ci95": fed["auc_ci95"],
        "pooled_auc": pool["auc"],
        "pooled_auc_ci95": pool["auc_ci95"],
        "auc_difference": None
        if fed["auc"] is None or pool["auc"] is None
        else fed["auc"] - pool["auc"],
        "evaluation": "leave-one-site-out; subject-level AUC of held-out sites, percentile "
        f"bootstrap ({n_boot}) over subjects; pooled = one logistic regression on the same "
        "training sites' rows, same standardisation and C",
        "n_subjects": fed["n_subjects"],
        "dp": None
        if dp is None
        else {
            "noise_multiplier": dp.noise_multiplier,
            "clipping_norm": dp.clipping_norm,
            "delta": dp.delta,
            "epsilon": dp_epsilon(dp.noise_multiplier, rounds + 1, dp.delta),
            "level": "site (each site's whole update)",
        },
    }
    if out_dir is not None:
        final = train_in_process(sites, rounds=rounds, C=C, dp=dp, seed=seed)
        out["files"] = export_model(final, table, fed, out_dir, out, seed=seed, C=C)
    return out


def _audited(store) -> bool:
    from addictidx.store.audit import read_audit

    return any(
        e.get("action") == "export" and (e.get("detail") or {}).get("what") == "federated training"
        for e in read_audit(store.audit.directory)
    )


def export_model(model: FederatedModel, table, metrics: dict, out_dir, summary: dict, *, seed, C):
    """ONNX (same metadata keys as ``train``) and model card, labelled research."""
    from addictidx.models.card import write_model_card
    from addictidx.models.research import research_model_card, research_onnx_metadata
    from addictidx.models.runtime import IndexModel, export_classifier

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"model": "model.onnx", "model_card_md": "model_card.md"}
    files["model_card_json"] = "model_card.json"
    card = research_model_card(
        table, metrics, chosen_C=[C], final_C=C, seed=seed, Cs=[C], files=files
    )
    card["model_id"] = card["model_id"] + ".federated"
    card["training"]["pipeline"] = (
        f"StandardScaler (global moments agreed in round 1) -> LogisticRegression(C={C}), "
        f"federated averaging (Flower FedAvg) over {summary['n_sites']} sites, "
        f"{summary['rounds']} rounds of federated Newton steps (sites' gradients and Hessians "
        "averaged)"
        + ("" if summary["dp"] is None else f"; central DP epsilon {summary['dp']['epsilon']:.3g}")
    )
    card["training"]["validation"] = summary["evaluation"]
    card["federated"] = {k: summary[k] for k in ("n_sites", "sites", "rounds", "dp")}
    card["federated"]["pooled_auc"] = summary["pooled_auc"]
    card["federated"]["auc_difference"] = summary["auc_difference"]
    meta = research_onnx_metadata(
        card,
        table,
        metrics={k: metrics.get(k) for k in ("auc", "auc_ci95", "n_subjects", "n_trials")},
        training={"seed": int(seed), "final_C": float(C), "federated": card["federated"]},
    )
    onx = export_classifier(model.sklearn_pipeline(), table.feature_names, metadata=meta)
    (out_dir / files["model"]).write_bytes(onx.SerializeToString())
    write_model_card(card, out_dir, "model_card")
    loaded = IndexModel.load(out_dir / files["model"], feature_names=table.feature_names)
    parity = float(np.max(np.abs(loaded.predict_proba(table.X) - model.predict_proba(table.X))))
    return {**{k: str(out_dir / v) for k, v in files.items()}, "onnx_max_abs_diff": parity}
