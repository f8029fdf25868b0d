"""The addiction index (physiological deviation index, EVIDENCE.md §7(ii)) as an ONNX graph.

The whole computation from four feature values to the index runs as one ONNX graph, built here
with :mod:`onnx.helper` and executed by onnxruntime on the CPU, batched over ``N`` assessments in
one call. A plain-numpy twin, :func:`index_numpy`, computes the same thing independently (it uses
SciPy's ``erf`` where the graph uses its own series) so tests can hold one to the other.

Graph contract (``addiction_index_v1.onnx``)
--------------------------------------------
Inputs, all ``float64`` (``tensor(double)``):

* ``x`` : (N, 4) feature values in :data:`FEATURE_NAMES` order. ``NaN`` (or ``±inf``) = missing.
* ``median`` : (B, 4) baseline medians, ``B`` = 1 (one baseline for all rows) or N.
  ``median`` and ``mad`` must have the same ``B`` (the Python wrappers broadcast them).
* ``mad`` : (B, 4) baseline median absolute deviations (unscaled). ``NaN`` or ``<= 0`` = the
  feature has no usable baseline and is treated as missing (MAD = 0 guard).

Outputs:

* ``index`` : (N,) ``100 * Phi(Z)``, unrounded; ``NaN`` when fewer than 3 features are available.
* ``Z`` : (N,) mean of the available clipped z_k; ``NaN`` when fewer than 3 are available.
* ``z`` : (N, 4) signed, clipped robust z per feature; ``NaN`` where unavailable.
* ``n_avail`` : (N,) ``int64`` number of available features.

Arithmetic: ``z_k = s_k (x_k - median_k) / (1.4826 MAD_k)`` with ``s = (-1, +1, +1, -1)``,
clipped to [-3, 3]; ``Z = sum(z_k) / n_avail``; ``Phi(Z) = 0.5 (1 + erf(Z / sqrt 2))``.

Why ``float64`` and a model-local ``Erf``
-----------------------------------------
Features such as ``hr_mean_bpm`` near 65 lose ~1e-6 relative precision in ``float32``, and the
index is reported to two decimals on a 0-100 scale, so the graph computes in ``float64``.
onnxruntime's CPU provider has no ``double`` kernel for the standard ``Erf`` op (verified on
onnxruntime 1.32: ``NOT_IMPLEMENTED: Could not find an implementation for Erf(13)``), and a
``float32`` ``Erf`` would put up to ~6e-6 of error on the index. The model therefore carries a
model-local function ``ai.addictidx.Erf`` (double precision) built from standard ops: Kummer's
series ``erf(t) = 2/sqrt(pi) * exp(-t^2) * sum_n (2 t^2)^n t / (2n+1)!!`` (all terms positive,
no cancellation), truncated after :data:`ERF_SERIES_TERMS` terms and evaluated by Horner's rule.
``|Z| <= 3`` (the z_k are clipped) so ``|t| <= 3/sqrt 2``; there the dropped tail is below
1e-17 relative and the result agrees with ``scipy.special.erf`` to ~1e-15.

Why the model is shipped as a file
----------------------------------
``addiction_index_v1.onnx`` ships as package data so the scored artefact is one fixed,
inspectable file (Netron, ``onnx.checker``) whose identity is logged with every result, and so
scoring does not need the ``onnx`` package's builder at run time. ``build_index_model()`` is
deterministic and a test asserts the shipped bytes equal a fresh build; regenerate with
``python -m addictidx.models.index_graph`` after changing the graph (and bump the version).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from addictidx._core.errors import ModelMismatchError
from addictidx._core.package_data import package_files

__all__ = [
    "MODEL_ID",
    "MODEL_VERSION",
    "MODEL_FILENAME",
    "FEATURE_NAMES",
    "FEATURE_SIGNS",
    "MAD_SCALE",
    "Z_CLIP",
    "MIN_FEATURES",
    "ERF_SERIES_TERMS",
    "IndexArrays",
    "build_index_model",
    "index_numpy",
    "run_index_model",
    "model_bytes",
    "model_metadata",
    "using_index_model",
    "write_index_model",
]

MODEL_ID = "addictidx.physiological_deviation_index"
MODEL_VERSION = "1.0.0"
MODEL_FILENAME = "addiction_index_v1.onnx"
#: Core features in graph column order (EVIDENCE.md §7(i) F1-F4).
FEATURE_NAMES: tuple[str, ...] = (
    "hrv_ln_rmssd",
    "hr_mean_bpm",
    "eeg_beta_rel_frontal",
    "eeg_alpha_beta_ratio_temporal",
)
#: Signs so that positive z means the "hyperarousal / low-regulation" direction.
FEATURE_SIGNS: tuple[float, ...] = (-1.0, 1.0, 1.0, -1.0)
#: MAD -> SD of a normal distribution (1 / Phi^-1(0.75)).
MAD_SCALE = 1.4826
Z_CLIP = 3.0
MIN_FEATURES = 3
ERF_SERIES_TERMS = 40
OPSET = 17
IR_VERSION = 8
_FN_DOMAIN = "ai.addictidx"


@dataclass(frozen=True, slots=True)
class IndexArrays:
    """Batched outputs of the index computation (ONNX graph or numpy twin).

    Parameters
    ----------
    index : ndarray, shape (N,)
        ``100 * Phi(Z)`` unrounded; ``NaN`` where no index.
    Z : ndarray, shape (N,)
        Composite z; ``NaN`` where no index.
    z : ndarray, shape (N, 4)
        Signed clipped z per feature; ``NaN`` where unavailable.
    n_avail : ndarray of int64, shape (N,)
        Number of available features per row.
    """

    index: np.ndarray
    Z: np.ndarray
    z: np.ndarray
    n_avail: np.ndarray


# --------------------------------------------------------------------------- graph builder


def _erf_coefficients(n_terms: int = ERF_SERIES_TERMS) -> list[float]:
    """Coefficients c_n = 2^n / (2n+1)!! of Kummer's series, c_0 = 1."""
    coeffs = []
    c = 1.0
    for n in range(n_terms):
        coeffs.append(c)
        c = c * 2.0 / (2 * n + 3)
    return coeffs


