"""Export research classifiers to ONNX and score them with onnxruntime.

:func:`export_classifier` converts a fitted scikit-learn classifier with skl2onnx (ZipMap off)
into a model with one ``float`` input ``input`` shaped ``[N, n_features]`` and the outputs
``label`` ``[N]`` and ``probabilities`` ``[N, 2]``; ``metadata_props`` carry the feature names
and units, the training data's SHA-256, library versions and metrics (JSON values).

:class:`IndexModel` loads such a file and checks, before any scoring, that the feature names,
their order and the opset are what the caller expects, saying exactly what differs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from addictidx._core.errors import DataFormatError, ModelMismatchError

__all__ = [
    "TARGET_OPSET",
    "INPUT_NAME",
    "export_classifier",
    "library_versions",
    "IndexModel",
]

#: Opsets the research classifiers are exported with.
TARGET_OPSET: dict[str, int] = {"": 17, "ai.onnx.ml": 3}
INPUT_NAME = "input"
#: metadata_props keys whose values are JSON.
JSON_KEYS = (
    "feature_names",
    "feature_units",
    "classes",
    "metrics",
    "library_versions",
    "training",
)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a research model was built with."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("addictidx", "numpy", "scipy", "scikit-learn", "skl2onnx", "onnx", "onnxruntime"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover
            out[dist] = "not installed"
    return out


def export_classifier(
    model,
    feature_names: Sequence[str],
    *,
    metadata: Mapping[str, object],
    graph_name: str = "addictidx_research_classifier",
):
    """Convert a fitted binary classifier to ONNX with its metadata.

    Parameters
    ----------
    model : sklearn estimator
        Fitted classifier or pipeline ending in a classifier (binary).
    feature_names : sequence of str
        Column order of the input tensor.
    metadata : mapping
        ``metadata_props`` to store; values under :data:`JSON_KEYS` (and any non-string value)
        are JSON-encoded, others stored as ``str``. ``feature_names`` is always set from the
        argument.
    graph_name : str
        Graph name (fixed, so the same model converts to the same bytes).

    Returns
    -------
    onnx.ModelProto
    """
    import onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    clf = model.steps[-1][1] if hasattr(model, "steps") else model
    onx = convert_sklearn(
        model,
        name=graph_name,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(feature_names)]))],
        options={id(clf): {"zipmap": False}},
        target_opset=dict(TARGET_OPSET),
    )
    meta = {str(k): v for k, v in metadata.items()}
    meta["feature_names"] = list(feature_names)
    meta["n_features"] = len(feature_names)
    props = {}
    for k, v in meta.items():
        props[k] = (
            v if isinstance(v, str) and k not in JSON_KEYS else json.dumps(v, sort_keys=True)
        )
    onnx.helper.set_model_props(onx, props)
    onnx.checker.check_model(onx)
    return onx


def _describe_mismatch(expected: Sequence[str], given: Sequence[str]) -> str | None:
    expected, given = list(expected), list(given)
    if expected == given:
        return None
    parts = []
    missing = [n for n in expected if n not in given]
    extra = [n for n in given if n not in expected]
    if missing:
        parts.append(f"missing {missing}")
    if extra:
        parts.append(f"unexpected {extra}")
    if not missing and not extra:
        i = next(i for i, (a, b) in enumerate(zip(expected, given)) if a != b)
        parts.append(
            f"same names in a different order (position {i}: model expects {expected[i]!r}, "
            f"got {given[i]!r})"
        )
    elif len(expected) != len(given):
        parts.append(f"model expects {len(expected)} features, got {len(given)}")
    return "; ".join(parts)


class IndexModel:
    """A loaded research classifier (ONNX), checked against what the caller expects.

    Use :meth:`load`; then :meth:`predict_proba` for a matrix in the model's column order, or
    :meth:`predict_proba_named` for columns by name.

    Attributes
    ----------
    path : Path
        The model file.
    feature_names, feature_units : tuple of str
        Input columns (from the model's metadata).
    metadata : dict
        All ``metadata_props`` (JSON values decoded).
    opset : dict
        Opset version per domain (``""`` = the default ONNX domain).
    """

    def __init__(self, session, path: Path, metadata: dict, opset: dict[str, int]):
        self._session = session
        self.path = path
        self.metadata = metadata
        self.opset = opset
        self.feature_names: tuple[str, ...] = tuple(metadata["feature_names"])
        units = metadata.get("feature_units") or ["unspecified"] * len(self.feature_names)
        self.feature_units: tuple[str, ...] = tuple(units)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        feature_names: Sequence[str] | None = None,
        opset: int | None = None,
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
    ) -> IndexModel:
        """Load and check an exported research classifier.

        Parameters
        ----------
        path : str | Path
            ``.onnx`` file written by :func:`export_classifier` (``addictidx train``).
        feature_names : sequence of str | None
            Columns the caller will provide, in order; a mismatch in names or order raises.
        opset : int | None
            Default-domain opset the caller was built against; a different one raises.
        intra_op_threads, inter_op_threads : int
            onnxruntime thread counts (1 = no thread pool; 0 = onnxruntime's default).

        Raises
        ------
        DataFormatError
            The file is missing or not an ONNX model.
        ModelMismatchError
            Saying what differs: metadata without feature names, input width, feature names or
            order, opset, or an opset the installed onnxruntime cannot run.
        """
        import onnx
        import onnxruntime as ort

        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise DataFormatError(f"{path}: cannot read model ({err.strerror or err}).") from None
        try:
            proto = onnx.load_from_string(raw)
        except Exception as err:  # onnx raises DecodeError / google.protobuf errors
            raise DataFormatError(f"{path}: not an ONNX model ({type(err).__name__}).") from None
        meta: dict = {}
        for p in proto.metadata_props:
            try:
                meta[p.key] = json.loads(p.value) if p.key in JSON_KEYS else p.value
            except json.JSONDecodeError:
                raise ModelMismatchError(
                    f"{path}: metadata {p.key!r} is not valid JSON: {p.value[:80]!r}."
                ) from None
        names = meta.get("feature_names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ModelMismatchError(
                f"{path}: metadata has no 'feature_names' list; not a model written by "
                "`addictidx train`."
            )
        opsets = {
            o.domain if o.domain != "ai.onnx" else "": int(o.version) for o in proto.opset_import
        }
        model_opset = opsets.get("", None)
        if opset is not None and model_opset != int(opset):
            raise ModelMismatchError(
                f"{path}: model uses opset {model_opset}, the caller expects opset {int(opset)}."
            )
        supported = onnx.defs.onnx_opset_version()
        if model_opset is not None and model_opset > supported:
            raise ModelMismatchError(
                f"{path}: model uses opset {model_opset}, newer than the installed onnx supports "
                f"({supported}); upgrade onnx/onnxruntime or re-export."
            )
        inputs = list(proto.graph.input)
        init_names = {i.name for i in proto.graph.initializer}
        inputs = [i for i in inputs if i.name not in init_names]
        if len(inputs) != 1:
            raise ModelMismatchError(
                f"{path}: expected one input tensor [N, n_features], found {len(inputs)} "
                f"({[i.name for i in inputs]})."
            )
        dims = inputs[0].type.tensor_type.shape.dim
        width = dims[1].dim_value if len(dims) == 2 and dims[1].HasField("dim_value") else None
        if width != len(names):
            raise ModelMismatchError(
                f"{path}: input {inputs[0].name!r} has width {width}, but metadata lists "
                f"{len(names)} feature names."
            )
        if feature_names is not None:
            why = _describe_mismatch(names, list(feature_names))
            if why:
                raise ModelMismatchError(f"{path}: feature mismatch: {why}.")
        if "probabilities" not in [o.name for o in proto.graph.output]:
            raise ModelMismatchError(f"{path}: model has no 'probabilities' output.")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(intra_op_threads)
        opts.inter_op_num_threads = int(inter_op_threads)
        try:
            sess = ort.InferenceSession(raw, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelMismatchError(f"{path}: onnxruntime cannot run this model: {err}") from None
        return cls(sess, path, meta, opsets)

    # ------------------------------------------------------------------ properties
    @property
    def model_id(self) -> str:
        """``model_id`` from the metadata ("" if absent)."""
        return str(self.metadata.get("model_id", ""))

    @property
    def model_version(self) -> str:
        """``model_version`` from the metadata ("" if absent)."""
        return str(self.metadata.get("model_version", ""))

    @property
    def label(self) -> str:
        """How results must be labelled (``"research"`` for the research classifiers)."""
        return str(self.metadata.get("label", "research"))

    # ------------------------------------------------------------------ scoring
    def predict_proba(self, X, *, batch_size: int | None = None) -> np.ndarray:
        """Probability of class 1 for every row of ``X`` (columns in :attr:`feature_names` order).

        Parameters
        ----------
        X : array, shape (N, n_features) or (n_features,)
            Feature rows; must be finite.
        batch_size : int | None
            Rows per onnxruntime call (``None`` = all at once).

        Returns
        -------
        ndarray of float64, shape (N,)
        """
        x = np.asarray(X, dtype=np.float64)
        if x.ndim == 1:
            x = x[np.newaxis, :]
        k = len(self.feature_names)
        if x.ndim != 2 or x.shape[1] != k:
            raise ModelMismatchError(
                f"{self.path.name}: X must be shaped (N, {k}) with columns "
                f"{list(self.feature_names)}, got shape {x.shape}."
            )
        if not np.all(np.isfinite(x)):
            r, c = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"X row {r}, feature {self.feature_names[c]!r} is not finite.")
        x32 = x.astype(np.float32)
        n = x32.shape[0]
        if n == 0:
            return np.empty(0)
        step = n if batch_size is None else max(1, int(batch_size))
        out = np.empty(n)
        for s in range(0, n, step):
            probs = self._session.run(["probabilities"], {INPUT_NAME: x32[s : s + step]})[0]
            out[s : s + step] = probs[:, 1]
        return out

    def predict_proba_named(self, columns: Mapping[str, Sequence[float]], **kwargs) -> np.ndarray:
        """Like :meth:`predict_proba` with columns given by name (extra names are an error)."""
        why = _describe_mismatch(sorted(self.feature_names), sorted(columns))
        if why:
            raise ModelMismatchError(f"{self.path.name}: feature mismatch: {why}.")
        X = np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in self.feature_names])
        return self.predict_proba(X, **kwargs)

    def __repr__(self) -> str:
        return (
            f"IndexModel({self.path.name!r}, id={self.model_id!r}, "
            f"version={self.model_version!r}, "
            f"n_features={len(self.feature_names)}, opset={self.opset.get('')})"
        )
