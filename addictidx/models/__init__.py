"""The addiction index (physiological deviation index) and its baselines (EVIDENCE.md §7(ii)),
and research classifiers (training with subject-wise nested CV, ONNX export, model cards).

Importing this package is light: onnx, onnxruntime, scipy and scikit-learn are imported inside
the functions that need them. Research classifiers live in :mod:`addictidx.models.training`,
:mod:`~addictidx.models.research`, :mod:`~addictidx.models.runtime` (``IndexModel``),
:mod:`~addictidx.models.metrics`, :mod:`~addictidx.models.card` and :mod:`~addictidx.models.uci`;
their output is labelled "research" and never fused into the index.
"""

from addictidx.models.baseline import (
    MIN_BASELINE_SESSIONS,
    PLAUSIBLE_RANGES,
    Baseline,
    baseline_from_sessions,
    load_baseline_json,
)
from addictidx.models.index import (
    BAND_EDGES_INDEX,
    BAND_EDGES_Z,
    band_from_index,
    band_from_z,
    index_confidence,
    score_index,
    score_indices,
)
from addictidx.models.index_graph import (
    FEATURE_NAMES,
    FEATURE_SIGNS,
    MAD_SCALE,
    MIN_FEATURES,
    MODEL_FILENAME,
    MODEL_ID,
    MODEL_VERSION,
    Z_CLIP,
    IndexArrays,
    build_index_model,
    index_numpy,
    model_metadata,
    run_index_model,
    using_index_model,
)
from addictidx.models.norms import eeg_reference_values, load_population_norms, population_baseline

#: Research-classifier names, imported on first use (PEP 562): scoring the index (``rescore``,
#: live sessions) does not load the training code (issue 16.4).
_RESEARCH = {
    "evaluate_research_model": "addictidx.models.research",
    "load_research_model": "addictidx.models.research",
    "train_research_model": "addictidx.models.research",
    "IndexModel": "addictidx.models.runtime",
    "export_classifier": "addictidx.models.runtime",
    "FeatureTable": "addictidx.models.training",
    "fit_final_model": "addictidx.models.training",
    "load_feature_table": "addictidx.models.training",
    "nested_cross_validation": "addictidx.models.training",
    "uci_feature_table": "addictidx.models.training",
}


def __getattr__(name: str):
    """The research-classifier names of ``__all__``, imported on first use."""
    module = _RESEARCH.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_RESEARCH))


__all__ = [
    "BAND_EDGES_INDEX",
    "BAND_EDGES_Z",
    "Baseline",
    "FeatureTable",
    "IndexModel",
    "FEATURE_NAMES",
    "FEATURE_SIGNS",
    "IndexArrays",
    "MAD_SCALE",
    "MIN_BASELINE_SESSIONS",
    "MIN_FEATURES",
    "MODEL_FILENAME",
    "MODEL_ID",
    "MODEL_VERSION",
    "PLAUSIBLE_RANGES",
    "Z_CLIP",
    "band_from_index",
    "band_from_z",
    "baseline_from_sessions",
    "build_index_model",
    "eeg_reference_values",
    "evaluate_research_model",
    "export_classifier",
    "fit_final_model",
    "load_feature_table",
    "load_research_model",
    "nested_cross_validation",
    "train_research_model",
    "uci_feature_table",
    "index_confidence",
    "index_numpy",
    "load_baseline_json",
    "load_population_norms",
    "model_metadata",
    "population_baseline",
    "run_index_model",
    "score_index",
    "score_indices",
    "using_index_model",
]