def _erf_function():
    """Model-local ``ai.addictidx.Erf``: double-precision erf from standard ops."""
    from onnx import TensorProto, helper

    def const(name, value):
        return helper.make_node(
            "Constant",
            [],
            [name],
            value=helper.make_tensor(name + "_v", TensorProto.DOUBLE, [], [float(value)]),
        )

    coeffs = _erf_coefficients()
    nodes = [helper.make_node("Mul", ["t", "t"], ["u"])]
    for n, c in enumerate(coeffs):
        nodes.append(const(f"c{n}", c))
    acc = f"c{len(coeffs) - 1}"
    for n in range(len(coeffs) - 2, -1, -1):  # Horner in u = t^2
        nodes.append(helper.make_node("Mul", [acc, "u"], [f"h{n}_mul"]))
        nodes.append(helper.make_node("Add", [f"h{n}_mul", f"c{n}"], [f"h{n}"]))
        acc = f"h{n}"
    nodes += [
        const("two_over_sqrt_pi", 2.0 / math.sqrt(math.pi)),
        helper.make_node("Neg", ["u"], ["neg_u"]),
        helper.make_node("Exp", ["neg_u"], ["exp_neg_u"]),
        helper.make_node("Mul", [acc, "t"], ["series_t"]),
        helper.make_node("Mul", ["series_t", "exp_neg_u"], ["series_t_exp"]),
        helper.make_node("Mul", ["series_t_exp", "two_over_sqrt_pi"], ["y"]),
    ]
    return helper.make_function(
        _FN_DOMAIN,
        "Erf",
        ["t"],
        ["y"],
        nodes,
        [helper.make_opsetid("", OPSET)],
        doc_string=(
            "erf(t) in float64 by Kummer's series 2/sqrt(pi) exp(-t^2) sum (2t^2)^n t/(2n+1)!!, "
            f"{ERF_SERIES_TERMS} terms (accurate to ~1e-15 for |t| <= 2.2; used with |t| <= "
            "3/sqrt2)."
        ),
    )


