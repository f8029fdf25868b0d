"""One site of a federated training: its consenting subjects' features, and its Flower client.

A site trains on the rows of the subjects whose ``research`` consent is in force in the site's
own store (checked here, at the site, every time; the decision is written to the site's audit
log as counts, never codes). The client sends the server model parameters and example counts
only -- never a feature row, a label or a subject code.

Parameters travel as six arrays (``PARAM_LAYOUT``): the feature ``mean`` and ``mean of
squares`` (the standardisation, agreed in round 1 by a weighted average of the sites' moments,
which FedAvg computes exactly), the logistic regression's ``coef`` and ``intercept``, and the
site's mean-loss ``grad`` and ``hess`` at that model (aggregate statistics of the same kind as
the moments; FedAvg's average of them drives exact federated Newton steps, see
:func:`site_fit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PARAM_LAYOUT",
    "SiteData",
    "consenting_rows",
    "initial_parameters",
    "scaler_from",
    "site_fit",
    "newton_step",
    "make_client",
]

#: Names of the parameter arrays, in order.
PARAM_LAYOUT = ("mean", "mean_sq", "coef", "intercept", "grad", "hess")
#: Largest Newton step (L2 norm, standardised units); only noisy (DP) rounds come near it.
MAX_STEP = 5.0
#: Smallest feature variance used for scaling (a constant feature stays finite).
_MIN_VAR = 1e-12


@dataclass(frozen=True)
class SiteData:
    """The training rows of one site (never leave it).

    Attributes
    ----------
    X : ndarray, shape (n_rows, n_features)
    y : ndarray of {0, 1}, shape (n_rows,)
    groups : ndarray of str
        Subject of each row (pseudonymous code; stays at the site).
    n_subjects, n_excluded : int
        Subjects taking part, and subjects left out (no research consent in force).
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    n_subjects: int
    n_excluded: int

    @property
    def n_rows(self) -> int:
        """Rows taking part."""
        return int(self.y.size)


def consenting_rows(store, X, y, groups, *, audit_detail: dict | None = None) -> SiteData:
    """Keep the rows of subjects with ``research`` consent in force in ``store``; audit it.

    Parameters
    ----------
    store : SessionStore
        The site's store (its consent records and audit log).
    X, y, groups : arrays
        The site's labelled feature rows; ``groups`` holds subject codes of this store.
    audit_detail : dict | None
        Extra fields for the audit entry (e.g. the server address, the rounds).

    Returns
    -------
    SiteData
        Only consenting subjects' rows (possibly none: the site then contributes nothing).
    """
    groups = np.asarray(groups).astype(str)
    subjects = sorted(set(groups.tolist()))
    consenting = set(store.consent.consenting_subjects("research")) & set(subjects)
    keep = np.isin(groups, sorted(consenting))
    detail = {
        "what": "federated training",
        "scope": "research",
        "n_subjects_consenting": len(consenting),
        "n_subjects_excluded": len(subjects) - len(consenting),
        "n_rows": int(keep.sum()),
        "sent": "model parameters and counts only",
    }
    detail.update(audit_detail or {})
    store.audit_event("export", detail=detail)  # what leaves the site: parameters, counts
    return SiteData(
        np.asarray(X, dtype=np.float64)[keep],
        np.asarray(y).astype(np.int64)[keep],
        groups[keep],
        len(consenting),
        len(subjects) - len(consenting),
    )


def initial_parameters(n_features: int) -> list[np.ndarray]:
    """Round-0 parameters: zero moments, a zero model, zero gradient and curvature."""
    d = int(n_features)
    return [
        np.zeros(d),
        np.zeros(d),
        np.zeros((1, d)),
        np.zeros(1),
        np.zeros(d + 1),
        np.zeros((d + 1, d + 1)),
    ]


