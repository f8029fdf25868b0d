"""Multi-site retraining without moving raw data: federated learning with Flower (issue 20).

Each site trains the research classifier's logistic regression on its own consenting
subjects' features (:mod:`~addictidx.federated.site`) and sends the server model parameters and
example counts only; the server averages them (Flower FedAvg, optional central DP:
:mod:`~addictidx.federated.server`). :mod:`~addictidx.federated.evaluate` compares federated
with pooled training on the same leave-one-site-out splits and exports the federated model
(ONNX + model card, labelled research). See ``docs/federated.md``.

Flower (``flwr``) needs Python >= 3.11; it is the optional ``federated`` extra. Importing this
package is light; :func:`flower_unavailable` says in one line why the commands cannot run.
"""

from __future__ import annotations

import sys

__all__ = ["flower_unavailable"]


def flower_unavailable() -> str | None:
    """One line saying why federated training cannot run here, or None when it can."""
    if tuple(sys.version_info[:2]) < (3, 11):
        v = f"{sys.version_info[0]}.{sys.version_info[1]}"
        return (
            f"Federated training needs Python >= 3.11 (Flower); this is Python {v}, where the "
            "'federated' extra is unavailable."
        )
    try:
        import flwr  # noqa: F401
    except ImportError:
        return "Federated training needs Flower: pip install 'addictidx[federated]'."
    return None