def build_index_model():
    """Build the index ONNX model (deterministic).

    Returns
    -------
    model : onnx.ModelProto
        Opset 17, IR version 8, inputs ``x``, ``median``, ``mad`` (float64), outputs ``index``,
        ``Z``, ``z``, ``n_avail``; model id, version and feature names in ``metadata_props``.
    """
    import onnx
    from onnx import TensorProto, helper

    D = TensorProto.DOUBLE

    def scalar(name, value, dtype=D):
        return helper.make_tensor(name, dtype, [], [value])

    inits = [
        helper.make_tensor("signs", D, [len(FEATURE_NAMES)], list(FEATURE_SIGNS)),
        scalar("mad_scale", MAD_SCALE),
        scalar("zero", 0.0),
        scalar("one", 1.0),
        scalar("half", 0.5),
        scalar("hundred", 100.0),
        scalar("inv_sqrt2", 1.0 / math.sqrt(2.0)),
        scalar("z_lo", -Z_CLIP),
        scalar("z_hi", Z_CLIP),
        scalar("min_features", float(MIN_FEATURES)),
        scalar("nan", float("nan")),
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
    ]
    n = helper.make_node
    nodes = [
        # availability: finite x, finite median, finite mad > 0 (MAD = 0 guard)
        n("IsNaN", ["x"], ["x_nan"]),
        n("IsInf", ["x"], ["x_inf"]),
        n("Or", ["x_nan", "x_inf"], ["x_bad"]),
        n("Not", ["x_bad"], ["x_ok"]),
        n("IsNaN", ["median"], ["med_nan"]),
        n("IsInf", ["median"], ["med_inf"]),
        n("Or", ["med_nan", "med_inf"], ["med_bad"]),
        n("Not", ["med_bad"], ["med_ok"]),
        n("IsInf", ["mad"], ["mad_inf"]),
        n("Not", ["mad_inf"], ["mad_finite"]),
        n("Greater", ["mad", "zero"], ["mad_pos"]),  # False for NaN
        n("And", ["mad_finite", "mad_pos"], ["mad_ok"]),
        n("And", ["med_ok", "mad_ok"], ["base_ok"]),
        n("And", ["x_ok", "base_ok"], ["avail"]),  # (N, 4), broadcast over B
        # robust z: s * (x - median) / (1.4826 * mad), clipped
        n("Mul", ["mad", "mad_scale"], ["scale"]),
        n("Sub", ["x", "median"], ["dev"]),
        n("Div", ["dev", "scale"], ["z_raw"]),
        n("Mul", ["z_raw", "signs"], ["z_signed"]),
        n("Clip", ["z_signed", "z_lo", "z_hi"], ["z_clip"]),
        n("Where", ["avail", "z_clip", "zero"], ["z_filled"]),
        n("Where", ["avail", "z_clip", "nan"], ["z"]),
        # composite: mean of available z_k, only with >= 3 features
        n("Cast", ["avail"], ["avail_f"], to=D),
        n("ReduceSum", ["avail_f", "axis1"], ["n_avail_f"], keepdims=0),
        n("ReduceSum", ["z_filled", "axis1"], ["z_sum"], keepdims=0),
        n("Div", ["z_sum", "n_avail_f"], ["z_mean"]),
        n("GreaterOrEqual", ["n_avail_f", "min_features"], ["enough"]),
        n("Where", ["enough", "z_mean", "nan"], ["Z"]),
        n("Cast", ["n_avail_f"], ["n_avail"], to=TensorProto.INT64),
        # index = 100 * Phi(Z) = 100 * 0.5 * (1 + erf(Z / sqrt 2))
        n("Mul", ["Z", "inv_sqrt2"], ["t"]),
        n("Erf", ["t"], ["erf_t"], domain=_FN_DOMAIN),
        n("Add", ["erf_t", "one"], ["one_plus_erf"]),
        n("Mul", ["one_plus_erf", "half"], ["phi"]),
        n("Mul", ["phi", "hundred"], ["index"]),
    ]
    k = len(FEATURE_NAMES)
    graph = helper.make_graph(
        nodes,
        "physiological_deviation_index",
        inputs=[
            helper.make_tensor_value_info("x", D, ["N", k]),
            helper.make_tensor_value_info("median", D, ["B", k]),
            helper.make_tensor_value_info("mad", D, ["B", k]),
        ],
        outputs=[
            helper.make_tensor_value_info("index", D, ["N"]),
            helper.make_tensor_value_info("Z", D, ["N"]),
            helper.make_tensor_value_info("z", D, ["N", k]),
            helper.make_tensor_value_info("n_avail", TensorProto.INT64, ["N"]),
        ],
        initializer=inits,
        doc_string="Addiction index (physiological deviation index), EVIDENCE.md section 7(ii).",
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(_FN_DOMAIN, 1)],
        functions=[_erf_function()],
        producer_name="addictidx",
        producer_version=MODEL_VERSION,
        doc_string=(
            "Robust per-feature z from a personal (or labelled population) baseline, clipped to "
            "+-3, averaged over >= 3 of 4 features, index = 100 Phi(Z). Decision support only: "
            "not a diagnosis, drug test or measure of craving."
        ),
    )
    model.ir_version = IR_VERSION
    model.model_version = int(MODEL_VERSION.split(".")[0])
    meta = {
        "model_id": MODEL_ID,
        "model_version": MODEL_VERSION,
        "feature_names": ",".join(FEATURE_NAMES),
        "feature_signs": ",".join(f"{s:+.0f}" for s in FEATURE_SIGNS),
        "mad_scale": repr(MAD_SCALE),
        "z_clip": repr(Z_CLIP),
        "min_features": str(MIN_FEATURES),
        "dtype": "float64",
        "spec": "EVIDENCE.md section 7(ii)",
    }
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    return model