def scaler_from(mean: np.ndarray, mean_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard deviation) from the agreed first and second moments.

    A variance that is not positive (only DP noise on the moments can make it so) gives that
    feature unit scale rather than a near-zero one that would saturate every prediction.
    """
    var = np.asarray(mean_sq, dtype=np.float64) - np.asarray(mean, dtype=np.float64) ** 2
    var = np.where(var > _MIN_VAR, var, 1.0)
    return np.asarray(mean, dtype=np.float64), np.sqrt(var)


def newton_step(theta, grad, hess, *, C: float, n_total: int) -> np.ndarray:
    """One Newton step on the pooled L2-regularised logistic loss.

    ``grad``/``hess`` are the row-weighted averages over all sites of the mean loss's gradient
    and Hessian at ``theta`` (what FedAvg returns); the penalty ``||w||^2 / (2 C n_total)`` (not
    on the intercept, as scikit-learn) is added here, so the fixed point is scikit-learn's
    ``LogisticRegression(C)`` fitted on all rows.
    """
    reg = np.full(theta.size, 1.0 / (float(C) * int(n_total)))
    reg[-1] = 0.0
    # With DP noise the averaged Hessian may be indefinite: project it onto the PSD cone (a
    # no-op without noise), and cap the step so one noisy round cannot throw the model away.
    w, v = np.linalg.eigh(0.5 * (hess + hess.T))
    h = (v * np.maximum(w, 0.0)) @ v.T + np.diag(reg) + 1e-8 * np.eye(theta.size)
    step = np.linalg.solve(h, grad + reg * theta)
    norm = float(np.linalg.norm(step))
    if norm > MAX_STEP:
        step *= MAX_STEP / norm
    return theta - step


def site_fit(
    data: SiteData,
    params: Sequence[np.ndarray],
    *,
    stage: str,
    C: float,
    n_total: int | None = None,
) -> tuple[list[np.ndarray], int]:
    """One round at a site: its moments (``stage="moments"``) or a training round (``"train"``).

    A training round takes the Newton step the global gradient and Hessian of the previous
    round call for (every site computes the same step), then returns the new model with the
    site's mean-loss gradient and Hessian at it. FedAvg's row-weighted average of these is the
    pooled gradient and Hessian, so the rounds are exact federated Newton (IRLS) iterations on
    the pooled objective and converge to the pooled model in a few rounds.

    Returns
    -------
    params : list of ndarray
        In :data:`PARAM_LAYOUT`.
    n : int
        Rows used (0: the site contributes nothing this round).
    """
    mean, mean_sq, coef, intercept, grad, hess = (np.asarray(p, dtype=np.float64) for p in params)
    theta = np.concatenate([coef.ravel(), intercept.ravel()])
    if stage == "train" and n_total and np.any(hess):
        theta = newton_step(theta, grad, hess, C=C, n_total=n_total)
    out_model = [theta[:-1].reshape(1, -1), theta[-1:].copy()]
    if data.n_rows == 0:
        return [mean, mean_sq, *out_model, grad, hess], 0
    if stage == "moments":
        return [data.X.mean(axis=0), (data.X**2).mean(axis=0), *out_model, grad, hess], data.n_rows
    mu, sd = scaler_from(mean, mean_sq)
    Z = np.column_stack([(data.X - mu) / sd, np.ones(data.n_rows)])
    from scipy.special import expit

    p = expit(Z @ theta)
    g = Z.T @ (p - data.y) / data.n_rows
    h = (Z * (p * (1.0 - p))[:, None]).T @ Z / data.n_rows
    return [mean, mean_sq, *out_model, g, h], data.n_rows


def make_client(data: SiteData, *, C: float):
    """A Flower ``NumPyClient`` for ``data`` (imports flwr)."""
    from flwr.client import NumPyClient

    n_features = data.X.shape[1]

    class SiteClient(NumPyClient):
        """Trains on the site's consenting rows; returns parameters and a count only."""

        def get_parameters(self, config):
            return initial_parameters(n_features)

        def fit(self, parameters, config):
            stage = str(config.get("stage", "train"))
            n_total = int(config.get("n_total", 0)) or None
            params, n = site_fit(data, parameters, stage=stage, C=C, n_total=n_total)
            return params, int(n), {}

        def evaluate(self, parameters, config):
            return 0.0, 0, {}

    return SiteClient()