def write_index_model(path: str | Path | None = None) -> Path:
    """Serialize a fresh :func:`build_index_model` to ``path`` (default: the packaged file)."""
    path = Path(path) if path is not None else Path(__file__).with_name(MODEL_FILENAME)
    path.write_bytes(build_index_model().SerializeToString())
    return path


# --------------------------------------------------------------------------- runtime


def model_bytes() -> bytes:
    """Return the bytes of the packaged ``addiction_index_v1.onnx``."""
    return package_files("addictidx.models").joinpath(MODEL_FILENAME).read_bytes()


def model_metadata() -> dict[str, str]:
    """Return the packaged model's ``metadata_props`` (via onnxruntime, no ``onnx`` import)."""
    return dict(_session().get_modelmeta().custom_metadata_map)


#: Serialized index model to score with in the current context (None: the packaged model).
_MODEL_IN_USE: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "addictidx_index_model", default=None
)


@contextlib.contextmanager
def using_index_model(raw: bytes):
    """Score with the serialized index model ``raw`` inside the ``with`` block.

    A cluster worker receives the client's model bytes (an onnxruntime ``InferenceSession``
    cannot be pickled) and scores with exactly that model; the session is built once per
    process and model (cached) with ``intra_op_num_threads=1``. The model must carry the
    metadata this code expects (:class:`~addictidx._core.errors.ModelMismatchError`
    otherwise). The choice is a context variable: other threads and tasks are not affected.

    Parameters
    ----------
    raw : bytes
        The serialized ONNX model (e.g. :func:`model_bytes` on the client).

    Yields
    ------
    sha256 : str
        Hex SHA-256 of ``raw`` (the model's identity in result tables).
    """
    import hashlib

    _session_for(bytes(raw))  # build and check now: a bad model fails before any scoring
    token = _MODEL_IN_USE.set(bytes(raw))
    try:
        yield hashlib.sha256(raw).hexdigest()
    finally:
        _MODEL_IN_USE.reset(token)


@functools.lru_cache(maxsize=1)
def _packaged_session():
    return _session_for(model_bytes(), what=f"Packaged model {MODEL_FILENAME}")


def _session():
    raw = _MODEL_IN_USE.get()
    return _packaged_session() if raw is None else _session_for(raw)


@functools.lru_cache(maxsize=4)
def _session_for(raw: bytes, what: str = "Index model given"):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # tiny elementwise graph: threads cost more than they save
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(raw, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelMismatchError(f"{what}: not a loadable ONNX model ({first}).") from None
    meta = sess.get_modelmeta().custom_metadata_map
    expected = {
        "model_id": MODEL_ID,
        "model_version": MODEL_VERSION,
        "feature_names": ",".join(FEATURE_NAMES),
    }
    for key, want in expected.items():
        if meta.get(key) != want:
            raise ModelMismatchError(
                f"{what}: metadata {key!r} is {meta.get(key)!r}, "
                f"but this code expects {want!r}. Regenerate it with "
                "`python -m addictidx.models.index_graph`."
            )
    return sess


def _as_inputs(x, median, mad) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = len(FEATURE_NAMES)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2 or x.shape[1] != k:
        raise ModelMismatchError(
            f"x must be shaped (N, {k}) with columns {FEATURE_NAMES}, got shape {x.shape}."
        )
    out = [x]
    for name, arr in (("median", median), ("mad", mad)):
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[np.newaxis, :]
        if arr.ndim != 2 or arr.shape[1] != k or arr.shape[0] not in (1, x.shape[0]):
            raise ModelMismatchError(
                f"{name} must be shaped ({k},), (1, {k}) or (N={x.shape[0]}, {k}), "
                f"got shape {arr.shape}."
            )
        out.append(arr)
    median, mad = out[1], out[2]
    if median.shape[0] != mad.shape[0]:  # the graph needs one row count "B" for both
        rows = max(median.shape[0], mad.shape[0])
        median = np.broadcast_to(median, (rows, k))
        mad = np.broadcast_to(mad, (rows, k))
    return np.ascontiguousarray(x), np.ascontiguousarray(median), np.ascontiguousarray(mad)


def run_index_model(x, median, mad) -> IndexArrays:
    """Score a batch of assessments with the packaged ONNX model (onnxruntime, CPU).

    Parameters
    ----------
    x : array-like, shape (N, 4) or (4,)
        Feature values in :data:`FEATURE_NAMES` order; ``NaN`` = missing.
    median, mad : array-like, shape (4,), (1, 4) or (N, 4)
        Baseline median and (unscaled) MAD per feature; one row for all, or one per row of x.

    Returns
    -------
    IndexArrays
        ``index``, ``Z``, ``z``, ``n_avail`` for every row.
    """
    x, median, mad = _as_inputs(x, median, mad)
    if x.shape[0] == 0:
        k = len(FEATURE_NAMES)
        e = np.empty(0)
        return IndexArrays(e, e.copy(), np.empty((0, k)), np.empty(0, dtype=np.int64))
    index, Z, z, n_avail = _session().run(None, {"x": x, "median": median, "mad": mad})
    return IndexArrays(index=index, Z=Z, z=z, n_avail=n_avail)


def index_numpy(x, median, mad) -> IndexArrays:
    """Plain-numpy twin of the ONNX graph (same inputs and outputs as :func:`run_index_model`).

    Uses ``scipy.special.erf`` (imported here), independent of the graph's series ``Erf``.
    """
    from scipy.special import erf

    x, median, mad = _as_inputs(x, median, mad)
    signs = np.asarray(FEATURE_SIGNS)
    with np.errstate(invalid="ignore", divide="ignore"):
        base_ok = np.isfinite(median) & np.isfinite(mad) & (mad > 0)
        avail = np.isfinite(x) & base_ok
        z = np.clip(signs * (x - median) / (MAD_SCALE * mad), -Z_CLIP, Z_CLIP)
        z = np.where(avail, z, np.nan)
        n_avail = avail.sum(axis=1)
        Z = np.where(n_avail >= MIN_FEATURES, np.nansum(z, axis=1) / n_avail, np.nan)
    index = 100.0 * 0.5 * (1.0 + erf(Z / math.sqrt(2.0)))
    return IndexArrays(index=index, Z=Z, z=z, n_avail=n_avail.astype(np.int64))


if __name__ == "__main__":  # pragma: no cover - regeneration helper
    print(f"wrote {write_index_model()}")
